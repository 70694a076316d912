"""What a family tells the rest of the library: its sizes, its plain model, its templated kinds."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from ..flops import model_macs
from ..sizes import ViTSize


@dataclass(frozen=True)
class ImageSpec:
    """Input geometry a model is built for; fixed by the data and stored in every bank and model."""

    img_size: int
    in_chans: int
    patch_size: int


@dataclass(frozen=True)
class Kind:
    """One kind of parameter (e.g. every block's qkv weight), seen as a stack of 2-D matrices.

    ``unit`` is the kind's shape at the template width; ``shape`` at the target size. A constraint
    composes ``(layers, *shape, *spatial)`` and the family reshapes each slice to ``param_shape``.
    Convolution kernels keep their spatial taps (``spatial``, e.g. ``(3, 3)``) inside the template:
    only the two channel axes scale. Kinds with the same ``template`` share one template set (e.g.
    the stages of a CNN, whose widths double: the scalers grow instead).
    """

    name: str
    params: tuple[str, ...]
    param_shape: tuple[int, ...]
    shape: tuple[int, int]
    unit: tuple[int, int]
    init: str | float  # "ones", "zeros", or the std of a normal init
    fan_in: bool  # columns are input features: a width change rescales them
    vector: bool  # bias / norm / embedding; templated only when vectors == "template"
    spatial: tuple[int, ...] = ()  # trailing kernel dims carried inside the template (convolutions)
    template: str | None = None  # name of the template set this kind uses (default: its own name)
    fill: float = 1.0  # the value of an init == "ones" kind (e.g. ConvNeXt's layer scale, 1e-6)
    transpose: bool = False  # the parameter stores the (rows, cols) matrix transposed (GPT-2's in-by-out Conv1D)
    # False: never composed from templates, under any constraint; a plain parameter that new sizes seed by
    # resizing (e.g. a DiT's timestep embedding when the family is configured to keep it free)
    constrained: bool = True

    @property
    def template_key(self) -> str:
        return self.template or self.name

    def to_param(self, matrix: Any) -> Any:
        """One layer's ``(rows, cols)`` matrix in the parameter's own layout and shape."""
        return (matrix.T if self.transpose else matrix).reshape(self.param_shape)

    def to_matrix(self, param: Any) -> Any:
        """A parameter (or a stack of them, one per layer) as ``(..., rows, cols)`` matrices."""
        if not self.transpose:
            return param.reshape(*param.shape[:-len(self.param_shape)], *self.shape)
        return param.reshape(*param.shape[:-len(self.param_shape)], self.shape[1], self.shape[0]).transpose(-1, -2)

    @property
    def layers(self) -> int:
        return len(self.params)

    @property
    def factors(self) -> tuple[int, int]:
        return self.shape[0] // self.unit[0], self.shape[1] // self.unit[1]


class Family(Protocol):
    """An architecture family: builds plain models and declares their templated parameters.

    ``objectives`` lists the training objectives its models take (the first is the default, and
    the one a template fit uses); ``model_format`` names its folder format in ``models.MODEL_FORMATS``.
    """

    name: str
    objectives: tuple[str, ...]
    model_format: str
    title: str  # how people write it ("ViT", "ResNet"): model cards and `sizeless info`
    task: str  # the Hugging Face pipeline tag of its models, e.g. "image-classification"
    custom_architectures: tuple[str, ...]  # timm architectures that exist only once sizeless is imported
    default_depths: range  # the depths `sizeless sizes` lists when the user gives none

    def parse_size(self, spec: Any) -> Any: ...

    def build(self, size: Any, image: ImageSpec, num_classes: int) -> nn.Module: ...

    def kinds(self, size: Any, image: ImageSpec, template_width: int, template_mlp_ratio: float) -> list[Kind]:
        """Every width-dependent parameter except the head, grouped by kind. Raises on bad widths."""
        ...

    def model_args(self, size: Any, image: ImageSpec, num_classes: int) -> tuple[str, dict]:
        """The timm architecture name and ``model_args`` that rebuild the plain model."""
        ...

    def adapt_to_image(self, kind_name: str, tensor: Any, old: ImageSpec, new: ImageSpec) -> Any:
        """Carry a ``(B, rows, cols)`` stack of a kind to another input resolution (transfer)."""
        ...

    def default_patch_size(self, img_size: int) -> int:
        """The input reduction of the stem when the user gives none (ViT/ConvNeXt patch, ResNet stem)."""
        ...

    def grid_size(self, like: Any, width: int, depth: int) -> Any:
        """The size of ``width`` and ``depth`` shaped like ``like`` (its head dim, MLP ratio, stages):
        the points `sizeless sizes` lists. Raises SizelessError where no such size exists."""
        ...

    def grid_point(self, size: Any) -> tuple[int, int]:
        """``(width, depth)`` of a size on that grid (inverse of :meth:`grid_size`)."""
        ...

    def describe_size(self, size: Any) -> str:
        """One line a person reads: what the size's numbers mean for this family."""
        ...


class TransformerSizes:
    """Sizes of the transformer families (ViT, Decision Transformer): ``WIDTHxDEPTH[hHEADS]`` on a width/depth grid."""

    def parse_size(self, spec: str | ViTSize) -> ViTSize:
        return ViTSize.parse(spec)

    def grid_size(self, like: ViTSize, width: int, depth: int) -> ViTSize:
        return ViTSize.shaped_like(like, width, depth)

    def grid_point(self, size: ViTSize) -> tuple[int, int]:
        return size.width, size.depth


class TimmClassifier:
    """What the timm classifier families share: the classification head is the task-specific part (the
    default of ``task_parameters`` below: stored in a bank, reused for the same classes)."""

    model_format = "timm"
    objectives: tuple[str, ...] = ("supervised", "distill")

    def num_classes(self, model: nn.Module) -> int:
        return model.num_classes

    def reset_classes(self, model: nn.Module, num_classes: int) -> None:
        model.reset_classifier(num_classes)


# Optional family hooks, with the defaults of a timm classifier:
# - ``task_parameters(model)``: task-specific parameters that a bank never stores and a new task always
#   replaces (a policy's state/action embeddings and head; a DiT's class embedding). Without it the head
#   is ``model.get_classifier()``, stored in a bank and reused for the same classes.
# - ``num_classes(model)``: how many classes the task-specific part serves (None: no classes, e.g. a policy).
# - ``tie_weights(model)``: share modules across blocks in a templated model (DiT's one embedder).
# - ``num_templates``: Kronecker templates per kind of a bank built without ``--num-templates`` (default 4).


def task_parameters(family: Any, model: nn.Module) -> list[nn.Parameter]:
    """The task-specific parameters of a plain model (a classifier; a policy's state/action embeddings and
    action head): never stored in a bank, always new for a new task."""
    hook = getattr(family, "task_parameters", None)
    return list(hook(model) if hook else model.get_classifier().parameters())


def task_feature_dim(family: Any, name: str, param: nn.Parameter) -> tuple[int, bool] | None:
    """Which axis of task-specific parameter ``name`` has the model's width, and whether those features are inputs
    (``(dim, fan_in)``; None: no width axis), so size sampling can run the part at another width. Default: a
    classifier's weight reads the width in its columns, its bias has none; a family with other task parts says."""
    hook = getattr(family, "task_feature_dim", None)
    if hook is not None:
        return hook(name, param)
    return (1, True) if param.ndim == 2 else None


def nearest_block(family: Any, name: str, depth: int, own_depth: int) -> str:
    """The parameter of an ``own_depth``-block model that serves ``name`` in a ``depth``-block one, for task parts
    that live inside the blocks (a DiT's label tables): in a deeper model every block takes the block at the nearest
    relative depth ``l/(L-1)`` (ties to even), where a deeper size's interpolated layers sit; in a shallower one, the
    same block (the leading layers a shallower size keeps). A family says where its blocks are with
    ``block_prefix`` (``"transformer_blocks."``: names ``transformer_blocks.N.rest``); other names map to
    themselves."""
    prefix = getattr(family, "block_prefix", None)
    if prefix is None or depth <= own_depth or not name.startswith(prefix):
        return name
    index, _, rest = name[len(prefix):].partition(".")
    return f"{prefix}{round(int(index) * (own_depth - 1) / (depth - 1))}.{rest}"


def carries_task_parts(family: Any, source_labels: tuple | None, target_labels: tuple, source_input: Any = None,
                       target_input: Any = None) -> bool:
    """Whether a pre-trained model's task-specific part serves the target: a classifier's head when the classes are
    the same (default); a family with task parts of its own says (a policy's: every target environment seen, with
    the same input sizes where the caller knows both inputs)."""
    hook = getattr(family, "carries_task_parts", None)
    if hook is not None:
        return hook(source_labels, target_labels, source_input, target_input)
    return source_labels == target_labels


def model_classes(family: Any, model: nn.Module) -> int | None:
    """How many classes a plain model's task-specific part serves; None for a model without classes."""
    hook = getattr(family, "num_classes", None)
    return hook(model) if hook else getattr(model, "num_classes", None)


def tie_weights(family: Any, model: nn.Module) -> None:
    """Share what the family shares across blocks in a templated model; plain models stay untied."""
    hook = getattr(family, "tie_weights", None)
    if hook:
        hook(model)


def default_num_templates(family: Any) -> int:
    """Kronecker templates per kind when the user names none: the family's measured choice, else 4."""
    return getattr(family, "num_templates", 4)


def example_input(family: Any, spec: Any, batch: int = 1) -> Any:
    """``batch`` inputs of one forward of the family's plain model built for ``spec`` (values are irrelevant: they
    are counted for MACs and timed for latency): the family's ``example`` (a dict of keyword inputs), else images."""
    hook = getattr(family, "example", None)
    if hook is not None:
        return hook(spec, batch)
    return torch.randn(batch, spec.in_chans, spec.img_size, spec.img_size, generator=torch.Generator().manual_seed(0))


def example_macs(family: Any, model: nn.Module, spec: Any) -> int:
    """MACs of one forward of ``model`` (the family's plain model for ``spec``) on one example, counted on the meta
    device; a family whose forward needs it sets the model up for counting first (its ``counting`` context)."""
    with getattr(family, "counting", lambda model: nullcontext())(model):
        return model_macs(model, example_input(family, spec))


def example_noun(family: Any) -> str:
    """What one example of the family is ("image"; a policy's "context window"): MACs are counted per example."""
    return getattr(family, "example_noun", "image")


def input_key(family: Any) -> str:
    """Where a bank config stores the input geometry: ``image`` (image families) or the family's own key."""
    return getattr(family, "input_key", "image")
