"""Initializers: one function per method, same signature, each returns a plain timm model.

``fn(size, data, options: InitOptions) -> Initialized``.
"""

from __future__ import annotations

from .base import Initialized, InitOptions
from .direct import direct
from .mimetic import mimetic
from .scratch import scratch
from .templates import linear_expansion, templates
from .weight_selection import weight_selection

INITIALIZERS = {
    "templates": templates,
    "scratch": scratch,
    "weight-selection": weight_selection,
    "mimetic": mimetic,
    "linear-expansion": linear_expansion,
    "direct": direct,
}

__all__ = ["INITIALIZERS", "InitOptions", "Initialized"]
