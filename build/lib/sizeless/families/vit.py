"""The ViT family: timm's VisionTransformer, the only ViT definition in the project."""

from __future__ import annotations

import timm
import torch
from timm.layers import resample_abs_pos_embed, resample_patch_embed
from torch import Tensor, nn

from ..errors import SizelessError, UnsupportedSize
from ..sizes import ViTSize
from .base import ImageSpec, Kind, TimmClassifier, TransformerSizes

# Built through timm's registry so the model carries a pretrained_cfg; model_args override the rest.
ARCHITECTURE = "vit_tiny_patch16_224"


class ViTFamily(TransformerSizes, TimmClassifier):
    name, title, task = "vit", "ViT", "image-classification"
    objectives = ("supervised", "distill", "mae")
    custom_architectures = ()
    default_depths = range(2, 25)
    # eight templates per kind: at the standard CIFAR-10 budget two N = 8 banks were level with or ahead of N = 4 at
    # every target size, N = 16 behind N = 8 (benchmarks/NOTES.md, "Eight templates per kind"); DiT gained nothing
    num_templates = 8

    def describe_size(self, size: ViTSize) -> str:
        heads = f"{size.heads} head{'s' if size.heads > 1 else ''} of {size.width // size.heads}"
        return f"ViT, width {size.width}, depth {size.depth}, {heads}, MLP ratio {size.mlp_ratio:g}"

    def default_patch_size(self, img_size: int) -> int:
        """8x8 token grids for natural images (4px patches at 32x32); 2px patches for tiny inputs."""
        return 2 if img_size < 16 else max(1, img_size // 8)

    def model_args(self, size: ViTSize, image: ImageSpec, num_classes: int) -> tuple[str, dict]:
        args = dict(
            img_size=image.img_size,
            patch_size=image.patch_size,
            in_chans=image.in_chans,
            num_classes=num_classes,
            embed_dim=size.width,
            depth=size.depth,
            num_heads=size.heads,
            mlp_ratio=size.mlp_ratio,
        )
        return ARCHITECTURE, args

    def build(self, size: ViTSize, image: ImageSpec, num_classes: int) -> nn.Module:
        if image.img_size % image.patch_size:
            raise SizelessError(
                f"patch size {image.patch_size} does not divide image size {image.img_size}; "
                "pick --patch-size among the divisors of the image size"
            )
        arch, args = self.model_args(size, image, num_classes)
        # sizeless normalizes inputs with mean = std = 0.5 per channel; say so in the model's cfg
        overlay = dict(mean=(0.5,) * image.in_chans, std=(0.5,) * image.in_chans,
                       input_size=(image.in_chans, image.img_size, image.img_size))
        return timm.create_model(arch, pretrained=False, pretrained_cfg_overlay=overlay, **args)

    def encode_visible(self, model: nn.Module, images: Tensor, keep: Tensor) -> Tensor:
        """MAE's encoder: only the visible patches (``keep``: ``(B, n)`` patch indices) enter the
        blocks, class token first; ``(B, 1 + n, width)`` after the final norm."""
        x = model.patch_embed(images) + model.pos_embed[:, model.num_prefix_tokens:]
        x = torch.gather(x, 1, keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        cls = (model.cls_token + model.pos_embed[:, :1]).expand(len(x), -1, -1)
        return model.norm(model.blocks(model.norm_pre(torch.cat([cls, x], 1))))

    def adapt_to_image(self, kind_name: str, tensor: Tensor, old: ImageSpec, new: ImageSpec) -> Tensor:
        """Carry a kind's ``(B, rows, cols)`` stack (templates, or free parameters as 2-D views) to
        another input resolution or patch size: position embeddings (rows = tokens) are resampled
        over the patch grid, class token kept; patch-embedding kernels (cols = channels x p x p) are
        resampled to the new patch size with timm's pseudo-inverse resize (FlexiViT), so a patch of
        the new size sees what a patch of the old size saw in an image scaled by the same ratio."""
        if old == new:
            return tensor
        if kind_name == "pos_embed":
            batch, tokens, chans = tensor.shape
            folded = tensor.permute(1, 0, 2).reshape(1, tokens, batch * chans)
            grid = [new.img_size // new.patch_size] * 2
            out = resample_abs_pos_embed(folded, new_size=grid, old_size=[old.img_size // old.patch_size] * 2,
                                         num_prefix_tokens=1)
            return out.reshape(-1, batch, chans).permute(1, 0, 2).contiguous()
        if kind_name == "patch_embed.proj.weight" and old.patch_size != new.patch_size:
            batch, rows, _ = tensor.shape
            kernels = tensor.reshape(batch * rows, old.in_chans, old.patch_size, old.patch_size)
            out = resample_patch_embed(kernels.float(), [new.patch_size] * 2, verbose=False)
            return out.to(tensor.dtype).reshape(batch, rows, -1).contiguous()
        return tensor

    def adapt_model(self, model: nn.Module, size: ViTSize, old: ImageSpec, new: ImageSpec) -> nn.Module:
        """A plain model of ``size`` built for ``old`` inputs, carried to ``new`` ones (same channels):
        the same weights with position and patch embeddings resampled by :meth:`adapt_to_image`."""
        if old == new:
            return model
        if old.in_chans != new.in_chans:
            raise SizelessError(f"a model for {old.in_chans}-channel images cannot take {new.in_chans}-channel ones")
        num_classes = getattr(model, "num_classes", 0)
        with torch.device("meta"):
            plain = self.build(size, new, num_classes)
        state = dict(model.state_dict())
        for kind in self.kinds(size, old, size.width, size.mlp_ratio):
            if kind.name in ("pos_embed", "patch_embed.proj.weight"):
                name = kind.params[0]
                stack = self.adapt_to_image(kind.name, state[name].reshape(1, *kind.shape), old, new)
                state[name] = stack.reshape(plain.get_parameter(name).shape)
        plain.load_state_dict(state, strict=True, assign=True)
        return plain

    def kinds(self, size: ViTSize, image: ImageSpec, template_width: int, template_mlp_ratio: float) -> list[Kind]:
        w, width, depth = template_width, size.width, size.depth
        check_width(width, w)
        hidden_t = int(w * template_mlp_ratio)
        if size.mlp_hidden % hidden_t:
            raise UnsupportedSize(
                f"MLP hidden size {size.mlp_hidden} of size {size.key} is not a multiple of the template's "
                f"{hidden_t} (template width {w} x MLP ratio {template_mlp_ratio:g}); pick an MLP ratio r with "
                f"{width}*r a multiple of {hidden_t}"
            )
        hidden = size.mlp_hidden
        tokens = (image.img_size // image.patch_size) ** 2 + 1
        patch_in = image.in_chans * image.patch_size**2

        def block(name: str, shape, unit, init, fan_in=False, vector=True) -> Kind:
            params = tuple(f"blocks.{i}.{name}" for i in range(depth))
            param_shape = shape if not vector else (shape[0] * shape[1],)
            return Kind(f"blocks.*.{name}", params, param_shape, shape, unit, init, fan_in, vector)

        def glob(name: str, param_shape, shape, unit, init, fan_in=False) -> Kind:
            return Kind(name, (name,), param_shape, shape, unit, init, fan_in, True)

        return [
            block("attn.qkv.weight", (3 * width, width), (3 * w, w), 0.02, True, False),
            block("attn.proj.weight", (width, width), (w, w), 0.02, True, False),
            block("mlp.fc1.weight", (hidden, width), (hidden_t, w), 0.02, True, False),
            block("mlp.fc2.weight", (width, hidden), (w, hidden_t), 0.02, True, False),
            block("attn.qkv.bias", (3 * width, 1), (3 * w, 1), "zeros"),
            block("attn.proj.bias", (width, 1), (w, 1), "zeros"),
            block("mlp.fc1.bias", (hidden, 1), (hidden_t, 1), "zeros"),
            block("mlp.fc2.bias", (width, 1), (w, 1), "zeros"),
            block("norm1.weight", (width, 1), (w, 1), "ones"),
            block("norm1.bias", (width, 1), (w, 1), "zeros"),
            block("norm2.weight", (width, 1), (w, 1), "ones"),
            block("norm2.bias", (width, 1), (w, 1), "zeros"),
            glob("cls_token", (1, 1, width), (1, width), (1, w), 1e-6),
            glob("pos_embed", (1, tokens, width), (tokens, width), (tokens, w), 0.02),
            glob("patch_embed.proj.weight", (width, image.in_chans, image.patch_size, image.patch_size),
                 (width, patch_in), (w, patch_in), 0.02, True),
            glob("patch_embed.proj.bias", (width,), (width, 1), (w, 1), "zeros"),
            glob("norm.weight", (width,), (width, 1), (w, 1), "ones"),
            glob("norm.bias", (width,), (width, 1), (w, 1), "zeros"),
        ]


def check_width(width: int, template_width: int) -> None:
    if width % template_width:
        valid = ", ".join(str(template_width * k) for k in range(1, 9))
        raise UnsupportedSize(
            f"width {width} is not a multiple of the template width {template_width}; "
            f"valid widths: {valid}, ... (any multiple of {template_width})"
        )

