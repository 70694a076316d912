"""Width-wise stochastic scaling (SWEET, DESIGN 2.2): which width each pre-training step runs at."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .errors import SizelessError

DISTRIBUTIONS = ("uniform", "sandwich")


@dataclass
class WidthSampling:
    """Widths to draw from, and how.

    ``uniform``: every width equally often. ``sandwich`` (slimmable networks' rule, one width per
    step): the widest and the narrowest width each take a third of the steps, the rest is uniform,
    so the extremes that bound the template's range are never starved.
    """

    widths: tuple[int, ...]
    distribution: str = "uniform"

    def __post_init__(self) -> None:
        self.widths = tuple(sorted(set(int(w) for w in self.widths)))
        if not self.widths or self.widths[0] < 1:
            raise SizelessError("width sampling needs at least one positive width")
        if self.distribution not in DISTRIBUTIONS:
            raise SizelessError(f"unknown width distribution {self.distribution!r}; choose {', '.join(DISTRIBUTIONS)}")

    @classmethod
    def parse(cls, spec: str, distribution: str = "uniform") -> WidthSampling:
        """``64,96,128`` (a list) or ``64:128:16`` (a range, both ends included)."""
        try:
            if ":" in spec:
                start, stop, step = (int(v) for v in spec.split(":"))
                if step < 1 or stop < start:
                    raise ValueError
                widths = range(start, stop + 1, step)
            else:
                widths = [int(v) for v in spec.split(",")]
        except ValueError:
            raise SizelessError(f"bad width sampling {spec!r}: expected a list like 64,96,128 or a range "
                                "START:STOP:STEP like 64:128:32") from None
        return cls(tuple(widths), distribution)

    def draw(self, step: int, generator: torch.Generator) -> int:
        if self.distribution == "sandwich" and step % 3 < 2:
            return self.widths[-1] if step % 3 == 0 else self.widths[0]
        return self.widths[int(torch.randint(len(self.widths), (1,), generator=generator))]

    def validation_widths(self) -> tuple[int, ...]:
        """The widths reported after every epoch: all of them, or the narrowest, middle and widest."""
        w = self.widths
        return w if len(w) <= 4 else (w[0], w[len(w) // 2], w[-1])

    def to_dict(self) -> dict:
        return asdict(self) | {"widths": list(self.widths)}
