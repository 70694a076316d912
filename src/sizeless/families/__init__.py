"""Family registry: one entry per architecture family."""

from __future__ import annotations

from ..errors import SizelessError
from .base import (
    Family,
    ImageSpec,
    Kind,
    carries_task_parts,
    default_num_templates,
    example_input,
    example_macs,
    example_noun,
    input_key,
    model_classes,
    nearest_block,
    task_feature_dim,
    task_parameters,
    tie_weights,
)
from .convnext import ConvNeXtFamily
from .decision_transformer import DecisionTransformerFamily
from .dit import DiTFamily
from .resnet import ResNetFamily
from .vit import ViTFamily

FAMILIES: dict[str, Family] = {"vit": ViTFamily(), "resnet": ResNetFamily(), "convnext": ConvNeXtFamily(),
                               "decision-transformer": DecisionTransformerFamily(), "dit": DiTFamily()}
# families with attention (mimetic init and TLEG's linear expansion apply to these)
TRANSFORMERS = ("vit", "decision-transformer", "dit")


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


def family_options(name: str, **options) -> dict | None:
    """The options among ``options`` (every family's command-line flags) that family ``name`` takes, or None."""
    known = getattr(get_family(name), "config", None)
    return {k: v for k, v in options.items() if k in known} if known else None


def needs_sizeless(architecture: str) -> bool:
    """Whether timm knows ``architecture`` only after ``import sizeless`` (a family registered it)."""
    return any(architecture in getattr(family, "custom_architectures", ()) for family in FAMILIES.values())


__all__ = [
    "FAMILIES",
    "TRANSFORMERS",
    "Family",
    "ImageSpec",
    "Kind",
    "carries_task_parts",
    "default_num_templates",
    "example_input",
    "example_macs",
    "example_noun",
    "family_options",
    "get_family",
    "input_key",
    "model_classes",
    "nearest_block",
    "needs_sizeless",
    "task_feature_dim",
    "task_parameters",
    "tie_weights",
]
