"""What a family tells the rest of the library: its sizes, its plain model, its templated kinds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

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
    # False: never composed from templates, under any constraint; a plain parameter that new sizes seed by
    # resizing (e.g. a DiT's timestep embedding when the family is configured to keep it free)
    constrained: bool = True

    @property
    def template_key(self) -> str:
        return self.template or self.name

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

    def num_classes(self, model: nn.Module) -> int:
        """How many classes the model's task-specific part serves (a classifier's outputs, a generator's labels)."""
        ...

    def reset_classes(self, model: nn.Module, num_classes: int) -> None:
        """A fresh task-specific part for ``num_classes`` classes (transfer to other classes)."""
        ...

    def task_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        """The task-specific parameters: always new at a new size, never stored in a bank."""
        ...

    def tie_weights(self, model: nn.Module) -> None:
        """Share modules across blocks in a templated model (e.g. DiT's one embedder); plain models stay untied."""
        ...


class TimmClassifier:
    """What the timm classifier families share: the classification head is the task-specific part."""

    model_format = "timm"
    objectives: tuple[str, ...] = ("supervised", "distill")
    # weight selection: parameters whose rows stack several groups (a fused qkv), selected group by group
    row_groups: ClassVar[dict[str, int]] = {}

    def num_classes(self, model: nn.Module) -> int:
        return model.num_classes

    def reset_classes(self, model: nn.Module, num_classes: int) -> None:
        model.reset_classifier(num_classes)

    def task_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        return list(model.get_classifier().parameters())

    def tie_weights(self, model: nn.Module) -> None:
        """Nothing is shared across blocks."""
