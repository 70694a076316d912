"""What the CNN families share: sizes, stage-wise template sharing, and their kinds as conv stacks."""

from __future__ import annotations

import timm
from torch import Tensor, nn

from ..errors import SizelessError
from ..sizes import CNNSize
from .base import ImageSpec, Kind, TimmClassifier

Dim = tuple[int, int]  # (channels at the target size, channels at the template width)


class CNNKinds:
    """Collects a CNN's kinds. Template keys name the stage (one template set per stage) or not
    (``share_stages``: stages of doubling width share a set and differ only by their scalers);
    kinds whose template shapes differ never share a set."""

    def __init__(self, share_stages: bool):
        self.share_stages = share_stages
        self.kinds: list[Kind] = []
        self._shapes: dict[str, tuple] = {}

    def _key(self, scope: str, stage: int | None, suffix: str, shape: tuple) -> str:
        key = suffix
        if stage is not None:
            key = f"{scope}*.{suffix}" if self.share_stages else f"{scope}{stage}.{suffix}"
        known = self._shapes.setdefault(key, shape)
        if known != shape:
            key = f"{key}@{'x'.join(map(str, shape))}"
            self._shapes.setdefault(key, shape)
        return key

    def add(self, name: str, params: list[str], rows: Dim, cols: Dim, *, spatial: tuple[int, ...] = (),
            init: str | float, fan_in: bool, vector: bool, part: str | None = None, scope: str = "",
            stage: int | None = None, fill: float = 1.0) -> None:
        """``part`` is the parameter's path inside its block (the template key without the stage)."""
        if not params:
            return
        key = self._key(scope, stage, part or name, (rows[1], cols[1], *spatial))
        param_shape = (rows[0], cols[0], *spatial) if not vector else (rows[0],)
        self.kinds.append(Kind(name, tuple(params), param_shape, (rows[0], cols[0]), (rows[1], cols[1]), init,
                               fan_in, vector, spatial=spatial, template=key, fill=fill))

    def conv(self, name: str, params: list[str], rows: Dim, cols: Dim, kernel: int, init: float, *,
             fan_in: bool = True, **where) -> None:
        self.add(name, params, rows, cols, spatial=(kernel, kernel), init=init, fan_in=fan_in, vector=False, **where)

    def vector(self, name: str, params: list[str], rows: Dim, init: str, fill: float = 1.0, **where) -> None:
        self.add(name, params, rows, (1, 1), init=init, fan_in=False, vector=True, fill=fill, **where)

    def norm(self, prefix: str, params: list[str], rows: Dim, weight: str = "ones", part: str | None = None,
             **where) -> None:
        """A norm layer's weight and bias (``params`` and ``part`` are module paths)."""
        for leaf, init in (("weight", weight), ("bias", "zeros")):
            self.vector(f"{prefix}.{leaf}", [f"{p}.{leaf}" for p in params], rows, init,
                        part=f"{part}.{leaf}" if part else None, **where)


class CNNFamily(TimmClassifier):
    """Sizes, options and plain-model building common to ResNet and ConvNeXt."""

    name, title, task = "cnn", "CNN", "image-classification"
    custom_architectures: tuple[str, ...] = ()
    default_depths = range(1, 9)  # blocks per stage

    # one template set per stage by default: on CIFAR-10 it beat a shared set by 1-5 points at every size
    # (benchmarks/bench-init-cifar10-*-per-stage)
    def __init__(self, share_stages: bool = False):
        self.share_stages = share_stages

    @property
    def config(self) -> dict:
        """Family options stored in a bank: they decide which kinds share templates."""
        return {"share_stages": self.share_stages}

    def configured(self, share_stages: bool = False) -> CNNFamily:
        return type(self)(share_stages=share_stages)

    def parse_size(self, spec: str | CNNSize) -> CNNSize:
        return CNNSize.parse(spec)

    def grid_size(self, like: CNNSize, width: int, depth: int) -> CNNSize:
        """Base width ``width`` and ``depth`` blocks in each of ``like``'s stages, with its block type."""
        return CNNSize(width, (depth,) * like.stages, like.bottleneck)

    def grid_point(self, size: CNNSize) -> tuple[int, int]:
        return size.width, round(size.depth / size.stages)

    def describe_size(self, size: CNNSize) -> str:
        return (f"{self.title}, stage widths {'/'.join(map(str, size.channels))}, blocks per stage "
                f"{'-'.join(map(str, size.depths))}")

    def adapt_to_image(self, kind_name: str, tensor: Tensor, old: ImageSpec, new: ImageSpec) -> Tensor:
        """Convolutions do not depend on the input resolution: nothing to adapt."""
        return tensor

    def model_args(self, size: CNNSize, image: ImageSpec, num_classes: int) -> tuple[str, dict]:
        raise NotImplementedError

    def build(self, size: CNNSize, image: ImageSpec, num_classes: int) -> nn.Module:
        arch, args = self.model_args(size, image, num_classes)
        # sizeless normalizes inputs with mean = std = 0.5 per channel; say so in the model's cfg
        overlay = dict(mean=(0.5,) * image.in_chans, std=(0.5,) * image.in_chans,
                       input_size=(image.in_chans, image.img_size, image.img_size))
        return timm.create_model(arch, pretrained=False, pretrained_cfg_overlay=overlay, **args)


STAGES = 4  # timm's ResNet and ConvNeXt both build exactly 4 stages


def check_stages(size: CNNSize, family: str) -> None:
    if size.stages != STAGES:
        raise SizelessError(f"bad {family} size {size.key}: timm's {family} has exactly {STAGES} stages; give "
                            f"{STAGES} block counts, e.g. {size.width}x2-2-2-2")


def check_stride(size: CNNSize, image: ImageSpec, reduction: int, family: str) -> None:
    """Refuse sizes whose stages would shrink the feature map below one pixel."""
    if image.img_size // reduction < 1:
        raise SizelessError(
            f"{family} {size.key} reduces {image.img_size}px inputs {reduction}x (stem and {size.stages} stages): "
            f"use a smaller --patch-size or a larger --image-size"
        )
