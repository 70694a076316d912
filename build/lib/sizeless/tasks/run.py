"""Initialize, train and evaluate dense-prediction models with any initializer's backbone.

The backbone comes from the initializers sizeless already has. Template methods compose it at
the task's input geometry (position and patch embeddings resampled from the bank's) and fit the
scalers through the task head and loss; weight selection and direct pre-training produce a model
at their source's geometry, which is then carried to the task's (the same resampling); scratch and
mimetic are built at the task's geometry. The head is new for every method.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import nn

from .. import distributed as dist
from ..bank import TemplateBank
from ..data import DataConfig, load_data
from ..errors import SizelessError
from ..families import TRANSFORMERS, ImageSpec, get_family
from ..initializers import INITIALIZERS, Initialized
from ..initializers.base import KEEP_FINETUNE, default_fit_config
from ..models import input_geometry, load_model, save_model, teacher_family
from ..rng import keep_rng, reseed
from ..training import TrainConfig, TrainResult, fit
from . import DenseModel, Task, TemplatedDense, get_task, resolve_task
from .images import holdout

TEMPLATED = ("templates", "linear-expansion")  # composed from a bank, fitted through the task head
SOURCE_BOUND = ("weight-selection", "direct")  # pre-trained at their source's geometry, then carried over


def task_image(task: Task, data, patch_size: int | None, family: str = "vit") -> ImageSpec:
    """The task's input geometry; the patch size defaults to the task's (ViT) or the family's stem (CNNs)."""
    default = task.default_patch if family in TRANSFORMERS else get_family(family).default_patch_size(data.img_size)
    image = ImageSpec(data.img_size, data.in_chans, patch_size or default)
    if image.img_size % image.patch_size:
        raise SizelessError(f"patch size {image.patch_size} does not divide the {task.name} input size "
                            f"{image.img_size}; pick --patch-size among its divisors or another --image-size")
    return image


@keep_rng()  # building the head draws its init: the caller's random stream stays as it was
def dense_geometry(task: str, family: str, size: str, data, patch_size: int | None = None,
                   channels: int | None = None) -> dict:
    """The geometry a dense model of these settings has, as its saved config records it (input size, patch,
    head): a cached model is checked against it, since run folders are named by method, size and seed only."""
    task_ = get_task(task)
    image = task_image(task_, data, patch_size, family)
    head = task_.head_class(None, family).for_backbone(family, get_family(family).parse_size(size), image,
                                                       data.num_classes, channels)
    return {"img_size": image.img_size, "patch_size": image.patch_size, "head": json.loads(json.dumps(head.config))}


def saved_geometry(config: dict) -> dict:
    """:func:`dense_geometry` of a saved dense model, from its ``config.json``."""
    return {"img_size": config["input"]["img_size"], "patch_size": config["input"]["patch_size"],
            "head": config["head"]}


@keep_rng()
def initialize_dense(task: str | Task, size: str, data, *, method: str = "templates", bank=None,
                     fit_config: TrainConfig | None = None, patch_size: int | None = None, seed: int = 0,
                     out: str | Path | None = None, teacher=None, source=None, pretrain_config=None,
                     family: str | None = None, head: str | None = None, channels: int | None = None,
                     backbone: str | Path | None = None, log_dir: str | Path | None = None) -> Initialized:
    """A :class:`DenseModel` whose backbone ``method`` initialized and whose head is new; saved to ``out``.

    ``source`` (classification data at the teacher's / bank's geometry) feeds weight selection and
    direct pre-training; ``fit_config`` is the template fit, run on ``data`` with the task's loss.
    ``backbone``: a plain model folder (any sizeless or timm ViT classifier) to start from instead of
    running ``method`` (recorded as the method); ``size`` is then the model's own. ``log_dir``: where the
    fit or direct pre-training logs and checkpoints (default ``out/fit``).
    """
    task = get_task(task) if isinstance(task, str) else task
    if backbone is not None:
        return _from_model(task, backbone, data, method, patch_size, seed, out, head, channels)
    if method not in INITIALIZERS:
        raise SizelessError(f"unknown init method {method!r}; choose from {', '.join(INITIALIZERS)}")
    if isinstance(bank, (str, Path)):
        bank = TemplateBank.load(bank)
    if bank is not None and family is not None and family != bank.config["family"]:
        raise SizelessError(f"--family {family} but the bank holds {bank.config['family']} templates")
    family = family or (bank.config["family"] if bank else teacher_family(teacher) if teacher else "vit")
    fam = get_family(family)
    image = task_image(task, data, patch_size, family)
    parsed = fam.parse_size(size)
    reseed(seed)  # the head's init follows the seed (on this call's fork of the global RNG)
    head_module = task.head_class(head, family).for_backbone(family, parsed, image, data.num_classes, channels)
    fit_config = replace(fit_config or replace(default_fit_config(), lr=task.fit_lr), seed=seed)
    log_dir = Path(log_dir) if log_dir else Path(out) / "fit" if out else None
    if method in TEMPLATED:
        backbone, meta = _templated(task, method, parsed, data, bank, image, head_module, fit_config, seed, log_dir)
    else:
        backbone, meta = _from_initializer(method, parsed, data, bank, image, fit_config, seed, log_dir, teacher,
                                           source, pretrain_config, family, fam)
    return _assemble(task, backbone, head_module, data, family, parsed, image, meta, out)


def _assemble(task, backbone, head, data, family, size, image, meta, out) -> Initialized:
    backbone.reset_classifier(0)
    arch, args = get_family(family).model_args(size, image, 0)
    meta = {**meta, "task": task.name, "family": family, "size": size.key}
    model = DenseModel(task.name, backbone, head, _info(task, data, family, size, arch, args, image))
    if out and dist.is_main():
        save_model(model, out, arch, args, data, meta)
    dist.barrier()
    return Initialized(model, arch, args, meta)


@keep_rng()
def _from_model(task, path, data, method, patch_size, seed, out, head, channels) -> Initialized:
    """A dense model whose backbone is the plain model at ``path``, carried to the task's input geometry."""
    plain, config = load_model(path)
    if isinstance(plain, DenseModel):
        raise SizelessError(f"{path} is already a {plain.task} model; train it with --model, or start from a "
                            "classifier")
    recorded = config.get("sizeless", {})
    family = recorded.get("family", "vit")
    fam = get_family(family)
    args = config.get("model_args", {})
    if "size" in recorded:
        size = fam.parse_size(recorded["size"])
    elif "embed_dim" in args:
        size = fam.parse_size(f"{args['embed_dim']}x{args['depth']}h{args['num_heads']}m{args.get('mlp_ratio', 4.0):g}")
    else:
        raise SizelessError(f"{path} does not say its size (no sizeless record, no ViT model_args)")
    img, chans = input_geometry(config)
    image = task_image(task, data, patch_size, family)
    old = ImageSpec(img or image.img_size, chans, args.get("patch_size", image.patch_size))
    backbone = carry(fam, plain, size, old, image)
    reseed(seed)
    head_module = task.head_class(head, family).for_backbone(family, size, image, data.num_classes, channels)
    meta = {**recorded, "method": method, "backbone_from": str(path), "source_image": vars(old),
            "recommended": dict(KEEP_FINETUNE)}
    return _assemble(task, backbone, head_module, data, family, size, image, meta, out)


def carry(fam, model: nn.Module, size, old: ImageSpec, new: ImageSpec) -> nn.Module:
    """A plain model built for ``old`` inputs, ready for ``new`` ones: a ViT's position and patch embeddings are
    resampled; a CNN is resolution-free but keeps its stem (the same patch size)."""
    if hasattr(fam, "adapt_model"):
        return fam.adapt_model(model, size, old, new)
    if old.patch_size != new.patch_size or old.in_chans != new.in_chans:
        raise SizelessError(f"a {fam.name} backbone keeps its stem: it was built with --patch-size {old.patch_size} "
                            f"and {old.in_chans} channels; use the same here")
    return model


def _templated(task, method, size, data, bank, image, head, fit_config, seed, log_dir):
    if bank is None:
        raise SizelessError(f"{method} needs a template bank: pass --bank BANK")
    linear = bank.config["constraint_config"].get("scalers") == "linear"
    if linear != (method == "linear-expansion"):
        raise SizelessError("linear-expansion needs a learngene bank (pretrain --linear-scalers) and templates a "
                            "bank with learned scalers")
    net = bank.build_net(size, 0, seed=seed, image=image)
    module = TemplatedDense(net, head)
    history = []
    if fit_config.steps:
        trainable = [p for p in module.parameters() if p.requires_grad]  # scalers, free vectors, the head
        history = fit(module, data, fit_config, objective=task.objective(data), params=trainable, out_dir=log_dir,
                      resume=True, desc=f"fit {method} {size.key} ({task.name})").history
    final = history[-1] if history else {}
    meta = {"method": method, "bank_sizes": bank.config["sizes"], "seeded_from": bank.nearest_size(size),
            "bank_image": bank.config["image"], "fit_steps": fit_config.steps or 0, "fit_lr": fit_config.lr,
            f"fit_val_{task.metrics[0]}": final.get(f"val_{task.metrics[0]}"),
            "scaler_params": sum(p.numel() for p in net.scalers.parameters()),
            "recommended": dict(KEEP_FINETUNE)}
    return net.export().cpu(), meta


def _from_initializer(method, size, data, bank, image, fit_config, seed, log_dir, teacher, source, pretrain_config,
                      family, fam):
    from ..api import initialize_plain

    if method in SOURCE_BOUND:
        if source is None:
            raise SizelessError(f"{method} pre-trains (or selects from) a model on classification images; pass "
                                "--source-data (e.g. the data the bank or teacher was trained on)")
        source = load_data(source) if isinstance(source, (str, DataConfig)) else source
        patch = bank.image.patch_size if bank else None
        init = initialize_plain(size.key, source, bank=bank, method=method, fit=fit_config, patch_size=patch,
                                seed=seed, out=None, teacher=teacher, source=source, pretrain_config=pretrain_config,
                                family=family, log_dir=log_dir)
        old = ImageSpec(source.img_size, source.in_chans, init.model_args["patch_size"])
        return carry(fam, init.model, size, old, image), {**init.meta, "source_image": vars(old)}
    # drawn at the task's geometry (a bank would impose its own patch size)
    init = initialize_plain(size.key, data, method=method, fit=fit_config, patch_size=image.patch_size, seed=seed,
                            out=None, teacher=teacher, family=family)
    return init.model, dict(init.meta)


def _info(task: Task, data, family: str, size, arch: str, args: dict, image: ImageSpec) -> dict:
    return {"backbone": {"family": family, "size": size.key, "architecture": arch, "model_args": args},
            "input": {**vars(image), "mean": list(data.mean), "std": list(data.std)},
            "classes": task.classes(data)}


def check_compatible(model: DenseModel, data, task: Task, where) -> None:
    """One line when ``model`` cannot run on ``data`` (another task, other classes, another input size)."""
    if model.task != task.name:
        raise SizelessError(f"{where} is a {model.task} model; it cannot be trained or evaluated on {task.name} "
                            f"data ({data.name})")
    classes = model.info.get("classes", {})
    if classes.get("num_classes") != data.num_classes:
        raise SizelessError(f"{where} predicts {classes.get('num_classes')} classes but {data.name} has "
                            f"{data.num_classes}; initialize a model for this data (sizeless init --task {task.name})")
    side = model.info.get("input", {}).get("img_size")
    if side != data.img_size:
        raise SizelessError(f"{where} takes {side}-pixel inputs but the data was read at {data.img_size}; pass "
                            f"--image-size {side}")


def load_dense(model, data, task: Task) -> tuple[DenseModel, dict]:
    if isinstance(model, (str, Path)):
        path = model
        model, config = load_model(path)
        if not isinstance(model, DenseModel):
            raise SizelessError(f"{path} is a classification model; {task.name} needs a {task.name} model "
                                f"(sizeless init --task {task.name} ...)")
    else:
        path, config = "the model", {"sizeless": {}}
    check_compatible(model, data, task, path)
    return model, config


@keep_rng()
def train_dense(model, data, config: TrainConfig, *, task: str | None = None, size: str | None = None,
                patch_size: int | None = None, out=None, resume: bool = False, stop_at_step: int | None = None,
                family: str = "vit", head: str | None = None, channels: int | None = None
                ) -> tuple[DenseModel, TrainResult]:
    """Train a dense model folder (or random init of ``size``) on ``data`` with the task's loss."""
    task = resolve_task(task, data)
    if model is None:
        if size is None:
            raise SizelessError("give a model folder (--model) or a size for random init (--size)")
        init = initialize_dense(task, size, data, method="scratch", patch_size=patch_size, seed=config.seed,
                                family=family, head=head, channels=channels)
        model, meta = init.model, init.meta
    else:
        trained_from = str(model) if isinstance(model, (str, Path)) else None
        model, saved = load_dense(model, data, task)
        meta = {**saved.get("sizeless", {}), **({"trained_from": trained_from} if trained_from else {})}
    result = fit(model, data, config, objective=task.objective(data), out_dir=out, resume=resume,
                 stop_at_step=stop_at_step, desc=f"train ({task.name})")
    model = model.cpu()
    saved = out is not None and (Path(out) / "config.json").exists()
    if out and dist.is_main() and result.completed and (result.steps_run or not saved):
        final = result.history[-1] if result.history else {}
        meta = {**meta, "train": asdict(config),
                **{f"val_{k}": final.get(f"val_{k}") for k in task.metrics}}
        backbone = model.info["backbone"]
        save_model(model, out, backbone["architecture"], backbone["model_args"], data, meta)
    dist.barrier()
    return model, result


@torch.no_grad()
@keep_rng()  # timm draws a random init before loading the weights
def evaluate_dense(model, data, *, task: str | None = None, split: str = "val", batch_size: int = 16,
                   overlays: str | Path | None = None, count: int = 4) -> dict:
    """The task's metrics of ``model`` on a split of ``data``; with ``overlays``, a PNG of a few predictions
    next to the ground truth."""
    task = resolve_task(task, data)
    model, _ = load_dense(model, data, task)
    device = dist.setup()
    model.to(device).eval()
    part = data.split(split)
    metrics = task.objective(data).evaluate_split(model, data, part, batch_size, device)
    if overlays and dist.is_main():
        task.save_overlays(model, data, part, Path(overlays), count, device)
    return metrics


def for_selection(data, fraction: float = 0.2):
    """The dataset as a benchmark uses it: choices on ``val``, results on ``test``. Data with a test split
    is returned as is; otherwise a fixed ``fraction`` of the training split becomes ``val`` and the
    dataset's own validation split becomes ``test`` (what is reported, never chosen on)."""
    if data.test is not None:
        return data
    keep, held = holdout(len(data.train), fraction)
    return replace(data, train=data.train.subset(keep), val=data.train.subset(held), test=data.val)


def dense_macs(task: str, family: str, size: str, data, patch_size: int | None = None,
               channels: int | None = None) -> int:
    """MACs of one forward pass of a dense model (backbone and head; a detector without its box post-processing)
    over one input of the task's geometry, counted on the meta device."""
    from ..flops import macs_per_image

    task = get_task(task)
    fam = get_family(family)
    parsed = fam.parse_size(size)
    image = task_image(task, data, patch_size, family)

    def build() -> nn.Module:
        head = task.head_class(None, family).for_backbone(family, parsed, image, data.num_classes, channels)
        return _Counted(DenseModel(task.name, fam.build(parsed, image, 0), head, {})).eval()  # batch norms: one image

    return macs_per_image(build, image.in_chans, image.img_size)


class _Counted(nn.Module):
    """What a dense model computes per image, for counting: a head's ``raw`` outputs when it has them."""

    def __init__(self, model: DenseModel):
        super().__init__()
        self.model = model

    def forward(self, images):
        raw = getattr(self.model.head, "raw", None)
        return raw(self.model.encode, images) if raw else self.model(images)
