"""Checks of numeric command-line options, run as the command line is parsed.

Each is a typer option callback: a bad value stops the command with one line naming the flag
before any data is read, any bank is loaded or any training starts. Negative, zero, NaN and
infinite values are refused wherever they make no sense.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import typer

from .errors import SizelessError
from .sizing import parse_grid
from .widths import WidthSampling

Check = Callable[[typer.CallbackParam, object], object]


def _rule(ok: Callable[[float], bool], wanted: str) -> Check:
    def check(param: typer.CallbackParam, value):
        if value is not None and not (math.isfinite(value) and ok(value)):
            raise SizelessError(f"{param.opts[0]} must be {wanted}, not {value}")
        return value

    return check


positive = _rule(lambda v: v > 0, "a positive number")
non_negative = _rule(lambda v: v >= 0, "a finite number >= 0")
at_least_one = _rule(lambda v: v >= 1, "a whole number >= 1")
fraction = _rule(lambda v: 0 <= v <= 1, "a fraction between 0 and 1")
open_fraction = _rule(lambda v: 0 < v < 1, "a fraction strictly between 0 and 1")


def _parsed(parse: Callable[[str], object]) -> Check:
    """A check of a numeric list option: ``parse`` raises SizelessError on a bad one."""

    def check(param: typer.CallbackParam, value):
        if value is not None:
            parse(value)
        return value

    return check


def _numbers(what: str, minimum: int, example: str, count: int | None = None) -> Callable[[str], list[int]]:
    def parse(spec: str) -> list[int]:
        try:
            values = [int(v) for v in spec.split(",")]
        except ValueError:
            values = []
        if not values or min(values) < minimum or (count is not None and len(values) != count):
            raise SizelessError(f"bad {what} {spec!r}: expected {count or 'comma-separated'} whole numbers "
                                f">= {minimum}, e.g. {example}")
        return values

    return parse


parse_labels = _numbers("class list", 0, "0,1,2")
parse_ranks = _numbers("--ranks", 1, "16,64,64", 3)
labels = _parsed(parse_labels)
ranks = _parsed(parse_ranks)
widths = _parsed(lambda spec: parse_grid(spec, "--widths"))
depths = _parsed(lambda spec: parse_grid(spec, "--depths"))
width_sampling = _parsed(WidthSampling.parse)
