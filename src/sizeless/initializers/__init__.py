"""Initializers: one function per method, same signature, each returns a plain model.

``fn(size, data, *, bank, image, seed, fit, log_dir) -> Initialized``.
"""

from __future__ import annotations

from .base import Initialized, InitOptions
from .scratch import scratch
from .templates import templates

INITIALIZERS = {"templates": templates, "scratch": scratch}

__all__ = ["INITIALIZERS", "InitOptions", "Initialized", "scratch", "templates"]
