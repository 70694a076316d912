"""Masked autoencoding (SWEET's objective, DESIGN 2.3): learn templates without labels.

The encoder is the (templated or plain) ViT and sees only the visible patches; a small
unconstrained decoder fills in mask tokens and predicts the pixels of every patch; the loss is the
mean squared error on the masked patches only, against per-patch normalized pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from timm.models.vision_transformer import Block
from torch import Tensor, nn

from .errors import SizelessError
from .families import ImageSpec
from .training import seeded_generator

# encode(images, keep) -> (B, 1 + visible, width) tokens, class token first
Encoder = Callable[[Tensor, Tensor], Tensor]


@dataclass
class MAEConfig:
    """Masking and decoder settings (stored in the bank config)."""

    mask_ratio: float = 0.75
    decoder_width: int = 128
    decoder_depth: int = 2
    decoder_heads: int = 4
    norm_pix: bool = True  # targets are each patch's pixels normalized by its own mean and std

    def __post_init__(self) -> None:
        if not 0 < self.mask_ratio < 1:
            raise SizelessError(f"mask ratio must be between 0 and 1 (exclusive), not {self.mask_ratio}")
        if min(self.decoder_width, self.decoder_depth, self.decoder_heads) < 1 or \
                self.decoder_width % self.decoder_heads:
            raise SizelessError("the MAE decoder needs a positive width, depth and a head count dividing its width")


def random_masking(batch: int, tokens: int, ratio: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Per image, exactly ``round(tokens * ratio)`` masked patches: ``keep`` indices ``(B, visible)``
    and a ``(B, tokens)`` mask with 1 on masked patches."""
    masked = round(tokens * ratio)
    if not 0 < masked < tokens:
        raise SizelessError(f"mask ratio {ratio} leaves no masked or no visible patch among {tokens} patches; "
                            "pick a ratio that masks at least one patch and keeps at least one")
    order = torch.rand(batch, tokens, generator=generator).argsort(1)
    keep = order[:, : tokens - masked].sort(1).values
    mask = torch.ones(batch, tokens).scatter_(1, keep, 0.0)
    return keep, mask


def mask_generator(seed: int, step: int | None = None) -> torch.Generator:
    """The masks of training step ``step`` (replayed on resume); ``None``: the fixed validation masks."""
    return seeded_generator(seed, 31337, step) if step is not None else seeded_generator(seed, 4242)


def patchify(images: Tensor, patch: int) -> Tensor:
    return rearrange(images, "b c (h p) (w q) -> b (h w) (p q c)", p=patch, q=patch)


def unpatchify(patches: Tensor, patch: int, chans: int) -> Tensor:
    side = int(patches.shape[1] ** 0.5)
    return rearrange(patches, "b (h w) (p q c) -> b c (h p) (w q)", h=side, w=side, p=patch, q=patch, c=chans)


def normalize_patches(patches: Tensor, eps: float = 1e-6) -> tuple[Tensor, Tensor, Tensor]:
    mean, var = patches.mean(-1, keepdim=True), patches.var(-1, keepdim=True)
    std = (var + eps).sqrt()
    return (patches - mean) / std, mean, std


def masked_mse(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Per-image mean squared error over the masked patches only: ``(B,)``."""
    per_patch = (pred - target).pow(2).mean(-1)
    return (per_patch * mask).sum(1) / mask.sum(1)


class MAEDecoder(nn.Module):
    """Light Transformer decoder: visible tokens + mask tokens -> pixels of every patch.

    Its input projection is sized for the widest encoder and sliced for narrower ones, so one
    decoder serves every size and every stochastic width.
    """

    def __init__(self, max_width: int, image: ImageSpec, config: MAEConfig):
        super().__init__()
        width = config.decoder_width
        self.tokens = (image.img_size // image.patch_size) ** 2
        self.embed = nn.Linear(max_width, width)
        self.mask_token = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, self.tokens + 1, width) * 0.02)
        self.blocks = nn.Sequential(*[Block(width, config.decoder_heads, qkv_bias=True)
                                      for _ in range(config.decoder_depth)])
        self.norm = nn.LayerNorm(width)
        self.pred = nn.Linear(width, image.patch_size**2 * image.in_chans)

    def forward(self, encoded: Tensor, keep: Tensor) -> Tensor:
        x = F.linear(encoded, self.embed.weight[:, : encoded.shape[-1]], self.embed.bias)
        batch, width = len(x), x.shape[-1]
        full = self.mask_token.expand(batch, self.tokens, width)
        full = full.scatter(1, keep.unsqueeze(-1).expand(-1, -1, width), x[:, 1:])
        x = torch.cat([x[:, :1], full], 1) + self.pos_embed
        return self.pred(self.norm(self.blocks(x)))[:, 1:]


class MaskedAutoencoder(nn.Module):
    """The trainable part of the objective (the decoder) plus masking and targets.

    ``reconstruct(encode, images, generator)`` -> ``(pred, target, mask)``; the mask comes from the
    generator, so a step's masks are a function of (seed, step) and resuming replays them.
    """

    def __init__(self, max_width: int, image: ImageSpec, config: MAEConfig):
        super().__init__()
        self.config, self.image = config, image
        self.decoder = MAEDecoder(max_width, image, config)

    def reconstruct(self, encode: Encoder, images: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        keep, mask = random_masking(len(images), self.decoder.tokens, self.config.mask_ratio, generator)
        keep, mask = keep.to(images.device), mask.to(images.device)
        pred = self.decoder(encode(images, keep), keep)
        target = patchify(images, self.image.patch_size)
        if self.config.norm_pix:
            target = normalize_patches(target)[0]
        return pred, target, mask


class MAELoss:
    """Objective for the trainer: masked-patch MSE; reads no labels and reports no accuracy."""

    reports_accuracy = False

    def __call__(self, forward: Callable, images: Tensor, labels: Tensor,
                 indices: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        pred, target, mask = forward(images)
        return masked_mse(pred.float(), target, mask).mean(), {}

    def score(self, forward: Callable, images: Tensor, labels: Tensor) -> dict[str, float]:
        """Validation sums over a batch: reconstruction loss (the trainer divides by the count)."""
        pred, target, mask = forward(images)
        return {"loss": masked_mse(pred.float(), target, mask).sum().item()}


@torch.no_grad()
def save_reconstructions(path: str | Path, mae: MaskedAutoencoder, encode: Encoder, images: Tensor,
                         mean, std, seed: int = 0) -> None:
    """A PNG grid: inputs, what the encoder saw (masked patches grey), reconstructions (visible
    patches pasted back, as in MAE's figures)."""
    from .plotting import plt, save_figure

    patch, chans = mae.image.patch_size, mae.image.in_chans
    pred, _, mask = mae.reconstruct(encode, images, torch.Generator().manual_seed(seed))
    patches = patchify(images, patch)
    if mae.config.norm_pix:  # back to pixels with each patch's true statistics
        _, p_mean, p_std = normalize_patches(patches)
        pred = pred * p_std + p_mean
    keep = (1 - mask).unsqueeze(-1)
    mean = torch.tensor(mean, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(std, device=images.device).view(1, -1, 1, 1)
    grey = (0.5 - mean) / std

    def pixels(x: Tensor) -> Tensor:
        return (x * std + mean).clamp(0, 1).permute(0, 2, 3, 1).cpu().float()

    grey_patches = patchify(grey.expand_as(images), patch)
    rows = {
        "input": pixels(images),
        "masked": pixels(unpatchify(patches * keep + grey_patches * (1 - keep), patch, chans)),
        "reconstruction": pixels(unpatchify(patches * keep + pred * (1 - keep), patch, chans)),
    }
    count = len(images)
    fig, axes = plt.subplots(3, count, figsize=(1.3 * count, 4.2), squeeze=False)
    for r, (title, batch) in enumerate(rows.items()):
        for c in range(count):
            ax = axes[r][c]
            ax.imshow(batch[c].squeeze(-1).numpy(), cmap="gray" if chans == 1 else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(title)
    fig.suptitle(f"masked autoencoding, mask ratio {mae.config.mask_ratio:g}")
    save_figure(fig, path)
