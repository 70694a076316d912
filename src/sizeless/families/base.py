"""What a family tells the rest of the library: its sizes, its plain model, its templated kinds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from torch import nn


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
    """An architecture family: builds plain models and declares their templated parameters."""

    name: str

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


def task_parameters(family: Any, model: nn.Module) -> list[nn.Parameter]:
    """The task-specific parameters of a plain model (a classifier; a policy's state/action embeddings and
    action head): never stored in a bank, always new for a new task."""
    hook = getattr(family, "task_parameters", None)
    return list(hook(model) if hook else model.get_classifier().parameters())


def input_key(family: Any) -> str:
    """Where a bank config stores the input geometry: ``image`` (image families) or the family's own key."""
    return getattr(family, "input_key", "image")
