"""The Python API; the CLI is a thin layer over these functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from functools import partial
from itertools import islice
from pathlib import Path

import torch
from torch import Tensor, nn

from . import distributed as dist
from .bank import TemplateBank
from .constraints import build_constraint
from .data import DataConfig, ImageData, TrainData, load_data
from .errors import SizelessError
from .families import ImageSpec, get_family
from .flops import cumulative_macs, macs_per_image, training_flops
from .initializers import INITIALIZERS, Initialized, InitOptions
from .initializers.base import default_fit_config
from .mae import MAEConfig, MAELoss, MaskedAutoencoder, mask_generator, save_reconstructions
from .models import check_input, load_model, model_args_of, save_model, teacher_family
from .objectives import OBJECTIVES, Distill, DistillConfig, Supervised, objective_name
from .rng import keep_rng, reseed
from .sampling import Draw, SizeSampling, size_draws, sub_size
from .tasks import resolve_task, task_of
from .teachers import load_teacher
from .templated import TemplateNet
from .training import TrainConfig, TrainResult, evaluate, fit


def as_data(data: ImageData | DataConfig | str):
    """A loaded dataset: images, a task's dataset (segmentation masks, COCO boxes) or any TrainData."""
    return load_data(data) if isinstance(data, (DataConfig, str)) else data


def image_spec(data: ImageData, patch_size: int | None = None, family: str = "vit") -> ImageSpec:
    """The data's geometry; the patch size (a CNN's stem reduction) defaults to the family's choice. A family
    with its own input spec (``input_spec``, e.g. a policy's state and action sizes) reads it from the data."""
    custom = getattr(get_family(family), "input_spec", None)
    if custom is not None:
        return custom(data, patch_size)
    return ImageSpec(data.img_size, data.in_chans, patch_size or get_family(family).default_patch_size(data.img_size))


@keep_rng()
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
    mae: MAEConfig | None = None,
    size_sampling: SizeSampling | None = None,
    config: TrainConfig | None = None,
    patch_size: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    stop_at_step: int | None = None,
) -> TemplateBank:
    """Constraint-based pre-training of a template bank; several sizes share templates (one drawn per step).

    ``objective``: "supervised" (WeiT), "distill" (WAVE: a teacher given by ``distill``) or "mae"
    (SWEET: masked autoencoding, no labels read; settings in ``mae``). ``size_sampling`` runs
    each step at a drawn width and/or depth (SWEET's width-wise stochastic scaling, extended to depth).
    ``family_config``: family options stored in the bank, e.g. ``{"share_stages": True}`` for a CNN.
    """
    if not sizes:
        raise SizelessError("give at least one --size to pre-train")
    data, config = as_data(data), config or TrainConfig()
    if objective != "mae" and task_of(data):
        raise SizelessError(f"{objective} pre-training needs class labels, but {data.name} is {task_of(data)} data; "
                            "pre-train on its images with --objective mae (no labels read)")
    fam = get_family(family, family_config)
    objective = objective_name(objective, fam)
    parsed = [fam.parse_size(s) for s in sizes]
    if len({s.key for s in parsed}) != len(parsed):
        raise SizelessError(f"duplicate sizes in {[s.key for s in parsed]}")
    con = build_constraint(constraint, constraint_config)
    image = image_spec(data, patch_size, family)
    net = TemplateNet(fam, con, parsed, image, data.num_classes, seed=config.seed)
    keys = list(net.sizes)
    subs = size_sampling.validation_sizes() if size_sampling else [(None, None)]
    with torch.no_grad():  # a width or depth no size can run at fails here, not at some later step
        for key in keys:
            for width, depth in subs:
                net.weights(key, width, depth)

    module, mae_model = net, None
    if objective == "mae":
        mae = mae or MAEConfig()
        mae_model = MaskedAutoencoder(max(s.width for s in parsed), image, mae)
        module, loss = nn.ModuleDict({"net": net, "mae": mae_model}), MAELoss()
        encode = masked_encoder(fam, net.call)

        def run_at(key: str, width: int | None, depth: int | None, generator: Callable[[], torch.Generator]):
            return lambda x: mae_model.reconstruct(partial(encode, size=key, width=width, depth=depth), x,
                                                   generator())
    else:
        loss = make_objective(objective, distill, data, config)

        def run_at(key: str, width: int | None, depth: int | None, generator: Callable[[], torch.Generator]):
            return lambda x: net(x, key, width, depth)

    draw = size_draws(keys, size_sampling, config.seed)

    def forward_at(step: int):
        return run_at(*draw(step), lambda: mask_generator(config.seed, step))

    evaluators = {}
    for key in keys:
        own = net.sizes[key]
        for width, depth in subs:
            name = key + (f"@{width}" if width not in (None, own.width) else "") + \
                (f"@d{depth}" if depth not in (None, own.depth) else "")
            evaluators[name] = run_at(key, width, depth, lambda: mask_generator(config.seed))
    result = fit(module, data, config, objective=loss, forward_at=forward_at, evaluators=evaluators, out_dir=out,
                 resume=resume, desc=f"pretrain ({objective})", stop_at_step=stop_at_step)
    if mae_model is not None and out and dist.is_main():
        save_reconstructions(Path(out) / "reconstructions.png", mae_model, partial(encode, size=keys[0]),
                             sample_images(data, net), data.mean, data.std, config.seed)
    final = result.history[-1] if result.history else {}
    metric = "val_acc" if getattr(loss, "reports_accuracy", True) else "val_loss"
    bank = TemplateBank.from_net(net.cpu(), {
        "objective": objective,
        "distill": asdict(distill) if distill else None,
        "mae": asdict(mae) if objective == "mae" else None,
        "size_sampling": size_sampling.to_dict() if size_sampling else None,
        "data": data.name,
        "class_names": data.class_names,
        "train": asdict(config),
        "steps": final.get("step", 0),
        # supervised steps cost 6 MACs per image of the drawn size; other objectives add a teacher or a decoder
        "train_flops": pretraining_flops(net, draw, final.get("step", 0), config.batch_size)
        if objective == "supervised" else None,
        "seconds": final.get("seconds"),
        "cpu_seconds": final.get("cpu_seconds"),
        "completed": result.completed,
        metric: {name: final.get(f"{metric}[{name}]") for name in evaluators},
        "template_params": sum(p.numel() for p in net.templates.parameters()),
    })
    if out and dist.is_main():
        bank.save(out)
    dist.barrier()  # other ranks may read what rank 0 just wrote
    return bank


def pretraining_flops(net: TemplateNet, draw: Callable[[int], Draw], steps: int, batch_size: int) -> int:
    """Training FLOPs of ``steps`` pre-training steps: each at the size, width and depth it drew."""
    if steps < 1:
        return 0
    return training_flops(next(islice(cumulative_macs(draw, draw_macs(net.family, net.sizes, net.image,
                                                                        net.num_classes)), steps - 1, None)),
                          batch_size)


def draw_macs(family, sizes: dict, image: ImageSpec, num_classes: int) -> Callable[[Draw], int]:
    """MACs per image of what a pre-training step drew."""
    def macs(where: Draw) -> int:
        size = sub_size(sizes[where[0]], *where[1:])
        return macs_per_image(lambda: family.build(size, image, num_classes), image.in_chans, image.img_size)

    return macs


def masked_encoder(family, call: Callable) -> Callable:
    """``encode(images, keep, **where)``: the family's visible-patch encoder run through ``call``
    (``TemplateNet.call``, or a plain model's own weights)."""
    encode_visible = getattr(family, "encode_visible", None)
    if encode_visible is None:
        raise SizelessError(f"--objective mae needs a patch-based family (vit); {family.name} has no masked encoder")
    return lambda images, keep, **where: call(encode_visible, images, keep, **where)


def sample_images(data, module: nn.Module, count: int = 8) -> Tensor:
    """A few normalized validation images (any dataset's un-augmented batch) on the module's device, for
    reconstruction figures."""
    device = next(module.parameters()).device
    images, _ = data.batch(data.val, torch.arange(min(count, len(data.val))))
    return images.to(device)


def make_objective(objective: str, distill: DistillConfig | None, data: ImageData, config: TrainConfig):
    if objective == "supervised":
        return Supervised(config.label_smoothing)
    if objective in OBJECTIVES:
        return OBJECTIVES[objective](data, config)
    if objective != "distill":
        raise SizelessError(f"unknown objective {objective!r}; choose supervised, distill, mae or "
                            f"{', '.join(OBJECTIVES)}")
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


@keep_rng()
def initialize_full(size, data, *, bank=None, method="templates", fit=None, patch_size=None, seed=0,
                    out=None, teacher=None, source=None, pretrain_config=None, family=None, log_dir=None,
                    task=None, head=None, channels=None, backbone=None) -> Initialized:
    """:func:`initialize`, also returning the architecture, model args and provenance.

    ``teacher`` (weight-selection), ``source`` and ``pretrain_config`` (direct) feed the baselines;
    ``log_dir`` is where a fit or direct pre-training logs and checkpoints (default ``out/fit``).
    ``task`` (segmentation, detection; implied by such data) builds a dense model: the backbone from
    ``method`` plus a new ``head`` (``channels`` wide), see :mod:`sizeless.tasks.run`; ``backbone`` (a plain
    model folder) starts a dense model from a trained classifier instead.
    """
    if method not in INITIALIZERS and backbone is None:
        raise SizelessError(f"unknown init method {method!r}; choose from {', '.join(INITIALIZERS)}")
    data = as_data(data)
    dense = resolve_task(task, data)
    if dense is not None:
        from .tasks.run import initialize_dense

        return initialize_dense(dense, size, data, method=method, bank=bank, fit_config=fit, patch_size=patch_size,
                                seed=seed, out=out, teacher=teacher, source=source, pretrain_config=pretrain_config,
                                family=family, head=head, channels=channels, backbone=backbone, log_dir=log_dir)
    if backbone is not None:
        raise SizelessError("--from-model builds a dense task model (segmentation, detection) from a classifier; "
                            f"{data.name} is a classification dataset")
    return initialize_plain(size, data, bank=bank, method=method, fit=fit, patch_size=patch_size, seed=seed, out=out,
                            teacher=teacher, source=source, pretrain_config=pretrain_config, family=family,
                            log_dir=log_dir)


def initialize_plain(size, data, *, bank=None, method="templates", fit=None, patch_size=None, seed=0, out=None,
                     teacher=None, source=None, pretrain_config=None, family=None, log_dir=None) -> Initialized:
    """A plain model of the family (a classifier over ``data``'s classes), as :func:`initialize_full` makes it
    for classification data; dense tasks build their backbones with it."""
    if isinstance(bank, (str, Path)):
        bank = TemplateBank.load(bank)
    if bank is not None and family is not None and family != bank.config["family"]:
        raise SizelessError(f"--family {family} but the bank holds {bank.config['family']} templates")
    family = family or (bank.config["family"] if bank else teacher_family(teacher) if teacher else "vit")
    # the data's resolution; a bank fixes the patch size (template methods adapt the rest themselves)
    image = image_spec(data, getattr(bank.image, "patch_size", None) if bank else patch_size, family)
    fit = replace(fit or default_fit_config(), seed=seed)
    log_dir = Path(log_dir) if log_dir else Path(out) / "fit" if out else None
    options = InitOptions(bank=bank, image=image, seed=seed, fit=fit, log_dir=log_dir,
                          family=family,
                          teacher=Path(teacher) if teacher else None,
                          source=as_data(source) if source is not None else None, pretrain=pretrain_config)
    result = INITIALIZERS[method](size, data, options)
    if out and dist.is_main():
        save_model(result.model, out, result.architecture, result.model_args, data, result.meta)
    dist.barrier()
    return result


@keep_rng()
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
    objective: str = "supervised",
    mae: MAEConfig | None = None,
    family: str = "vit",
    task: str | None = None,
    head: str | None = None,
    channels: int | None = None,
) -> tuple[nn.Module, TrainResult]:
    """Train a plain model: a model folder, or random init of ``size`` (the baseline) when ``model`` is None.

    ``family`` is the family of a random-init ``size`` (vit, resnet, convnext). ``objective="mae"``
    pre-trains it by masked autoencoding instead (the conventional self-supervised path; no labels
    read); fine-tune the result with a second ``train``.
    With ``out``, the folder receives metrics.csv, curve.png, a resumable checkpoint and the
    trained model in timm's layout (``timm.create_model("local-dir:OUT", pretrained=True)``).
    """
    data, config = as_data(data), config or TrainConfig()
    dense = resolve_task(task, data)
    if dense is not None:
        if objective != "supervised":
            raise SizelessError(f"{dense.name} models train on their task's loss; --objective {objective} is for "
                                "image classifiers (pre-train a bank with it instead)")
        from .tasks.run import train_dense

        return train_dense(model, data, config, task=dense.name, size=size, patch_size=patch_size, out=out,
                           resume=resume, stop_at_step=stop_at_step, family=family, head=head, channels=channels)
    reseed(config.seed)  # a new head drawn below follows --seed (on this call's fork of the global RNG)
    if model is None:
        if size is None:
            raise SizelessError("give a model folder (--model) or a size for random init (--size)")
        init = initialize_full(size, data, method="scratch", patch_size=patch_size, seed=config.seed, family=family)
        model, arch, args, meta = init.model, init.architecture, init.model_args, init.meta
    elif isinstance(model, (str, Path)):
        path = model
        model, saved = load_model(path)
        _check_classifier(saved, data, path)
        arch, args = model_args_of(saved)
        meta = {**saved.get("sizeless", {}), "trained_from": str(path)}
        if getattr(model, "num_classes", data.num_classes) != data.num_classes:
            model.reset_classifier(data.num_classes)
            args["num_classes"] = data.num_classes
    else:
        raise SizelessError("train() takes a model folder path or None (with size=...)")
    objective = objective_name(objective, get_family(meta.get("family", "vit")))
    if objective == "mae":
        result = _train_mae(model, args, meta, data, config, mae or MAEConfig(), out, resume, stop_at_step)
        meta = {**meta, "objective": "mae", "mae": asdict(mae or MAEConfig())}
    elif objective == "supervised" or objective in OBJECTIVES:
        loss = OBJECTIVES[objective](data, config) if objective in OBJECTIVES else None
        result = fit(model, data, config, objective=loss, out_dir=out, resume=resume, stop_at_step=stop_at_step)
        meta = {**meta, "objective": objective}
    else:
        raise SizelessError(f"train supports --objective supervised or mae (or {', '.join(OBJECTIVES)}), not "
                            f"{objective!r}")
    model = model.cpu()
    saved = out is not None and (Path(out) / "model.safetensors").exists()
    if out and dist.is_main() and result.completed and (result.steps_run or not saved):  # a reused run stays as is
        final = result.history[-1] if result.history else {}
        meta = {**meta, "train": asdict(config), "val_acc": final.get("val_acc"), "val_loss": final.get("val_loss")}
        save_model(model, out, arch, args, data, meta)
    dist.barrier()
    return model, result


def _train_mae(model: nn.Module, args: dict, meta: dict, data: ImageData, config: TrainConfig, mae: MAEConfig,
               out, resume: bool, stop_at_step: int | None) -> TrainResult:
    """Masked autoencoding of a plain model (its own weights, a fresh decoder beside it)."""
    family = get_family(meta.get("family", "vit"))
    encode = masked_encoder(family, lambda fn, *inputs: fn(model, *inputs))
    image = ImageSpec(data.img_size, data.in_chans, args["patch_size"])
    decoder = MaskedAutoencoder(model.embed_dim, image, mae)
    result = fit(nn.ModuleDict({"model": model, "mae": decoder}), data, config, objective=MAELoss(),
                 forward_at=lambda step: lambda x: decoder.reconstruct(encode, x, mask_generator(config.seed, step)),
                 evaluators={"": lambda x: decoder.reconstruct(encode, x, mask_generator(config.seed))},
                 out_dir=out, resume=resume, desc="train (mae)", stop_at_step=stop_at_step)
    if out and dist.is_main():
        save_reconstructions(Path(out) / "reconstructions.png", decoder, encode, sample_images(data, model), data.mean,
                             data.std, config.seed)
    return result


def rollout_model(model: nn.Module | str | Path, env: str, *, episodes: int = 10, target_return: float | None = None,
                  seed: int = 0, data: TrainData | DataConfig | str | None = None, task: dict | None = None,
                  progress: bool = True) -> dict:
    """Roll a policy (a model folder, or a plain model with ``task``) out in ``env``: mean/std return and the
    normalized score. The task record (state statistics, reference scores) is the model's own, or ``data``'s."""
    from .rollouts import rollout

    if isinstance(model, (str, Path)):
        model, saved = load_model(model)
        task = task or saved.get("sizeless", {}).get("task")
    if data is not None:
        data = as_data(data)
        if not hasattr(data, "task"):
            raise SizelessError(f"--data {data.name} holds no trajectories; pass the policy's Minari dataset")
        task = {**data.task(env), **{k: v for k, v in (task or {}).items() if k in ("state_mean", "state_std")}}
    if task is None:
        raise SizelessError("this policy records no task (state statistics, reference scores); pass --data "
                            "minari:DATASET_ID of the data it was trained on")
    return rollout(model, task, env, episodes=episodes, target_return=target_return, seed=seed, progress=progress)


@keep_rng()  # timm draws a random init before loading the weights
def evaluate_model(model: nn.Module | str | Path, data: ImageData | DataConfig | str, batch_size: int = 512, *,
                   task: str | None = None, split: str = "val", overlays: str | Path | None = None) -> dict:
    """Validation loss and accuracy of a plain model (or model folder); for a dense task (``task``, or
    implied by the data) the task's metrics on ``split``, and with ``overlays`` a PNG of predictions."""
    data = as_data(data)
    dense = resolve_task(task, data)
    if dense is not None:
        from .tasks.run import evaluate_dense

        return evaluate_dense(model, data, task=dense.name, split=split, batch_size=min(batch_size, 16),
                              overlays=overlays)
    if split != "val":
        raise SizelessError("classification data has a training and a validation split; evaluate on val")
    if isinstance(model, (str, Path)):
        path = model
        model, saved = load_model(path)
        _check_classifier(saved, data, path)
        if getattr(model, "num_classes", data.num_classes) != data.num_classes:
            raise SizelessError(f"{path} predicts {model.num_classes} classes but {data.name} has {data.num_classes}")
    model.to(dist.setup())
    return evaluate(model, model, data, batch_size=batch_size)


def _check_classifier(config: dict, data, path) -> None:
    """A classification model folder that fits ``data`` (not a dense task's model)."""
    if "task" in config:
        raise SizelessError(f"{path} is a {config['task']} model; use it with {config['task']} data "
                            f"(--task {config['task']}), not with the classification dataset {data.name}")
    check_input(config, data, path)
