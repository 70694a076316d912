"""The Python API; the CLI is a thin layer over these functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import nn

from . import distributed as dist
from .bank import TemplateBank
from .constraints import build_constraint
from .data import DataConfig, ImageData, load_data
from .errors import SizelessError
from .families import ImageSpec, get_family
from .initializers import INITIALIZERS, Initialized, InitOptions
from .initializers.base import default_fit_config
from .models import check_input, load_model, model_args_of, save_model, teacher_family
from .objectives import Distill, DistillConfig, Supervised
from .teachers import load_teacher
from .templated import TemplateNet
from .training import TrainConfig, TrainResult, evaluate, fit, seeded_generator


def as_data(data: ImageData | DataConfig | str) -> ImageData:
    return data if isinstance(data, ImageData) else load_data(data)


def image_spec(data: ImageData, patch_size: int | None = None, family: str = "vit") -> ImageSpec:
    """The data's geometry; the patch size (a CNN's stem reduction) defaults to the family's choice."""
    return ImageSpec(data.img_size, data.in_chans, patch_size or get_family(family).default_patch_size(data.img_size))


def pretrain(
    data: ImageData | DataConfig | str,
    sizes: Sequence[str],
    *,
    family: str = "vit",
    family_config: dict | None = None,
    constraint: str = "kronecker",
    constraint_config: dict | None = None,
    objective: str = "supervised",
    distill: DistillConfig | None = None,
    config: TrainConfig | None = None,
    patch_size: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    stop_at_step: int | None = None,
) -> TemplateBank:
    """Constraint-based pre-training of a template bank; several sizes share templates (one drawn per step).

    ``objective``: "supervised" (WeiT) or "distill" (WAVE: a teacher given by ``distill``).
    ``family_config``: family options stored in the bank, e.g. ``{"share_stages": False}`` for a CNN.
    """
    if not sizes:
        raise SizelessError("give at least one --size to pre-train")
    data, config = as_data(data), config or TrainConfig()
    loss = make_objective(objective, distill, data, config)
    fam = get_family(family, family_config)
    parsed = [fam.parse_size(s) for s in sizes]
    if len({s.key for s in parsed}) != len(parsed):
        raise SizelessError(f"duplicate sizes in {[s.key for s in parsed]}")
    con = build_constraint(constraint, constraint_config)
    image = image_spec(data, patch_size, family)
    net = TemplateNet(fam, con, parsed, image, data.num_classes, seed=config.seed)
    keys = list(net.sizes)

    def forward_at(step: int):
        key = keys[int(torch.randint(len(keys), (1,), generator=seeded_generator(config.seed, 104729, step)))]
        return lambda x: net(x, key)

    evaluators = {key: (lambda x, key=key: net(x, key)) for key in keys}
    result = fit(net, data, config, objective=loss, forward_at=forward_at, evaluators=evaluators, out_dir=out,
                 resume=resume, desc=f"pretrain ({objective})", stop_at_step=stop_at_step)
    final = result.history[-1] if result.history else {}
    bank = TemplateBank.from_net(net.cpu(), {
        "objective": objective,
        "distill": asdict(distill) if distill else None,
        "data": data.name,
        "class_names": data.class_names,
        "train": asdict(config),
        "steps": final.get("step", 0),
        "seconds": final.get("seconds"),
        "completed": result.completed,
        "val_acc": {k: final.get(f"val_acc[{k}]") for k in keys},
        "template_params": sum(p.numel() for p in net.templates.parameters()),
    })
    if out and dist.is_main():
        bank.save(out)
    dist.barrier()  # other ranks may read what rank 0 just wrote
    return bank


def make_objective(objective: str, distill: DistillConfig | None, data: ImageData, config: TrainConfig):
    if objective == "supervised":
        return Supervised(config.label_smoothing)
    if objective != "distill":
        raise SizelessError(f"unknown objective {objective!r}; choose supervised or distill")
    if distill is None:
        raise SizelessError("--objective distill needs a teacher: --teacher NAME|FOLDER|FILE")
    teacher = load_teacher(distill.teacher, distill.teacher_arch, distill.allow_pickle)
    if teacher.num_classes != data.num_classes:
        raise SizelessError(f"the teacher predicts {teacher.num_classes} classes but {data.name} has "
                            f"{data.num_classes}; distill on the teacher's label space")
    if distill.cache_logits and config.augments(data):
        raise SizelessError("teacher logits can be cached only without augmentation: add --no-augment")
    return Distill(teacher, data.mean, data.std, distill.temperature, distill.kd_weight, distill.ce_weight,
                   cache_size=len(data.train) if distill.cache_logits else None)


def initialize(
    size: str,
    data: ImageData | DataConfig | str,
    *,
    bank: TemplateBank | str | Path | None = None,
    method: str = "templates",
    fit: TrainConfig | None = None,
    patch_size: int | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    family: str | None = None,
    **baseline_inputs,
) -> nn.Module:
    """Initialize a plain timm model of ``size`` with ``method``; with ``out``, save it in timm's layout.

    Methods: templates, scratch, weight-selection (``teacher=``), mimetic, linear-expansion (a
    learngene ``bank=``), direct (``source=``, ``pretrain_config=``; default: the bank's budget).
    ``family`` (vit, resnet, convnext) is the bank's or the teacher's when not given.
    """
    return initialize_full(size, data, bank=bank, method=method, fit=fit, patch_size=patch_size, seed=seed,
                           out=out, family=family, **baseline_inputs).model


def initialize_full(size, data, *, bank=None, method="templates", fit=None, patch_size=None, seed=0,
                    out=None, teacher=None, source=None, pretrain_config=None, family=None) -> Initialized:
    """:func:`initialize`, also returning the architecture, model args and provenance.

    ``teacher`` (weight-selection), ``source`` and ``pretrain_config`` (direct) feed the baselines.
    """
    if method not in INITIALIZERS:
        raise SizelessError(f"unknown init method {method!r}; choose from {', '.join(INITIALIZERS)}")
    data = as_data(data)
    if isinstance(bank, (str, Path)):
        bank = TemplateBank.load(bank)
    if bank is not None and family is not None and family != bank.config["family"]:
        raise SizelessError(f"--family {family} but the bank holds {bank.config['family']} templates")
    family = family or (bank.config["family"] if bank else teacher_family(teacher) if teacher else "vit")
    # the data's resolution; a bank fixes the patch size (template methods adapt the rest themselves)
    image = image_spec(data, bank.image.patch_size if bank else patch_size, family)
    fit = replace(fit or default_fit_config(), seed=seed)
    options = InitOptions(bank=bank, image=image, seed=seed, fit=fit, log_dir=Path(out) / "fit" if out else None,
                          family=family,
                          teacher=Path(teacher) if teacher else None,
                          source=as_data(source) if source is not None else None, pretrain=pretrain_config)
    result = INITIALIZERS[method](size, data, options)
    if out and dist.is_main():
        save_model(result.model, out, result.architecture, result.model_args, data, result.meta)
    dist.barrier()
    return result


def train(
    model: nn.Module | str | Path | None,
    data: ImageData | DataConfig | str,
    config: TrainConfig | None = None,
    *,
    size: str | None = None,
    patch_size: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    stop_at_step: int | None = None,
    family: str = "vit",
) -> tuple[nn.Module, TrainResult]:
    """Train a plain model: a model folder, or random init of ``size`` (the baseline) when ``model`` is None.

    ``family`` is the family of a random-init ``size`` (vit, resnet, convnext).

    With ``out``, the folder receives metrics.csv, curve.png, a resumable checkpoint and the
    trained model in timm's layout (``timm.create_model("local-dir:OUT", pretrained=True)``).
    """
    data, config = as_data(data), config or TrainConfig()
    torch.manual_seed(config.seed)  # a new head drawn below follows --seed
    if model is None:
        if size is None:
            raise SizelessError("give a model folder (--model) or a size for random init (--size)")
        init = initialize_full(size, data, method="scratch", patch_size=patch_size, seed=config.seed, family=family)
        model, arch, args, meta = init.model, init.architecture, init.model_args, init.meta
    elif isinstance(model, (str, Path)):
        path = model
        model, saved = load_model(path)
        check_input(saved, data, path)
        arch, args = model_args_of(saved)
        meta = {**saved.get("sizeless", {}), "trained_from": str(path)}
        if model.num_classes != data.num_classes:
            model.reset_classifier(data.num_classes)
            args["num_classes"] = data.num_classes
    else:
        raise SizelessError("train() takes a model folder path or None (with size=...)")
    result = fit(model, data, config, out_dir=out, resume=resume, stop_at_step=stop_at_step)
    model = model.cpu()
    saved = out is not None and (Path(out) / "model.safetensors").exists()
    if out and dist.is_main() and result.completed and (result.steps_run or not saved):  # a reused run stays as is
        final = result.history[-1] if result.history else {}
        meta = {**meta, "train": asdict(config), "val_acc": final.get("val_acc")}
        save_model(model, out, arch, args, data, meta)
    dist.barrier()
    return model, result


def evaluate_model(model: nn.Module | str | Path, data: ImageData | DataConfig | str, batch_size: int = 512) -> dict:
    """Validation loss and accuracy of a plain model (or model folder)."""
    data = as_data(data)
    if isinstance(model, (str, Path)):
        path = model
        model, saved = load_model(path)
        check_input(saved, data, path)
        if model.num_classes != data.num_classes:
            raise SizelessError(f"{path} predicts {model.num_classes} classes but {data.name} has {data.num_classes}")
    model.to(dist.setup())
    return evaluate(model, model, data, batch_size=batch_size)

