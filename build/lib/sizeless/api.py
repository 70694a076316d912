"""The Python API; the CLI is a thin layer over these functions."""

from __future__ import annotations

import time
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
from .diffusion import DiffusionConfig
from .errors import SizelessError
from .families import Family, ImageSpec, default_num_templates, get_family, model_classes
from .files import read_json
from .flops import cumulative_macs, training_flops
from .gen_metrics import FeatureModel, InceptionFID, compare, real_floor
from .generation import SampleConfig, check_out, sample, to_uint8, write_samples
from .initializers import INITIALIZERS, Initialized, InitOptions
from .initializers.base import default_fit_config
from .initializers.templates import target_spec
from .mae import MAEConfig, MAELoss, MaskedAutoencoder, mask_generator, save_reconstructions
from .models import check_input, load_model, load_model_for, model_args_of, save_model, teacher_family
from .objectives import OBJECTIVES, DistillConfig, default_objective
from .rng import keep_rng, reseed
from .sampling import Draw, InplaceDistillation, PairedForward, SizeSampling, size_draws, sub_size
from .sizing import Budget, Choice, choose, params_and_macs, size_table
from .tasks import resolve_task, task_of
from .templated import TemplateNet
from .training import TrainConfig, TrainResult, evaluate, fit, seeded_generator


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


def _with_template_count(family: Family, constraint: str, config: dict | None) -> dict:
    """A Kronecker bank's templates per kind when none is given: two for TLEG's linear scalers, else the family's."""
    config = dict(config or {})
    if constraint != "kronecker" or "num_templates" in config:
        return config
    return config | {"num_templates": 2 if config.get("scalers") == "linear" else default_num_templates(family)}


@keep_rng()
def pretrain(
    data: ImageData | DataConfig | str,
    sizes: Sequence[str],
    *,
    family: str = "vit",
    family_config: dict | None = None,
    constraint: str = "kronecker",
    constraint_config: dict | None = None,
    objective: str | None = None,
    distill: DistillConfig | None = None,
    mae: MAEConfig | None = None,
    diffusion: DiffusionConfig | None = None,
    size_sampling: SizeSampling | None = None,
    config: TrainConfig | None = None,
    patch_size: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    stop_at_step: int | None = None,
) -> TemplateBank:
    """Constraint-based pre-training of a template bank; several sizes share templates (one drawn per step).

    ``objective``: "supervised" (WeiT), "distill" (WAVE: a teacher given by ``distill``), "mae"
    (SWEET: masked autoencoding, no labels read; settings in ``mae``), "diffusion" for generators
    (``family="dit"``; settings in ``diffusion``) or another registered objective of the family
    (``objectives.OBJECTIVES``); default: the family's first. ``size_sampling`` runs each step at a drawn
    width and/or depth (SWEET's width-wise stochastic scaling, extended to depth).
    ``family_config``: family options stored in the bank, e.g. ``{"share_stages": True}`` for a CNN.
    A Kronecker ``constraint_config`` without ``num_templates`` takes the family's (8 for ViT, else 4).
    """
    if not sizes:
        raise SizelessError("give at least one --size to pre-train")
    data, config = as_data(data), config or TrainConfig()
    if objective != "mae" and task_of(data):
        raise SizelessError(f"{objective or 'supervised'} pre-training needs class labels, but {data.name} is "
                            f"{task_of(data)} data; pre-train on its images with --objective mae (no labels read)")
    fam = get_family(family, family_config)
    objective = check_objective(fam, objective)
    paired = size_sampling is not None and size_sampling.paired
    if paired and objective not in ("supervised", "distill"):
        raise SizelessError(f"paired size sampling distils the drawn size from the own size's class logits; "
                            f"{objective} pre-training has none: use --width-distribution uniform or sandwich")
    parsed = [fam.parse_size(s) for s in sizes]
    if len({s.key for s in parsed}) != len(parsed):
        raise SizelessError(f"duplicate sizes in {[s.key for s in parsed]}")
    con = build_constraint(constraint, _with_template_count(fam, constraint, constraint_config))
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
        loss = make_objective(objective, data, config, distill=distill, diffusion=diffusion)

        def run_at(key: str, width: int | None, depth: int | None, generator: Callable[[], torch.Generator]):
            return lambda x, **inputs: net(x, key, width, depth, **inputs)

    draw = size_draws(keys, size_sampling, config.seed)
    plain_cost = getattr(loss, "plain_cost", False)  # FLOPs are the drawn sizes' alone (no teacher, no decoder)
    if paired:
        loss = InplaceDistillation(loss, size_sampling.paired_weight)

    def forward_at(step: int):
        key, width, depth = draw(step)
        forward = run_at(key, width, depth, lambda: mask_generator(config.seed, step))
        return PairedForward(run_at(key, None, None, None), forward) if paired else forward

    evaluators = {}
    for key in keys:
        own = net.sizes[key]
        for width, depth in subs:
            name = key + (f"@{width}" if width not in (None, own.width) else "") + \
                (f"@d{depth}" if depth not in (None, own.depth) else "")
            evaluators[name] = run_at(key, width, depth, lambda: mask_generator(config.seed))
    result = fit(module, data, config, objective=loss, forward_at=forward_at, evaluators=evaluators, out_dir=out,
                 resume=resume, desc=f"pretrain ({objective})", stop_at_step=stop_at_step, after_step=net.after_step)
    if mae_model is not None and out and dist.is_main():
        save_reconstructions(Path(out) / "reconstructions.png", mae_model, partial(encode, size=keys[0]),
                             sample_images(data, net), data.mean, data.std, config.seed)
    final = result.history[-1] if result.history else {}
    metric = "val_acc" if getattr(loss, "reports_accuracy", True) else "val_loss"
    bank = TemplateBank.from_net(net.cpu(), {
        "objective": objective,
        "distill": asdict(distill) if distill else None,
        "mae": asdict(mae) if objective == "mae" else None,
        "diffusion": loss.config.to_dict() if objective == "diffusion" else None,
        "size_sampling": size_sampling.to_dict() if size_sampling else None,
        "data": data.name,
        "class_names": data.class_names,
        "train": asdict(config),
        "steps": final.get("step", 0),
        "train_flops": pretraining_flops(net, draw, final.get("step", 0), config.batch_size, paired)
        if plain_cost else None,
        "seconds": final.get("seconds"),
        "cpu_seconds": final.get("cpu_seconds"),
        "threads": final.get("threads"),
        "completed": result.completed,
        metric: {name: final.get(f"{metric}[{name}]") for name in evaluators},
        "template_params": sum(p.numel() for p in net.templates.parameters()),
    })
    if resume and out and result.steps_run == 0 and (Path(out) / "config.json").exists():
        # resuming a finished bank trains nothing: keep the bank's own record of when (and on how many
        # threads) it was made, which metrics rows written before they recorded threads cannot restore
        made = read_json(Path(out) / "config.json", "template bank config")
        bank.config["created"] = made.get("created", bank.config["created"])
        if bank.config["threads"] is None:
            bank.config["threads"] = made.get("threads")
    if out and dist.is_main():
        bank.save(out)
    dist.barrier()  # other ranks may read what rank 0 just wrote
    return bank


def pretraining_flops(net: TemplateNet, draw: Callable[[int], Draw], steps: int, batch_size: int,
                      paired: bool = False) -> int:
    """Training FLOPs of ``steps`` pre-training steps: each at the size, width and depth it drew."""
    if steps < 1:
        return 0
    macs = draw_macs(net.family, net.sizes, net.image, net.num_classes, paired)
    return training_flops(next(islice(cumulative_macs(draw, macs), steps - 1, None)), batch_size)


def sampled_steps(family, size, image, num_classes: int | None, sampling: SizeSampling, seed: int,
                  steps: int) -> int:
    """Steps of a size-sampled pre-training of ``size`` that spend the FLOPs of ``steps`` steps at the size's own
    (each step costs what it drew; the same draws as :func:`pretrain` with that seed): a sampled bank's budget."""
    goal = params_and_macs(family, size, image, num_classes)[1] * steps
    macs = draw_macs(family, {size.key: size}, image, num_classes, sampling.paired)
    running = cumulative_macs(size_draws([size.key], sampling, seed), macs)
    return next(step + 1 for step, total in enumerate(running) if total >= goal)


def draw_macs(family, sizes: dict, image, num_classes: int | None, paired: bool = False) -> Callable[[Draw], int]:
    """MACs per example of what a pre-training step drew (``paired``: plus the size's own, which such a step
    also trains)."""
    def drawn(where: Draw) -> int:
        return params_and_macs(family, sub_size(sizes[where[0]], *where[1:]), image, num_classes)[1]

    def macs(where: Draw) -> int:
        return drawn(where) + (drawn((where[0], None, None)) if paired else 0)

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


def check_objective(family, objective: str | None) -> str:
    """The objective to train ``family`` with: the given one if the family takes it, else its default."""
    if objective is None:
        return family.objectives[0]
    if objective not in family.objectives:
        *first, last = family.objectives
        choices = f"{', '.join(first)} or {last}" if first else last
        if objective in set(OBJECTIVES) | {"mae"}:
            raise SizelessError(f"--objective {objective} is not available for the {family.name} family; it trains "
                                f"with {choices}")
        raise SizelessError(f"unknown objective {objective!r}; the {family.name} family trains with {choices}")
    return objective


def make_objective(objective: str, data: ImageData, config: TrainConfig, **settings):
    """A trainer objective by name (``settings``: ``distill=DistillConfig``, ``diffusion=DiffusionConfig``)."""
    if objective not in OBJECTIVES:
        raise SizelessError(f"unknown objective {objective!r}; choose {', '.join(OBJECTIVES)} or mae")
    return OBJECTIVES[objective](data, config, **settings)


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


def pick_size(bank: TemplateBank | str | Path, budget: Budget, data: ImageData | None = None, *,
              widths: Sequence[int] | None = None, depths: Sequence[int] | None = None) -> Choice:
    """The size :func:`initialize` should build from ``bank`` within ``budget`` and why (:func:`sizing.choose`),
    counted for what :func:`initialize` builds for ``data`` (its resolution and classes; a policy's task), by
    default for the bank's own input."""
    if data is not None and task_of(data):  # its head and input size are not in the count: refuse, never miscount
        raise SizelessError(f"a budget counts the bank's own models (classifiers, generators, policies), not a "
                            f"{task_of(data)} model's head: list backbones with `sizeless sizes --bank BANK "
                            "--image-size N`, then give --size")
    bank = TemplateBank.load(bank) if isinstance(bank, (str, Path)) else bank
    table = size_table(bank, budget, widths=widths, depths=depths,
                       spec=target_spec(bank, data) if data is not None else None,
                       num_classes=data.num_classes if data is not None else None)
    return choose(bank, table, depths)


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
    objective: str | None = None,
    mae: MAEConfig | None = None,
    diffusion: DiffusionConfig | None = None,
    family: str | None = None,
    task: str | None = None,
    head: str | None = None,
    channels: int | None = None,
) -> tuple[nn.Module, TrainResult]:
    """Train a plain model: a model folder, or random init of ``size`` (the baseline) when ``model`` is None.

    ``family`` is the family of a random-init ``size`` (vit, resnet, convnext, dit; default vit), and is
    checked against a model folder's. ``objective`` defaults to the family's (supervised; diffusion for
    dit, whose schedule a model folder keeps). ``objective="mae"`` pre-trains a ViT by masked
    autoencoding instead (the conventional self-supervised path; no labels read); fine-tune the result
    with a second ``train``.
    With ``out``, the folder receives metrics.csv, curve.png, a resumable checkpoint and the
    trained model in timm's layout (``timm.create_model("local-dir:OUT", pretrained=True)``).
    """
    data, config = as_data(data), config or TrainConfig()
    dense = resolve_task(task, data)
    if dense is not None:
        if objective not in (None, "supervised"):
            raise SizelessError(f"{dense.name} models train on their task's loss; --objective {objective} is for "
                                "image classifiers (pre-train a bank with it instead)")
        from .tasks.run import train_dense

        return train_dense(model, data, config, task=dense.name, size=size, patch_size=patch_size, out=out,
                           resume=resume, stop_at_step=stop_at_step, family=family, head=head, channels=channels)
    reseed(config.seed)  # a new head drawn below follows --seed (on this call's fork of the global RNG)
    if model is None:
        if size is None:
            raise SizelessError("give a model folder (--model) or a size for random init (--size)")
        init = initialize_full(size, data, method="scratch", patch_size=patch_size, seed=config.seed,
                               family=family or "vit")
        model, arch, args, meta = init.model, init.architecture, init.model_args, init.meta
    elif isinstance(model, (str, Path)):
        path = model
        model, saved = load_model(path)
        _check_classifier(saved, data, path)
        arch, args = model_args_of(saved)
        meta = {**saved.get("sizeless", {}), "trained_from": str(path)}
        if family is not None and family != meta.get("family", "vit"):
            raise SizelessError(f"--family {family} but {path} is a {meta.get('family', 'vit')} model")
        fam = get_family(meta.get("family", "vit"))
        classes = model_classes(fam, model)
        if classes is not None and classes != data.num_classes:
            fam.reset_classes(model, data.num_classes)
            if "num_classes" in args:
                args["num_classes"] = data.num_classes
    else:
        raise SizelessError("train() takes a model folder path or None (with size=...)")
    objective = check_objective(get_family(meta.get("family", "vit")), objective)
    if objective == "mae":
        result = _train_mae(model, args, meta, data, config, mae or MAEConfig(), out, resume, stop_at_step)
        meta = {**meta, "objective": "mae", "mae": asdict(mae or MAEConfig())}
    else:
        if objective == "diffusion":  # a model folder keeps its noise schedule
            diffusion = diffusion or DiffusionConfig(**meta.get("diffusion", {}))
            meta = {**meta, "diffusion": diffusion.to_dict()}
        loss = make_objective(objective, data, config, diffusion=diffusion)
        result = fit(model, data, config, objective=loss, out_dir=out, resume=resume, stop_at_step=stop_at_step)
        meta = {**meta, "objective": objective}
    model = model.cpu()
    saved = out is not None and (Path(out) / "config.json").exists()
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
def evaluate_model(model: nn.Module | str | Path, data: ImageData | DataConfig | str, batch_size: int = 512,
                   family: str | None = None, *, task: str | None = None, split: str = "val",
                   overlays: str | Path | None = None) -> dict:
    """Validation metrics of a plain model (or model folder) under its family's objective: loss and accuracy
    for classifiers, the held-out denoising loss at fixed timesteps and noise for generators (dit).
    ``family``: of a model given as a module (default vit); a folder records its own. For a dense task
    (``task``, or implied by the data) the task's metrics on ``split``, and with ``overlays`` a PNG of predictions."""
    data = as_data(data)
    dense = resolve_task(task, data)
    if dense is not None:
        from .tasks.run import evaluate_dense

        return evaluate_dense(model, data, task=dense.name, split=split, batch_size=min(batch_size, 16),
                              overlays=overlays)
    if split != "val":
        raise SizelessError("classification data has a training and a validation split; evaluate on val")
    record = {}
    if isinstance(model, (str, Path)):
        path = model
        model, saved = load_model(path)
        _check_classifier(saved, data, path)
        record = saved.get("sizeless", {})
        family = record.get("family", "vit")
        classes = model_classes(get_family(family), model)
        if classes is not None and classes != data.num_classes:
            raise SizelessError(f"{path} serves {classes} classes but {data.name} has {data.num_classes}")
    objective = default_objective(get_family(family or "vit"), data, TrainConfig(), record)
    model.to(dist.setup())
    return evaluate(model, model, data, batch_size=batch_size, objective=objective)


def _check_classifier(config: dict, data, path) -> None:
    """A classification model folder that fits ``data`` (not a dense task's model)."""
    if "task" in config:
        raise SizelessError(f"{path} is a {config['task']} model; use it with {config['task']} data "
                            f"(--task {config['task']}), not with the classification dataset {data.name}")
    check_input(config, data, path)


def load_generator(path: str | Path) -> tuple[nn.Module, dict]:
    """A generator model folder (family dit) and its sizeless record; anything else is refused in one line."""
    model, saved = load_model_for(path, "diffusion", "a generator; sampling needs a DiT model folder (made with "
                                  "--family dit)")
    return model, saved.get("sizeless", {})


@keep_rng()  # loading a model folder may draw an init before the weights arrive
def generate(model: str | Path, config: SampleConfig | None = None, *, out: str | Path | None = None,
             fmt: str = "png", progress: bool = True) -> tuple[Tensor, Tensor]:
    """Sample uint8 images and their labels from a DiT model folder; with ``out``, write ``grid.png``, the images
    (PNG files or ``train.parquet``) and ``samples.json`` there (all or nothing)."""
    config = config or SampleConfig()
    net, record = load_generator(model)
    labels = config.labels(get_family(record["family"]).num_classes(net))
    if out is not None:
        check_out(Path(out))  # before minutes of sampling, not after
    net.to(dist.setup())
    start = time.perf_counter()
    images = to_uint8(sample(net, labels, config, noise_schedule(record), progress), record.get("mean", (0.5,)),
                      record.get("std", (0.5,)))
    seconds = time.perf_counter() - start
    if out is not None:
        meta = {"model": str(model), **asdict(config), "labels": labels.tolist(), "seconds": round(seconds, 2),
                "images_per_second": round(len(images) / seconds, 3)}
        title = f"{record.get('size', '')} {config.scheduler} {config.steps} steps, guidance {config.guidance:g}"
        write_samples(Path(out), images, labels, record.get("label_names", []), fmt, meta, title)
    return images, labels


def noise_schedule(record: dict) -> dict:
    """The diffusers scheduler config a model was trained with (its record's schedule)."""
    return dict(DiffusionConfig(**record.get("diffusion", {})).scheduler().config)


@keep_rng()
def evaluate_generator(model: str | Path, data: ImageData | DataConfig | str, feature_model: str | Path,
                       config: SampleConfig | None = None, inception_weights: str | Path | None = None,
                       progress: bool = True) -> dict:
    """Samples ``config.num_images`` images (classes in turn) and measures them against as many held-out real
    images: Frechet and kernel distances in ``feature_model``'s features with the real-vs-real floor (training
    vs held-out images, same count), class consistency, the held-out denoising loss, and real FID with
    ``inception_weights``."""
    data, config = as_data(data), config or SampleConfig(num_images=1000)
    net, record = load_generator(model)
    check_input({"model_args": dict(net.config)}, data, model)
    classes = get_family(record["family"]).num_classes(net)
    if classes != data.num_classes:
        raise SizelessError(f"{model} generates {classes} classes but {data.name} has {data.num_classes}")
    n = config.num_images
    if n > min(len(data.train), len(data.val)):
        raise SizelessError(f"--num-images {n} is more than the real images to compare with ({len(data.val)} held "
                            f"out, {len(data.train)} for training); pass at most {min(len(data.train), len(data.val))}")
    inception = InceptionFID(inception_weights) if inception_weights is not None else None  # fails before sampling
    features = FeatureModel.load(feature_model)
    order = seeded_generator(config.seed, 31)
    test_index = torch.randperm(len(data.val), generator=order)[:n]
    real_test, real_train = data.val.images[test_index], data.train.images[torch.randperm(len(data.train),
                                                                                          generator=order)[:n]]
    test_feats = features(real_test)
    accuracy = float((test_feats[1].argmax(1) == data.val.labels[test_index]).float().mean())
    fake, labels = generate(model, config, progress=progress)
    out = {"denoising_loss": evaluate_model(model, data)["loss"], **compare(features(fake), labels, test_feats),
           "floor": real_floor(features(real_train), test_feats), "num_images": n,
           "classifier": {**features.info, "acc_on_real": accuracy}}
    if inception is not None:
        out["fid_inception"] = inception(fake, real_test)
        out["fid_inception_floor"] = inception(real_train, real_test)
    return out
