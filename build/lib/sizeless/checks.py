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
from .sampling import parse_values
from .sizing import parse_grid

Check = Callable[[typer.CallbackParam, object], object]


def _rule(ok: Callable[[float], bool], wanted: str) -> Check:
    def check(param: typer.CallbackParam, value):
        if value is not None and not (math.isfinite(value) and ok(value)):
            raise SizelessError(f"{param.opts[0]} must be {wanted}, not {value}")
        return value

    return check


finite = _rule(lambda v: True, "a finite number")
positive = _rule(lambda v: v > 0, "a positive number")
non_negative = _rule(lambda v: v >= 0, "a finite number >= 0")
at_least_one = _rule(lambda v: v >= 1, "a whole number >= 1")
fraction = _rule(lambda v: 0 <= v <= 1, "a fraction between 0 and 1")
open_fraction = _rule(lambda v: 0 < v < 1, "a fraction strictly between 0 and 1")


def _parsed(parse: Callable[[str], object]) -> Check:
    """A check of a numeric list option: ``parse`` raises SizelessError on a bad one."""

    def check(param: typer.CallbackParam, value):
        if value is not None:
            try:
                parse(value)
            except SizelessError as err:
                flag = param.opts[0]
                raise SizelessError(str(err) if flag in str(err) else f"{flag}: {err}") from None
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


def _positive_samples(what: str) -> Callable[[str], tuple[int, ...]]:
    def parse(spec: str) -> tuple[int, ...]:
        values = parse_values(spec, what)
        if not values or min(values) < 1:
            raise SizelessError(f"bad {what} sampling {spec!r}: {what}s must be positive whole numbers")
        return values

    return parse


def parse_learning_rates(spec: str) -> list[float]:
    try:
        values = [float(v) for v in spec.split(",")]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise SizelessError(f"bad learning rates {spec!r}: expected positive numbers, e.g. 2.5e-4,1e-3")
    return values


parse_labels = _numbers("class list", 0, "0,1,2")
parse_ranks = _numbers("--ranks", 1, "16,64,64", 3)
labels = _parsed(parse_labels)
ranks = _parsed(parse_ranks)
positive_ints = _parsed(_numbers("list", 1, "32,64,96"))
learning_rates = _parsed(parse_learning_rates)
widths = _parsed(lambda spec: parse_grid(spec, "--widths"))
depths = _parsed(lambda spec: parse_grid(spec, "--depths"))
sampled_widths = _parsed(_positive_samples("width"))
sampled_depths = _parsed(_positive_samples("depth"))
