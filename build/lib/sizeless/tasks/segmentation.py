"""Semantic segmentation: an images folder and a masks folder, smp's DPT decoder on a ViT, mean IoU.

Layout (what CamVid in SegNet's split and most user datasets look like): ``ROOT/SPLIT/images/NAME.jpg``
with ``ROOT/SPLIT/masks/NAME.png`` (one class number per pixel) for SPLIT in train, val and test, or
a single ``ROOT/images`` + ``ROOT/masks`` pair (a fixed 20% held out for validation). An optional
``ROOT/classes.json`` names the classes and the ignored value (``{"classes": [...], "ignore_index":
11}``); without it, classes are ``0..max`` and 255 is ignored.

Images are decoded once, resized so their shorter side is the working size (``--image-size``), and
kept in memory with their masks; metrics are computed against the masks at their stored resolution
(predictions are upsampled), so the working size changes the model's input, not what is measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import DataConfig
from ..errors import SizelessError, require
from .images import (
    GREY,
    arrange_splits,
    image_files,
    normalize,
    randint,
    read_rgb,
    resize,
    short_side_size,
    uniform,
    window_starts,
)

CLASSES_FILE = "classes.json"
DEFAULT_IGNORE = 255
DEFAULT_SIZE = 128  # shorter side and crop side: the best mIoU per CPU-minute (benchmarks/dense-resolution-camvid)
SPLITS = {"train": ("train",), "val": ("val", "validation", "valid"), "test": ("test",)}


@dataclass
class SegSplit:
    images: list[Tensor]  # uint8 (3, h, w), shorter side at the working size
    masks: list[Tensor]  # uint8 (h, w), the same size (nearest neighbour)
    full_masks: list[Tensor]  # uint8 (H, W) as stored: what the metrics are computed against
    names: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: Tensor) -> SegSplit:
        pick = index.tolist()
        return SegSplit([self.images[i] for i in pick], [self.masks[i] for i in pick],
                        [self.full_masks[i] for i in pick], [self.names[i] for i in pick])


@dataclass
class SegmentationData:
    """Train / validation (/ test) splits of images and masks, and how to batch them (``TrainData``)."""

    dense_task: ClassVar[str] = "segmentation"
    name: str
    train: SegSplit
    val: SegSplit
    num_classes: int
    class_names: list[str]
    ignore_index: int
    crop: int  # training crops and model input are crop x crop
    test: SegSplit | None = None
    augment: bool = True
    scale_range: tuple[float, float] = (0.75, 1.5)  # scale jitter of training images
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    in_chans: int = 3

    @property
    def img_size(self) -> int:
        return self.crop

    def split(self, name: str) -> SegSplit:
        found = {"train": self.train, "val": self.val, "test": self.test}.get(name)
        if found is None:
            raise SizelessError(f"{self.name} has no {name!r} split; choose train or val"
                                f"{' or test' if self.test is not None else ''}")
        return found

    def batch(self, split: SegSplit, index: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Normalized ``crop x crop`` images and their masks (int64, ignore value kept): scale-jittered, randomly
        cropped and flipped with ``generator``, centre crops without."""
        images, masks = [], []
        for i in index.tolist():
            image, mask = split.images[i], split.masks[i]
            if generator is not None:
                image, mask = augment_pair(image, mask, self.crop, self.scale_range, self.ignore_index, generator)
            else:
                image, mask = crop_pair(image, mask, self.crop, self.ignore_index, None)
            images.append(image)
            masks.append(mask)
        return self.normalize(torch.stack(images)), torch.stack(masks).long()

    def normalize(self, images: Tensor) -> Tensor:
        return normalize(images, self.mean, self.std)

    def fingerprint(self) -> list:
        return [self.name, "segmentation", len(self.train), len(self.val), self.num_classes, self.crop,
                int(sum(int(m.sum()) for m in self.train.masks[:16]))]


# -- augmentation -----------------------------------------------------------------------------------

def crop_pair(image: Tensor, mask: Tensor, side: int, ignore: int, generator: torch.Generator | None
              ) -> tuple[Tensor, Tensor]:
    """A ``side x side`` crop of an image and its mask (random with ``generator``, centred without);
    sides shorter than ``side`` are padded (grey image, ignored mask)."""
    h, w = mask.shape
    ph, pw = max(0, side - h), max(0, side - w)
    if ph or pw:
        image = F.pad(image.float(), (0, pw, 0, ph), value=GREY).round().to(image.dtype)
        mask = F.pad(mask, (0, pw, 0, ph), value=ignore)
        h, w = mask.shape
    if generator is not None:
        y, x = randint(generator, h - side), randint(generator, w - side)
    else:
        y, x = (h - side) // 2, (w - side) // 2
    return image[:, y:y + side, x:x + side], mask[y:y + side, x:x + side]


def augment_pair(image: Tensor, mask: Tensor, side: int, scale_range: tuple[float, float], ignore: int,
                 generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Scale jitter, random crop and horizontal flip, applied to the image and its mask alike."""
    scale = uniform(generator, *scale_range)
    h, w = mask.shape
    size = max(1, round(h * scale)), max(1, round(w * scale))
    image, mask = crop_pair(resize(image, *size), resize(mask, *size, nearest=True), side, ignore, generator)
    if torch.rand((), generator=generator).item() < 0.5:
        image, mask = image.flip(-1), mask.flip(-1)
    return image, mask


# -- reading a dataset ------------------------------------------------------------------------------

def _layout(path: Path) -> dict[str, tuple[Path, Path]] | None:
    """``{split: (images dir, masks dir)}`` when ``path`` is an images + masks dataset, else None."""
    if not path.is_dir():
        return None
    if (path / "images").is_dir() and (path / "masks").is_dir():
        return {"train": (path / "images", path / "masks")}
    found = {}
    for split, names in SPLITS.items():
        for name in names:
            if (path / name / "images").is_dir() and (path / name / "masks").is_dir():
                found[split] = (path / name / "images", path / name / "masks")
                break
    return found if found else None


def load_segmentation(config: DataConfig) -> SegmentationData | None:
    """The ``DATA_SOURCES`` entry: an images + masks folder (see the module docstring), else None."""
    path = Path(config.spec).expanduser()
    layout = _layout(path)
    if layout is None:
        return None
    if "train" not in layout:
        raise SizelessError(f"{path} has {', '.join(f'{s}/images + {s}/masks' for s in layout)} but no "
                            "train/images + train/masks; a segmentation dataset needs a training split")
    if config.classes:
        raise SizelessError("--classes selects classification labels; a segmentation dataset keeps every class of "
                            "its masks")
    names, ignore = _classes(path)
    side = config.image_size or DEFAULT_SIZE
    splits = {split: _read_split(images, masks, side) for split, (images, masks) in layout.items()}
    if names is None:
        top = max((int(m.max()) for s in splits.values() for m in s.full_masks if (m != ignore).any()), default=0)
        names = [str(c) for c in range(top + 1)]
    for name, split in splits.items():
        _check_values(split, layout[name][1], len(names), ignore)
    train, val, test = arrange_splits(splits["train"], splits.get("val"), splits.get("test"), config, path.name)
    return SegmentationData(path.name, train, val, len(names), names, ignore, side, test=test)


def _classes(path: Path) -> tuple[list[str] | None, int]:
    file = path / CLASSES_FILE
    if not file.is_file():
        return None, DEFAULT_IGNORE
    try:
        spec = json.loads(file.read_text())
        names = [str(n) for n in spec["classes"]]
        ignore = int(spec.get("ignore_index", DEFAULT_IGNORE))
    except (ValueError, KeyError, TypeError) as err:
        raise SizelessError(f"{file} is not a classes file ({type(err).__name__}: {err}); expected "
                            '{"classes": ["sky", ...], "ignore_index": 11}') from None
    if not names:
        raise SizelessError(f"{file} lists no classes")
    if not 0 <= ignore <= 255:
        raise SizelessError(f"{file}: ignore_index {ignore} is not a mask byte (0..255)")
    return names, ignore


def _read_split(images_dir: Path, masks_dir: Path, side: int) -> SegSplit:
    images, masks = image_files(images_dir), image_files(masks_dir)
    if not images:
        raise SizelessError(f"{images_dir} holds no images")
    lonely = sorted(set(images) - set(masks))
    if lonely:
        raise SizelessError(f"{images[lonely[0]]} has no mask in {masks_dir} ({len(lonely)} image(s) without one); "
                            "every image needs a mask with the same name")
    orphans = sorted(set(masks) - set(images))
    if orphans:
        raise SizelessError(f"{masks[orphans[0]]} has no image in {images_dir} ({len(orphans)} mask(s) without one); "
                            "remove it or add its image")
    split = SegSplit([], [], [], [])
    for stem, file in images.items():
        image, mask = read_rgb(file), _read_mask(masks[stem])
        if image.shape[-2:] != mask.shape:
            raise SizelessError(f"{file} is {image.shape[2]}x{image.shape[1]} but its mask {masks[stem]} is "
                                f"{mask.shape[1]}x{mask.shape[0]}; a mask must have its image's size")
        h, w = short_side_size(*mask.shape, side)
        split.images.append(resize(image, h, w))
        split.masks.append(resize(mask, h, w, nearest=True))
        split.full_masks.append(mask)
        split.names.append(stem)
    return split


def _read_mask(path: Path) -> Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "P", "I", "I;16", "1"):
                raise SizelessError(f"{path} is a {img.mode} image; masks must be single-channel class-index images "
                                    "(one class number per pixel, e.g. 8-bit grey PNG)")
            values = np.array(img, dtype=np.int64)
    except (UnidentifiedImageError, OSError) as err:
        raise SizelessError(f"{path}: not a readable mask ({err})") from None
    if values.max(initial=0) > 255 or values.min(initial=0) < 0:
        raise SizelessError(f"{path} has mask values outside 0..255 (max {values.max()}); masks are class numbers")
    return torch.from_numpy(values.astype(np.uint8))


def _check_values(split: SegSplit, masks_dir: Path, num_classes: int, ignore: int) -> None:
    for name, mask in zip(split.names, split.full_masks, strict=True):
        bad = [int(v) for v in torch.unique(mask) if v >= num_classes and v != ignore]
        if bad:
            file = next(masks_dir.glob(f"{name}.*"), masks_dir / name)
            raise SizelessError(f"{file}: mask values {bad} are outside the {num_classes} classes "
                                f"(0..{num_classes - 1}) and are not the ignore value {ignore}; fix the mask or "
                                f"list every class in {CLASSES_FILE}")


# -- metrics ----------------------------------------------------------------------------------------

def confusion(pred: Tensor, target: Tensor, num_classes: int, ignore: int) -> Tensor:
    """``(K, K)`` pixel counts, rows = true class, columns = predicted; ignored pixels left out."""
    valid = target != ignore
    index = target[valid].long() * num_classes + pred[valid].long()
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def segmentation_metrics(conf: Tensor, class_names: list[str] | None = None) -> dict[str, float]:
    """Mean IoU over classes that occur in the truth or the prediction, per-class IoU, pixel accuracy
    and mean class accuracy, from a confusion matrix."""
    conf = conf.double()
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    iou = tp / union  # nan where a class is neither true nor predicted: left out of the mean
    truth = conf.sum(1)
    names = class_names or [str(c) for c in range(len(tp))]
    out = {"miou": float(iou.nanmean()), "pixel_acc": float(tp.sum() / conf.sum().clamp(min=1)),
           "mean_acc": float((tp / truth).nanmean())}
    out.update({f"iou_{name}": float(v) for name, v in zip(names, iou, strict=True)})
    return out


# -- the model head ---------------------------------------------------------------------------------

class DPTHead(nn.Module):
    """segmentation_models_pytorch's DPT decoder and head on a ViT's intermediate blocks.

    DPT (Ranftl et al., 2021) is smp's decoder for plain ViTs: it reassembles tokens of 4 blocks
    (evenly spaced over depth) into maps at 1/4 .. 1/32 of the input, fuses them coarse to fine and
    predicts at full resolution. ``channels`` sets every decoder width (smp's defaults, 256-1024,
    are sized for ViT-B on a GPU).
    """

    name = "dpt"

    def __init__(self, width: int, depth: int, patch_size: int, num_classes: int, channels: int = 32):
        super().__init__()
        require("segmentation_models_pytorch", "dense")
        from segmentation_models_pytorch.base.initialization import initialize_decoder, initialize_head
        from segmentation_models_pytorch.decoders.dpt.decoder import DPTDecoder, DPTSegmentationHead
        from segmentation_models_pytorch.encoders.timm_vit import sample_block_indices_uniformly

        levels = min(4, depth)
        self.config = {"name": self.name, "width": width, "depth": depth, "patch_size": patch_size,
                       "num_classes": num_classes, "channels": channels}
        self.indices = sample_block_indices_uniformly(levels, depth)
        self.decoder = DPTDecoder([width] * levels, [patch_size] * levels, True, "cat", [channels] * levels, channels)
        self.head = DPTSegmentationHead(channels, num_classes, kernel_size=3, upsampling=2)
        initialize_decoder(self.decoder)
        initialize_head(self.head)

    @classmethod
    def for_backbone(cls, family: str, size, image, num_classes: int, channels: int | None = None) -> DPTHead:
        if family != "vit":
            raise SizelessError(f"the dpt head reads a ViT's blocks; a {family} backbone takes --head fpn")
        return cls(size.width, size.depth, image.patch_size, num_classes, channels or 32)

    def features(self, model: nn.Module, images: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """What the head reads from a plain timm ViT (its weights, or composed ones via ``TemplateNet.call``)."""
        out = model.forward_intermediates(images, indices=self.indices, intermediates_only=True,
                                          return_prefix_tokens=True)
        return [o[0] for o in out], [o[1] for o in out]

    def forward(self, encode, images: Tensor, targets=None) -> Tensor:
        features, prefix = encode(images)
        logits = self.head(self.decoder(features, prefix))
        if logits.shape[-2:] != images.shape[-2:]:
            logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return logits


class FPNHead(nn.Module):
    """segmentation_models_pytorch's FPN decoder and head on a CNN's four stages (strides 4 to 32), for the
    CNN families (ConvNeXt, ResNet with the ImageNet stem), whose stage maps are a feature pyramid already."""

    name = "fpn"

    def __init__(self, stage_channels: list[int], num_classes: int, channels: int = 32):
        super().__init__()
        require("segmentation_models_pytorch", "dense")
        from segmentation_models_pytorch.base.heads import SegmentationHead
        from segmentation_models_pytorch.base.initialization import initialize_decoder, initialize_head
        from segmentation_models_pytorch.decoders.fpn.decoder import FPNDecoder

        if channels % 32:
            raise SizelessError(f"the fpn head's width must be a multiple of 32 (its group norm), not {channels}")
        self.config = {"name": self.name, "stage_channels": list(stage_channels), "num_classes": num_classes,
                       "channels": channels}
        self.decoder = FPNDecoder(list(stage_channels), encoder_depth=3, pyramid_channels=channels,
                                  segmentation_channels=channels, dropout=0.1)
        self.head = SegmentationHead(channels, num_classes, kernel_size=1, upsampling=4)
        initialize_decoder(self.decoder)
        initialize_head(self.head)

    @classmethod
    def for_backbone(cls, family: str, size, image, num_classes: int, channels: int | None = None) -> FPNHead:
        return cls(cnn_stage_channels(family, size, image), num_classes, channels or 32)

    def features(self, model: nn.Module, images: Tensor) -> list[Tensor]:
        return model.forward_intermediates(images, intermediates_only=True)[-4:]  # a ResNet also gives its stem

    def forward(self, encode, images: Tensor, targets=None) -> Tensor:
        logits = self.head(self.decoder(encode(images)))
        if logits.shape[-2:] != images.shape[-2:]:
            logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return logits


def cnn_stage_channels(family: str, size, image) -> list[int]:
    """Channels of a CNN's four stages, checked to sit at strides 4, 8, 16 and 32 (what pyramid heads expect)."""
    from ..families import get_family

    probe = get_family(family).build(size, image, 0)
    info = probe.feature_info[-4:]
    strides = [f["reduction"] for f in info]
    if strides != [4, 8, 16, 32]:
        raise SizelessError(f"a {family} backbone with --patch-size {image.patch_size} has stage strides {strides}; "
                            "dense heads need 4, 8, 16, 32 (ConvNeXt: --patch-size 4; ResNet: --patch-size 4, the "
                            "ImageNet stem)")
    return [f["num_chs"] for f in info]


# -- objective: loss for training, metrics for validation --------------------------------------------

class SegmentationObjective:
    """Pixel-wise cross-entropy that ignores the void value; validation predicts whole images with
    overlapping windows and reports mean IoU, per-class IoU, pixel accuracy and loss."""

    reports_accuracy = False
    primary_metric = "miou"
    test_at_end = True  # the training loop scores a test split once, at the end (whole-image passes are costly)

    def __init__(self, num_classes: int, ignore_index: int, class_names: list[str] | None = None):
        self.num_classes, self.ignore_index, self.class_names = num_classes, ignore_index, class_names

    def __call__(self, forward, images: Tensor, masks: Tensor, indices: Tensor | None = None
                 ) -> tuple[Tensor, dict[str, float]]:
        return segmentation_loss(forward(images), masks, self.ignore_index), {}

    @torch.no_grad()
    def evaluate_split(self, forward, data: SegmentationData, split: SegSplit, batch_size: int,
                       device: torch.device) -> dict[str, float]:
        conf = torch.zeros(self.num_classes, self.num_classes, dtype=torch.long)
        loss, pixels = 0.0, 0
        for index, logits in predict(forward, data, split, batch_size, device):
            mask = split.masks[index]
            valid = int((mask != self.ignore_index).sum())
            if valid:
                loss += F.cross_entropy(logits[None], mask[None].long(), ignore_index=self.ignore_index,
                                        reduction="sum").item()
                pixels += valid
            conf += confusion(full_resolution(logits, split.full_masks[index].shape), split.full_masks[index],
                              self.num_classes, self.ignore_index)
        return {"loss": loss / max(1, pixels), **segmentation_metrics(conf, self.class_names)}


def segmentation_loss(logits: Tensor, masks: Tensor, ignore_index: int) -> Tensor:
    """Mean cross-entropy over the pixels that are not ``ignore_index`` (0 when every pixel is ignored)."""
    if not (masks != ignore_index).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), masks, ignore_index=ignore_index)


def full_resolution(logits: Tensor, shape) -> Tensor:
    """Class predictions at the stored mask's resolution from ``(K, h, w)`` working-size logits."""
    if tuple(logits.shape[-2:]) != tuple(shape):
        logits = F.interpolate(logits[None], size=tuple(shape), mode="bilinear", align_corners=False)[0]
    return logits.max(0).indices  # (max is several times faster than argmax over the leading dim on CPU)


def predict(forward, data: SegmentationData, split: SegSplit, batch_size: int, device: torch.device):
    """``(index, logits (K, h, w))`` for every image of ``split``: crop-sized windows overlapping by a third,
    logits averaged where they overlap; the windows of a few images share each forward pass."""
    side, chunk = data.crop, max(1, min(batch_size, 16))
    per_group = max(1, chunk // 2)
    for start in range(0, len(split), per_group):
        group = range(start, min(len(split), start + per_group))
        where, windows, sums, counts = [], [], {}, {}
        for i in group:
            h, w = split.images[i].shape[-2:]
            padded = F.pad(split.images[i].float(), (0, max(0, side - w), 0, max(0, side - h)), value=GREY)
            sums[i], counts[i] = torch.zeros(data.num_classes, *padded.shape[-2:]), torch.zeros(padded.shape[-2:])
            for y in window_starts(padded.shape[-2], side):
                for x in window_starts(padded.shape[-1], side):
                    where.append((i, y, x))
                    windows.append(padded[:, y:y + side, x:x + side].round().to(torch.uint8))
        for first in range(0, len(windows), chunk):
            logits = forward(data.normalize(torch.stack(windows[first:first + chunk])).to(device)).float().cpu()
            for (i, y, x), out in zip(where[first:first + chunk], logits, strict=True):
                sums[i][:, y:y + side, x:x + side] += out
                counts[i][y:y + side, x:x + side] += 1
        for i in group:
            h, w = split.images[i].shape[-2:]
            yield i, (sums[i] / counts[i])[:, :h, :w]


# -- pictures ---------------------------------------------------------------------------------------

def palette(num_classes: int) -> np.ndarray:
    """One distinct RGB colour per class (matplotlib's tab20), black for ignored pixels."""
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    return (np.array([cmap(c % 20)[:3] for c in range(num_classes)]) * 255).astype(np.uint8)


def colorize(mask: Tensor, num_classes: int, ignore: int) -> np.ndarray:
    colours = np.concatenate([palette(num_classes), np.zeros((256 - num_classes, 3), np.uint8)])
    m = mask.long().clamp(0, 255).numpy()
    out = colours[m]
    out[m == ignore] = 0
    return out


@torch.no_grad()
def save_overlays(forward, data: SegmentationData, split: SegSplit, path: Path, count: int = 4,
                  device: torch.device | None = None) -> Path:
    """A PNG grid: per image, the photo, the ground truth and the prediction blended over it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting import save_figure

    device = device or torch.device("cpu")
    count = min(count, len(split))
    sub = split.subset(torch.arange(count))
    fig, axes = plt.subplots(count, 3, figsize=(12, 3.2 * count), squeeze=False)
    for (i, logits), row in zip(predict(forward, data, sub, 16, device), axes, strict=True):
        image = sub.images[i].permute(1, 2, 0).numpy().astype(np.float32)
        pred = logits.argmax(0)
        truth = sub.masks[i]
        row[0].imshow(image.astype(np.uint8))
        row[1].imshow((0.45 * image + 0.55 * colorize(truth, data.num_classes, data.ignore_index)).astype(np.uint8))
        row[2].imshow((0.45 * image + 0.55 * colorize(pred, data.num_classes, -1)).astype(np.uint8))
        for ax, title in zip(row, (sub.names[i], "ground truth", "prediction"), strict=True):
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    colours = palette(data.num_classes) / 255
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[c]) for c in range(data.num_classes)]
    fig.legend(handles, data.class_names, loc="lower center", ncol=min(6, data.num_classes), fontsize=8)
    fig.subplots_adjust(bottom=0.08)
    save_figure(fig, path)
    return path
