"""The ConvNeXt family: timm's ConvNeXt (4 stages), sized by base width (``dims[0]``) and depths.

Its pointwise MLP is a Transformer MLP (``fc1``/``fc2`` as ``nn.Linear``), templated like a ViT's;
the depthwise 7x7 convolution is templated over its channels with the taps inside the template;
the layer scale ``gamma`` is a templated (or, with free vectors, carried-over) vector, because a
new model whose layer scales sit at timm's 1e-6 would silence every block of a good init.
"""

from __future__ import annotations

from ..errors import SizelessError, UnsupportedSize
from ..sizes import CNNSize
from .base import ImageSpec, Kind
from .cnn import STAGES, CNNFamily, CNNKinds, Dim, check_stages, check_stride
from .vit import check_width

ARCHITECTURE = "convnext_atto"  # a registered ConvNeXt: model_args override depths, dims and the rest
KERNEL = 7
MLP_RATIO = 4
LAYER_SCALE = 1e-6  # timm's ls_init_value: where pre-training starts the layer scales


class ConvNeXtFamily(CNNFamily):
    name, title = "convnext", "ConvNeXt"

    def default_patch_size(self, img_size: int) -> int:
        """4 (ConvNeXt's own) from 32 px; 1 below, so that 4 stages still fit a small image."""
        return 4 if img_size >= 32 else 1

    def model_args(self, size: CNNSize, image: ImageSpec, num_classes: int) -> tuple[str, dict]:
        check_stages(size, "ConvNeXt")
        if size.bottleneck:
            raise SizelessError(f"bad ConvNeXt size {size.key}: the 'b' (Bottleneck) suffix is for ResNet only")
        return ARCHITECTURE, dict(depths=list(size.depths), dims=list(size.channels), patch_size=image.patch_size,
                                  in_chans=image.in_chans, num_classes=num_classes, conv_mlp=False,
                                  ls_init_value=LAYER_SCALE)

    def build(self, size, image, num_classes):
        self.model_args(size, image, num_classes)  # validates the size
        strides = self._strides(image)
        check_stride(size, image, image.patch_size * strides[0] * 8, "ConvNeXt")
        return super().build(size, image, num_classes)

    @staticmethod
    def _strides(image: ImageSpec) -> list[int]:
        """timm's rule: stage 0 downsamples only after a stride-2 stem; later stages always do."""
        return [2 if image.patch_size == 2 else 1] + [2] * (STAGES - 1)

    def kinds(self, size: CNNSize, image: ImageSpec, template_width: int, template_mlp_ratio: float) -> list[Kind]:
        w = template_width
        check_width(size.width, w)
        self.model_args(size, image, 1)
        hidden_t = int(w * template_mlp_ratio)
        if (size.width * MLP_RATIO) % hidden_t:
            raise UnsupportedSize(f"ConvNeXt's MLP ratio is {MLP_RATIO}; the template MLP width {hidden_t} must "
                                  f"divide {MLP_RATIO} x {size.width}")
        out = CNNKinds(self.share_stages)
        chans, patch = image.in_chans, image.patch_size
        stem: Dim = (size.width, w)
        out.conv("stem.0.weight", ["stem.0.weight"], stem, (chans, chans), patch, 0.02)
        out.vector("stem.0.bias", ["stem.0.bias"], stem, "zeros")
        out.norm("stem.1", ["stem.1"], stem)
        previous = stem
        for s, (depth, stride) in enumerate(zip(size.depths, self._strides(image), strict=True)):
            where = dict(scope="stages.", stage=s)
            dim: Dim = (size.channels[s], w)  # every stage in units of w: stage s has 2**s times the scalers
            hidden: Dim = (dim[0] * MLP_RATIO, hidden_t)
            if stride > 1 or previous[0] != dim[0]:
                name = f"stages.{s}.downsample"
                out.norm(f"{name}.0", [f"{name}.0"], previous, part="downsample.0", **where)
                out.conv(f"{name}.1.weight", [f"{name}.1.weight"], dim, previous, 2, 0.02, part="downsample.1.weight",
                         **where)
                out.vector(f"{name}.1.bias", [f"{name}.1.bias"], dim, "zeros", part="downsample.1.bias", **where)
            blocks = [f"stages.{s}.blocks.{i}" for i in range(depth)]

            def paths(leaf: str, blocks=blocks) -> list[str]:
                return [f"{b}.{leaf}" for b in blocks]

            def name(leaf: str, s=s) -> str:
                return f"stages.{s}.blocks.*.{leaf}"

            # depthwise: one input channel per output channel, so the column factor is 1 at every width
            out.conv(name("conv_dw.weight"), paths("conv_dw.weight"), dim, (1, 1), KERNEL, 0.02, fan_in=False,
                     part="conv_dw.weight", **where)
            out.vector(name("conv_dw.bias"), paths("conv_dw.bias"), dim, "zeros", part="conv_dw.bias", **where)
            out.norm(name("norm"), paths("norm"), dim, part="norm", **where)
            for leaf, rows, cols in (("fc1", hidden, dim), ("fc2", dim, hidden)):
                out.add(name(f"mlp.{leaf}.weight"), paths(f"mlp.{leaf}.weight"), rows, cols, init=0.02, fan_in=True,
                        vector=False, part=f"mlp.{leaf}.weight", **where)
                out.vector(name(f"mlp.{leaf}.bias"), paths(f"mlp.{leaf}.bias"), rows, "zeros",
                           part=f"mlp.{leaf}.bias", **where)
            out.vector(name("gamma"), paths("gamma"), dim, "ones", fill=LAYER_SCALE, part="gamma", **where)
            previous = dim
        out.norm("head.norm", ["head.norm"], previous)
        return out.kinds
