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

    @classmethod
    def shaped_like(cls, like: ViTSize, width: int, depth: int) -> ViTSize:
        """``like``'s MLP ratio, and the head count that divides ``width`` with the head dim nearest ``like``'s
        (the grid `sizeless sizes` lists for attention families)."""
        head_dim = like.width / like.heads
        heads = min((h for h in range(1, width + 1) if width % h == 0), key=lambda h: (abs(width / h - head_dim), h))
        size = cls(width, depth, heads, like.mlp_ratio)
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

    def with_depth(self, depth: int) -> ViTSize:
        """The same size at another depth (depth-wise stochastic scaling)."""
        if depth < 1:
            raise SizelessError(f"depth {depth} cannot run size {self.key}: depths must be positive")
        return ViTSize(self.width, depth, self.heads, self.mlp_ratio)

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


_CNN_SIZE = re.compile(r"^(\d+)x(\d+(?:-\d+)*)(b?)$")


@dataclass(frozen=True)
class CNNSize:
    """Base width (channels of the first stage; every next stage doubles it) and blocks per stage.

    Spelled ``WIDTHxB1-B2-...-BS[b]``, e.g. ``32x2-2-2-2`` (4 stages of 32, 64, 128, 256 channels, 2
    blocks each); a trailing ``b`` asks for ResNet's Bottleneck block (4x expansion).
    """

    width: int
    depths: tuple[int, ...]
    bottleneck: bool = False

    @classmethod
    def parse(cls, spec: str | CNNSize) -> CNNSize:
        if isinstance(spec, CNNSize):
            return spec
        match = _CNN_SIZE.match(str(spec).strip().lower())
        if not match:
            raise SizelessError(
                f"bad size {spec!r}: expected WIDTHxBLOCKS-PER-STAGE, e.g. 32x2-2-2-2 (base width 32, 4 stages of "
                "2 blocks; stage widths double) or 32x3-4-6-3b (ResNet Bottleneck blocks)"
            )
        size = cls(int(match[1]), tuple(int(d) for d in match[2].split("-")), bool(match[3]))
        if size.width < 1 or min(size.depths) < 1:
            raise SizelessError(f"bad size {spec!r}: the width and every stage's block count must be positive")
        return size

    @property
    def stages(self) -> int:
        return len(self.depths)

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(self.width * 2**s for s in range(self.stages))

    @property
    def depth(self) -> int:
        """Blocks in all (how the bank picks the pre-trained size nearest in depth)."""
        return sum(self.depths)

    @property
    def key(self) -> str:
        return f"{self.width}x{'-'.join(map(str, self.depths))}{'b' if self.bottleneck else ''}"

    def __str__(self) -> str:
        return self.key
