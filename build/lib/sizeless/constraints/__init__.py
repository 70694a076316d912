"""Constraint registry: how templates and scalers compose into dense weights."""

from __future__ import annotations

from typing import Any

from ..errors import SizelessError
from .kronecker import KroneckerConfig, KroneckerConstraint, compose_kind, resize_free, resize_stack
from .tucker import TuckerConfig, TuckerConstraint, tucker_product

CONSTRAINTS = {"kronecker": (KroneckerConfig, KroneckerConstraint), "tucker": (TuckerConfig, TuckerConstraint)}
Constraint = KroneckerConstraint | TuckerConstraint


def build_constraint(name: str, config: dict[str, Any] | None = None) -> Constraint:
    """Instantiate a constraint from its name and the hyper-parameters stored in a bank config."""
    try:
        config_cls, constraint_cls = CONSTRAINTS[name]
    except KeyError:
        raise SizelessError(
            f"unknown constraint {name!r}; this version of sizeless supports: {', '.join(CONSTRAINTS)}"
        ) from None
    try:
        return constraint_cls(config_cls(**(config or {})))
    except TypeError as err:
        raise SizelessError(f"bad {name} constraint settings {config}: {err}") from None


__all__ = ["CONSTRAINTS", "Constraint", "KroneckerConfig", "KroneckerConstraint", "TuckerConfig", "TuckerConstraint",
           "build_constraint", "compose_kind", "resize_free", "resize_stack", "tucker_product"]
