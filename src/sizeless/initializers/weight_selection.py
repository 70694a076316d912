"""Weight selection (Xu et al., "Initializing Models with Larger Ones", ICLR 2024).

From a larger pre-trained model of the same family: keep its first L blocks (first-N layer
selection; per stage for CNNs) and, inside every tensor, evenly spaced elements along each axis
(uniform element selection). A new head (other classes) keeps its init, ConvNeXt's head norm
included, as in the reference code. BatchNorm statistics are re-estimated on the target data. Fused
q/k/v rows are selected per group, so the same channels are kept in q, k and v and head
boundaries stay consistent.
"""

from __future__ import annotations

import torch

from ..data import ImageData, label_space
from ..errors import SizelessError, UnsupportedSize
from ..families import ImageSpec, carries_task_parts, get_family, task_parameters
from ..models import check_input, input_geometry, load_model, teacher_family
from ..norm_stats import has_batchnorm, reestimate_batchnorm
from ..rng import seeded
from .base import Initialized, InitOptions, recommended_finetune

# parameter suffix -> (axis, groups): timm's fused qkv rows; a family may name its own (``selection_groups``)
_GROUPED = {"attn.qkv.weight": (0, 3), "attn.qkv.bias": (0, 3)}
# With a new classifier, the reference code selects nothing whose name starts with "head", which also leaves
# ConvNeXt's head.norm at timm's init. Selecting it anyway was level with this on CIFAR-10 (within 0.3 points
# at three sizes, two seeds: benchmarks/ws-head-norm), so the baseline follows its reference.
_NEW_HEAD = ("head",)


def even_indices(source: int, target: int) -> torch.Tensor:
    """``target`` evenly spaced indices into ``source`` (every k-th when k divides)."""
    if source % target == 0:
        return torch.arange(target) * (source // target)
    return torch.linspace(0, source - 1, target).round().long()


def select(weight: torch.Tensor, shape: tuple[int, ...], row_groups: int = 1, group_dim: int = 0) -> torch.Tensor:
    """Uniform element selection of ``weight`` down to ``shape``; one axis may be split into groups."""
    out = weight
    for dim, size in enumerate(shape):
        if dim == group_dim and row_groups > 1:
            moved = out.movedim(dim, 0)
            grouped = moved.reshape(row_groups, moved.shape[0] // row_groups, *moved.shape[1:])
            grouped = grouped.index_select(1, even_indices(grouped.shape[1], size // row_groups))
            out = grouped.reshape(size, *moved.shape[1:]).movedim(0, dim)
        else:
            out = out.index_select(dim, even_indices(out.shape[dim], size))
    return out


def weight_selection(size, data: ImageData, options: InitOptions) -> Initialized:
    if options.teacher is None:
        raise SizelessError("weight-selection needs a larger pre-trained model: pass --teacher MODEL")
    teacher, config = load_model(options.teacher)
    args = config.get("model_args", {})
    family_name = teacher_family(options.teacher)
    if options.family and options.family != family_name:
        raise SizelessError(f"{options.teacher} is a {family_name} model; weight selection needs the same family "
                            f"as the target ({options.family})")
    family = get_family(family_name)
    size = family.parse_size(size)
    size_of = getattr(family, "size_of", None)  # a family whose saved config names its size (a policy)
    if size_of is not None:  # task-specific parts are new, so any task's teacher serves
        image = family.input_spec(data)
        big = size_of(config)
        teacher_size, teacher_width = big.key, big.width
        if size.width > big.width or size.depth > big.depth or size.mlp_hidden > big.mlp_hidden:
            raise UnsupportedSize(f"weight selection cannot serve {size.key}: it needs a teacher at least as wide "
                                  f"and deep (teacher is {teacher_size})")
    elif family_name == "vit":
        check_input(config, data, options.teacher)
        if "embed_dim" not in args:
            raise SizelessError(f"{options.teacher} is not a ViT model folder; weight selection needs the same family")
        image = ImageSpec(*input_geometry(config), args["patch_size"])
        t_width, t_depth = args["embed_dim"], args["depth"]
        t_hidden = int(t_width * args.get("mlp_ratio", 4.0))
        teacher_size, teacher_width = f"{t_width}x{t_depth}", t_width
        if size.width > t_width or size.depth > t_depth or size.mlp_hidden > t_hidden:
            raise UnsupportedSize(
                f"weight selection cannot serve {size.key}: it needs a teacher at least as wide and deep "
                f"(teacher is {t_width}x{t_depth}, MLP {t_hidden})"
            )
    else:
        check_input(config, data, options.teacher)
        image = options.image
        if "patch_size" in args:  # a patch-based teacher (DiT) fixes the patch size
            image = ImageSpec(image.img_size, image.in_chans, args["patch_size"])
        teacher_size = config.get("sizeless", {}).get("size", "unknown")
        teacher_width = family.parse_size(teacher_size).width if teacher_size != "unknown" else size.width
        arch, _ = family.model_args(size, image, data.num_classes)
        if arch != config["architecture"]:
            raise SizelessError(f"{options.teacher} is a {config['architecture']} but {size.key} at this input is a "
                                f"{arch} (another block type or stem: check --patch-size)")
    with seeded(options.seed):  # the new head (everything else is selected) follows the seed
        student = family.build(size, image, data.num_classes)
    source = teacher.state_dict()
    state = student.state_dict()
    head = {id(p) for p in task_parameters(family, student)}
    # a teacher that does not name its classes (a policy's: its environments) serves none the target knows
    record = {**config.get("sizeless", {}), **config}
    teacher_labels = label_space(record.get("num_classes", 0), record["label_names"], "") \
        if record.get("label_names") else None
    teacher_input = family.input_of(config) if size_of is not None else None  # a policy's padded state size
    same_classes = carries_task_parts(family, teacher_labels, data.labels, teacher_input, image)
    # the teacher's head is selected like any tensor when it predicts the target's classes; else the head is new,
    # and so is everything under "head" (ConvNeXt's head.norm), as in the reference code
    new_head = set() if same_classes else {n for n, p in student.named_parameters() if id(p) in head}
    for name, value in state.items():
        if name in new_head or (new_head and name.startswith(_NEW_HEAD)):
            continue
        have = source.get(name)
        if have is None or have.ndim != value.ndim or any(t < s for t, s in zip(have.shape, value.shape, strict=True)):
            raise UnsupportedSize(f"weight selection cannot serve {size.key}: it needs a teacher at least as wide and "
                                  f"deep in every stage (teacher is {teacher_size}; {name} does not fit)")
        grouped = getattr(family, "selection_groups", _GROUPED)
        axis, groups = next((g for suffix, g in grouped.items() if name.endswith(suffix)), (0, 1))
        state[name] = select(have, tuple(value.shape), groups, axis)
    student.load_state_dict(state)
    if has_batchnorm(student):  # the teacher's statistics describe wider sums than the selected channels give
        reestimate_batchnorm(student, data, seed=options.seed)
    arch, model_args = family.model_args(size, image, data.num_classes)
    meta = {"method": "weight-selection", "family": family.name, "size": size.key,
            "teacher": str(options.teacher), "teacher_size": teacher_size,
            "head": "the teacher's" if same_classes else "new",
            "recommended": recommended_finetune(family, size.width < teacher_width, teacher_labels, data.labels)}
    return Initialized(student, arch, model_args, meta)
