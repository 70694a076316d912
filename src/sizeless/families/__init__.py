"""Family registry: one entry per architecture family."""

from __future__ import annotations

from ..errors import SizelessError
from .base import Family, ImageSpec, Kind, input_key, task_parameters
from .convnext import ConvNeXtFamily
from .decision_transformer import DecisionTransformerFamily
from .resnet import ResNetFamily
from .vit import ViTFamily

FAMILIES: dict[str, Family] = {"vit": ViTFamily(), "resnet": ResNetFamily(), "convnext": ConvNeXtFamily(),
                               "decision-transformer": DecisionTransformerFamily()}
# families with attention (mimetic init and TLEG's linear expansion apply to these)
TRANSFORMERS = ("vit", "decision-transformer")


def get_family(name: str, config: dict | None = None) -> Family:
    """A family by name; ``config`` holds its options as stored in a bank (e.g. ``share_stages``)."""
    try:
        family = FAMILIES[name]
    except KeyError:
        raise SizelessError(
            f"unknown family {name!r}; this version of sizeless supports: {', '.join(FAMILIES)}"
        ) from None
    if not config:
        return family
    if not hasattr(family, "configured"):
        raise SizelessError(f"family {name!r} takes no options, got {config}")
    try:
        return family.configured(**config)
    except TypeError as err:
        raise SizelessError(f"bad {name} family options {config}: {err}") from None


__all__ = ["FAMILIES", "TRANSFORMERS", "Family", "ImageSpec", "Kind", "get_family", "input_key", "task_parameters"]
