"""`sizeless bench init`: sizes x methods x seeds under one fair protocol (DESIGN 2.7), one report.

Fair by construction:

- Compute is counted in training FLOPs (6 x MACs per image). The bank, the weight-selection
  teacher and TLEG's learngene get the same FLOPs; direct pre-training runs at that full budget
  for each size (``direct``) and at the bank's budget divided by the number of sizes it serves
  (``direct-amortized``). Pre-trained inputs are built once and shared by every target seed.
- Every method gets the same target budget: a fit stage (templates, linear expansion) is
  counted inside it, so that model trains that many fewer steps afterwards.
- Learning rates come from a sweep judged on a validation split carved from the training data
  (``holdout``); the report quotes the untouched test split.

Missing inputs are built and cached in the output folder, so a second run reuses them and every
finished run; a run cut short resumes from its checkpoint.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch

from .. import distributed as dist
from ..api import image_spec, initialize_full, pretrain, sampled_steps, train
from ..bank import TENSOR_FILE, TemplateBank
from ..data import DataConfig, ImageData, load_data, with_train_subset
from ..errors import SizelessError, UnsupportedSize
from ..families import TRANSFORMERS, ImageSpec, family_options, get_family
from ..files import read_json, sha256, write_json
from ..flops import macs_per_image, steps_spending, training_flops
from ..initializers import INITIALIZERS
from ..initializers.base import default_fit_config
from ..mae import MAEConfig
from ..sampling import SizeSampling
from ..tasks import default_fit_lr, get_task, task_of
from ..training import TrainConfig, evaluate
from .compare import comparable_bench, compared_rows
from .report import PRETRAINED_METHODS, provenance, settings_record, write_report

METHODS = ("templates", "scratch", "weight-selection", "mimetic", "linear-expansion", "direct", "direct-amortized")
OPTIONAL_METHODS = ("templates-mae",)  # asked for by name (templates-mae pre-trains one more bank)
# bench methods that are an initializer at another budget, or with another bank (templates-mae: SWEET's bank,
# pre-trained by MAE on the target's own training images, no labels)
ALIASES = {"direct-amortized": "direct", "templates-mae": "templates"}
FIT_METHODS = ("templates", "templates-mae", "linear-expansion")  # their fit on target data is in the target budget
RANDOM_INIT_RECIPE = {"lr": 1e-3, "warmup": 0.1}  # without a sweep: what a method without a recommendation gets
DEFAULT_BANK_SIZE = {"vit": "64x4", "cnn": "16x2-2-2-2"}  # the teacher is the bank's size unless given
DEFAULT_TEMPLATE_WIDTH = {"vit": 32, "cnn": 8}

# Named protocols per family kind; every field stays overridable from the command line.
PROFILES: dict[str, dict[str, dict]] = {
    # the fast check (under an hour on 2 CPU cores): a small bank, a little data, the recommended recipes
    "quick": {
        "vit": dict(sizes=["32x4", "64x6", "96x4"], bank_size="64x4", holdout=2000, test_subset=2000,
                    pretrain_subset=8000, pretrain_epochs=3, train_subset=4000, epochs=3, fit_steps=20, seeds=1),
        "cnn": dict(sizes=["8x2-2-2-2", "16x3-3-3-3", "32x2-2-2-2"], bank_size="16x2-2-2-2", holdout=2000,
                    test_subset=2000, pretrain_subset=8000, pretrain_epochs=3, train_subset=4000, epochs=3,
                    fit_steps=20, seeds=1),
    },
    # the fair, realistic comparison (budget in benchmarks/NOTES.md): five unseen sizes around a 64x6 bank trained
    # on 45k images, an LR sweep chosen on 5k held-out images, two target seeds. The bank trains at its own size:
    # at equal steps a size-sampled bank lost 13 points at its own size on digits (benchmarks/digits-probes);
    # --bank-widths/--bank-depths turn sampling on. Eight templates per kind: at this budget two N = 8 banks were level
    # with or ahead of the N = 4 bank at every size, and N = 16 behind N = 8 (benchmarks/NOTES.md, "Eight templates
    # per kind", "A second bank seed")
    "standard": {
        "vit": dict(sizes=["32x6", "64x3", "64x10", "96x6", "128x4"], bank_size="64x6", holdout=5000,
                    test_subset=5000, pretrain_epochs=10, num_templates=8,
                    train_subset=10000, epochs=3, fit_steps=20, seeds=2, lrs=[2.5e-4, 1e-3],
                    direct_sizes=["64x3", "96x6"]),
    },
}


@dataclass
class BenchConfig:
    data: str
    out: Path
    sizes: list[str]
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    profile: str | None = None  # the named protocol these settings came from (recorded in the report)
    fit_steps: int = 20  # counted inside the target budget
    fit_lr: float | None = None  # of the template fit (default: the classifier fit's, or the dense task's)
    epochs: int = 3  # target training budget (epochs of train_subset images), the same for every method
    seeds: int = 1  # target seeds; pre-trained inputs are built once (seed 0) and shared
    batch_size: int = 128
    train_subset: int | None = None  # target training images
    holdout: int | None = None  # validation images carved from train for the LR choice; the test split is reported
    test_subset: int | None = None
    val_subset: int | None = None  # without a holdout: the validation split used (and reported)
    lrs: list[float] | None = None  # the LR sweep every method gets (chosen on validation); None: recipes
    warmup: float = 0.05  # warm-up of every run of the sweep
    metric: str = "acc"  # the validation/test metric that chooses and ranks (higher is better)
    data_dir: str | None = None
    # transfer protocol: build bank/teacher/learngene/direct on the source, judge on the target
    source_data: str | None = None  # default: data
    target_data: str | None = None  # default: data
    source_classes: list[int] | None = None
    target_classes: list[int] | None = None
    bank: Path | None = None
    teacher: Path | None = None
    learngene: Path | None = None
    # another bench's folder whose pre-trained inputs (bank, teacher, learngene, direct runs) this one reuses:
    # one pre-training serves its sizes and this bench's (e.g. dense tasks on the standard profile's inputs)
    pretrained_from: Path | None = None
    family: str = "vit"
    share_stages: bool = False  # CNN banks built here: one template set per stage, or one for all
    patch_size: int | None = None  # default: the family's
    # how missing inputs are built (cached under OUT):
    bank_size: str | None = None  # default: DEFAULT_BANK_SIZE
    constraint: str = "kronecker"  # of a bank built here; "tucker" uses ``ranks``
    template_width: int | None = None  # default: DEFAULT_TEMPLATE_WIDTH[family]
    num_templates: int = 4
    ranks: tuple[int, int, int] = (16, 64, 64)
    bank_widths: list[int] | None = None  # stochastic size scaling of a bank built here: widths, depths, how drawn
    bank_depths: list[int] | None = None
    bank_distribution: str = "uniform"
    pretrain_epochs: int = 4
    pretrain_lr: float = 1e-3  # bank, teacher, learngene and direct pre-training share it
    # every input built here (bank, teacher, learngene, direct runs) is built once per pre-training seed, and each
    # seed is a replicate of the protocol: its own LR choice, its target seeds; the report averages over them
    pretrain_seeds: int = 1
    pretrain_subset: int | None = None
    teacher_size: str | None = None  # default: the bank's size (same FLOPs, same model)
    direct_sizes: list[str] | None = None  # sizes that also get full-budget direct pre-training (default: all)
    # dense tasks (segmentation, detection) on the target data; the source stays classification images
    task: str | None = None  # default: what the target data is (its metric chooses and ranks)
    image_size: int | None = None  # the target's input size (dense tasks)
    task_patch_size: int | None = None  # the ViT patch at the target's input (default: the task's)
    head_channels: int | None = None  # the dense head's width (default: the head's)
    target_batch_size: int | None = None  # the fit and target training (default: batch_size; dense: the task's)
    # templates-mae: a Tucker bank pre-trained by MAE on the target's training images, at the target's geometry
    mae_bank: Path | None = None
    mae_size: str | None = None  # default: bank_size
    mae_ranks: tuple[int, int, int] = (16, 64, 64)
    mae_epochs: int = 100
    mae_batch_size: int = 32
    mae_lr: float = 1.5e-3
    # policies (decision-transformer): behavior-cloning steps, rollouts, context
    train_steps: int = 300  # steps of training after init (instead of epochs)
    pretrain_steps: int | None = None  # steps of bank/teacher/direct pre-training (instead of epochs)
    eval_steps: list[int] = field(default_factory=list)  # roll out at these steps too (and at 0 and the end)
    episodes: int = 10  # episodes per evaluation
    target_return: float | None = None  # return-to-go to condition on (default: the expert's return)
    context: int | None = None  # context length K (default 20)
    finished_only: bool = False  # report the target runs already recorded; train none (a bench run in pieces)
    # another bench judged under the same target protocol: its runs of the methods this one does not run are
    # reported beside this bench's (a bank variant against baselines that ran once)
    compare_with: Path | None = None

    def __post_init__(self) -> None:
        # an unknown family fails here too; families judged by other metrics have their own runner
        if "supervised" not in get_family(self.family).objectives and self.family not in FAMILY_BENCHES:
            raise SizelessError(f"bench init judges classifiers by accuracy and has no runner for {self.family}; "
                                "for dit (a generator) run `sizeless bench generate`, which measures samples")
        if self.finished_only and self.family in FAMILY_BENCHES:
            raise SizelessError(f"--finished-only reads the image bench's run records; the {self.family} bench keeps "
                                "its own: run it without the flag (it resumes from its cache)")
        kind = "vit" if self.family in TRANSFORMERS else "cnn"
        self.template_width = self.template_width or DEFAULT_TEMPLATE_WIDTH[kind]
        self.bank_size = self.bank_size or DEFAULT_BANK_SIZE[kind]
        self.teacher_size = self.teacher_size or self.bank_size
        unknown = [m for m in self.methods if m not in METHODS + OPTIONAL_METHODS and m not in INITIALIZERS]
        if unknown:
            raise SizelessError(f"unknown methods {unknown}; choose from {', '.join(METHODS + OPTIONAL_METHODS)}")
        if not self.sizes:
            raise SizelessError("give at least one size to benchmark (--sizes 64x4,96x6)")
        if self.lrs is not None and (not self.lrs or min(self.lrs) <= 0):
            raise SizelessError(f"--lrs must be positive learning rates, got {self.lrs}")
        if self.lrs and len(self.lrs) > 1 and not (self.holdout or self.task or self.family in FAMILY_BENCHES):
            raise SizelessError("an LR sweep is chosen on a validation split carved from train: add --holdout N")
        if self.pretrain_seeds < 1:
            raise SizelessError(f"--pretrain-seeds counts pre-training seeds (1 or more), got {self.pretrain_seeds}")
        adopted = ("bank", "teacher", "learngene") if self.pretrained_from is not None else ()  # _adopt checks them
        given = [f"--{n.replace('_', '-')}" for n in ("bank", "teacher", "learngene", "mae_bank")
                 if getattr(self, n) is not None and n not in adopted]
        if self.pretrain_seeds > 1 and (given or self.family in FAMILY_BENCHES):
            # a given input has one seed of its own (a reused bench has its own per seed); the policy bench keeps
            # its own cache of pre-trained inputs
            raise SizelessError("--pretrain-seeds seeds the inputs the image bench builds itself: drop it with "
                                f"{', '.join(given) or 'a policy family'} (those inputs exist once)")
        if self.task:
            self.use_task(self.task)
        if self.pretrained_from is not None:
            self._adopt(reused_bench(self.pretrained_from)[0])
        self.mae_size = self.mae_size or self.bank_size

    def _adopt(self, other: BenchConfig) -> None:
        """Take the pre-training settings and inputs of the bench whose inputs are reused, so this bench's
        records and report describe the pre-training that actually happened."""
        if other.family != self.family:
            raise SizelessError(f"{self.pretrained_from} pre-trained {other.family} inputs; this bench is for "
                                f"{self.family}")
        inputs = _reused_inputs(other, Path(self.pretrained_from))
        given = [f"--{name}" for name, path in inputs.items() if getattr(self, name) not in (None, path)]
        if given:
            raise SizelessError(f"--pretrained-from reuses that bench's bank, teacher and learngene; drop "
                                f"{', '.join(given)} (or drop --pretrained-from and name every input)")
        for name in PRETRAINING_SETTINGS:
            setattr(self, name, getattr(other, name))
        self.source_data = other.source_data or other.data
        for name, path in inputs.items():
            setattr(self, name, path)

    def use_task(self, name: str) -> None:
        """Judge a dense task: its headline metric (unless another was asked for) and its batch size."""
        task = get_task(name)
        self.task = task.name
        self.metric = task.metrics[0] if self.metric == "acc" else self.metric
        self.target_batch_size = self.target_batch_size or task.default_batch

    @property
    def target_batch(self) -> int:
        return self.target_batch_size or self.batch_size

    @property
    def bank_constraint(self) -> dict:
        """The constraint config of a bank built here (the template counts are Kronecker's)."""
        if self.constraint == "tucker":
            return {"ranks": list(self.ranks)}
        return {"template_width": self.template_width, "num_templates": self.num_templates}

    @classmethod
    def from_profile(cls, profile: str | None, **settings) -> BenchConfig:
        """A named protocol's settings, overridden by every setting given (``None`` means not given)."""
        given = {k: v for k, v in settings.items() if v is not None}
        defaults = {}
        if profile is not None:
            if profile not in PROFILES:
                raise SizelessError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
            family = given.get("family", "vit")
            kind = "vit" if family in TRANSFORMERS else "cnn"
            if kind not in PROFILES[profile]:
                raise SizelessError(f"the {profile} profile is defined for {', '.join(PROFILES[profile])} families, "
                                    f"not {family}; give the sizes and budgets yourself")
            defaults = PROFILES[profile][kind]
        names = {f.name for f in fields(cls)}
        chosen = {k: v for k, v in {**defaults, **given}.items() if k in names}
        if chosen.get("pretrained_from") is not None:
            _refuse_other_pretraining(given, Path(chosen["pretrained_from"]))
        if "sizes" not in chosen:
            raise SizelessError(f"name the target sizes (--sizes 32x4,96x4) or a profile (--profile "
                                f"{'|'.join(PROFILES)})")
        return cls(**chosen, profile=profile)


# what --pretrained-from copies from the reused bench: how its bank, teacher, learngene and direct runs were built
PRETRAINING_SETTINGS = ("source_classes", "share_stages", "patch_size", "bank_size", "constraint", "template_width",
                        "num_templates", "ranks", "bank_widths", "bank_depths", "bank_distribution", "pretrain_epochs",
                        "pretrain_lr", "pretrain_subset", "teacher_size", "direct_sizes",
                        "pretrain_steps")


def reused_bench(root: Path) -> tuple[BenchConfig, dict]:
    """The configuration and recorded meta (with its inputs' costs) of the bench in ``root`` (--pretrained-from)."""
    root = Path(root)
    record = root / "results.json"
    if not record.is_file():
        raise SizelessError(f"--pretrained-from {root}: no results.json there; name the folder of a bench that has "
                            "run (its report and pre-trained inputs are in it)")
    meta = read_json(record, "bench results").get("meta", {})
    config = meta.get("config", {})
    if config.get("pretrained_from"):
        raise SizelessError(f"--pretrained-from {root}: that bench reuses {config['pretrained_from']}'s inputs; "
                            "name that folder instead")
    known = {f.name for f in fields(BenchConfig)}
    settings = {k: v for k, v in config.items() if k in known} | {"out": root, "finished_only": False}
    settings["ranks"] = tuple(settings.get("ranks", (16, 64, 64)))
    return BenchConfig(**settings), meta


def _reused_inputs(other: BenchConfig, root: Path, seed: int = 0) -> dict[str, Path]:
    """Where the bench in ``root`` keeps its bank, teacher and learngene of one pre-training seed."""
    return {"bank": other.bank or root / f"bank-{_bank_tag(other, seed)}",
            "teacher": other.teacher or root / _seeded("teacher", seed),
            "learngene": other.learngene or root / _seeded("learngene", seed)}


def _at_seed(cfg: BenchConfig, reused: tuple[BenchConfig, dict], seed: int) -> BenchConfig | None:
    """This bench with the reused bench's inputs of pre-training seed ``seed`` (seed 0's are adopted already); None
    with --finished-only when that seed's bank was never built there."""
    if seed == 0:
        return cfg
    other, root = reused[0], Path(cfg.pretrained_from)
    if other.bank is not None:
        raise SizelessError(f"--pretrained-from {root}: that bench was given one bank ({other.bank}), so it has no "
                            "other pre-training seeds; drop --pretrain-seeds")
    inputs = _reused_inputs(other, root, seed)
    if not _finished(inputs["bank"]):
        if cfg.finished_only:
            return None
        raise SizelessError(f"--pretrained-from {root} holds no finished bank at pre-training seed {seed} "
                            f"({inputs['bank']}); run that bench with --pretrain-seeds {seed + 1} first, or lower "
                            "--pretrain-seeds")
    seeded = copy.copy(cfg)  # not dataclasses.replace: the paths below must not be checked against seed 0's again
    for name, path in inputs.items():
        setattr(seeded, name, path)
    return seeded


def _refuse_other_pretraining(given: dict, root: Path) -> None:
    """A pre-training setting given beside --pretrained-from that differs from the reused bench's would be replaced
    by it without a word (the inputs exist already), so it is refused."""
    other = reused_bench(root)[0]
    defaults = {f.name: f.default for f in fields(BenchConfig)}
    clash = [name for name in PRETRAINING_SETTINGS
             if name in given and given[name] != defaults[name] and given[name] != getattr(other, name)]
    if clash:
        hint = "; a dense target's ViT patch is --task-patch-size" if "patch_size" in clash else ""
        flags = ", ".join(f"--{n.replace('_', '-')} {given[n]} (that bench: {getattr(other, n)})" for n in clash)
        raise SizelessError(f"--pretrained-from {root} reuses inputs pre-trained with other settings: drop "
                            f"{flags}{hint}")


def _direct_dir(cfg: BenchConfig) -> Path:
    return Path(cfg.pretrained_from or cfg.out) / "direct"


def _seeded(name: str, seed: int) -> str:
    """A pre-trained input's folder (or run name) at a pre-training seed: seed 0 keeps the name runs had before
    pre-training was seeded, so their caches stay valid."""
    return f"{name}-seed{seed}" if seed else name


@dataclass
class Inputs:
    """What the bench built or was given before any target run: the bank and the baselines' pre-training."""

    bank: TemplateBank
    source: ImageData
    target: ImageData
    bank_tag: str = ""  # names the bank in cached run folders, so bank variants share one bench's baselines
    learngene: TemplateBank | None = None
    teacher: Path | None = None
    bank_flops: int | None = None
    compute: dict[str, dict] = field(default_factory=dict)  # per pre-trained input: images, FLOPs, seconds
    served_sizes: int = 1  # the sizes the pre-trained inputs are amortized over: those of the bench that built them
    mae_bank: TemplateBank | None = None
    pretrain_seed: int = 0  # the seed every input above was built with (a given input keeps its own)


# families benchmarked by another metric register their runner here (a policy: return in the simulator)
FAMILY_BENCHES: dict[str, Callable[[BenchConfig], list[dict]]] = {}


def run_init_bench(cfg: BenchConfig) -> list[dict]:
    if cfg.family in FAMILY_BENCHES:
        return FAMILY_BENCHES[cfg.family](cfg)
    out = Path(cfg.out)
    compared = comparable_bench(settings_record(cfg), cfg.compare_with) if cfg.compare_with else None  # before runs
    reused = reused_bench(cfg.pretrained_from) if cfg.pretrained_from else None
    data = _datasets(cfg, reused[0] if reused else None)  # every pre-training seed shares the data and its splits
    rows: list[dict] = []
    built: list[Inputs] = []
    chosen: dict[tuple[str, str], float | None] = {}  # seed 0's LR choice per (method, size), for the overlays
    # each pre-training seed's configuration: a reused bench's inputs of that seed (checked before any run)
    seeded = [_at_seed(cfg, reused, seed) if reused else cfg for seed in range(cfg.pretrain_seeds)]
    for pretrain_seed, seed_cfg in enumerate(seeded):
        methods = [m for m in cfg.methods if pretrain_seed == 0 or m in PRETRAINED_METHODS]
        if not methods:  # only methods that pre-train nothing: one seed says all
            break
        inputs = _build_inputs(seed_cfg, out, data, reused, pretrain_seed) if seed_cfg else None
        if inputs is None:  # --finished-only and this seed's bank is not built yet
            continue
        built.append(inputs)
        rows += _replicate(cfg, methods, inputs, chosen if pretrain_seed == 0 else {})
    if cfg.finished_only and not rows:
        raise SizelessError(f"no finished run of these sizes and methods in {out} yet: drop --finished-only to run "
                            "them")
    if dist.is_main():
        meta = _provenance(cfg, built)
        if cfg.task:  # every method's seed-0 model at the largest size, predicting the same test images
            sizes = [built[0].bank.family.parse_size(s).key for s in cfg.sizes]
            meta["overlays"] = _overlays(cfg, built[0], sizes[-1], chosen, out)
        write_json(out / "results.json", {"meta": meta, "rows": rows})
        beside = compared_rows(compared, cfg.compare_with, rows, cfg.methods) if compared else []
        write_report(out, rows + beside, meta)
    dist.barrier()
    return rows


def _replicate(cfg: BenchConfig, methods: list[str], inputs: Inputs, chosen: dict) -> list[dict]:
    """Every size, method and target seed on one pre-training seed's inputs: the LR is chosen on its target seed 0
    (``chosen`` receives the choices)."""
    rows = []
    sizes = [inputs.bank.family.parse_size(s).key for s in cfg.sizes]  # canonical keys, also for "n/a" rows
    for seed in range(cfg.seeds):
        for size in sizes:
            for method in methods:
                lrs = [chosen[(method, size)]] if seed and cfg.lrs else cfg.lrs or [None]  # None: the recipe
                runs = _run_one(cfg, method, size, seed, lrs, inputs)
                if seed == 0:
                    chosen[(method, size)] = _choose(runs, cfg.metric)
                rows += [{**r, "selected": r.get("lr") == chosen.get((method, size))} for r in runs]
    return rows


def _datasets(cfg: BenchConfig, other: BenchConfig | None = None) -> tuple[ImageData, ImageData]:
    """Source and target data; ``other``: the bench whose pre-trained inputs are reused (its source is ours)."""
    def full(spec: str | None, classes: list[int] | None, image_size: int | None = None,
             judged: bool = True) -> ImageData:
        split = {"holdout": cfg.holdout, "test_subset": cfg.test_subset} if judged else {}
        return load_data(DataConfig(spec or cfg.data, cfg.data_dir, image_size=image_size, val_subset=cfg.val_subset,
                                    classes=classes, **split))

    same = (cfg.source_data, cfg.source_classes) == (cfg.target_data, cfg.target_classes)
    if other is not None:  # the source exactly as the bench that pre-trained on it split it (its runs resume)
        source, same = _datasets(other)[0], False
    else:
        # the validation split for choices is carved from the data the methods are judged on; a separate source
        # (transfer, dense tasks) keeps its own splits, so its pre-trained inputs do not depend on the target's
        # holdout
        source = full(cfg.source_data, cfg.source_classes, judged=same)
    target = source if same else full(cfg.target_data, cfg.target_classes, cfg.image_size)
    if task_of(source):
        raise SizelessError(f"the bank, teacher and direct pre-training need classification images, but {source.name} "
                            f"is {task_of(source)} data: give them with --source-data")
    if cfg.task and task_of(target) != cfg.task:
        raise SizelessError(f"--task {cfg.task} but {target.name} is {task_of(target) or 'classification'} data")
    if task_of(target) and not cfg.task:
        cfg.use_task(task_of(target))
    if task_of(target) and cfg.lrs and len(cfg.lrs) > 1 and target.test is None:
        raise SizelessError(f"an LR sweep is chosen on validation and reported on test, but {target.name} has no test "
                            "split: carve a validation split from train with --holdout N")
    return with_train_subset(source, cfg.pretrain_subset), with_train_subset(target, cfg.train_subset)


def _macs(family, size: str, image: ImageSpec, num_classes: int) -> int:
    size = family.parse_size(size)
    return macs_per_image(lambda: family.build(size, image, num_classes), image.in_chans, image.img_size)


def _compute(record: dict, batch_size: int, macs: int, serves_every_size: bool) -> dict:
    """Cost of a pre-training run from its last metrics row or bank config (``step``, ``seconds``, ``cpu_seconds``)
    at the batch size it trained with (a given bank's own, not this bench's flags); FLOPs as the bank counted them
    (steps at sampled sizes), else every step at ``macs``."""
    images = int(record.get("steps", record.get("step", 0))) * batch_size
    return {"images": images, "flops": record.get("train_flops") or training_flops(macs, images),
            "seconds": record.get("seconds"), "cpu_seconds": record.get("cpu_seconds"),
            "threads": record.get("threads"), "serves_every_size": serves_every_size}


def _sampled_budget(cfg: BenchConfig, sampling: SizeSampling, budget: TrainConfig, source: ImageData) -> TrainConfig:
    """A size-sampled bank's steps: as many as spend the FLOPs of ``pretrain_epochs`` at the bank's own size
    (its steps cost what each drew), validated once per epoch's worth of steps for its curve."""
    family = get_family(cfg.family, family_options(cfg.family, share_stages=cfg.share_stages))
    image = image_spec(source, cfg.patch_size, cfg.family)
    steps_per_epoch = max(1, len(source.train) // budget.batch_size)
    steps = sampled_steps(family, family.parse_size(cfg.bank_size), image, source.num_classes, sampling, budget.seed,
                          cfg.pretrain_epochs * steps_per_epoch)
    return replace(budget, steps=steps, eval_every=steps_per_epoch)


def _build_inputs(cfg: BenchConfig, out: Path, data: tuple[ImageData, ImageData], reused: tuple | None,
                  seed: int = 0) -> Inputs | None:
    """The bank and the baselines' pre-trained inputs at one pre-training seed, built (and cached) where missing.
    With --finished-only nothing is built: an input that is not there is not loaded (its method's finished runs
    are still reported, at an unknown cost), and a further seed without its bank is None."""
    source, target = data
    budget = TrainConfig(epochs=cfg.pretrain_epochs, batch_size=cfg.batch_size, lr=cfg.pretrain_lr)
    family_config = family_options(cfg.family, share_stages=cfg.share_stages)
    sampling = SizeSampling.optional(cfg.bank_widths, cfg.bank_distribution, cfg.bank_depths)
    given = TemplateBank.load(cfg.bank) if cfg.bank else None  # a wrong path fails here, in one line
    tag = _bank_tag(cfg, seed)
    if given is None and cfg.finished_only and not _finished(out / f"bank-{tag}"):
        if seed:
            return None
        raise SizelessError(f"--finished-only reports the runs on this bench's bank, but {out / f'bank-{tag}'} holds "
                            "no finished bank: drop --finished-only to build it (or check the settings)")
    bank_budget = replace(budget, seed=seed)
    bank = given if given is not None else pretrain(
        source, [cfg.bank_size],
        config=_sampled_budget(cfg, sampling, bank_budget, source) if sampling else bank_budget,
        out=out / f"bank-{tag}", resume=True, family=cfg.family, family_config=family_config, patch_size=cfg.patch_size,
        constraint=cfg.constraint, constraint_config=cfg.bank_constraint, size_sampling=sampling)
    if bank.config["family"] != cfg.family:
        raise SizelessError(f"the bank holds {bank.config['family']} templates but the benchmark is for {cfg.family}")
    family, image = bank.family, bank.image
    # the FLOPs-matched runs below count epochs at the bank's size (a size-sampled bank's steps do not tell them)
    # and have the seed of this replicate (a given bank keeps its own)
    budget = replace(bank.train_config, steps=None, eval_every=None, **({} if cfg.bank else {"seed": seed}))
    inputs = Inputs(bank, source, target, bank_tag=tag, served_sizes=len((reused[0] if reused else cfg).sizes),
                    pretrain_seed=seed)
    bank_key = bank.sizes[0].key
    bank_macs = _macs(family, bank_key, image, source.num_classes)
    inputs.compute["templates"] = _compute(bank.config, bank.train_config.batch_size, bank_macs, True)
    inputs.bank_flops = inputs.compute["templates"]["flops"]
    if not cfg.bank and seed == 0:
        _copy_curve(out / f"bank-{tag}", out, "bank")

    learngene = out / _seeded("learngene", seed)
    if "linear-expansion" in cfg.methods and cfg.family in TRANSFORMERS and (
            cfg.learngene or not cfg.finished_only or _finished(learngene)):  # n/a for CNNs (reported as such)
        # TLEG's learngene: the bank's size and budget (same FLOPs), two templates with fixed linear scalers
        inputs.learngene = TemplateBank.load(cfg.learngene) if cfg.learngene else pretrain(
            source, [bank_key], config=budget, out=learngene, resume=True,
            constraint_config={"template_width": bank.sizes[0].width, "num_templates": 2, "scalers": "linear"})
        inputs.compute["linear-expansion"] = _compute(inputs.learngene.config, inputs.learngene.train_config.batch_size,
                                                       bank_macs, True)
    inputs.teacher = cfg.teacher
    teacher = out / _seeded("teacher", seed)
    if cfg.teacher is not None:  # a given teacher: its pre-training cost is not known here
        inputs.compute["weight-selection"] = dict(UNKNOWN_COST)
    elif "weight-selection" in cfg.methods and (not cfg.finished_only or _finished(teacher)):
        teacher_macs = _macs(family, cfg.teacher_size, image, source.num_classes)
        steps = steps_spending(inputs.bank_flops, teacher_macs, budget.batch_size)
        inputs.teacher = teacher
        _, result = train(None, source, replace(budget, steps=steps), size=cfg.teacher_size,
                          patch_size=image.patch_size, out=inputs.teacher, resume=True, family=cfg.family)
        inputs.compute["weight-selection"] = _compute(result.history[-1], budget.batch_size, teacher_macs, True)
    if reused:  # the reused bench counted its inputs' cost when it built them
        meta = reused[1]
        inputs.compute.update({m: {**c, "threads": c.get("threads") or meta.get("threads")}
                               for m, c in meta.get("inputs", {}).items() if m in inputs.compute})
    if "templates-mae" in cfg.methods and (cfg.mae_bank or not cfg.finished_only or
                                           _finished(out / _seeded("mae-bank", seed))):
        inputs.mae_bank = TemplateBank.load(cfg.mae_bank) if cfg.mae_bank else _mae_bank(cfg, target, out, seed)
        mae_image = inputs.mae_bank.image
        mae_macs = _macs(inputs.mae_bank.family, inputs.mae_bank.sizes[0].key, mae_image, 0)
        inputs.compute["templates-mae"] = _compute(inputs.mae_bank.config, inputs.mae_bank.train_config.batch_size,
                                                    mae_macs, True)
    if cfg.finished_only and seed == 0:  # an input kept without its weights (a committed bench): its recorded cost
        for method, cost in _recorded_costs(out).items():
            inputs.compute.setdefault(method, cost)
    return inputs


def _recorded_costs(out: Path) -> dict[str, dict]:
    """The pre-training cost of each seed-0 input as this bench's last report recorded it (none before a first
    report). Committed benches keep their inputs' records but not their weights, which --finished-only needs to
    load an input; without this their methods' cost would re-render as unknown."""
    results = out / "results.json"
    return read_json(results, "benchmark results").get("meta", {}).get("inputs", {}) if results.exists() else {}


def _mae_bank(cfg: BenchConfig, target, out: Path, seed: int) -> TemplateBank:
    """SWEET's bank: Tucker templates pre-trained by masked autoencoding on the target's training images (no labels
    read), at the target's input geometry."""
    patch = cfg.task_patch_size or (get_task(cfg.task).default_patch if cfg.task else cfg.patch_size)
    config = TrainConfig(epochs=cfg.mae_epochs, batch_size=cfg.mae_batch_size, lr=cfg.mae_lr, warmup=0.05, seed=seed)
    return pretrain(target, [cfg.mae_size], objective="mae", mae=MAEConfig(), constraint="tucker",
                    constraint_config={"ranks": list(cfg.mae_ranks)}, config=config, patch_size=patch,
                    out=out / _seeded("mae-bank", seed), resume=True, family=cfg.family)


def _finished(folder: Path) -> bool:
    """Whether a pre-trained input was built to the end: its record (written once it has) and its weights."""
    record = folder / "config.json"
    return record.exists() and any(folder.glob("*.safetensors")) and \
        read_json(record, "pre-trained input record").get("completed", True) is not False


def _bank_tag(cfg: BenchConfig, seed: int = 0) -> str:
    """A short name for the bank: a given bank's contents (the same bank keeps its runs when its folder moves or
    the repository is cloned elsewhere), else the settings that build it."""
    if cfg.bank:
        return "given-" + sha256(Path(cfg.bank) / TENSOR_FILE)[:8]
    settings = ("bank_size", "constraint", "template_width", "num_templates", "ranks", "bank_widths", "bank_depths",
                "bank_distribution", "pretrain_epochs", "pretrain_lr", "pretrain_subset", "batch_size", "family",
                "share_stages", "source_data", "source_classes", "data")
    chosen = {k: getattr(cfg, k) for k in settings}
    if seed:  # seed 0 adds nothing, so the banks built before seeds were an option keep their names
        chosen["bank_seed"] = seed
    text = json.dumps(chosen, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def _copy_curve(run: Path, out: Path, name: str) -> None:
    """Keep a built input's training curve beside the report (the input folder itself is not committed)."""
    for file in ("curve.png", "metrics.csv"):
        if (run / file).exists() and dist.is_main():
            shutil.copyfile(run / file, out / f"{name}_{file}")


def _direct_budget(cfg: BenchConfig, method: str, size: str, inputs: Inputs) -> TrainConfig | None:
    """Full budget: the bank's FLOPs at this size; amortized: divided by the number of sizes the bank serves."""
    bank, source = inputs.bank, inputs.source
    if method == "direct" and cfg.direct_sizes is not None and \
            size not in {bank.family.parse_size(s).key for s in cfg.direct_sizes}:
        return None
    flops = inputs.bank_flops / (inputs.served_sizes if method == "direct-amortized" else 1)
    macs = _macs(bank.family, size, bank.image, source.num_classes)
    return replace(bank.train_config, steps=steps_spending(flops, macs, bank.train_config.batch_size),
                   seed=inputs.pretrain_seed)


def _initialize(cfg: BenchConfig, method: str, size: str, seed: int, inputs: Inputs, init_dir: Path):
    bank = {"linear-expansion": inputs.learngene, "templates-mae": inputs.mae_bank}.get(method, inputs.bank)
    fit = replace(default_fit_config(), steps=cfg.fit_steps, batch_size=cfg.target_batch, lr=_fit_lr(cfg, inputs))
    extra = {}
    if method in ("direct", "direct-amortized"):
        pre = _direct_budget(cfg, method, size, inputs)
        log_dir = _direct_dir(cfg) / _seeded(f"{method}-{size}", inputs.pretrain_seed)
        if cfg.pretrained_from and not (log_dir / "checkpoint.safetensors").exists():  # never written into
            raise SizelessError(f"{cfg.pretrained_from} holds no {method} pre-training at {size} ({log_dir} is "
                                "missing); run that bench at this size first, or leave the method out")
        extra = dict(source=inputs.source, pretrain_config=pre, log_dir=log_dir)
    patch = inputs.bank.image.patch_size
    if cfg.task:  # a dense model at the target's geometry; weight selection works at its source's
        patch = cfg.task_patch_size
        extra = {"source": inputs.source, **extra, "channels": cfg.head_channels}
    return initialize_full(size, inputs.target, bank=bank, method=ALIASES.get(method, method), fit=fit,
                           patch_size=patch, seed=seed, out=init_dir, teacher=inputs.teacher, family=cfg.family,
                           **extra)


def _fit_lr(cfg: BenchConfig, inputs: Inputs) -> float:
    return cfg.fit_lr or default_fit_lr(inputs.target)


def _evaluate_splits(model, data: ImageData) -> dict[str, float]:
    """Validation (and test, with a holdout) metrics of a model: what the training loop logs per epoch."""
    model.to(dist.setup())
    objective = get_task(task_of(data)).objective(data) if task_of(data) else None
    splits = {"val": data.val, **({"test": data.test} if data.test is not None else {})}
    return {f"{name}_{k}": v for name, split in splits.items()
            for k, v in evaluate(model, model, data, split, objective=objective).items()}


def _run_one(cfg: BenchConfig, method: str, size: str, seed: int, lrs: list[float | None], inputs: Inputs):
    run_dir = Path(cfg.out) / "runs" / _run_name(cfg, method, size, seed, inputs)
    base = {"method": method, "size": size, "seed": seed, "pretrain_seed": inputs.pretrain_seed}
    if method == "direct" and _direct_budget(cfg, method, size, inputs) is None:  # a choice of this run: not recorded
        return [{**base, "lr": None, "epoch": None, "status": f"n/a: full-budget direct pre-training runs at "
                 f"{', '.join(cfg.direct_sizes)} only (its cost: one bank budget per size)"}]
    record = run_dir / "init" / "init.json"  # the at-init evaluation: a finished init is not redone
    if cfg.finished_only and not record.exists():
        return []
    if record.exists():
        _check_geometry(cfg, inputs, size, run_dir)
        done = read_json(record, "bench init record")
    else:
        start = time.perf_counter()
        try:
            init = _initialize(cfg, method, size, seed, inputs, run_dir / "init")
        except UnsupportedSize as err:
            done = {"unsupported": str(err)}  # recorded too: a method that cannot serve a size is not asked again
        else:
            seconds = round(time.perf_counter() - start, 2)
            done = {"meta": init.meta, "params": sum(p.numel() for p in init.model.parameters()),
                    "init_seconds": seconds, "metrics": _evaluate_splits(init.model, inputs.target)}
        if dist.is_main():
            write_json(record, done)
    if "unsupported" in done:
        return [{**base, "lr": None, "epoch": None, "status": f"n/a: {done['unsupported']}"}]
    target, meta = inputs.target, done["meta"]
    batch = cfg.target_batch
    steps_per_epoch = max(1, len(target.train) // batch)
    spent = cfg.fit_steps if method in FIT_METHODS else 0
    macs = _target_macs(cfg, inputs, size)
    # direct pre-training ran the classifier on the source images, whatever the target's model
    source_macs = _macs(inputs.bank.family, size, inputs.bank.image, inputs.source.num_classes)
    pre = inputs.compute.get(method) or (
        _direct_compute(meta, source_macs) if method.startswith("direct")
        else dict(UNKNOWN_COST) if method in PRETRAINED_METHODS  # an input --finished-only did not load
        else dict(NO_PRETRAINING))
    per_size = inputs.served_sizes if pre.get("serves_every_size") else 1
    common = {**base, "status": "ok", "params": done["params"], "macs": macs,
              "pretrain_images": pre["images"], "pretrain_flops": pre["flops"],
              "amortized_pretrain_flops": pre["flops"] / per_size if pre["flops"] is not None else None,
              "pretrain_seconds": pre["seconds"], "pretrain_cpu_seconds": pre["cpu_seconds"],
              "pretrain_threads": pre.get("threads"),
              "init_seconds": done["init_seconds"], "fit_steps": spent}
    rows = []
    for lr in lrs:
        recipe = meta.get("recommended") or RANDOM_INIT_RECIPE
        lr_, warmup = (lr, cfg.warmup) if lr is not None else (recipe["lr"], recipe["warmup"])
        config = TrainConfig(epochs=cfg.epochs, batch_size=batch, seed=seed, lr=lr_, warmup=warmup,
                             spent_steps=spent)
        out = run_dir / f"train-lr{lr_:g}"
        history = _recorded(out, config)
        if history is None and cfg.finished_only:  # the whole sweep or nothing: a partial one would choose wrongly
            return []
        if history is None:
            history = _trained(run_dir / "init", target, config, out,
                               redo_init=lambda: _initialize(cfg, method, size, seed, inputs, run_dir / "init"))
        point = {**common, "lr": lr_, "warmup": warmup}
        rows.append({**point, "epoch": round(spent / steps_per_epoch, 4), "step": spent, **done["metrics"],
                     "train_seconds": 0.0, "train_cpu_seconds": 0.0})
        for r in history:
            rows.append({**point, "epoch": r["epoch"], "step": r["step"],
                         **{k: v for k, v in r.items() if k.startswith(("val_", "test_"))},
                         "train_seconds": r["seconds"], "train_cpu_seconds": r.get("cpu_seconds"),
                         "train_threads": r.get("threads")})
    for r in rows:
        r["target_images"] = r["step"] * batch
        r["target_flops"] = training_flops(macs, r["target_images"])
    return rows


def _check_geometry(cfg: BenchConfig, inputs: Inputs, size: str, run_dir: Path) -> None:
    """Refuse a cached dense run made at another geometry (input size, patch, head width): its folder's name
    does not say, and reusing it would report one geometry's runs under another's settings."""
    saved = run_dir / "init" / "config.json"
    if not cfg.task or not saved.exists():
        return
    from ..tasks.run import dense_geometry, saved_geometry

    had = saved_geometry(read_json(saved, "dense model config"))
    asked = dense_geometry(cfg.task, cfg.family, size, inputs.target, cfg.task_patch_size, cfg.head_channels)
    if had != asked:
        differ = ", ".join(f"{k} {had[k]} (asked {asked[k]})" for k in ("img_size", "patch_size") if had[k] != asked[k])
        raise SizelessError(f"{run_dir} was made at another geometry: {differ or 'another head: ' + str(had['head'])}; "
                            "give the settings it was made with, or another --out for these")


def _run_name(cfg: BenchConfig, method: str, size: str, seed: int, inputs: Inputs) -> str:
    """A target run's folder: method, size, target seed, what it was pre-trained from (templates: the bank's tag,
    which names its seed; others: the pre-training seed past 0) and the fit."""
    fit_lr = _fit_lr(cfg, inputs)  # named unless it is the classifier fit's (the name committed runs carry)
    source = f"-bank{inputs.bank_tag}" if method == "templates" else \
        f"-pre{inputs.pretrain_seed}" if inputs.pretrain_seed else ""
    fit = (f"-fit{cfg.fit_steps}" + ("" if fit_lr == default_fit_config().lr else f"at{fit_lr:g}")
           if method in FIT_METHODS else "")
    return f"{method}-{size}-seed{seed}{source}{fit}"


def _recorded(out: Path, config: TrainConfig) -> list[dict] | None:
    """A finished target run's history, from its record (``history.json``, a few kB), so a bench whose records
    were kept without the runs' weights (the committed standard profile) resumes; None if it has not finished
    with these settings (then train() resumes it, or refuses other settings as for any run)."""
    record = out / "history.json"
    if not record.exists():
        return None
    done = read_json(record, "bench run record")
    return done["history"] if done.get("config") == settings_record(config) else None


def _trained(init_dir: Path, target: ImageData, config: TrainConfig, out: Path, redo_init: Callable) -> list[dict]:
    """Train a target run and record it; ``redo_init`` first where only the init's record was kept (same seed,
    same data: the same model again)."""
    if not any(init_dir.glob("*.safetensors")):
        redo_init()
    _, result = train(init_dir, target, config, out=out, resume=True)
    if result.completed and dist.is_main():
        write_json(out / "history.json", {"config": settings_record(config), "history": result.history})
    return result.history


def _target_macs(cfg: BenchConfig, inputs: Inputs, size: str) -> int:
    """MACs per target image: the classifier at the bank's geometry, or the dense model (backbone and head) at
    the target's."""
    if not cfg.task:
        return _macs(inputs.bank.family, size, inputs.bank.image, inputs.target.num_classes)
    from ..tasks.run import dense_macs

    return dense_macs(cfg.task, cfg.family, size, inputs.target, cfg.task_patch_size, cfg.head_channels)


def _overlays(cfg: BenchConfig, inputs: Inputs, size: str, chosen: dict, out: Path) -> dict[str, str]:
    """Prediction overlays of every method's seed-0 model (chosen LR) on the same test images: ``method -> PNG``."""
    from ..tasks.model import HEAD_FILE
    from ..tasks.run import evaluate_dense

    pictures = {}
    for method in cfg.methods:
        lr = chosen.get((method, size))
        if lr is None:
            continue
        run = Path(cfg.out) / "runs" / _run_name(cfg, method, size, 0, inputs) / f"train-lr{lr:g}"
        path = out / "overlays" / f"{method}-{size}.png"
        if (run / HEAD_FILE).exists():  # a run's weights stay where it trained; a committed bench keeps its records
            target = inputs.target
            evaluate_dense(run, target, split="test" if target.test is not None else "val", overlays=path, count=3)
        if path.exists():  # drawn now, or from these weights when they were here
            pictures[method] = str(path.relative_to(out))
    return pictures


UNKNOWN_COST = {"images": None, "flops": None, "seconds": None, "cpu_seconds": None, "serves_every_size": True}
NO_PRETRAINING = {"images": 0, "flops": 0, "seconds": 0.0, "cpu_seconds": 0.0, "serves_every_size": True}


def _direct_compute(meta: dict, macs: int) -> dict:
    """Direct pre-training's own cost, recorded by the initializer (one run per size)."""
    images = meta.get("pretrain_images", 0)
    return {"images": images, "flops": training_flops(macs, images) if images else 0,
            "seconds": meta.get("pretrain_seconds"), "cpu_seconds": meta.get("pretrain_cpu_seconds"),
            "threads": meta.get("pretrain_threads"), "serves_every_size": False}


def _choose(runs: list[dict], metric: str) -> float | None:
    """The learning rate whose final validation ``metric`` is best (None: a method that was not served)."""
    final: dict[float, tuple[float, float]] = {}
    for r in runs:
        if r["status"] == "ok":
            final[r["lr"]] = max(final.get(r["lr"], (-1.0, 0.0)), (r["epoch"], r[f"val_{metric}"]))
    return max(final, key=lambda lr: final[lr][1]) if final else None


def _provenance(cfg: BenchConfig, built: list[Inputs]) -> dict:
    """What the report says about how the rows were made: the command, the machine, the inputs' costs (pre-training
    seed 0's), and each pre-training seed's bank."""
    inputs = built[0]
    return {
        **provenance(),
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),  # what a run that recorded no thread count is judged against
        "config": settings_record(cfg),
        "served_sizes": inputs.served_sizes,
        "fit_lr": _fit_lr(cfg, inputs),
        "inputs": inputs.compute,
        "bank": {"sizes": inputs.bank.config["sizes"], "template_params": inputs.bank.config.get("template_params"),
                 "val": inputs.bank.config.get("val_acc") or inputs.bank.config.get("val_loss"),
                 "val_by_seed": {b.pretrain_seed: next(iter(b.bank.config["val_acc"].values())) for b in built
                                 if b.bank.config.get("val_acc")}},  # per size: the bank trained at one
        "data": {"train": len(inputs.target.train), "val": len(inputs.target.val),
                 "test": len(inputs.target.test) if inputs.target.test is not None else None,
                 "source_train": len(inputs.source.train)},
    }


__all__ = ["METHODS", "PROFILES", "BenchConfig", "run_init_bench"]
