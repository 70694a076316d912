"""Sizes for a budget: which sizes a bank can serve, what each costs as a plain model, which one to pick.

The sizes listed are a grid of widths x depths shaped like the bank's widest pre-trained size
(its head dim and MLP ratio for a ViT, its stages and block type for a CNN; the family decides).
Parameters and MACs per example (an image; a policy's context window) are those of the exported
plain model, counted on the meta device (:mod:`sizeless.budget`, :mod:`sizeless.flops`); latency
is measured on this machine and only when asked for, since it takes real forwards.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from .bank import TemplateBank
from .budget import count_params, latency_ms
from .errors import SizelessError
from .families import example_input, example_macs, example_noun, get_family
from .rng import keep_rng

FREE_WIDTH_STEP = 16  # grid step for constraints that serve any width (Tucker); --widths lists any others
WIDTH_SPAN = 4  # default grid: widths up to 4x the bank's widest pre-trained width


@dataclass(frozen=True)
class Budget:
    """Upper limits on the exported model: parameters, MACs per example, latency of one batch forward."""

    max_params: int | None = None
    max_macs: int | None = None
    max_latency_ms: float | None = None
    batch_size: int = 1  # latency: examples per forward
    threads: int = 1  # latency: intra-op CPU threads
    per: str = "image"  # what one example is (MACs are per example): the family's example_noun

    @property
    def limits(self) -> dict[str, float]:
        """The limits that are set, keyed like :class:`SizeCost`'s fields."""
        named = {"params": self.max_params, "macs": self.max_macs, "latency_ms": self.max_latency_ms}
        return {k: v for k, v in named.items() if v is not None}

    def use(self, cost: SizeCost) -> float:
        """The largest fraction of any limit the size takes (0 without limits; unmeasured costs left out)."""
        return max((getattr(cost, k) / v for k, v in self.limits.items() if getattr(cost, k) is not None),
                   default=0.0)

    def fits(self, cost: SizeCost) -> bool:
        """Within every limit, as far as measured (latency is measured only when asked for)."""
        return all(getattr(cost, k) is None or getattr(cost, k) <= v for k, v in self.limits.items())

    def describe(self) -> str:
        parts = []
        if self.max_params is not None:
            parts.append(f"{self.max_params:,} parameters")
        if self.max_macs is not None:
            parts.append(f"{self.max_macs:,} MACs per {self.per}")
        if self.max_latency_ms is not None:
            parts.append(f"{self.max_latency_ms:g} ms per forward of {self.batch_size} {self.per}(s) on "
                         f"{self.threads} CPU thread(s)")
        return " and ".join(parts) or "no budget"


@dataclass
class SizeCost:
    size: Any  # the family's size object
    params: int
    macs: int  # per example (an image; a policy's context window)
    latency_ms: float | None = None  # one forward of Budget.batch_size examples; None when not measured

    @property
    def key(self) -> str:
        return self.size.key


@dataclass
class SizeTable:
    """The sizes a bank serves within a budget (most budget used first) and what the grid left out."""

    rows: list[SizeCost]
    budget: Budget
    refused: dict[int, str] = field(default_factory=dict)  # width -> why the bank cannot serve it
    widest: int = 0  # the grid's widest width: a pick there may be limited by the grid, not the budget

    def to_dict(self) -> dict:
        sizes = [{"size": c.key, "params": c.params, "macs": c.macs, "latency_ms": c.latency_ms,
                  "budget_use": self.budget.use(c)} for c in self.rows]
        return {"budget": self.budget.limits, "sizes": sizes, "refused": self.refused}


@dataclass
class Choice:
    cost: SizeCost
    reason: str
    budget: Budget  # as the table counted it (its ``per``: what MACs are counted per)


def parse_grid(spec: str, flag: str) -> tuple[int, ...]:
    """``64,96,128`` (a list) or ``START:STOP[:STEP]`` (a range, both ends included), positive whole numbers."""
    try:
        if ":" in spec:
            start, stop, *step = (int(v) for v in spec.split(":"))
            if len(step) > 1 or (step and step[0] < 1) or stop < start:
                raise ValueError
            values = tuple(range(start, stop + 1, step[0] if step else 1))
        else:
            values = tuple(int(v) for v in spec.split(","))
        if not values or min(values) < 1:
            raise ValueError
    except ValueError:
        raise SizelessError(f"bad {flag} {spec!r}: expected positive whole numbers as a list like 64,96,128 or a "
                            "range START:STOP[:STEP] like 2:24") from None
    return tuple(sorted(set(values)))


def default_widths(bank: TemplateBank) -> tuple[int, ...]:
    """Multiples of the constraint's width unit (the template width; 16 for a constraint that takes any
    width) up to 4x the bank's widest pre-trained width: far wider sizes are barely seeded by the bank."""
    unit = bank.constraint.config.template_width
    step = unit if unit > 1 else FREE_WIDTH_STEP
    return tuple(range(step, WIDTH_SPAN * bank.widest_size.width + 1, step))


def size_table(bank: TemplateBank, budget: Budget | None = None, *, widths: Sequence[int] | None = None,
               depths: Sequence[int] | None = None, spec: Any = None, num_classes: int | None = None,
               latency: bool = False) -> SizeTable:
    """Every size of the grid that ``bank`` can initialize and that fits ``budget``, with its exact parameter
    and MAC counts (and latency, when ``latency`` or a latency limit asks for it), built for ``spec`` (an
    ``ImageSpec``, a policy's ``TaskSpec``; default: the bank's) and ``num_classes`` (default: the bank's)."""
    if not hasattr(bank.family, "grid_size"):
        raise SizelessError(f"the {bank.family.name} family has no size grid for `sizes` yet")
    if not bank.constraint.scalers_trainable:
        raise SizelessError("this bank is a linear-expansion learngene: it serves its own width "
                            f"{bank.constraint.config.template_width} at any depth (--method linear-expansion)")
    family, like = bank.family, bank.widest_size
    budget = replace(budget or Budget(), per=example_noun(family))
    spec = spec or bank.image
    num_classes = num_classes or bank.config.get("num_classes")
    widths = sorted(widths or default_widths(bank))
    depths = sorted(depths or family.default_depths)
    latency = latency or budget.max_latency_ms is not None
    rows, refused = [], {}
    for width in widths:
        sizes, why = {}, ""
        for depth in depths:
            try:
                size = family.grid_size(like, width, depth)
                bank.check_serves(size, spec)
                sizes[depth] = size
            except SizelessError as err:
                why = why or str(err)
        if not sizes:
            refused[width] = why
            continue
        try:
            counts = _counts(family, sizes, spec, num_classes, budget)
        except SizelessError as err:  # the family cannot build this width (e.g. a stride too deep for the image)
            refused[width] = str(err)
            continue
        fitting = []
        for depth, (params, macs) in counts.items():
            size = sizes[depth]
            cost = SizeCost(size, params, macs)
            if not budget.fits(cost):
                break
            if latency:
                cost.latency_ms = _latency(family, size, spec, num_classes, budget)
                if not budget.fits(cost):
                    break
            fitting.append(cost)
        if not fitting:  # costs grow with width: no wider size fits either
            break
        rows += fitting
    rows.sort(key=lambda c: (-budget.use(c), -c.params, c.key))
    return SizeTable(rows, budget, refused, widths[-1])


def _counts(family, sizes: dict[int, Any], image: Any, num_classes: int | None,
            budget: Budget) -> dict[int, tuple[int, int]]:
    """Parameters and MACs per depth, shallowest first, up to the first depth over the budget's count limits.

    Counting builds a model, so the two shallowest depths are counted and the rest predicted on their
    line (blocks of equal cost, as in every family here); the last depth needed (the first predicted
    over budget, else the deepest) is counted too, and the prediction is used only if it agrees
    exactly. Otherwise every depth is counted.
    """
    depths = sorted(sizes)

    def count(depth: int) -> tuple[int, int]:
        return params_and_macs(family, sizes[depth], image, num_classes)

    def fits(counts: tuple[int, int]) -> bool:
        return budget.fits(SizeCost(None, *counts))

    known = {d: count(d) for d in depths[:2]}
    if len(depths) > 2:
        (d0, c0), (d1, c1) = known.items()
        steps = [divmod(b - a, d1 - d0) for a, b in zip(c0, c1, strict=True)]
        if all(rest == 0 for _, rest in steps):
            def predict(depth: int) -> tuple[int, int]:
                return tuple(a + step * (depth - d0) for a, (step, _) in zip(c0, steps, strict=True))

            last = next((d for d in depths if not fits(predict(d))), depths[-1])
            if last in known or count(last) == predict(last):
                return {d: predict(d) for d in depths if d <= last}
    out = {}
    for depth in depths:
        out[depth] = known.get(depth) or count(depth)
        if not fits(out[depth]):
            break
    return out


def params_and_macs(family, size, image: Any, num_classes: int | None = None) -> tuple[int, int]:
    """Parameters and MACs per example of the family's plain model at ``size`` (built on the meta device, cached)."""
    return _cached_count(family.name, json.dumps(getattr(family, "config", {}), sort_keys=True), size.key, image,
                         num_classes)


@functools.lru_cache(maxsize=4096)
def _cached_count(family: str, config: str, size: str, image: Any, num_classes: int | None) -> tuple[int, int]:
    """Counts are a function of these alone; `init` after `sizes` (or a second table) reuses them."""
    fam = get_family(family, json.loads(config) or None)
    with torch.device("meta"):
        model = fam.build(fam.parse_size(size), image, num_classes)
    return count_params(model), example_macs(fam, model, image)


def _latency(family, size, image: Any, num_classes: int | None, budget: Budget) -> float:
    with keep_rng():  # timm draws its init from the global RNG: leave the caller's as is
        model = family.build(size, image, num_classes)
    return latency_ms(model, example_input(family, image, budget.batch_size), budget.threads)


def ratio_depth(bank: TemplateBank, width: int, depths: Iterable[int]) -> int:
    """The grid depth nearest the bank's depth-to-width ratio at ``width`` (ties: the shallower)."""
    w0, d0 = bank.family.grid_point(bank.widest_size)
    return min(depths, key=lambda d: (abs(d - d0 * width / w0), d))


def choose(bank: TemplateBank, table: SizeTable, depths: Sequence[int] | None = None) -> Choice:
    """The widest size at the bank's depth-to-width ratio within the budget (sizes shaped like the
    bank's seed best; see benchmarks/NOTES.md "Picking a size for a budget"); if none at that ratio fits,
    the size that uses the most budget."""
    if not table.rows:
        why = "; ".join(f"width {w}: {r}" for w, r in list(table.refused.items())[:2])
        raise SizelessError(f"no size this bank can serve fits {table.budget.describe()}"
                            f"{f' (refused: {why})' if why else ''}; raise the budget or pass smaller --depths")
    family = bank.family
    depths = sorted(depths or family.default_depths)
    like = bank.widest_size
    w0, d0 = family.grid_point(like)
    on_ratio = [c for c in table.rows if family.grid_point(c.size)[1] == ratio_depth(bank, c.size.width, depths)]
    if on_ratio:
        best = max(on_ratio, key=lambda c: (c.size.width, c.params))
        reason = (f"the widest size at the bank's depth-to-width ratio ({like.key}: depth {d0} at width {w0}) "
                  f"within {table.budget.describe()}")
    else:
        best = table.rows[0]
        reason = (f"no size at the bank's depth-to-width ratio ({like.key}) fits {table.budget.describe()}; "
                  "this one uses the most of it")
    if best.size.width == table.widest:
        reason += f"; {table.widest} is the widest width listed (pass --widths to consider wider ones)"
    return Choice(best, reason, table.budget)
