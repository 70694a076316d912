"""The ResNet family: timm's ResNet (BasicBlock or Bottleneck), sized by base width and blocks per stage.

Two stems, picked by the input reduction (``ImageSpec.patch_size``): ``4`` is timm's ImageNet stem
(7x7 stride-2 conv to 64 channels and a max-pool; the model is a plain ``resnet18``/``resnet50``
with overridden stages), ``1`` a small-image stem for 32x32 inputs (one 3x3 stride-1 conv to the
first stage's width, no max-pool), registered in timm as ``sizeless_resnet`` when sizeless is
imported. The ImageNet stem throws away most of a 32x32 image: 8x8 features before the first stage.
"""

from __future__ import annotations

from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

from ..errors import SizelessError
from ..sizes import CNNSize
from .base import ImageSpec, Kind
from .cnn import CNNFamily, CNNKinds, Dim, check_stages, check_stride
from .vit import check_width

SMALL_STEM, IMAGENET_STEM = 1, 4  # input reduction of the stem, given as --patch-size
SMALL_STEM_ARCH = "sizeless_resnet"
BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}
IMAGENET_STEM_WIDTH = 64  # timm's single-conv stem always has 64 channels


class SmallStemResNet(ResNet):
    """timm's ResNet with a stem for small images: 3x3 stride-1 conv to ``channels[0]``, no max-pool."""

    def __init__(self, block: str = "basic", channels: tuple[int, ...] = (64, 128, 256, 512), in_chans: int = 3,
                 **kwargs):
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {list(BLOCKS)}, not {block!r}")
        # timm's deep stem is the only one whose width follows an argument (2 * stem_width): it gives
        # the first stage the right input width; its convolutions are then replaced by a single one.
        super().__init__(block=BLOCKS[block], channels=channels, in_chans=in_chans, stem_type="deep",
                         stem_width=channels[0] // 2, **kwargs)
        self.conv1 = nn.Conv2d(in_chans, channels[0], kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.maxpool = nn.Identity()
        self.feature_info[0]["reduction"] = 1


default_cfgs = generate_default_cfgs({
    f"{SMALL_STEM_ARCH}.untrained": {
        "url": "", "num_classes": 1000, "input_size": (3, 32, 32), "pool_size": (4, 4), "crop_pct": 1.0,
        "interpolation": "bilinear", "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "first_conv": "conv1",
        "classifier": "fc",
    },
})


@register_model
def sizeless_resnet(pretrained: bool = False, **kwargs) -> SmallStemResNet:
    """timm's ResNet with sizeless's small-image stem (see :class:`SmallStemResNet`)."""
    return build_model_with_cfg(SmallStemResNet, SMALL_STEM_ARCH, pretrained, **kwargs)


class ResNetFamily(CNNFamily):
    name, title = "resnet", "ResNet"
    custom_architectures = (SMALL_STEM_ARCH,)

    def describe_size(self, size: CNNSize) -> str:
        return f"{super().describe_size(size)}, {'Bottleneck' if size.bottleneck else 'BasicBlock'} blocks"

    def default_patch_size(self, img_size: int) -> int:
        return SMALL_STEM if img_size <= 64 else IMAGENET_STEM

    def _small_stem(self, image: ImageSpec) -> bool:
        if image.patch_size not in (SMALL_STEM, IMAGENET_STEM):
            raise SizelessError(
                f"ResNet stems reduce the input {SMALL_STEM}x (small-image stem, 3x3 stride 1) or {IMAGENET_STEM}x "
                f"(ImageNet stem, 7x7 stride 2 + max-pool); --patch-size {image.patch_size} is neither"
            )
        return image.patch_size == SMALL_STEM

    def model_args(self, size: CNNSize, image: ImageSpec, num_classes: int) -> tuple[str, dict]:
        check_stages(size, "ResNet")
        args = dict(layers=list(size.depths), channels=list(size.channels), in_chans=image.in_chans,
                    num_classes=num_classes)
        if self._small_stem(image):
            return SMALL_STEM_ARCH, {**args, "block": "bottleneck" if size.bottleneck else "basic"}
        return ("resnet50" if size.bottleneck else "resnet18"), args

    def _check_stem(self, size: CNNSize, image: ImageSpec) -> None:
        if size.width % 2 and self._small_stem(image):
            raise SizelessError(f"the small-image ResNet stem needs an even base width, not {size.width}")

    def build(self, size: CNNSize, image: ImageSpec, num_classes: int) -> nn.Module:
        self._check_stem(size, image)
        check_stride(size, image, image.patch_size * 8, "ResNet")
        return super().build(size, image, num_classes)

    def kinds(self, size: CNNSize, image: ImageSpec, template_width: int, template_mlp_ratio: float) -> list[Kind]:
        """Stem, then per stage the first block (stride, downsample) and the others, each a stack."""
        w = template_width
        check_width(size.width, w)
        check_stages(size, "ResNet")
        self._check_stem(size, image)
        expansion = 4 if size.bottleneck else 1
        out = CNNKinds(self.share_stages)
        chans = image.in_chans
        stem: Dim = (size.width, w) if self._small_stem(image) else (IMAGENET_STEM_WIDTH, IMAGENET_STEM_WIDTH)
        kernel = 3 if self._small_stem(image) else 7
        out.conv("conv1.weight", ["conv1.weight"], stem, (chans, chans), kernel, he_std(stem[0], kernel))
        out.norm("bn1", ["bn1"], stem)
        inplanes, net_stride = stem, 4  # timm counts the stem as stride 4 whichever stem it is
        for s, blocks in enumerate(size.depths):
            planes: Dim = (size.channels[s], w)  # every stage in units of w: stage s has 2**s times the scalers
            width_out: Dim = (planes[0] * expansion, planes[1] * expansion)
            stride = 1
            if s > 0 and net_stride < 32:
                stride, net_stride = 2, net_stride * 2
            for group, first in (("0", True), ("*", False)):
                index = [0] if first else list(range(1, blocks))
                inp = inplanes if first else width_out
                self._block(out, s, group, index, inp, planes, width_out, size.bottleneck)
                if first and (stride != 1 or inp[0] != width_out[0]):
                    where = dict(scope="layer", stage=s + 1)
                    name = f"layer{s + 1}.0.downsample"
                    out.conv(f"{name}.0.weight", [f"{name}.0.weight"], width_out, inp, 1, he_std(width_out[0], 1),
                             part="downsample.0.weight", **where)
                    out.norm(f"{name}.1", [f"{name}.1"], width_out, part="downsample.1", **where)
            inplanes = width_out
        return out.kinds

    @staticmethod
    def _block(out: CNNKinds, s: int, group: str, index: list[int], inp: Dim, planes: Dim, width_out: Dim,
               bottleneck: bool) -> None:
        where = dict(scope="layer", stage=s + 1)

        def paths(leaf: str) -> list[str]:
            return [f"layer{s + 1}.{i}.{leaf}" for i in index]

        def conv(leaf: str, rows: Dim, cols: Dim, kernel: int) -> None:
            out.conv(f"layer{s + 1}.{group}.{leaf}.weight", paths(f"{leaf}.weight"), rows, cols, kernel,
                     he_std(rows[0], kernel), part=f"{leaf}.weight", **where)

        def norm(leaf: str, rows: Dim) -> None:
            # timm zero-initializes the last norm of each residual branch; a zero template would leave its
            # scalers without gradient, which slowed pre-training on digits (39% vs 67% after 3 epochs): ones
            out.norm(f"layer{s + 1}.{group}.{leaf}", paths(leaf), rows, part=leaf, **where)

        if bottleneck:
            conv("conv1", planes, inp, 1)
            norm("bn1", planes)
            conv("conv2", planes, planes, 3)
            norm("bn2", planes)
            conv("conv3", width_out, planes, 1)
            norm("bn3", width_out)
        else:
            conv("conv1", planes, inp, 3)
            norm("bn1", planes)
            conv("conv2", planes, planes, 3)
            norm("bn2", planes)


def he_std(fan_out_channels: int, kernel: int) -> float:
    """timm's ResNet init (Kaiming normal, fan-out, ReLU) at the size the templates are created for."""
    return (2.0 / (fan_out_channels * kernel * kernel)) ** 0.5
