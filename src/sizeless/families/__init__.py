"""Family registry: one entry per architecture family."""

from __future__ import annotations

from ..errors import SizelessError
from .base import Family, ImageSpec, Kind
from .vit import ViTFamily

FAMILIES: dict[str, Family] = {"vit": ViTFamily()}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise SizelessError(
            f"unknown family {name!r}; this version of sizeless supports: {', '.join(FAMILIES)}"
        ) from None


__all__ = ["FAMILIES", "Family", "ImageSpec", "Kind", "get_family"]
