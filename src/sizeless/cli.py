"""Command-line interface: parses flags and calls the Python API (see README for examples)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import checks
from .errors import SizelessError
from .sampling import PAIRED_WEIGHT

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Pre-train weight templates once; initialize timm models of any depth and width.")
console = Console(stderr=True)

DataOpt = Annotated[str, typer.Option("--data", help="digits | cifar10 | path to a parquet folder or ImageFolder tree "
                                                     "| minari:DATASET_ID[,DATASET_ID...] (trajectories)")]
DataDirOpt = Annotated[str | None, typer.Option(help="local copy for --data cifar10 (no download); the Minari store "
                                                     "for --data minari:ID")]
ImageSizeOpt = Annotated[int | None, typer.Option(help="resize images to this side", callback=checks.at_least_one)]
SubsetOpt = Annotated[int | None, typer.Option(help="use this many training images (fixed subset; episodes for "
                                                    "minari: data)",
                                               callback=checks.at_least_one)]
ValSubsetOpt = Annotated[int | None, typer.Option(help="use this many validation images (fixed subset)",
                                                  callback=checks.at_least_one)]
ClassesOpt = Annotated[str | None, typer.Option(help="keep only these labels, e.g. 0,1,2,3,4", callback=checks.labels)]
EpochsOpt = Annotated[int, typer.Option(help="training epochs", callback=checks.at_least_one)]
BatchOpt = Annotated[int, typer.Option(help="global batch size (split across torchrun processes)",
                                       callback=checks.at_least_one)]
WarmupOpt = Annotated[float | None, typer.Option(help="warm-up, as a fraction of all steps", callback=checks.fraction)]
WdOpt = Annotated[float, typer.Option(help="AdamW weight decay (matrices only)", callback=checks.non_negative)]
SeedOpt = Annotated[int, typer.Option(help="random seed (same seed, data and CPU -> same weights)",
                                      callback=checks.non_negative)]
PatchOpt = Annotated[int | None, typer.Option(
    help="input reduction of the stem. ViT: patch size (default image/8, 2 below 16 px); ConvNeXt: patch size "
         "(default 4, 1 below 32 px); ResNet: 1 = small-image stem (3x3 stride 1, the default up to 64 px), "
         "4 = ImageNet stem (7x7 stride 2 + max-pool)", callback=checks.at_least_one)]
LrOpt = Annotated[float, typer.Option(help="peak learning rate", callback=checks.positive)]
MaskOpt = Annotated[float, typer.Option(help="mae: fraction of patches masked", callback=checks.open_fraction)]
DecoderWidthOpt = Annotated[int, typer.Option(help="mae: decoder width", callback=checks.at_least_one)]
DecoderDepthOpt = Annotated[int, typer.Option(help="mae: decoder blocks", callback=checks.at_least_one)]
TemplatesOpt = Annotated[int | None, typer.Option(help="kronecker: templates per kind (N; default: the family's, "
                                                       "8 for ViT, else 4)", callback=checks.at_least_one)]
RanksOpt = Annotated[str, typer.Option(help="tucker: core ranks R1,R2,R3 (slices, output, input features)",
                                       callback=checks.ranks)]
MaxParamsOpt = Annotated[int | None, typer.Option(help="budget: parameters of the exported model",
                                                  callback=checks.at_least_one)]
MaxMacsOpt = Annotated[int | None, typer.Option(
    help="budget: multiply-accumulates per image (a policy: per context window; FLOPs / 2)",
    callback=checks.at_least_one)]
MaxLatencyOpt = Annotated[float | None, typer.Option(
    help="budget: milliseconds of one forward of --batch-size images (context windows), measured on this "
         "machine's CPU",
    callback=checks.positive)]
ThreadsOpt = Annotated[int, typer.Option(help="latency: CPU threads of the measured forward",
                                         callback=checks.at_least_one)]
WidthsOpt = Annotated[str | None, typer.Option(help="widths to consider: a list 64,96,128 or a range 32:512:32 "
                                                    "(default: the bank's width unit up to 4x its widest size)",
                                               callback=checks.widths)]
DepthsOpt = Annotated[str | None, typer.Option(help="depths to consider (CNNs: blocks per stage): a list or a range "
                                                    "like 2:24 (default: 2:24 for ViT, 1:8 for CNNs)",
                                               callback=checks.depths)]
FamilyOpt = Annotated[str, typer.Option(help="architecture family: vit | resnet | convnext | decision-transformer | "
                                            "dit (generator)")]
SIZE_HELP = ("ViT: WIDTHxDEPTH[hHEADS][mMLP], e.g. 128x6; ResNet/ConvNeXt: BASE_WIDTHxBLOCKS-PER-STAGE (4 stages, "
             "widths double), e.g. 32x2-2-2-2, with a trailing b for ResNet Bottleneck blocks (32x3-4-6-3b)")
ShareOpt = Annotated[bool, typer.Option(help="CNNs: stages of doubling width share one template set (larger "
                                             "scalers) instead of one set per stage (the default, better on "
                                             "CIFAR-10)")]
ResumeOpt = Annotated[bool, typer.Option(help="continue the run in --out from its last checkpoint")]
TaskOpt = Annotated[str | None, typer.Option(help="segmentation | detection (default: what --data is: an images + "
                                                  "masks folder, a COCO folder, or classification images)")]
HeadOpt = Annotated[str | None, typer.Option(help="dense task head: dpt (segmentation), fcos (detection)")]
ChannelsOpt = Annotated[int | None, typer.Option(help="dense task head width (decoder / pyramid channels, default 64)",
                                                 callback=checks.at_least_one)]
DenseBatchOpt = Annotated[int | None, typer.Option(
    help="global batch size (split across torchrun processes); default 128, 8 for dense tasks",
    callback=checks.at_least_one)]
EmbeddingsOpt = Annotated[str, typer.Option(help="dit: per-block timestep embedders in a templated model: free "
                                                  "(plain parameters; the default, best measured) | templated | "
                                                  "shared (one for all blocks, as in the original DiT)")]
LabelDropoutOpt = Annotated[float, typer.Option(help="diffusion: fraction of labels dropped to the null label "
                                                     "(classifier-free guidance)", callback=checks.fraction)]
DISTRIBUTION_HELP = ("size sampling: uniform | sandwich | paired (every step trains the own size and a drawn "
                     "one, distilled from it)")
SampleStepsOpt = Annotated[int, typer.Option(help="sampling steps", callback=checks.at_least_one)]
GuidanceOpt = Annotated[float, typer.Option(help="classifier-free guidance scale (1: none, 0: unconditional)",
                                             callback=checks.non_negative)]
SchedulerOpt = Annotated[str, typer.Option(help="sampling scheduler: ddim | dpm (DPM-Solver++ multistep)")]
ObjectiveOpt = Annotated[str | None, typer.Option(
    help="supervised | distill (needs --teacher) | mae (ViT, no labels) | diffusion (dit) | behavior-cloning "
         "(decision-transformer); default: the family's")]
StepsOpt = Annotated[int | None, typer.Option(help="train for this many steps instead of --epochs",
                                              callback=checks.at_least_one)]
ContextOpt = Annotated[int | None, typer.Option(help="trajectories: context length K of the policy (default 20)",
                                                callback=checks.at_least_one)]


def _labels(classes: str | None) -> list[int] | None:
    return checks.parse_labels(classes) if classes else None


def _ints(values: str, flag: str) -> list[int]:
    try:
        return [int(v) for v in values.split(",")]
    except ValueError:
        raise SizelessError(f"bad {flag} {values!r}: expected comma-separated whole numbers, e.g. 48,32,32") from None


def _data(data, data_dir, image_size, train_subset, val_subset, classes, context=None):
    from .data import DataConfig, load_data

    dataset = load_data(DataConfig(data, data_dir, image_size, train_subset, val_subset, classes=_labels(classes),
                                   context=context))
    for note in getattr(dataset, "notes", list)():
        console.print(f"[yellow]note:[/] {dataset.name}: {note}", highlight=False)
    return dataset


def _batch(batch_size: int | None, dataset) -> int:
    """``--batch-size``, else 128 for classification and the task's own default for dense tasks."""
    from .tasks import get_task, task_of

    if batch_size is not None:
        return batch_size
    return get_task(task_of(dataset)).default_batch if task_of(dataset) else 128


def _dense_image_size(model: Path | None, image_size: int | None) -> int | None:
    """A dense model's input size (its data must be read at it) when --image-size is not given."""
    from .files import read_json

    if image_size is not None or model is None or not (model / "config.json").is_file():
        return image_size
    return read_json(model / "config.json", "model config").get("input", {}).get("img_size")


def _score(metrics: dict, prefix: str = "") -> str:
    """The headline of a metrics dict: accuracy, a dense task's metrics, or the loss."""
    if f"{prefix}acc" in metrics:
        return f"{prefix.replace('_', ' ')}acc {100 * metrics[f'{prefix}acc']:.2f}%"
    dense = [k for k in ("miou", "pixel_acc", "map", "map_50") if f"{prefix}{k}" in metrics]
    if dense:
        return "  ".join(f"{prefix.replace('_', ' ')}{k} {100 * metrics[f'{prefix}{k}']:.2f}%" for k in dense)
    return f"{prefix.replace('_', ' ')}loss {metrics[f'{prefix}loss']:.4f}"


@app.command()
def pretrain(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="output template bank folder")],
    size: Annotated[list[str], typer.Option("--size", help=SIZE_HELP + "; repeat for multi-size")],
    family: FamilyOpt = "vit",
    share_stages: ShareOpt = False,
    constraint: Annotated[str, typer.Option(help="kronecker (WAVE/WeiT) | tucker (SWEET: any width)")] = "kronecker",
    objective: ObjectiveOpt = None,
    embeddings: EmbeddingsOpt = "free",
    label_dropout: LabelDropoutOpt = 0.1,
    template_width: Annotated[int, typer.Option(help="kronecker: template width w; targets need multiples",
                                                callback=checks.at_least_one)] = 32,
    num_templates: TemplatesOpt = None,
    vectors: Annotated[str, typer.Option(help="kronecker: biases/norms/embeddings 'template' or 'free'")] = "template",
    linear_scalers: Annotated[bool, typer.Option(help="TLEG learngene: fixed scalers 1, l/(L-1); N=2")] = False,
    ramp_scalers: Annotated[bool, typer.Option(help="learned scalers held on a line over depth, so a deeper size "
                                                    "continues it (kronecker: every kind's; tucker: the depth "
                                                    "scaler's, starting as TLEG's learngene)")] = False,
    ranks: RanksOpt = "16,64,64",
    width_sampling: Annotated[str | None, typer.Option(help="a width per step from a list 64,96,128 or a range "
                                                            "64:128:32 (tucker: up to each --size's width; kronecker: "
                                                            "multiples of the template width)",
                                                       callback=checks.sampled_widths)] = None,
    depth_sampling: Annotated[str | None, typer.Option(help="a depth per step from a list 3,6,9 or a range 3:10:1 "
                                                            "(a shallower one runs the leading layers)",
                                                       callback=checks.sampled_depths)] = None,
    width_distribution: Annotated[str, typer.Option(help=DISTRIBUTION_HELP)] = "uniform",
    paired_weight: Annotated[float, typer.Option(help="paired: weight of the drawn size's distillation loss",
                                                 callback=checks.non_negative)] = PAIRED_WEIGHT,
    mask_ratio: MaskOpt = 0.75,
    decoder_width: DecoderWidthOpt = 128,
    decoder_depth: DecoderDepthOpt = 2,
    teacher: Annotated[str | None, typer.Option(help="distill: timm name, model folder or checkpoint file")] = None,
    teacher_arch: Annotated[str | None, typer.Option(help="distill: timm architecture of a checkpoint file")] = None,
    temperature: Annotated[float, typer.Option(help="distill: softmax temperature", callback=checks.positive)] = 4.0,
    kd_weight: Annotated[float, typer.Option(help="distill: weight of the soft (KL) loss",
                                             callback=checks.non_negative)] = 1.0,
    ce_weight: Annotated[float, typer.Option(help="distill: weight of the label cross-entropy",
                                             callback=checks.non_negative)] = 1.0,
    cache_teacher_logits: Annotated[bool, typer.Option(help="distill: compute teacher logits once per image")] = False,
    allow_unsafe_pickle: Annotated[bool, typer.Option(help="distill: allow a pickled teacher checkpoint")] = False,
    augment: Annotated[bool | None, typer.Option("--augment/--no-augment", help="random crop + flip")] = None,
    epochs: EpochsOpt = 10,
    batch_size: BatchOpt = 128,
    lr: LrOpt = 1e-3,
    warmup: WarmupOpt = None,
    weight_decay: WdOpt = 0.05,
    seed: SeedOpt = 0,
    patch_size: PatchOpt = None,
    data_dir: DataDirOpt = None,
    image_size: ImageSizeOpt = None,
    train_subset: SubsetOpt = None,
    val_subset: ValSubsetOpt = None,
    classes: ClassesOpt = None,
    resume: ResumeOpt = False,
    steps: StepsOpt = None,
    context: ContextOpt = None,
):
    """Constraint-based pre-training of a template bank (config.json + templates.safetensors)."""
    from .api import pretrain as run
    from .diffusion import DiffusionConfig
    from .families import family_options
    from .mae import MAEConfig
    from .objectives import DistillConfig
    from .sampling import SizeSampling
    from .training import TrainConfig

    config = TrainConfig(epochs=epochs, steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                         seed=seed, augment=augment, **({} if warmup is None else {"warmup": warmup}))
    distill = DistillConfig(teacher, teacher_arch, temperature, kd_weight, ce_weight, cache_teacher_logits,
                            allow_unsafe_pickle) if teacher else None
    if linear_scalers and (ramp_scalers or constraint == "tucker"):
        raise SizelessError("--linear-scalers (TLEG's fixed Kronecker learngene) excludes --ramp-scalers and "
                            "--constraint tucker")
    if constraint == "tucker":
        constraint_config = {"ranks": checks.parse_ranks(ranks), "scalers": "ramp" if ramp_scalers else "learned"}
    else:
        constraint_config = {"template_width": template_width, "vectors": vectors,
                             "scalers": "linear" if linear_scalers else "ramp" if ramp_scalers else "learned"}
        if num_templates:  # else the family's (api.pretrain)
            constraint_config["num_templates"] = num_templates
    family_config = family_options(family, share_stages=share_stages, embeddings=embeddings)
    sampling = SizeSampling.parse(width_sampling, width_distribution, depth_sampling, paired_weight) \
        if width_sampling or depth_sampling else None
    mae = MAEConfig(mask_ratio, decoder_width, decoder_depth) if objective == "mae" else None
    bank = run(_data(data, data_dir, image_size, train_subset, val_subset, classes, context), size, family=family,
               family_config=family_config, constraint=constraint, constraint_config=constraint_config,
               objective=objective, distill=distill, mae=mae, diffusion=DiffusionConfig(label_dropout=label_dropout),
               size_sampling=sampling, config=config, patch_size=patch_size, out=out, resume=resume)
    if "val_loss" in bank.config:
        scores = ", ".join(f"{k} loss {v:.4f}" for k, v in bank.config["val_loss"].items() if v is not None)
        scores += f"; reconstructions in {out / 'reconstructions.png'}" if objective == "mae" else ""
    else:
        scores = ", ".join(f"{k} {100 * v:.2f}%" for k, v in bank.config["val_acc"].items() if v is not None)
    console.print(f"[green]bank written to {out}[/] ({bank.config['template_params']:,} template parameters; {scores})")


@app.command()
def init(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="output model folder (timm hub layout)")],
    size: Annotated[str | None, typer.Option(help="target size (or a budget flag to pick one). " + SIZE_HELP)] = None,
    bank: Annotated[Path | None, typer.Option(help="template bank folder")] = None,
    family: Annotated[str | None, typer.Option(help="vit | resnet | convnext | dit (default: the bank's or "
                                                    "teacher's, else vit)")] = None,
    method: Annotated[str, typer.Option(help="templates | scratch | weight-selection | mimetic | "
                                              "linear-expansion | direct")] = "templates",
    teacher: Annotated[Path | None, typer.Option(help="weight-selection: a larger pre-trained model")] = None,
    num_classes: Annotated[int | None, typer.Option(help="check the data has this many classes",
                                                    callback=checks.at_least_one)] = None,
    fit_steps: Annotated[int, typer.Option(help="scaler-fitting steps (0: compose without fitting)",
                                           callback=checks.non_negative)] = 200,
    fit_lr: Annotated[float | None, typer.Option(help="scaler-fitting learning rate (default 3e-3; dense tasks "
                                                      "1e-3: their heads are fresh networks)",
                                                 callback=checks.positive)] = None,
    batch_size: DenseBatchOpt = None,
    seed: SeedOpt = 0,
    patch_size: PatchOpt = None,
    data_dir: DataDirOpt = None,
    image_size: ImageSizeOpt = None,
    train_subset: SubsetOpt = None,
    val_subset: ValSubsetOpt = None,
    classes: ClassesOpt = None,
    max_params: MaxParamsOpt = None,
    max_macs: MaxMacsOpt = None,
    max_latency_ms: MaxLatencyOpt = None,
    latency_batch_size: Annotated[int, typer.Option(help="latency: images (context windows) per measured forward",
                                                    callback=checks.at_least_one)] = 1,
    threads: ThreadsOpt = 1,
    widths: WidthsOpt = None,
    depths: DepthsOpt = None,
    task: TaskOpt = None,
    head: HeadOpt = None,
    decoder_channels: ChannelsOpt = None,
    source_data: Annotated[str | None, typer.Option(help="dense tasks, weight-selection / direct: the "
                                                          "classification images the teacher or direct "
                                                          "pre-training uses")] = None,
    from_model: Annotated[Path | None, typer.Option(help="dense tasks: start the backbone from this trained "
                                                         "classifier folder (its own size) instead of --method")] =
        None,
    context: ContextOpt = None,
):
    """Initialize a plain timm model of a new size (templates frozen, scalers fitted; a budget flag picks the size),
    or a dense task model (segmentation, detection) whose backbone is initialized so and whose head is new."""
    from .api import initialize_full, pick_size
    from .initializers.base import default_fit_config
    from .sizing import Budget, parse_grid
    from .tasks import default_fit_lr

    budget = Budget(max_params, max_macs, max_latency_ms, latency_batch_size, threads)
    if (size is not None) + bool(budget.limits) + (from_model is not None) != 1:
        raise SizelessError("give --size, or a budget (--max-params, --max-macs, --max-latency-ms) to pick one, or "
                            "--from-model (a trained classifier for a dense task): exactly one of them")
    if budget.limits and (bank is None or method != "templates"):
        raise SizelessError("picking a size for a budget needs template init from a bank: add --bank BANK")
    dataset = _data(data, data_dir, image_size, train_subset, val_subset, classes, context)
    if num_classes is not None and num_classes != dataset.num_classes:
        raise SizelessError(f"--num-classes {num_classes} but {dataset.name} has {dataset.num_classes} classes")
    if budget.limits:
        choice = pick_size(bank, budget, dataset, widths=parse_grid(widths, "--widths") if widths else None,
                           depths=parse_grid(depths, "--depths") if depths else None)
        size = choice.cost.key
        console.print(f"size {size} ({choice.cost.params:,} parameters, {choice.cost.macs:,} MACs per "
                      f"{choice.budget.per}): {choice.reason}", highlight=False, soft_wrap=True)
    fit = replace(default_fit_config(), steps=fit_steps, lr=fit_lr or default_fit_lr(dataset),
                  batch_size=_batch(batch_size, dataset))
    source = _data(source_data, data_dir, None, None, None, None) if source_data else None
    start = time.perf_counter()
    method = "pretrained" if from_model is not None else method  # what the model folder records
    result = initialize_full(size, dataset, bank=bank, method=method, fit=fit, patch_size=patch_size, seed=seed,
                             out=out, teacher=teacher, family=family, task=task, head=head, channels=decoder_channels,
                             source=source, backbone=from_model)
    params = sum(p.numel() for p in result.model.parameters())
    fitted = {k[len("fit_"):]: v for k, v in result.meta.items() if k.startswith("fit_val_") and v is not None}
    note = f", {_score(fitted, 'val_')} after fit" if fitted else ""
    console.print(f"[green]model written to {out}[/] ({result.meta['size']}, {params:,} parameters{note}, "
                  f"{time.perf_counter() - start:.1f}s)")


@app.command()
def sizes(
    bank: Annotated[Path, typer.Option(help="template bank folder")],
    max_params: MaxParamsOpt = None,
    max_macs: MaxMacsOpt = None,
    max_latency_ms: MaxLatencyOpt = None,
    batch_size: Annotated[int, typer.Option(help="latency: images (context windows) per measured forward",
                                            callback=checks.at_least_one)] = 1,
    threads: ThreadsOpt = 1,
    latency: Annotated[bool, typer.Option(help="measure every listed size's latency (implied by "
                                               "--max-latency-ms; takes real forwards)")] = False,
    widths: WidthsOpt = None,
    depths: DepthsOpt = None,
    num_classes: Annotated[int | None, typer.Option(help="classes of the head (default: the bank's)",
                                                    callback=checks.at_least_one)] = None,
    image_size: Annotated[int | None, typer.Option(help="input side (default: the bank's)",
                                                   callback=checks.at_least_one)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON object")] = False,
):
    """The sizes a bank can serve within a budget, with parameters, MACs and latency, most budget used first."""
    from dataclasses import replace as with_field

    from .bank import TemplateBank
    from .families import ImageSpec
    from .sizing import Budget, choose, parse_grid, size_table

    budget = Budget(max_params, max_macs, max_latency_ms, batch_size, threads)
    loaded = TemplateBank.load(bank)
    grid_depths = parse_grid(depths, "--depths") if depths else None
    if image_size and not isinstance(loaded.image, ImageSpec):
        raise SizelessError(f"--image-size: a {loaded.family.name} bank takes no images; it counts for its own input")
    spec = with_field(loaded.image, img_size=image_size) if image_size else None
    table = size_table(loaded, budget, widths=parse_grid(widths, "--widths") if widths else None, depths=grid_depths,
                       spec=spec, num_classes=num_classes, latency=latency)
    budget = table.budget  # as the family counts it (MACs per image, per context window)
    if not table.rows:
        refused = "".join(f"; width {w}: {why}" for w, why in list(table.refused.items())[:2])
        raise SizelessError(f"no size this bank can serve fits {budget.describe()}{refused}")
    pick = choose(loaded, table, grid_depths) if budget.limits else None
    if as_json:
        print(json.dumps({"bank": str(bank), **table.to_dict(), "init_would_pick": pick.cost.key if pick else None}))
        return
    measured = table.rows[0].latency_ms is not None
    grid = Table(title=f"{bank}: {loaded.constraint.serves()}; within {budget.describe()}", title_justify="left")
    latency_col = f"latency ms (batch {batch_size}, {threads} thread(s))"
    for col in ["size", "parameters", f"MACs / {budget.per}"] + [latency_col] * measured + \
            ["budget used"] * bool(budget.limits):
        grid.add_column(col, justify="right")
    for c in table.rows:
        cells = [c.key + (" *" if pick and c is pick.cost else ""), f"{c.params:,}", f"{c.macs:,}"]
        cells += [f"{c.latency_ms:.2f}"] if measured else []
        cells += [f"{100 * budget.use(c):.1f}%"] if budget.limits else []
        grid.add_row(*cells)
    out = Console()
    out.print(grid)
    if pick:
        out.print(f"* what `sizeless init --bank {bank}` picks for this budget: {pick.reason}", highlight=False)
    for width, why in list(table.refused.items())[:3]:
        out.print(f"not served: width {width}: {why}", highlight=False)


@app.command()
def info(path: Annotated[Path, typer.Argument(help="a template bank or model folder")]):
    """What a template bank or model folder is: family, constraint, sizes, data, budget, how it was made."""
    from .describe import describe_path

    for label, text in describe_path(path):
        print(f"{label:>15}: {text}")


@app.command()
def train(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="run folder: metrics.csv, curve.png, checkpoint, final model")],
    model: Annotated[Path | None, typer.Option(help="model folder to train (from `init` or `train`)")] = None,
    size: Annotated[str | None, typer.Option(help="random init of this size instead of --model. " + SIZE_HELP)] = None,
    family: Annotated[str | None, typer.Option(help="family of a random-init --size: vit (default) | resnet | "
                                                    "convnext | dit; checked against a --model's")] = None,
    epochs: EpochsOpt = 10,
    batch_size: DenseBatchOpt = None,
    lr: Annotated[float | None, typer.Option(help="peak LR (default: the model's recommendation, else 1e-3)",
                                             callback=checks.positive)] = None,
    warmup: WarmupOpt = None,
    weight_decay: WdOpt = 0.05,
    seed: SeedOpt = 0,
    patch_size: PatchOpt = None,
    data_dir: DataDirOpt = None,
    image_size: ImageSizeOpt = None,
    train_subset: SubsetOpt = None,
    val_subset: ValSubsetOpt = None,
    classes: ClassesOpt = None,
    resume: ResumeOpt = False,
    objective: ObjectiveOpt = None,
    label_dropout: LabelDropoutOpt = 0.1,
    mask_ratio: MaskOpt = 0.75,
    decoder_width: DecoderWidthOpt = 128,
    decoder_depth: DecoderDepthOpt = 2,
    task: TaskOpt = None,
    head: HeadOpt = None,
    decoder_channels: ChannelsOpt = None,
    steps: StepsOpt = None,
    context: ContextOpt = None,
):
    """Train a plain model or a dense task model (a model folder, or random init of --size: the baseline)."""
    from .api import train as run
    from .diffusion import DiffusionConfig
    from .mae import MAEConfig
    from .models import model_record
    from .training import TrainConfig

    if (model is None) == (size is None):
        raise SizelessError("give exactly one of --model (a model folder) or --size (random init)")
    recommended = model_record(model).get("recommended", {}) if model else {}
    dataset = _data(data, data_dir, _dense_image_size(model, image_size), train_subset, val_subset, classes,
                    context)
    given = {k: v for k, v in {"lr": lr, "warmup": warmup}.items() if v is not None}
    chosen = {**{k: v for k, v in recommended.items() if k in ("lr", "warmup")}, **given}  # flags win
    config = TrainConfig(epochs=epochs, steps=steps, batch_size=_batch(batch_size, dataset),
                         weight_decay=weight_decay, seed=seed, **chosen)
    mae = MAEConfig(mask_ratio, decoder_width, decoder_depth) if objective == "mae" else None
    diffusion = DiffusionConfig(label_dropout=label_dropout) if size else None  # a model folder keeps its own
    _, result = run(model, dataset, config, size=size, patch_size=patch_size, out=out, resume=resume,
                    objective=objective, mae=mae, diffusion=diffusion, family=family, task=task, head=head,
                    channels=decoder_channels)
    console.print(f"[green]trained model written to {out}[/] ({_score(result.history[-1], 'val_')})")


@app.command(name="eval")
def evaluate(
    model: Annotated[Path, typer.Option(help="model folder")],
    data: Annotated[str | None, typer.Option("--data", help="validation data (images), or with --env the Minari "
                                                            "dataset whose reference scores normalize returns")] = None,
    env: Annotated[str | None, typer.Option(help="a policy: roll it out in this gymnasium environment, e.g. "
                                                 "Hopper-v5")] = None,
    episodes: Annotated[int, typer.Option(help="--env: episodes (run in lockstep)", callback=checks.at_least_one)] = 10,
    target_return: Annotated[float | None, typer.Option(help="--env: return-to-go the policy is conditioned on "
                                                             "(default: the expert's return)",
                                                        callback=checks.finite)] = None,
    seed: Annotated[int, typer.Option(help="random seed of the sampled noise (dit); --env: episode i is seeded "
                                           "seed + i", callback=checks.non_negative)] = 0,
    batch_size: BatchOpt = 512,
    data_dir: DataDirOpt = None,
    image_size: ImageSizeOpt = None,
    val_subset: ValSubsetOpt = None,
    classes: ClassesOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON object")] = False,
    feature_model: Annotated[Path | None, typer.Option(
        help="dit: a classifier folder trained on the same data; adds Frechet and kernel distances in its features "
             "(with the real-vs-real floor) and class consistency of sampled images")] = None,
    inception_weights: Annotated[Path | None, typer.Option(
        help="dit: InceptionV3 weights (torch-fidelity layout, .safetensors or tensors-only .pth): real FID")] = None,
    num_images: Annotated[int, typer.Option(help="dit: images to sample and compare with as many real ones",
                                            callback=checks.at_least_one)] = 1000,
    steps: SampleStepsOpt = 50,
    guidance: GuidanceOpt = 1.5,
    scheduler: SchedulerOpt = "ddim",
    task: TaskOpt = None,
    split: Annotated[str, typer.Option(help="dense tasks: the split to score (val, test where the data has one)")] =
        "val",
    overlays: Annotated[Path | None, typer.Option(help="dense tasks: PNG of predictions next to the ground truth "
                                                       "(default MODEL/overlays-SPLIT.png)")] = None,
):
    """Validation metrics of a model folder: accuracy and loss (classifiers), held-out denoising loss at fixed
    timesteps and noise (dit, plus sample metrics with --feature-model / --inception-weights), a dense task
    model's mean IoU or COCO mAP (per class for segmentation) on --split with a picture of a few predictions;
    for a policy (--env), its return in the simulator."""
    from .api import evaluate_generator, evaluate_model, rollout_model
    from .generation import SampleConfig

    if env is not None:
        from .data import DataConfig

        source = DataConfig(data, data_dir) if data else None
        metrics = rollout_model(model, env, episodes=episodes, target_return=target_return, seed=seed, data=source)
        score = metrics["normalized_score"]
        normalized = f"  normalized score {score:.1f} ± {metrics['normalized_std']:.1f}" if score is not None else \
            "  (no reference scores: pass --data minari:ID to normalize)"
        print(json.dumps(metrics) if as_json else
              f"{model} on {env}: return {metrics['return_mean']:.1f} ± {metrics['return_std']:.1f} over "
              f"{episodes} episodes (target {metrics['target_return']:g}){normalized}")
        return
    if data is None:
        raise SizelessError("give --data (validation data) or --env (roll a policy out in a simulator)")
    dataset = _data(data, data_dir, _dense_image_size(model, image_size), None, val_subset, classes)
    picture = overlays or model / f"overlays-{split}.png"
    if feature_model is not None:
        config = SampleConfig(num_images, steps=steps, guidance=guidance, seed=seed, scheduler=scheduler)
        metrics = evaluate_generator(model, dataset, feature_model, config, inception_weights)
    elif inception_weights is not None:
        raise SizelessError("--inception-weights comes with --feature-model (the classifier of the other metrics)")
    else:
        metrics = evaluate_model(model, dataset, batch_size, task=task, split=split, overlays=picture)
    if as_json:
        print(json.dumps(metrics))
    elif "acc" in metrics:
        print(f"{model}: accuracy {100 * metrics['acc']:.2f}%  loss {metrics['loss']:.4f}")
    elif "miou" in metrics or "map" in metrics:
        print(f"{model} on {dataset.name} {split}: {_score(metrics)}")
        per_class = {k[4:]: v for k, v in metrics.items() if k.startswith("iou_")}
        if per_class:
            print("IoU per class: " + ", ".join(f"{k} {100 * v:.1f}" for k, v in per_class.items()))
        print(f"overlays: {picture}")
    elif "fd" not in metrics:
        print(f"{model}: loss {metrics['loss']:.4f}" + (" (held-out denoising)" if "denoising" in metrics else ""))
    else:
        floor, clf = metrics["floor"], metrics["classifier"]
        fid = f"  FID (Inception) {metrics['fid_inception']:.2f} (real floor {metrics['fid_inception_floor']:.2f})" \
            if "fid_inception" in metrics else ""
        print(f"{model}: {metrics['num_images']} images; in the features of {clf['path']} (accuracy on these real "
              f"images {100 * clf['acc_on_real']:.2f}%, sha256 {clf['sha256'][:12]}): Frechet distance "
              f"{metrics['fd']:.3f} (real floor {floor['fd']:.3f}), kernel distance {metrics['kd']:.5f} (floor "
              f"{floor['kd']:.5f}); class consistency {100 * metrics['class_consistency']:.2f}%; held-out denoising "
              f"loss {metrics['denoising_loss']:.4f}{fid}")


@app.command()
def sample(
    model: Annotated[Path, typer.Option(help="a DiT model folder (diffusers layout, from --family dit)")],
    out: Annotated[Path, typer.Option(help="new output folder: grid.png, images, samples.json")],
    num_images: Annotated[int, typer.Option(help="images to generate (classes in turn)",
                                            callback=checks.at_least_one)] = 16,
    classes: Annotated[str | None, typer.Option(help="class indices to generate, e.g. 3,5 (default: all)")] = None,
    steps: SampleStepsOpt = 50,
    guidance: GuidanceOpt = 1.5,
    scheduler: SchedulerOpt = "ddim",
    seed: SeedOpt = 0,
    fmt: Annotated[str, typer.Option("--format", help="png (images/CLASS/NNNN.png) | parquet (train.parquet in "
                                                       "the Hugging Face image layout)")] = "png",
    batch_size: Annotated[int, typer.Option(help="images denoised at once", callback=checks.at_least_one)] = 250,
):
    """Generate labelled images from a DiT model folder (a diffusers scheduler, classifier-free guidance)."""
    from .api import generate
    from .files import read_json
    from .generation import SampleConfig

    config = SampleConfig(num_images, _labels(classes), steps, guidance, seed, scheduler, batch_size)
    generate(model, config, out=out, fmt=fmt)
    meta = read_json(out / "samples.json", "sample record")
    console.print(f"[green]{num_images} images written to {out}[/] ({meta['seconds']:.1f}s, "
                  f"{meta['images_per_second']:.2f} images/s; grid in {out / 'grid.png'})")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="working folder (bank, models, runs)")] = Path("sizeless-demo"),
    seed: SeedOpt = 0,
):
    """Pre-train on digits, initialize 3 unseen sizes, compare template init with random init."""
    from .demo import run_demo

    start = time.perf_counter()
    rows, figure = run_demo(out, seed=seed)
    table = Table(title=f"sizeless demo: digits, same training budget ({time.perf_counter() - start:.0f}s)")
    for col in ("size", "params", "acc from templates", "acc from scratch"):
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(row["size"], f"{row['params']:,}", f"{100 * row['templates']:.2f}%",
                      f"{100 * row['scratch']:.2f}%")
    mean_t = sum(r["templates"] for r in rows) / len(rows)
    mean_s = sum(r["scratch"] for r in rows) / len(rows)
    table.add_row("mean", "", f"{100 * mean_t:.2f}%", f"{100 * mean_s:.2f}%")
    Console().print(table)
    Console().print(f"accuracy per epoch, templates vs scratch: {figure}", highlight=False, soft_wrap=True)


bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: every initializer side by side.")
app.add_typer(bench_app, name="bench")


def _floats(values: str, flag: str) -> list[float]:
    try:
        return [float(v) for v in values.split(",")]
    except ValueError:
        raise SizelessError(f"bad {flag} {values!r}: expected comma-separated numbers, e.g. 2.5e-4,1e-3") from None


@bench_app.command(name="init")
def bench_init(
    data: DataOpt,
    out: Annotated[Path, typer.Option(help="output folder: results.csv/json, report.md, plots, cached runs")],
    profile: Annotated[str | None, typer.Option(help="a named protocol: quick (the fast check) | standard (the fair, "
                                                     "realistic comparison); every flag below overrides it")] = None,
    sizes: Annotated[str | None, typer.Option(help="comma-separated target sizes, e.g. 64x6,96x4,128x6 (ViT) or "
                                                   "16x3-3-3-3,32x2-2-2-2 (CNNs)")] = None,
    family: FamilyOpt = "vit",
    share_stages: ShareOpt = False,
    methods: Annotated[str | None, typer.Option(help="comma-separated methods (default: all: templates, scratch, "
                                                     "weight-selection, mimetic, linear-expansion, direct, "
                                                     "direct-amortized; templates-mae adds a bank pre-trained by MAE "
                                                     "on the target's own images)")] = None,
    source_data: Annotated[str | None, typer.Option(help="transfer: data for bank/teacher/direct")] = None,
    target_data: Annotated[str | None, typer.Option(help="transfer: data the methods are judged on")] = None,
    source_classes: Annotated[str | None, typer.Option(help="transfer: source labels, e.g. 0,1,2,3,4")] = None,
    target_classes: Annotated[str | None, typer.Option(help="transfer: target labels, e.g. 5,6,7,8,9")] = None,
    bank: Annotated[Path | None, typer.Option(help="template bank (default: built into OUT/bank)")] = None,
    teacher: Annotated[Path | None, typer.Option(help="weight-selection teacher (default: OUT/teacher)")] = None,
    learngene: Annotated[Path | None, typer.Option(help="TLEG learngene bank (default: OUT/learngene)")] = None,
    pretrained_from: Annotated[Path | None, typer.Option(help="reuse the bank, teacher, learngene and direct "
                                                              "pre-training of the bench in this folder (e.g. a dense "
                                                              "task on benchmarks/standard-cifar10's inputs)")] = None,
    fit_steps: Annotated[int | None, typer.Option(help="fit steps of template-based methods, counted inside the "
                                                       "target budget", callback=checks.non_negative)] = None,
    fit_lr: Annotated[float | None, typer.Option(help="LR of that fit (default 3e-3; dense tasks 1e-3)",
                                                 callback=checks.positive)] = None,
    epochs: Annotated[int | None, typer.Option(help="target budget: epochs of --train-subset images",
                                               callback=checks.at_least_one)] = None,
    seeds: Annotated[int | None, typer.Option(help="target seeds per (method, size)", callback=checks.at_least_one)] =
        None,
    batch_size: Annotated[int | None, typer.Option(help="batch size of every stage", callback=checks.at_least_one)] =
        None,
    train_subset: SubsetOpt = None,
    holdout: Annotated[int | None, typer.Option(help="validation images carved from train (choices are made on "
                                                     "them); the data's own test split is reported",
                                                callback=checks.at_least_one)] = None,
    test_subset: Annotated[int | None, typer.Option(help="report on this many test images (fixed subset)",
                                                    callback=checks.at_least_one)] = None,
    val_subset: ValSubsetOpt = None,
    lrs: Annotated[str | None, typer.Option(help="LR sweep every method gets, chosen on the holdout, e.g. "
                                                 "2.5e-4,1e-3 (default: each method's recommended recipe)",
                                            callback=checks.learning_rates)] = None,
    warmup: Annotated[float | None, typer.Option(help="warm-up fraction of every run of the LR sweep",
                                                 callback=checks.fraction)] = None,
    pretrain_subset: Annotated[int | None, typer.Option(help="images for building bank/teacher/direct",
                                                        callback=checks.at_least_one)] = None,
    data_dir: DataDirOpt = None,
    bank_size: Annotated[str | None, typer.Option(help="size of a bank built here (default 64x4 for ViT, "
                                                       "16x2-2-2-2 for CNNs)")] = None,
    template_width: Annotated[int | None, typer.Option(help="template width of a bank built here (default 32 for "
                                                            "ViT, 8 for CNNs)", callback=checks.at_least_one)] = None,
    num_templates: Annotated[int | None, typer.Option(help="templates per kind of a bank built here",
                                                      callback=checks.at_least_one)] = None,
    constraint: Annotated[str | None, typer.Option(help="constraint of a bank built here: kronecker | tucker")] =
        None,
    ranks: Annotated[str | None, typer.Option(help="tucker: core ranks R1,R2,R3 of a bank built here",
                                              callback=checks.ranks)] = None,
    bank_widths: Annotated[str | None, typer.Option(help="size sampling of a bank built here: widths per step, "
                                                         "e.g. 32,64,96 (it gets the FLOPs of --pretrain-epochs at "
                                                         "--bank-size)", callback=checks.positive_ints)] = None,
    bank_depths: Annotated[str | None, typer.Option(help="size sampling of a bank built here: depths, e.g. 3,6,10",
                                                    callback=checks.positive_ints)] = None,
    bank_distribution: Annotated[str | None, typer.Option(help=DISTRIBUTION_HELP)] = None,
    pretrain_epochs: Annotated[int | None, typer.Option(help="epochs of bank pre-training; the teacher, learngene "
                                                             "and direct get its FLOPs",
                                                        callback=checks.at_least_one)] = None,
    pretrain_lr: Annotated[float | None, typer.Option(help="peak LR of bank/teacher/direct pre-training",
                                                      callback=checks.positive)] = None,
    pretrain_seeds: Annotated[int | None, typer.Option(help="pre-training seeds: the bank, teacher, learngene and "
                                                            "direct runs are built once per seed and the report "
                                                            "averages over them (seed 0's are the cached ones); with "
                                                            "--pretrained-from, that bench's inputs of each seed",
                                                       callback=checks.at_least_one)] = None,
    teacher_size: Annotated[str | None, typer.Option(help="size of a teacher trained here (default: the bank's)")] =
        None,
    direct_sizes: Annotated[str | None, typer.Option(help="sizes that get full-budget direct pre-training "
                                                          "(default: every size)")] = None,
    patch_size: PatchOpt = None,
    task: Annotated[str | None, typer.Option(help="segmentation | detection: dense models on the target data (an "
                                                  "images + masks or COCO folder; the bank, teacher and direct "
                                                  "pre-training use --source-data)")] = None,
    image_size: Annotated[int | None, typer.Option(help="dense tasks: the target's input size",
                                                   callback=checks.at_least_one)] = None,
    task_patch_size: Annotated[int | None, typer.Option(help="dense tasks: the ViT patch size at the target's "
                                                             "input (default: the task's)",
                                                        callback=checks.at_least_one)] = None,
    decoder_channels: ChannelsOpt = None,
    target_batch_size: Annotated[int | None, typer.Option(help="batch size of the fit and target training (default: "
                                                               "--batch-size; dense tasks: the task's)",
                                                          callback=checks.at_least_one)] = None,
    mae_bank: Annotated[Path | None, typer.Option(help="templates-mae: its bank (default: a Tucker bank pre-trained "
                                                       "by MAE on the target's training images into OUT)")] = None,
    mae_epochs: Annotated[int | None, typer.Option(help="templates-mae: epochs of MAE pre-training built here",
                                                   callback=checks.at_least_one)] = None,
    train_steps: Annotated[int, typer.Option(help="decision-transformer: behavior-cloning steps after init",
                                             callback=checks.at_least_one)] = 300,
    pretrain_steps: Annotated[int | None, typer.Option(help="steps of bank/teacher/direct pre-training (instead of "
                                                            "--pretrain-epochs)", callback=checks.at_least_one)] = None,
    eval_steps: Annotated[str | None, typer.Option(help="decision-transformer: also roll out at these steps, e.g. "
                                                        "100,200", callback=checks.positive_ints)] = None,
    episodes: Annotated[int, typer.Option(help="decision-transformer: episodes per evaluation",
                                          callback=checks.at_least_one)] = 10,
    target_return: Annotated[float | None, typer.Option(help="decision-transformer: return-to-go (default: the "
                                                             "expert's)", callback=checks.finite)] = None,
    context: ContextOpt = None,
    finished_only: Annotated[bool, typer.Option(help="report the target runs already finished in OUT and train "
                                                     "none (a long bench run in pieces; its pre-trained inputs must "
                                                     "be there)")] = False,
    compare_with: Annotated[Path | None, typer.Option(help="report the methods this bench does not run from the "
                                                           "bench in this folder (same target data, splits and "
                                                           "budget): a bank variant beside baselines that ran "
                                                           "once")] = None,
):
    """Compare initializers on the same data, sizes and budgets; writes a report with plots."""
    from .bench import BenchConfig, run_init_bench

    def split(values: str | None) -> list[str] | None:
        return values.split(",") if values else None

    config = BenchConfig.from_profile(
        profile, data=data, out=out, sizes=split(sizes), methods=split(methods), fit_steps=fit_steps, fit_lr=fit_lr,
        epochs=epochs,
        seeds=seeds, batch_size=batch_size, train_subset=train_subset, holdout=holdout, test_subset=test_subset,
        val_subset=val_subset, lrs=_floats(lrs, "--lrs") if lrs else None, warmup=warmup, data_dir=data_dir,
        source_data=source_data, target_data=target_data, source_classes=_labels(source_classes),
        target_classes=_labels(target_classes), bank=bank, teacher=teacher, learngene=learngene,
        pretrained_from=pretrained_from, bank_size=bank_size,
        template_width=template_width, num_templates=num_templates, pretrain_epochs=pretrain_epochs,
        pretrain_lr=pretrain_lr, pretrain_seeds=pretrain_seeds, pretrain_subset=pretrain_subset,
        teacher_size=teacher_size,
        family=family,
        share_stages=share_stages, patch_size=patch_size, constraint=constraint,
        ranks=tuple(checks.parse_ranks(ranks)) if ranks else None, direct_sizes=split(direct_sizes),
        bank_widths=_ints(bank_widths, "--bank-widths") if bank_widths else None,
        bank_depths=_ints(bank_depths, "--bank-depths") if bank_depths else None,
        bank_distribution=bank_distribution, task=task, image_size=image_size, task_patch_size=task_patch_size,
        head_channels=decoder_channels, target_batch_size=target_batch_size, mae_bank=mae_bank, mae_epochs=mae_epochs,
        train_steps=train_steps, pretrain_steps=pretrain_steps,
        eval_steps=_ints(eval_steps, "--eval-steps") if eval_steps else [], episodes=episodes,
        target_return=target_return, context=context, finished_only=finished_only or None,
        compare_with=compare_with)
    run_init_bench(config)
    console.print(f"[green]report written to {out / 'report.md'}[/]")
    Console().print((out / "report.md").read_text())


def _opt(text: str, **kwargs):
    return typer.Option(help=text, **kwargs)


@bench_app.command(name="generate")
def bench_generate(
    data: DataOpt,
    out: Annotated[Path, _opt("output folder: results.csv/json, summary.json, report.md, curves, sample grids")],
    work: Annotated[Path | None, _opt("cache of every stage and run (default OUT/work); rerun to resume")] = None,
    sizes: Annotated[str, _opt("comma-separated unseen DiT sizes: new depth, new width, both")] = "64x6,96x4,96x2",
    methods: Annotated[str | None, _opt("comma-separated methods (default: all: templates, scratch, "
                                        "weight-selection, linear-expansion, mimetic, direct)")] = None,
    one_seed_methods: Annotated[str, _opt("methods run with seed 0 only (context)")] = "mimetic,direct",
    seeds: Annotated[int, _opt("target seeds", callback=checks.at_least_one)] = 2,
    bank_size: Annotated[str, _opt("the bank's size")] = "64x4",
    budget_size: Annotated[str | None, _opt("the size whose --pretrain-steps set every pre-training FLOPs budget, "
                                            "where the learngene is built (default: the bank's)")] = None,
    constraint: Annotated[str, _opt("the bank's constraint: kronecker (WAVE/WeiT) | tucker (SWEET)")] = "kronecker",
    ranks: RanksOpt = "16,64,64",
    template_width: Annotated[int, _opt("Kronecker template width", callback=checks.at_least_one)] = 32,
    num_templates: Annotated[int, _opt("Kronecker templates per kind", callback=checks.at_least_one)] = 4,
    bank_scalers: Annotated[str, _opt("the bank's scalers (Tucker: its depth scaler): ramp (held on a line over "
                                      "depth) | learned (free per layer)")] = "ramp",
    bank_widths: Annotated[str | None, _opt("SWEET-style size sampling of the bank: widths drawn per step, e.g. "
                                            "64,96 (it gets as many steps as spend its FLOPs)",
                                            callback=checks.positive_ints)] = None,
    bank_depths: Annotated[str | None, _opt("size sampling of the bank: depths drawn per step, e.g. 2,4,6",
                                            callback=checks.positive_ints)] = None,
    bank_distribution: Annotated[str | None, _opt(DISTRIBUTION_HELP)] = None,
    embeddings: Annotated[str, _opt("the blocks' timestep/label embedders: free | templated | shared")] = "free",
    teacher_size: Annotated[str, _opt("weight selection's larger DiT")] = "128x6",
    batch_size: Annotated[int, _opt("batch size of every stage", callback=checks.at_least_one)] = 64,
    pretrain_steps: Annotated[int, _opt("steps at the budget size; every pre-trained input gets their FLOPs",
                                        callback=checks.at_least_one)] = 1200,
    pretrain_lrs: Annotated[str, _opt("LRs every pre-trained input (bank, learngene, teacher, direct) is "
                                      "pre-trained at; each keeps its lowest validation loss")] = "3e-3,1e-2,3e-2",
    steps: Annotated[int, _opt("target budget per method, the template fit included",
                               callback=checks.at_least_one)] = 300,
    fit_steps: Annotated[int, _opt("fit steps of template methods", callback=checks.non_negative)] = 60,
    lrs: Annotated[str, _opt("LR sweep after init, chosen on the carved validation split")] = "1e-3,3e-3,1e-2,3e-2",
    sweep_size: Annotated[str, _opt("the size the LR sweep runs at")] = "64x6",
    sweep_steps: Annotated[int | None, _opt("target steps of a sweep run (default: the whole budget)",
                                            callback=checks.at_least_one)] = None,
    val_images: Annotated[int, _opt("validation images carved from train", callback=checks.at_least_one)] = 2000,
    test_images: Annotated[int, _opt("held-out images for the denoising loss", callback=checks.at_least_one)] = 1000,
    num_images: Annotated[int, _opt("generated (and real) images per FD/KD evaluation",
                                    callback=checks.at_least_one)] = 500,
    sample_steps: Annotated[int, _opt("DDIM steps of those samples", callback=checks.at_least_one)] = 20,
    guidance: GuidanceOpt = 1.5,
    grid_steps: Annotated[int, _opt("DDIM steps of the sample grids", callback=checks.at_least_one)] = 50,
    curve_points: Annotated[int, _opt("denoising-loss evaluations during training",
                                      callback=checks.at_least_one)] = 4,
    fd_points: Annotated[str, _opt("fractions of the budget where FD/KD are measured")] = "0,1",
    classifier_size: Annotated[str, _opt("the metric classifier's size")] = "32x2-2-2-2",
    classifier_family: Annotated[str, _opt("the metric classifier's family")] = "convnext",
    classifier_epochs: Annotated[int, _opt("its training epochs", callback=checks.at_least_one)] = 5,
    classifier_lr: Annotated[float, _opt("its LR", callback=checks.positive)] = 2e-3,
    feature_model: Annotated[Path | None, _opt("a metric classifier trained before (sizeless train) instead of "
                                               "training one: the same instrument across benches and machines")] = None,
    compare_with: Annotated[Path | None, _opt("report the methods this bench does not run from the bench generate "
                                              "output in this folder (same protocol, FLOPs and classifier; "
                                              "checked)")] = None,
):
    """Compare DiT initializers by their samples (FD, KD, class consistency) and held-out denoising loss."""
    from .bench.generate import METHODS, GenerateBenchConfig, run_generate_bench

    config = GenerateBenchConfig(
        data=data, out=out, work=work, sizes=sizes.split(","),
        methods=methods.split(",") if methods else list(METHODS),
        one_seed_methods=[m for m in one_seed_methods.split(",") if m], seeds=seeds, bank_size=bank_size,
        budget_size=budget_size, constraint=constraint, ranks=list(checks.parse_ranks(ranks)),
        template_width=template_width, num_templates=num_templates, bank_scalers=bank_scalers,
        bank_widths=_ints(bank_widths, "--bank-widths") if bank_widths else None,
        bank_depths=_ints(bank_depths, "--bank-depths") if bank_depths else None, bank_distribution=bank_distribution,
        embeddings=embeddings, teacher_size=teacher_size, batch_size=batch_size, pretrain_steps=pretrain_steps,
        pretrain_lrs=_floats(pretrain_lrs, "--pretrain-lrs"), steps=steps, fit_steps=fit_steps,
        lrs=_floats(lrs, "--lrs"), sweep_size=sweep_size, sweep_steps=sweep_steps,
        val_images=val_images, test_images=test_images, num_images=num_images, sample_steps=sample_steps,
        guidance=guidance, grid_steps=grid_steps, curve_points=curve_points,
        fd_points=_floats(fd_points, "--fd-points"),
        classifier_size=classifier_size, classifier_family=classifier_family, classifier_epochs=classifier_epochs,
        classifier_lr=classifier_lr, feature_model=feature_model, compare_with=compare_with)
    run_generate_bench(config)
    console.print(f"[green]report written to {out / 'report.md'}[/]")
    Console().print((out / "report.md").read_text())


def _error(message: str, code: int) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every error a user can cause is one line on stderr and a non-zero exit."""
    try:
        code = app(args=argv, prog_name="sizeless", standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into exit code 130
            console.print("[yellow]interrupted[/]: pretrain and train continue from their last checkpoint with "
                          "--resume; init and bench pick up their finished steps when run again")
        sys.exit(code if isinstance(code, int) else 0)
    except SizelessError as err:
        _error(str(err), 2)
    except typer.TyperException as err:  # what the parser refuses: a missing or unknown flag, a word for a number
        context = getattr(err, "ctx", None)
        if type(err).__name__ == "NoArgsIsHelpError":  # `sizeless` or `sizeless bench` alone: the help
            if err.format_message().strip():  # (typer's rich help has printed itself already)
                print(err.format_message(), file=sys.stderr)
            sys.exit(err.exit_code)
        hint = f" (see `{context.command_path} --help`)" if context is not None else ""
        _error(" ".join(err.format_message().split()) + hint, err.exit_code)
    except typer.Abort:
        _error("aborted", 1)
    finally:
        from .distributed import cleanup

        cleanup()


if __name__ == "__main__":
    main()
