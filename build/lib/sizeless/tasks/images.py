"""Image reading and geometry shared by the dense tasks: decode, resize, crop, flip, normalize."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import IMAGE_EXTENSIONS, fixed_permutation, fixed_subset
from ..errors import SizelessError

GREY = 127.5  # padding value for images: 0 after normalization with mean = std = 0.5


def read_rgb(path: Path) -> Tensor:
    """An image file as a uint8 ``(3, H, W)`` tensor (grey and palette images are converted to RGB)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1).contiguous()
    except (UnidentifiedImageError, OSError) as err:
        raise SizelessError(f"{path}: not a readable image ({err})") from None


def image_files(folder: Path) -> dict[str, Path]:
    """Images of a folder by file stem (``0001TP_006690`` -> ``0001TP_006690.jpg``)."""
    return {f.stem: f for f in sorted(folder.iterdir()) if f.suffix.lower() in IMAGE_EXTENSIONS}


def resize(image: Tensor, height: int, width: int, *, nearest: bool = False) -> Tensor:
    """A ``(C, H, W)`` or ``(H, W)`` tensor at another size: bilinear (antialiased when shrinking) for
    images, nearest for label maps; the dtype is kept."""
    if tuple(image.shape[-2:]) == (height, width):
        return image
    x = image.float()[None] if image.ndim == 3 else image.float()[None, None]
    if nearest:
        out = F.interpolate(x, size=(height, width), mode="nearest-exact")
    else:
        shrink = height < image.shape[-2] or width < image.shape[-1]
        out = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=shrink)
    out = out[0] if image.ndim == 3 else out[0, 0]
    if image.dtype == torch.uint8:
        out = out.round().clamp(0, 255)
    return out.to(image.dtype)


def short_side_size(height: int, width: int, side: int) -> tuple[int, int]:
    """(height, width) with the shorter side at ``side``, aspect kept."""
    scale = side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def normalize(images: Tensor, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)) -> Tensor:
    """uint8 ``(B, C, H, W)`` -> float, per-channel normalized (sizeless's 0.5 / 0.5 convention)."""
    x = images.float() / 255.0
    chans = x.shape[1]
    m = torch.tensor(mean[:chans], device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std[:chans], device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def randint(generator: torch.Generator, high: int) -> int:
    """A uniform integer in ``[0, high]``."""
    return int(torch.randint(0, high + 1, (), generator=generator))


def window_starts(length: int, window: int, overlap: float = 1 / 3) -> list[int]:
    """Start offsets of windows of ``window`` pixels that cover ``length`` (evenly spread, overlapping by
    at least ``overlap``); one window when it already covers the length."""
    if length <= window:
        return [0]
    stride = max(1, int(window * (1 - overlap)))
    count = math.ceil((length - window) / stride) + 1
    return [round(i * (length - window) / (count - 1)) for i in range(count)]


def holdout(total: int, fraction: float) -> tuple[Tensor, Tensor]:
    """(kept, held-out) indices: a fixed ``fraction`` held out for validation."""
    return carve(total, max(1, round(total * fraction)))


def carve(total: int, count: int) -> tuple[Tensor, Tensor]:
    """(kept, held-out) indices: a fixed ``count`` held out (the same images as ``holdout`` picks first)."""
    order = fixed_permutation(total)
    return order[count:], order[:count]


def arrange_splits(train, val, test, config, name: str):
    """(train, val, test) as ``config`` asks: with ``holdout``, that many training images become the validation
    split and the shipped test split (else the shipped validation split) is what gets reported; without a
    validation split, a fixed fraction of train; then the fixed train / val / test subsets."""
    if config.holdout:
        if config.holdout >= len(train):
            raise SizelessError(f"--holdout {config.holdout} leaves no training images ({name} has {len(train)}); "
                                "carve fewer")
        keep, held = carve(len(train), config.holdout)
        test = test if test is not None else val
        train, val = train.subset(keep), train.subset(held)
    elif val is None:
        keep, held = holdout(len(train), config.val_fraction)
        train, val = train.subset(keep), train.subset(held)
    train = train.subset(fixed_subset(config.train_subset, len(train)))
    val = val.subset(fixed_subset(config.val_subset, len(val)))
    if test is not None:
        test = test.subset(fixed_subset(config.test_subset, len(test)))
    return train, val, test
