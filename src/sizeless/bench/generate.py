"""`sizeless bench generate`: DiT initializers compared by the images their generators make.

Protocol (every number is a setting; the defaults are those of benchmarks/dit-cifar10-tuned; the first
CIFAR-10 runs swept ``--lrs 3e-4,1e-3,3e-3`` over ``--sweep-steps 150``, and every bench before the pre-training
LR search pre-trained at ``--pretrain-lrs 1e-3``):
- a validation split is carved from the training images; learning rates are chosen on it, never on the
  held-out split that the results report;
- the metric instrument is a classifier trained here on all training images (its test accuracy and weights'
  SHA-256 are in the report); Frechet distance (FD) and kernel distance (KD, KID's estimator) are measured in its
  penultimate features against as many held-out images, with the real-vs-real floor (training vs held-out images,
  same count); class consistency is its accuracy on generated images against their labels;
- the bank, TLEG's learngene, the weight-selection teacher (a larger DiT) and each size's direct pre-training get
  the same training FLOPs: ``pretrain_steps`` at ``budget_size`` (forward multiply-adds per image x steps), and
  the same LR search: each is pre-trained at every ``pretrain_lrs`` and keeps the LR with its lowest validation
  denoising loss (one LR for all under-tunes the constrained bank most: benchmarks/NOTES.md);
- every method then gets the same target budget in steps of the same batch: the template fit counts inside it;
- each method trains at the learning rate that gave it the lowest validation denoising loss in a sweep at one
  size over the whole budget (a shorter one misranks: a higher LR's early loss spike hides where it ends);
  ``one_seed_methods`` run with seed 0 only (context), the rest with every seed;
- images are sampled with DDIM and classifier-free guidance from the same noise for every model.
Every finished stage and run is cached under ``work``; running the same command again resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import mean, stdev

import matplotlib.pyplot as plt
import torch

from ..api import evaluate_model, image_spec, initialize_full, noise_schedule, pretrain, sampled_steps, train
from ..bank import TemplateBank
from ..data import DataConfig, ImageData, carve, load_data
from ..errors import Diverged, SizelessError, UnsupportedSize
from ..families import get_family
from ..files import atomic_path, load_tensors, read_json, save_tensors, write_csv, write_json
from ..gen_metrics import FeatureModel, compare, real_floor
from ..generation import SampleConfig, sample, to_uint8
from ..models import load_model
from ..plotting import save_figure
from ..sampling import SizeSampling, sub_size
from ..training import TrainConfig
from .compare import compared_rows, differences
from .report import SHARED_BELOW, provenance, settings_record

METHODS = ("templates", "scratch", "weight-selection", "linear-expansion", "mimetic", "direct")
FITTED = ("templates", "linear-expansion")  # methods whose init fits scalers: the fit counts in the target budget
RIVALS = ("scratch", "weight-selection", "linear-expansion")  # what the target names templates must beat
INPUT_OF = {"templates": "bank", "linear-expansion": "learngene", "weight-selection": "teacher"}
# what a resumed bench may change: which methods, sizes, seeds and LRs run (each input and run is cached under those
# names), the sample grids, where it reports and what it compares with; any other setting would reuse cached inputs
# and runs made under another one as if not
RESUMABLE = ("out", "work", "methods", "one_seed_methods", "sizes", "seeds", "lrs", "pretrain_lrs", "grid_steps",
             "compare_with", "feature_model")  # a given metric classifier is pinned by its weights' hash instead
# what --compare-with checks before it puts another bench's numbers beside these
PROTOCOL = ("steps", "batch_size", "fit_steps", "lrs", "sweep_size", "sweep_steps", "val_images", "test_images",
            "num_images", "sample_steps", "guidance", "curve_points", "fd_points", "pretrain_lrs")


@dataclass
class GenerateBenchConfig:
    data: str
    out: Path
    work: Path | None = None  # cache of every stage and run (default OUT/work)
    sizes: list[str] = field(default_factory=lambda: ["64x6", "96x4", "96x2"])  # new depth, new width, both
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    one_seed_methods: list[str] = field(default_factory=lambda: ["mimetic", "direct"])  # context: seed 0 only
    seeds: int = 2
    bank_size: str = "64x4"
    budget_size: str | None = None  # whose pretrain_steps set every FLOPs budget; the learngene's size (default: bank)
    constraint: str = "kronecker"  # of the bank: kronecker (template_width, num_templates) | tucker (ranks)
    ranks: list[int] = field(default_factory=lambda: [16, 64, 64])  # a Tucker bank's core: slices, out, in features
    template_width: int = 32
    num_templates: int = 4
    # "ramp": held on a line over depth while the bank pre-trains (FD at 96x4 and 96x2 12.51 -> 10.92 and 13.38 ->
    # 10.74, level at 64x6: benchmarks/NOTES.md, "A ramp bank"); "learned": free per layer, every report before it.
    # A Tucker bank's depth scaler alike (its reports before 2026-12-08 were "learned": they had no other)
    bank_scalers: str = "ramp"
    # SWEET's stochastic size scaling of the bank: each pre-training step at a drawn width and depth, with as many
    # steps as spend the bank's FLOPs (DESIGN 2.7); none: the bank trains its own size only
    bank_widths: list[int] | None = None
    bank_depths: list[int] | None = None
    bank_distribution: str | None = None  # uniform | sandwich (None: uniform; a work folder from before records none)
    embeddings: str = "free"
    teacher_size: str = "128x6"
    batch_size: int = 64
    pretrain_steps: int = 1200
    # every pre-trained input keeps the LR of its lowest validation loss (1e-3 alone left the bank a worse denoiser
    # than the learngene by twice the margin it has at 1e-2: benchmarks/NOTES.md, "The DiT pre-training LR")
    pretrain_lrs: list[float] = field(default_factory=lambda: [3e-3, 1e-2, 3e-2])
    steps: int = 300  # target budget per method (template fit included)
    fit_steps: int = 60
    # every method chose 1e-2 at 64x6 once the sweep saw the whole budget (3e-4 was never chosen): the grid reaches
    # past it (benchmarks/NOTES.md, "The DiT sweep saw half the budget")
    lrs: list[float] = field(default_factory=lambda: [1e-3, 3e-3, 1e-2, 3e-2])
    sweep_size: str = "64x6"
    # target steps of a sweep run (fit scaled alike); default the whole budget: over half of it a higher LR's early
    # loss spike hides the lower loss it ends at
    sweep_steps: int | None = None
    val_images: int = 2000  # carved from the training images
    test_images: int = 1000  # held-out images for the denoising loss
    num_images: int = 500  # images per FD/KD evaluation (and real ones)
    sample_steps: int = 20
    grid_steps: int = 50  # DDIM steps of the sample grids (one row per method)
    guidance: float = 1.5
    curve_points: int = 4  # denoising-loss evaluations during training
    fd_points: list[float] = field(default_factory=lambda: [0.0, 1.0])  # fractions of the budget with FD/KD
    classifier_size: str = "32x2-2-2-2"
    classifier_family: str = "convnext"
    classifier_epochs: int = 5
    classifier_lr: float = 2e-3
    # a metric classifier trained before (sizeless train): the same instrument across benches and machines, whose
    # thread count and CPU model change the bits of one trained here (and so its FD); None: train one here
    feature_model: Path | None = None
    compare_with: Path | None = None  # another bench's output: its methods this one does not run, reported beside

    def __post_init__(self) -> None:
        self.out, self.budget_size = Path(self.out), self.budget_size or self.bank_size
        self.sweep_steps = self.sweep_steps or self.steps
        self.work = Path(self.work) if self.work else self.out / "work"
        unknown = [m for m in self.methods + self.one_seed_methods if m not in METHODS]
        if unknown:
            raise SizelessError(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
        sampling = self.bank_sampling  # a bad one is refused by building it
        if sampling is not None and sampling.paired:
            raise SizelessError("--bank-distribution paired distils from class logits, which a DiT has none of: "
                                "use uniform or sandwich")
        if self.constraint not in ("kronecker", "tucker"):
            raise SizelessError(f"--constraint must be kronecker or tucker, not {self.constraint!r}")
        self.ranks = [int(r) for r in self.ranks]
        if self.bank_scalers not in ("learned", "ramp"):
            raise SizelessError(f"--bank-scalers must be learned or ramp, not {self.bank_scalers!r}")
        if not self.sizes or not self.methods:
            raise SizelessError("give at least one size and one method to benchmark (--sizes 64x6,96x4)")
        family = get_family("dit")
        for spec in (*self.sizes, self.bank_size, self.budget_size, self.teacher_size, self.sweep_size):
            family.parse_size(spec)  # a bad size is refused here, before the classifier trains
        for width in sampling.widths if sampling else ():  # and a width the bank's heads cannot run
            sub_size(family.parse_size(self.bank_size), width)
        for flag, values in (("--lrs", self.lrs), ("--pretrain-lrs", self.pretrain_lrs)):
            if not values or min(values) <= 0:
                raise SizelessError(f"{flag} must be positive learning rates, got {values}")
        if not all(0 <= f <= 1 for f in self.fd_points):
            raise SizelessError(f"--fd-points are fractions of the budget in [0, 1], got {self.fd_points}")
        if min(self.seeds, self.curve_points, self.num_images - 1, self.sample_steps, self.grid_steps) < 1 \
                or self.guidance < 0:
            raise SizelessError("--seeds, --curve-points, --sample-steps and --grid-steps must be at least 1, "
                                "--num-images at least 2 and --guidance at least 0")
        if not 0 <= self.fit_steps < self.steps:
            raise SizelessError(f"--fit-steps ({self.fit_steps}) counts inside the budget: it must be below "
                                f"--steps ({self.steps})")
        if self.feature_model is not None:
            self.feature_model = Path(self.feature_model)
            if not self.feature_model.is_dir():
                raise SizelessError(f"--feature-model {self.feature_model}: not found; pass a classifier folder "
                                    "(sizeless train --data ... --out DIR)")
        if self.compare_with is not None:
            self.compare_with = Path(self.compare_with)
            if not (self.compare_with / "results.json").is_file():
                raise SizelessError(f"--compare-with {self.compare_with}: results.json not found; pass the output "
                                    "folder of a finished bench generate")

    @property
    def bank_sampling(self) -> SizeSampling | None:
        return SizeSampling.optional(self.bank_widths, self.bank_distribution, self.bank_depths)

    @property
    def bank_input(self) -> str:
        """The bank's name in the work folder and the reports: a ramp bank is another input than a free one, a
        size-sampled bank another than one trained at its own size."""
        name = "bank" if self.bank_scalers == "learned" else f"{self.bank_scalers}-bank"
        name = f"tucker-{name}" if self.constraint == "tucker" else name
        return f"sampled-{name}" if self.bank_sampling else name

    @property
    def bank_constraint(self) -> dict:
        """The bank's constraint config (the template counts are Kronecker's, the ranks Tucker's)."""
        if self.constraint == "tucker":
            return {"ranks": list(self.ranks), "scalers": self.bank_scalers}
        return {"template_width": self.template_width, "num_templates": self.num_templates,
                "scalers": self.bank_scalers}


# -- what the stages share ---------------------------------------------------------------------------------------
def dit_flops(size: str, tokens: int) -> float:
    """Multiply-adds of one DiT forward per image (attention projections, MLP, attention scores, adaLN)."""
    width, depth = (int(v) for v in size.split("h")[0].split("x"))
    per_token = 12 * width * width + 2 * tokens * width
    return depth * (tokens * per_token + 6 * width * width)


class Ledger:
    """Process CPU time and wall time of every stage, kept in a JSON file so a resumed run adds to it."""

    def __init__(self, path: Path):
        self.path = path
        self.rows = read_json(path, "stage ledger") if path.exists() else {}

    @contextmanager
    def stage(self, name: str):
        if name in self.rows:  # finished in an earlier run: its cost is already counted
            yield
            return
        cpu, wall = time.process_time(), time.perf_counter()
        yield
        self.rows[name] = {"cpu_s": round(time.process_time() - cpu, 1), "wall_s": round(time.perf_counter() - wall, 1)}
        write_json(self.path, self.rows)

    def total(self) -> dict:
        return {k: round(sum(r[k] for r in self.rows.values()), 1) for k in ("cpu_s", "wall_s")}


def check_work(cfg: GenerateBenchConfig) -> None:
    """Refuse a work folder filled under other settings (say another --bank-scalers); record them in a new one."""
    path, mine = cfg.work / "settings.json", {k: v for k, v in settings_record(cfg).items() if k not in RESUMABLE}
    if path.exists():
        # a setting the folder does not record is newer than it: the folder was filled under its default
        defaults = settings_record(GenerateBenchConfig(data=cfg.data, out=cfg.out))
        said = differences({**defaults, **read_json(path, "bench settings")}, mine, tuple(mine))
        if said:
            raise SizelessError(f"{cfg.work} holds inputs and runs made under other settings: {said}; give this "
                                "bench another --out (or --work)")
        return
    write_json(path, mine)


def pin_classifier(work: Path, info: dict, data_classes: int, classes: int) -> None:
    """Refuse a metric classifier over other classes, or another one than the work folder's runs were measured with
    (their FD and class consistency are cached); record the first one's hash."""
    if classes != data_classes:
        raise SizelessError(f"the metric classifier {info['path']} has {classes} classes, the data {data_classes}: "
                            "train it on the bench's data (sizeless train --data ...)")
    path = work / "metric_classifier.json"
    if path.exists():
        pinned = read_json(path, "metric classifier record")
        if pinned["sha256"] != info["sha256"]:
            raise SizelessError(f"{work} holds runs measured with the metric classifier {pinned['path']} (SHA-256 "
                                f"{pinned['sha256'][:8]}), not {info['path']} ({info['sha256'][:8]}); give this bench "
                                "another --out (or --work), or that classifier")
        return
    write_json(path, {"sha256": info["sha256"], "path": info["path"]})


class GenerateBench:
    def __init__(self, cfg: GenerateBenchConfig):
        self.cfg = cfg
        check_work(cfg)
        self.ledger = Ledger(cfg.work / "ledger.json")
        full = load_data(DataConfig(cfg.data))
        if not isinstance(full, ImageData) or full.val is None:
            raise SizelessError(f"{cfg.data}: bench generate needs labelled images with a held-out split")
        if not 0 < cfg.val_images < len(full.train):
            raise SizelessError(f"--val-images {cfg.val_images} must be between 1 and the {len(full.train)} "
                                "training images")
        # LRs are chosen on a validation split carved from train; results are reported on the held-out split
        train_split, val = carve(full.train, cfg.val_images)
        self.full, self.data, self.test = full, replace(full, train=train_split, val=val), full.val
        test = full.val
        if len(test) < cfg.test_images + cfg.num_images:
            raise SizelessError(f"the held-out split has {len(test)} images, fewer than --test-images + --num-images "
                                f"({cfg.test_images} + {cfg.num_images}); lower them")
        order = torch.randperm(len(test), generator=torch.Generator().manual_seed(1))
        self.test_data = replace(self.data, val=test.subset(order[:cfg.test_images]))  # held-out denoising loss
        n = cfg.num_images
        self.real_test = test.subset(order[cfg.test_images:cfg.test_images + n])  # FD/KD reference images
        train_order = torch.randperm(len(self.data.train), generator=torch.Generator().manual_seed(2))
        self.real_train = self.data.train.subset(train_order[:n])  # the floor: real training images
        self.labels = torch.arange(n) % full.num_classes
        self.tokens = (full.img_size // get_family("dit").default_patch_size(full.img_size)) ** 2
        self.train_config = TrainConfig(steps=cfg.pretrain_steps, batch_size=cfg.batch_size, lr=cfg.pretrain_lrs[0],
                                        warmup=0.05, weight_decay=0.0)
        self.pretrain_scores = read_json(cfg.work / "pretrain_lrs.json", "pre-training LR record") \
            if (cfg.work / "pretrain_lrs.json").exists() else {}
        self.input_folders: dict[str, str] = {}  # "bank" -> "ramp-bank-lr0.01": the inputs the runs start from

    # -- the metric instrument ------------------------------------------------------------------------
    def classifier(self) -> FeatureModel:
        c = self.cfg
        out = c.feature_model or c.work / "classifier"
        if c.feature_model is None:
            with self.ledger.stage("classifier"):
                train(None, self.full, TrainConfig(epochs=c.classifier_epochs, batch_size=128, lr=c.classifier_lr),
                      size=c.classifier_size, family=c.classifier_family, out=out, resume=True)
        features = FeatureModel.load(out)
        pin_classifier(c.work, features.info, self.full.num_classes, features.model.num_classes)
        cache = c.work / "real_features.safetensors"
        if not cache.exists():
            with self.ledger.stage("real-features"):
                test, train_ = features(self.real_test.images), features(self.real_train.images)
                accuracy = evaluate_model(out, self.full)["acc"]
                save_tensors(cache, {"test_f": test[0], "test_l": test[1], "train_f": train_[0],
                                     "train_l": train_[1], "acc": torch.tensor(accuracy)})
        saved = load_tensors(cache, "real features")
        self.real = (saved["test_f"], saved["test_l"])
        self.floor = real_floor((saved["train_f"], saved["train_l"]), self.real)
        features.info["test_acc"] = float(saved["acc"])
        return features

    # -- pre-trained inputs, all with the same FLOPs ---------------------------------------------------
    def steps_for(self, size: str) -> int:
        c = self.cfg
        return max(1, round(c.pretrain_steps * dit_flops(c.budget_size, self.tokens) / dit_flops(size, self.tokens)))

    def bank_steps(self) -> int:
        """The bank's steps: its size's share of the FLOPs budget, or as many size-sampled steps as spend it (each
        step costs the size it drew, counted as the library counts MACs; the draws are pre-training's own)."""
        c, own = self.cfg, self.steps_for(self.cfg.bank_size)
        if c.bank_sampling is None:
            return own
        family = get_family("dit", {"embeddings": c.embeddings})
        return sampled_steps(family, family.parse_size(c.bank_size), image_spec(self.data, family="dit"),
                             self.data.num_classes, c.bank_sampling, self.train_config.seed, own)

    def tuned(self, name: str, steps: int, build: Callable[[Path, TrainConfig], None],
              val_loss: Callable[[Path], float]) -> Path:
        """Pre-train one input at every --pretrain-lrs (``WORK/NAME-lrLR``) and return the folder with the lowest
        validation denoising loss: every input gets the same search, so none is judged at another's LR."""
        c, scores = self.cfg, self.pretrain_scores.setdefault(name, {})
        for lr in c.pretrain_lrs:
            key, out = f"{lr:g}", c.work / f"{name}-lr{lr:g}"
            if key in scores:
                continue
            with self.ledger.stage(f"{name}-lr{key}"):
                try:
                    build(out, replace(self.train_config, steps=steps, lr=lr))
                    scores[key] = val_loss(out)
                except Diverged:  # a result: this LR is too high for this input
                    scores[key] = None
            write_json(c.work / "pretrain_lrs.json", self.pretrain_scores)
        return c.work / f"{name}-lr{self.chosen_lr(name):g}"

    def chosen_lr(self, name: str) -> float:
        """The LR of --pretrain-lrs with the input's lowest validation loss (LRs of other grids in the record are
        not candidates)."""
        scores = self.pretrain_scores[name]
        finite = {lr: scores[f"{lr:g}"] for lr in self.cfg.pretrain_lrs if scores.get(f"{lr:g}") is not None}
        if not finite:
            raise SizelessError(f"{name}: pre-training diverged at every --pretrain-lrs {self.cfg.pretrain_lrs}; add "
                                "lower ones")
        return min(finite, key=finite.get)

    def inputs(self) -> dict:
        c = self.cfg
        family_config = {"embeddings": c.embeddings}

        def bank_builder(size: str, constraint_config: dict, sampling: SizeSampling | None = None,
                         constraint: str = "kronecker") -> Callable[[Path, TrainConfig], None]:
            return lambda out, config: pretrain(self.data, [size], family="dit", family_config=family_config,
                                                constraint=constraint, constraint_config=constraint_config,
                                                config=config, out=out, resume=True, size_sampling=sampling)

        def bank_loss(out: Path) -> float:  # the pre-training's own evaluation on the carved validation split
            return next(iter(TemplateBank.load(out).config["val_loss"].values()))

        folders = {}
        if "templates" in c.methods:  # the one method that starts from it (direct needs no bank: its own budget)
            folders["bank"] = self.tuned(c.bank_input, self.bank_steps(),
                                         bank_builder(c.bank_size, c.bank_constraint, c.bank_sampling,
                                                      c.constraint), bank_loss)
        if "linear-expansion" in c.methods:
            width = get_family("dit").parse_size(c.budget_size).width
            learngene = {"template_width": width, "num_templates": 2, "scalers": "linear"}
            folders["learngene"] = self.tuned("learngene", self.steps_for(c.budget_size),
                                              bank_builder(c.budget_size, learngene), bank_loss)
        if "weight-selection" in c.methods:
            folders["teacher"] = self.tuned(
                "teacher", self.steps_for(c.teacher_size),
                lambda dest, config: train(None, self.data, config, size=c.teacher_size, family="dit", out=dest,
                                           resume=True), self.plain_loss)
        self.input_folders = {name: folder.name for name, folder in folders.items()}
        return {name: folder if name == "teacher" else TemplateBank.load(folder) for name, folder in folders.items()}

    def plain_loss(self, model: Path) -> float:
        return evaluate_model(model, self.data, family="dit")["loss"]  # the carved validation split

    def direct_model(self, size: str) -> Path:
        """Direct pre-training of ``size`` with the same training FLOPs and LR search (seed 0), built once."""
        def build(out: Path, config: TrainConfig) -> None:
            initialize_full(size, self.data, method="direct", seed=0, out=out, family="dit",
                            pretrain_config=config)
        return self.tuned(f"direct-{size}", self.steps_for(size), build, self.plain_loss)

    # -- one method at one size, trained in segments with evaluations between ---------------------------
    def measure(self, model, features: FeatureModel, with_fd: bool) -> dict:
        row = {"denoising_loss": evaluate_model(model, self.test_data, family="dit")["loss"]}
        if with_fd:
            config = SampleConfig(len(self.labels), steps=self.cfg.sample_steps, guidance=self.cfg.guidance,
                                  seed=12345, scheduler="ddim")
            images = to_uint8(sample(model, self.labels, config, noise_schedule({}), progress=False),
                              self.full.mean, self.full.std)
            row.update(compare(features(images), self.labels, self.real))
        return row

    def run(self, method: str, size: str, seed: int, lr: float, inputs: dict, features: FeatureModel,
            sweep: bool = False) -> list[dict]:
        """Init, then train in segments; a sweep run is shorter and is judged on the carved validation split only."""
        c = self.cfg
        total = c.sweep_steps if sweep else c.steps
        # a run is named after the input it starts from: a resumed bench whose --pretrain-lrs now choose another
        # input must not take a run made from the old one for its own
        direct = self.direct_model(size) if method == "direct" else None
        source = direct.name if direct else self.input_folders.get(INPUT_OF.get(method))
        key = f"{'sweep-' if sweep else ''}{method}-{size}-seed{seed}-lr{lr:g}" + (f"-from-{source}" if source else "")
        run_dir = c.work / "runs" / key
        record = run_dir / "metrics.json"
        state = read_json(record, "run record") if record.exists() else {"rows": [], "done": False}
        if state["done"]:
            return state["rows"]
        fit_steps = round(c.fit_steps * total / c.steps) if method in FITTED else 0
        train_steps = total - fit_steps
        base = {"method": method, "size": size, "seed": seed, "lr": lr}
        fit = TrainConfig(steps=max(1, fit_steps), batch_size=c.batch_size, lr=3e-3, warmup=0.1, weight_decay=0.0,
                          min_lr=1e-4)
        bank = inputs.get("learngene" if method == "linear-expansion" else "bank")
        # direct: pre-trained once per size (the same FLOPs), shared by its runs and counted in its own stages
        init_dir = direct or run_dir / "init"
        with self.ledger.stage(f"{key}/init"):
            try:
                if method == "direct":
                    initial = load_model(init_dir)[0]
                else:
                    initial = initialize_full(size, self.data, bank=bank if method in FITTED else None,
                                              method=method, fit=fit, seed=seed, out=init_dir,
                                              teacher=inputs.get("teacher"), family="dit").model
            except UnsupportedSize as err:
                state = {"rows": [{**base, "status": f"n/a: {err}"}], "done": True}
                write_json(record, state)
                return state["rows"]
        params = sum(p.numel() for p in initial.parameters())
        pre_images = {"templates": inputs["bank"].config.get("steps", 0) if "bank" in inputs else 0,
                      "linear-expansion": inputs["learngene"].config.get("steps", 0) if "learngene" in inputs else 0,
                      "weight-selection": self.steps_for(c.teacher_size), "direct": self.steps_for(size)}
        base.update(status="ok", params=params, pretrain_images=pre_images.get(method, 0) * c.batch_size,
                    pretrain_shared=method in ("templates", "linear-expansion", "weight-selection"))
        fd_at = {round(f * train_steps) for f in c.fd_points}
        points = sorted({round(train_steps * k / c.curve_points) for k in range(1, c.curve_points + 1)} | fd_at)
        if sweep:
            fd_at, points = set(), [train_steps]
        done = {r["train_step"] for r in state["rows"]}
        config = TrainConfig(steps=train_steps, batch_size=c.batch_size, lr=lr, warmup=0.05, weight_decay=0.0,
                             seed=seed)
        if 0 not in done and not sweep:
            with self.ledger.stage(f"{key}/eval0"):
                row = self.measure(initial, features, 0 in fd_at)
            state["rows"].append({**base, "train_step": 0, "target_steps": fit_steps, **row})
        for point in points:
            if point in done or point == 0:
                continue
            with self.ledger.stage(f"{key}/train{point}"):
                try:
                    model, _ = train(init_dir, self.data, config, out=run_dir / "train", resume=True,
                                     stop_at_step=point if point < train_steps else None)
                except Diverged as err:
                    if not sweep:  # the chosen LR diverged on another seed or size: the protocol cannot go on
                        raise
                    state = {"rows": [{**base, "status": f"diverged: {err}"}], "done": True}
                    write_json(record, state)  # a sweep's result: this LR is too high for the method
                    return state["rows"]
            with self.ledger.stage(f"{key}/eval{point}"):
                row = {"val_denoising_loss": evaluate_model(model, self.data, family="dit")["loss"]} if sweep else \
                    self.measure(model, features, point in fd_at)
            state["rows"].append({**base, "train_step": point, "target_steps": fit_steps + point, **row})
            write_json(record, state)
        state["done"] = True
        write_json(record, state)
        return state["rows"]

    # -- learning rates: a sweep per method on the validation split --------------------------------------
    def sweep(self, inputs: dict, features: FeatureModel) -> tuple[dict, list[dict]]:
        c = self.cfg
        best, rows = {}, []
        for method in c.methods:
            scores = {}
            for lr in c.lrs:
                final = self.run(method, c.sweep_size, 0, lr, inputs, features, sweep=True)[-1]
                if final["status"].startswith("n/a"):  # the method cannot serve the sweep size at all
                    break
                if final["status"] != "ok":  # diverged: the LR is too high for this method
                    rows.append({"method": method, "lr": lr, "val_denoising_loss": None})
                    continue
                scores[lr] = final["val_denoising_loss"]  # on the validation split carved from the training images
                rows.append({"method": method, "lr": lr, "val_denoising_loss": scores[lr]})
            best[method] = min(scores, key=scores.get) if scores else c.lrs[0]
        return best, rows

    # -- figures ---------------------------------------------------------------------------------------
    def sample_grid(self, size: str, best: dict, path: Path) -> None:
        """One row per method (seed 0, final model) and a row of real held-out images; a column per class."""
        from torchvision.utils import make_grid

        classes = self.full.num_classes
        labels = torch.arange(classes)
        config = SampleConfig(classes, steps=self.cfg.grid_steps, guidance=self.cfg.guidance, seed=7, scheduler="ddim")
        rows, names = [], []
        for method in self.cfg.methods:
            folder = self.cfg.work / "runs" / f"{method}-{size}-seed0-lr{best[method]:g}" / "train"
            if not (folder / "config.json").exists():
                continue
            model = load_model(folder)[0]
            rows.append(to_uint8(sample(model, labels, config, noise_schedule({}), progress=False), self.full.mean,
                                 self.full.std))
            names.append(method)
        real = torch.stack([self.test.images[self.test.labels == c][0] for c in range(classes)
                            if (self.test.labels == c).any()])
        rows.append(real)
        names.append("real (held out)")
        grid = make_grid(torch.cat(rows), nrow=classes, padding=1, pad_value=255).permute(1, 2, 0).numpy()
        fig, ax = plt.subplots(figsize=(0.55 * classes + 2, 0.55 * len(rows) + 0.8))
        ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, interpolation="nearest",
                  cmap="gray" if grid.shape[-1] == 1 else None)
        side = self.full.img_size + 1
        ax.set_yticks([side * (i + 0.5) for i in range(len(rows))], names)
        ax.set_xticks([side * (i + 0.5) for i in range(classes)], self.full.class_names, rotation=60, fontsize=7)
        ax.set_title(f"DiT {size}: {self.cfg.grid_steps} DDIM steps, guidance {self.cfg.guidance:g}, same noise per "
                     "column", fontsize=9)
        save_figure(fig, path)


def comparable(cfg: GenerateBenchConfig, tokens: int, classifier_sha: str) -> dict:
    """The record (``results.json``) of the --compare-with bench, refused in one line unless its numbers were
    measured the same way: the same target protocol, the same pre-training FLOPs and the same metric classifier
    (by its weights' hash, so FD/KD live in the same features)."""
    other = cfg.compare_with
    saved = read_json(other / "results.json", "a bench generate output (--compare-with)")
    meta = saved["meta"]
    theirs = dict(meta.get("config") or meta["args"])  # "args": written by benchmarks/dit_bench.py before the move
    if isinstance(theirs["fd_points"], str):
        theirs["fd_points"] = [float(f) for f in theirs["fd_points"].split(",")]
    theirs["budget_size"] = theirs.get("budget_size") or theirs["bank_size"]
    if "pretrain_lr" in theirs:  # written before the pre-training LR search: one LR for every input
        theirs["pretrain_lrs"] = [theirs.pop("pretrain_lr")]
    mismatch = [k for k in PROTOCOL if theirs.get(k) != getattr(cfg, k)]
    if cfg.pretrain_steps * dit_flops(cfg.budget_size, tokens) != \
            theirs["pretrain_steps"] * dit_flops(theirs["budget_size"], tokens):
        mismatch.append("pre-training FLOPs (--pretrain-steps x --budget-size)")
    if meta["classifier"]["sha256"] != classifier_sha:
        mismatch.append("metric classifier weights")
    if mismatch:
        raise SizelessError(f"--compare-with {other}: it differs in {', '.join(mismatch)}; rerun it with this "
                            "bench's settings or compare by hand")
    return saved


def curves(rows: list[dict], sizes: list[str], methods: list[str], path: Path) -> None:
    fig, axes = plt.subplots(2, len(sizes), figsize=(4.6 * len(sizes), 7.5), squeeze=False)
    for col, size in enumerate(sizes):
        for index, method in enumerate(methods):
            mine = [r for r in rows if r["size"] == size and r["method"] == method and r.get("status") == "ok"]
            for row_ax, metric in zip(axes[:, col], ("fd", "denoising_loss"), strict=True):
                steps = sorted({r["target_steps"] for r in mine if metric in r})
                if not steps:
                    continue
                values = [mean(r[metric] for r in mine if r["target_steps"] == s and metric in r) for s in steps]
                row_ax.plot(steps, values, marker="o", label=method, color=f"C{index}")
        axes[0, col].set(title=f"{size}: Frechet distance (classifier features)", xlabel="target steps",
                         ylabel="FD (lower is better)")
        axes[1, col].set(title=f"{size}: held-out denoising loss", xlabel="target steps", ylabel="MSE")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
    save_figure(fig, path)


def summarize(rows: list[dict], sizes: list[str], methods: list[str]) -> list[dict]:
    """Final metrics per (size, method): mean and std over seeds."""
    out = []
    for size in sizes:
        for method in methods:
            runs = [r for r in rows if r["size"] == size and r["method"] == method]
            if runs and runs[0].get("status", "ok") != "ok":
                out.append({"size": size, "method": method, "status": runs[0]["status"]})
                continue
            last = {}
            for r in runs:
                if "fd" in r and r["target_steps"] >= last.get(r["seed"], {}).get("target_steps", -1):
                    last[r["seed"]] = r
            finals = list(last.values())
            if not finals:
                continue
            row = {"size": size, "method": method, "status": "ok", "seeds": len(finals), "params": finals[0]["params"]}
            for metric in ("fd", "kd", "class_consistency", "denoising_loss"):
                values = [r[metric] for r in finals]
                row[metric] = mean(values)
                row[f"{metric}_std"] = stdev(values) if len(values) > 1 else None
            out.append(row)
    return out


def _cell(row: dict, metric: str, scale: float = 1.0, digits: int = 2) -> str:
    if row.get("status") != "ok":
        return "n/a"
    std = row.get(f"{metric}_std")
    text = f"{scale * row[metric]:.{digits}f}"
    return text + (f" ± {scale * std:.{digits}f}" if std is not None else "")


def _wins(table: list[dict], sizes: list[str]) -> list[str]:
    """Templates against the best of scratch, weight selection and linear expansion, per size."""
    lines = []
    for size in sizes:
        ours = next((r for r in table if r["size"] == size and r["method"] == "templates"), None)
        rivals = [r for r in table if r["size"] == size and r["method"] in RIVALS and r.get("status") == "ok"]
        if ours is None or ours.get("status") != "ok" or not rivals:
            continue
        best_fd = min(rivals, key=lambda r: r["fd"])
        best_cc = max(rivals, key=lambda r: r["class_consistency"])
        lines.append(f"| {size} | {ours['fd']:.2f} vs {best_fd['fd']:.2f} ({best_fd['method']}) | "
                     f"{'yes' if ours['fd'] < best_fd['fd'] else '**no**'} | {100 * ours['class_consistency']:.1f} "
                     f"vs {100 * best_cc['class_consistency']:.1f} ({best_cc['method']}) | "
                     f"{'yes' if ours['class_consistency'] > best_cc['class_consistency'] else '**no**'} |")
    return lines


def report(cfg: GenerateBenchConfig, meta: dict, table: list[dict], sweep_rows: list[dict], best: dict,
           features: FeatureModel, floor: dict, path: Path) -> None:
    info, total = features.info, meta["cost"]
    shared = total["cpu_s"] < SHARED_BELOW * total["wall_s"] * meta["threads"]  # other processes had part of the cores
    sampling = cfg.bank_sampling
    drawn = " and ".join(f"{what} of {', '.join(map(str, values))}" for what, values in
                         (("width", sampling.widths), ("depth", sampling.depths)) if values) if sampling else ""
    kind = (f"Tucker, core ranks {'x'.join(map(str, cfg.ranks))}, {cfg.bank_scalers} depth scalers"
            if cfg.constraint == "tucker" else
            f"Kronecker, template width {cfg.template_width}, N={cfg.num_templates}, {cfg.bank_scalers} scalers")
    bank = (f"Bank {cfg.bank_size} ({kind}, embeddings {cfg.embeddings}"
            + (f"; SWEET-style size sampling, each step at a {drawn} ({sampling.distribution}), as many steps as "
               "spend its FLOPs" if sampling else "") + "); " if "templates" in cfg.methods else "")
    lines = ["# DiT initializers side by side", "",
             f"Data `{cfg.data}` ({meta['image_size']}x{meta['image_size']} pixels). {bank}pre-training FLOPs of "
             f"{cfg.pretrain_steps} steps at {cfg.budget_size} for every pre-trained input; unseen sizes "
             f"{', '.join(cfg.sizes)}; every method {cfg.steps} target steps of batch {cfg.batch_size} (the template "
             f"fit's {cfg.fit_steps} steps included); FD/KD/class consistency from {cfg.num_images} images (DDIM "
             f"{cfg.sample_steps} steps, guidance {cfg.guidance:g}) against {cfg.num_images} held-out images; held-out "
             f"denoising loss on {cfg.test_images} held-out images at fixed timesteps and noise.", "",
             f"**Metric instrument**: {info['family']} {info['size']} classifier "
             f"{f'given (`--feature-model {cfg.feature_model}`)' if cfg.feature_model else 'trained here'} "
             f"({info['params']:,} parameters), held-out accuracy {100 * info['test_acc']:.2f}%, "
             f"weights SHA-256 `{info['sha256']}`. FD is the Frechet distance in its penultimate "
             "features (FID's formula, not FID: no Inception weights here); KD is KID's kernel estimator in the "
             "same features.", "",
             f"**Real-vs-real floor** ({cfg.num_images} training vs {cfg.num_images} held-out images): FD "
             f"{floor['fd']:.2f}, KD {floor['kd']:.4f}.", ""]
    if cfg.compare_with:
        lines += [f"Runs of methods other than {', '.join(cfg.methods)} come from `{cfg.compare_with}` (the same "
                  "target protocol, pre-training FLOPs and metric classifier; checked).", ""]
    for size in cfg.sizes:
        lines += [f"## {size}", "", "| method | params | FD | KD x100 | class consistency (%) | denoising loss |",
                  "|---|---:|---:|---:|---:|---:|"]
        for row in (r for r in table if r["size"] == size):
            params = f"{row['params']:,}" if row.get("status") == "ok" else ""
            lines.append(f"| {row['method']} | {params} | {_cell(row, 'fd')} | {_cell(row, 'kd', 100, 3)} | "
                         f"{_cell(row, 'class_consistency', 100, 1)} | {_cell(row, 'denoising_loss', 1, 4)} |")
        lines += [f"| real-vs-real floor | | {floor['fd']:.2f} | {100 * floor['kd']:.3f} | "
                  f"{100 * info['test_acc']:.1f} (classifier on held-out) | |", ""]
    lines += ["## Templates against scratch, weight selection and linear expansion (mean over seeds)", "",
              "| size | FD: templates vs best rival | templates better | class consistency: templates vs best | "
              "templates better |", "|---|---|---|---|---|", *_wins(table, cfg.sizes), ""]
    lines += ["## Learning rates (validation split carved from the training images)", "",
              f"Sweep at {cfg.sweep_size}, seed 0, {cfg.sweep_steps} target steps (fit scaled alike); chosen: " +
              ", ".join(f"{m} {lr:g}" for m, lr in best.items()), "",
              "| method | LR | validation denoising loss |", "|---|---:|---:|"]
    lines += [f"| {r['method']} | {r['lr']:g} | " + ("diverged" if r["val_denoising_loss"] is None else
              f"{r['val_denoising_loss']:.4f}") + " |" for r in sweep_rows]
    lines += ["", "## Pre-training LRs (the same search for every pre-trained input)", "",
              "Each input is pre-trained at every LR and keeps the one with its lowest denoising loss on the "
              "validation split.", "", "| input | LR | validation denoising loss |", "|---|---:|---:|"]
    for name, scores in meta.get("pretrain_lrs", {}).items():
        finite = {lr: v for lr, v in scores.items() if v is not None}
        chosen = min(finite, key=finite.get) if finite else None
        lines += [f"| {name} | {lr} | " + ("diverged" if v is None else f"**{v:.4f}**" if lr == chosen else
                  f"{v:.4f}") + " |" for lr, v in scores.items()]
    lines += ["", "## Budget", "",
              "Pre-training (same training FLOPs each, forward multiply-adds per image x steps; the LR chosen "
              "above): " + "; ".join(f"{k} {v}" for k, v in meta["inputs"].items()) + ".",
              f"Total: **{total['cpu_s'] / 3600:.2f} CPU-hours** of process time ({total['wall_s'] / 3600:.2f} hours "
              f"wall at {meta['threads']} thread(s){', shared CPU' if shared else ''}), "
              f"{'the given classifier not counted' if cfg.feature_model else 'classifier included'}.", "",
              "![curves](curves.png)", ""]
    lines += [f"![samples {size}](samples-{size}.png)" for size in cfg.sizes]
    lines += ["", f"- command: `{meta['command']}`", f"- machine: {meta['machine']}", f"- date: {meta['date']}", ""]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))


def run_generate_bench(cfg: GenerateBenchConfig) -> list[dict]:
    """Every stage in turn (each cached under ``cfg.work``), then results.json/csv, summary.json, report.md,
    curves.png and one sample grid per size under ``cfg.out``; returns the per-(size, method) table."""
    bench = GenerateBench(cfg)
    features = bench.classifier()
    record = comparable(cfg, bench.tokens, features.info["sha256"]) if cfg.compare_with else None  # before runs
    inputs = bench.inputs()
    best, sweep_rows = bench.sweep(inputs, features)
    rows = []
    for seed in range(cfg.seeds):
        for size in cfg.sizes:
            for method in cfg.methods:
                if seed and method in cfg.one_seed_methods:
                    continue
                rows += bench.run(method, size, seed, best[method], inputs, features)
    for size in cfg.sizes:
        bench.sample_grid(size, best, cfg.out / f"samples-{size}.png")
    others, other_best, other_sweep = [], {}, []
    if record is not None:  # the compared bench's methods this one does not run, with their LR choices
        others = compared_rows(record, cfg.compare_with, rows, cfg.methods)
        other_best = {m: lr for m, lr in record["meta"]["best_lr"].items() if m not in cfg.methods}
        sweep = read_json(cfg.compare_with / "summary.json", "a bench generate summary (--compare-with)")["sweep"]
        other_sweep = [r for r in sweep if r["method"] in other_best]
    methods = cfg.methods + list(other_best)
    table = summarize(rows + others, cfg.sizes, methods)
    # what the methods started from: name -> (size, steps)
    used = {cfg.bank_input: (cfg.bank_size, bench.bank_steps())} if "templates" in cfg.methods else {}
    if "linear-expansion" in cfg.methods:
        used["learngene"] = cfg.budget_size, bench.steps_for(cfg.budget_size)
    if "weight-selection" in cfg.methods:
        used["teacher"] = cfg.teacher_size, bench.steps_for(cfg.teacher_size)
    if "direct" in cfg.methods:
        used |= {f"direct-{size}": (size, bench.steps_for(size)) for size in cfg.sizes}
    inputs_meta = {name: f"{size}, {steps} steps{' drawn' if name == cfg.bank_input and cfg.bank_sampling else ''}, "
                   f"LR {bench.chosen_lr(name):g}" for name, (size, steps) in used.items()}
    pretrain_lrs = {name: {f"{lr:g}": bench.pretrain_scores[name][f"{lr:g}"] for lr in cfg.pretrain_lrs}
                    for name in used}
    if record is not None:  # the inputs only the compared bench built (its direct pre-training, say)
        theirs = record["meta"]
        inputs_meta |= {k: v for k, v in theirs["inputs"].items() if k not in inputs_meta and k.startswith("direct")}
        pretrain_lrs |= {k: v for k, v in theirs.get("pretrain_lrs", {}).items() if k not in pretrain_lrs}
    meta = {**provenance(), "threads": torch.get_num_threads(),
            "config": settings_record(cfg), "image_size": bench.full.img_size,
            "classifier": features.info, "floor": bench.floor, "best_lr": best, "cost": bench.ledger.total(),
            "inputs": inputs_meta, "pretrain_lrs": pretrain_lrs}
    cfg.out.mkdir(parents=True, exist_ok=True)
    write_json(cfg.out / "results.json", {"meta": meta, "rows": rows})  # this bench's own runs only
    write_csv(cfg.out / "results.csv", rows)
    write_json(cfg.out / "summary.json", {"table": table, "sweep": sweep_rows})
    curves(rows + others, cfg.sizes, methods, cfg.out / "curves.png")
    report(cfg, meta, table, sweep_rows + other_sweep, {**best, **other_best}, features, bench.floor,
           cfg.out / "report.md")
    return table


__all__ = ["METHODS", "GenerateBenchConfig", "run_generate_bench"]
