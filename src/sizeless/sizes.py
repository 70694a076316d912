"""Size specs: how a user names a model size on the command line and in the API."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import SizelessError

DEFAULT_HEAD_DIM = 32
_VIT_SIZE = re.compile(r"^(\d+)x(\d+)(?:h(\d+))?(?:m(\d+(?:\.\d+)?))?$")


@dataclass(frozen=True)
class ViTSize:
    """Width (embedding dim), depth (blocks), attention heads and MLP ratio of a ViT.

    Spelled ``WIDTHxDEPTH[hHEADS][mMLP]``, e.g. ``128x6``, ``128x6h2``, ``96x8m2``. Heads default
    to ``width / 32`` (at least 1).
    """

    width: int
    depth: int
    heads: int
    mlp_ratio: float = 4.0

    @classmethod
    def parse(cls, spec: str | ViTSize, head_dim: int = DEFAULT_HEAD_DIM) -> ViTSize:
        if isinstance(spec, ViTSize):
            return spec
        match = _VIT_SIZE.match(str(spec).strip().lower())
        if not match:
            raise SizelessError(
                f"bad size {spec!r}: expected WIDTHxDEPTH[hHEADS][mMLP_RATIO], e.g. 128x6, 128x6h4 or 96x8m2"
            )
        width, depth = int(match[1]), int(match[2])
        heads = int(match[3]) if match[3] else max(1, width // head_dim)
        mlp_ratio = float(match[4]) if match[4] else 4.0
        size = cls(width, depth, heads, mlp_ratio)
        size.validate()
        return size

    def validate(self) -> None:
        if self.width < 1 or self.depth < 1 or self.heads < 1 or self.mlp_ratio <= 0:
            raise SizelessError(f"bad size {self.key}: width, depth, heads and MLP ratio must be positive")
        if self.width % self.heads:
            valid = [h for h in range(1, self.width + 1) if self.width % h == 0]
            raise SizelessError(
                f"bad size {self.key}: {self.heads} heads do not divide width {self.width}; "
                f"valid head counts: {', '.join(map(str, valid))}"
            )
        if (self.width * self.mlp_ratio) % 1:
            raise SizelessError(f"bad size {self.key}: width x MLP ratio must be a whole number")

    def with_width(self, width: int) -> ViTSize:
        """The same size at another width with the same head dim (width-wise stochastic scaling)."""
        head_dim = self.width // self.heads
        if width < 1 or width % head_dim:
            raise SizelessError(
                f"width {width} cannot run size {self.key}: heads keep its head dim {head_dim}, so sampled widths "
                f"must be multiples of {head_dim}"
            )
        return ViTSize(width, self.depth, width // head_dim, self.mlp_ratio)

    @property
    def mlp_hidden(self) -> int:
        return int(self.width * self.mlp_ratio)

    @property
    def key(self) -> str:
        """Canonical spelling; used as a dict key and in file names."""
        mlp = "" if self.mlp_ratio == 4.0 else f"m{self.mlp_ratio!r}".removesuffix(".0")
        return f"{self.width}x{self.depth}h{self.heads}{mlp}"

    def __str__(self) -> str:
        return self.key
