"""Stochastic size scaling during pre-training: which width and depth each step runs at.

SWEET's width-wise stochastic scaling (DESIGN 2.2), extended: a step may also run at another depth.
A sub-size's scalers are the bank size's resized by the constraint's own seeding rule (leading
layers for a shallower depth; leading slices for a narrower width, interpolation for a wider
Kronecker width), differentiably, so pre-training trains exactly what initializing that size will later compose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from .errors import SizelessError
from .objectives import soft_kl
from .training import seeded_generator

DISTRIBUTIONS = ("uniform", "sandwich", "paired")
# paired: the drawn size's distillation weight. 0.25 beat 1.0 on digits at both ends: 32x4 73.7% vs 68.7% at init,
# the own size 86.0% vs 81.3% (benchmarks/digits-probes/report.md)
PAIRED_WEIGHT = 0.25


def parse_values(spec: str, what: str) -> tuple[int, ...]:
    """``64,96,128`` (a list) or ``64:128:16`` (a range, both ends included)."""
    try:
        if ":" in spec:
            start, stop, step = (int(v) for v in spec.split(":"))
            if step < 1 or stop < start:
                raise ValueError
            return tuple(range(start, stop + 1, step))
        return tuple(int(v) for v in spec.split(","))
    except ValueError:
        raise SizelessError(f"bad {what} sampling {spec!r}: expected a list like 64,96,128 or a range "
                            "START:STOP:STEP like 64:128:32") from None


@dataclass
class SizeSampling:
    """Widths and depths to draw from (empty: the size's own), and how.

    ``uniform``: every value equally often. ``sandwich`` (slimmable networks' rule, one size per
    step): the largest and the smallest width (and depth) each take a third of the steps, the rest
    is uniform, so the extremes that bound the template's range are never starved. ``paired``
    (slimmable networks' in-place distillation): every step trains the bank's own size on the
    objective *and* one uniformly drawn size, which learns from the own size's predictions, so the
    own size loses no steps to sampling (the drawn sizes' FLOPs are added to the step's).
    """

    widths: tuple[int, ...] = ()
    distribution: str = "uniform"
    depths: tuple[int, ...] = ()
    paired_weight: float = PAIRED_WEIGHT  # paired only

    def __post_init__(self) -> None:
        self.widths = tuple(sorted({int(w) for w in self.widths}))
        self.depths = tuple(sorted({int(d) for d in self.depths}))
        if not self.widths and not self.depths:
            raise SizelessError("size sampling needs at least one width or depth")
        if min(self.widths + self.depths) < 1:
            raise SizelessError("sampled widths and depths must be positive")
        if not self.paired_weight >= 0:
            raise SizelessError(f"the paired distillation weight must be >= 0, not {self.paired_weight}")
        if self.distribution not in DISTRIBUTIONS:
            raise SizelessError(f"unknown width distribution {self.distribution!r}; choose {', '.join(DISTRIBUTIONS)}")

    @classmethod
    def parse(cls, widths: str | None, distribution: str = "uniform", depths: str | None = None,
              paired_weight: float = PAIRED_WEIGHT) -> SizeSampling:
        return cls(parse_values(widths, "width") if widths else (), distribution,
                   parse_values(depths, "depth") if depths else (), paired_weight)

    @classmethod
    def optional(cls, widths: Sequence[int] | None, distribution: str | None = None,
                 depths: Sequence[int] | None = None) -> SizeSampling | None:
        """A bench's ``--bank-widths/--bank-depths``: None when neither is given (the bank trains its own size)."""
        if not widths and not depths:
            return None
        return cls(tuple(widths or ()), distribution or "uniform", tuple(depths or ()))

    @property
    def paired(self) -> bool:
        return self.distribution == "paired"

    def _draw(self, values: tuple[int, ...], step: int, generator: torch.Generator) -> int | None:
        if not values:
            return None
        if self.distribution == "sandwich" and step % 3 < 2:
            return values[-1] if step % 3 == 0 else values[0]
        return values[int(torch.randint(len(values), (1,), generator=generator))]

    def draw(self, step: int, generator: torch.Generator) -> tuple[int | None, int | None]:
        """The (width, depth) of a step; None: the size's own."""
        return self._draw(self.widths, step, generator), self._draw(self.depths, step, generator)

    def validation_sizes(self) -> list[tuple[int | None, int | None]]:
        """The sizes reported after every epoch: each width at the own depth and each depth at the own width
        (the narrowest, middle and widest when there are more than four)."""
        def few(values: tuple[int, ...]) -> tuple[int, ...]:
            return values if len(values) <= 4 else (values[0], values[len(values) // 2], values[-1])

        return [(None, None)] + [(w, None) for w in few(self.widths)] + [(None, d) for d in few(self.depths)]

    def to_dict(self) -> dict:
        record = asdict(self) | {"widths": list(self.widths), "depths": list(self.depths)}
        if not self.paired:
            del record["paired_weight"]
        return record


Draw = tuple[str, "int | None", "int | None"]  # (size key, width or None, depth or None)


def sub_size(size, width: int | None = None, depth: int | None = None):
    """``size`` run at ``width`` and ``depth`` (each None: its own); Transformer sizes only."""
    if width in (None, size.width) and depth in (None, size.depth):
        return size
    return size.with_width(width or size.width).with_depth(depth or size.depth)


def size_draws(keys: Sequence[str], sampling: SizeSampling | None, seed: int) -> Callable[[int], Draw]:
    """What pre-training step ``step`` runs: one of the bank's sizes, at a sampled width and depth.

    A function of (seed, step) only, so a resumed run replays it and compute can be counted ahead.
    """

    def draw(step: int) -> Draw:
        key = keys[int(torch.randint(len(keys), (1,), generator=seeded_generator(seed, 104729, step)))]
        width, depth = sampling.draw(step, seeded_generator(seed, 15485863, step)) if sampling else (None, None)
        return key, width, depth

    return draw


class PairedForward:
    """A step's forward at the bank's own size that also carries the drawn size's (``paired`` sampling)."""

    def __init__(self, own: Callable, drawn: Callable):
        self.own, self.drawn = own, drawn

    def __call__(self, x, **inputs):
        return self.own(x, **inputs)


class InplaceDistillation:
    """Wraps a classification objective: the own size's loss plus ``weight * KL(own || drawn)`` on the drawn size.

    The own size's logits are detached targets (temperature 1, as in slimmable networks and BigNAS), so
    the drawn size follows the full model and never pulls it; labels only reach the own size.
    """

    def __init__(self, objective: Callable, weight: float = 1.0):
        self.objective, self.weight = objective, weight
        self.reports_accuracy = getattr(objective, "reports_accuracy", True)

    def __call__(self, forward: PairedForward, x: Tensor, y: Tensor, indices: Tensor | None = None):
        seen: list[Tensor] = []

        def own(images, **inputs):
            seen.append(forward.own(images, **inputs))
            return seen[-1]

        loss, stats = self.objective(own, x, y, indices=indices)
        return loss + self.weight * soft_kl(forward.drawn(x), seen[-1].detach()), stats
