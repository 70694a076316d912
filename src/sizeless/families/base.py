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
    composes ``(layers, *shape)`` and the family reshapes each slice to ``param_shape``.
    """

    name: str
    params: tuple[str, ...]
    param_shape: tuple[int, ...]
    shape: tuple[int, int]
    unit: tuple[int, int]
    init: str | float  # "ones", "zeros", or the std of a normal init
    fan_in: bool  # columns are input features: a width change rescales them
    vector: bool  # bias / norm / embedding; templated only when vectors == "template"

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
