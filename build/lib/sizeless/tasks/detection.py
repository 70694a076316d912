"""Object detection: COCO-format folders, torchvision's FCOS on a ViT's simple feature pyramid, COCO mAP.

Layout: ``ROOT/SPLIT/annotations.json`` (COCO: ``images`` with id / file_name / width / height,
``annotations`` with image_id / category_id / ``bbox`` = ``[x, y, width, height]`` in pixels,
``categories``) and the images in ``ROOT/SPLIT/images/`` (or next to the JSON file), for SPLIT in
train, val and test; or a single ``ROOT/annotations.json`` + ``ROOT/images`` (a fixed 20% held out).

Images are decoded once and letterboxed into ``side x side`` canvases (longer side scaled to
``--image-size``, padded grey at the right or bottom); predictions are mapped back to each image's
own pixels before they are scored, so metrics are those of the original annotations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..data import DataConfig
from ..errors import SizelessError, require
from .images import GREY, arrange_splits, normalize, randint, read_rgb, resize, uniform

ANNOTATION_FILES = ("annotations.json", "_annotations.coco.json")
SPLITS = {"train": ("train",), "val": ("val", "validation", "valid"), "test": ("test",)}
DEFAULT_SIZE = 128  # canvas side: the best mAP per CPU-minute, benchmarks/dense-resolution-raccoon
STRIDES = (8, 16, 32, 64)  # feature pyramid levels (pixels); FCOS assigns boxes of up to 64 / 128 / 256 / any px
MIN_BOX = 2.0  # boxes narrower or lower than this (pixels) after clipping are dropped


@dataclass
class DetSplit:
    images: Tensor  # uint8 (N, 3, side, side) letterboxed canvases
    boxes: list[Tensor]  # float (n, 4) x1 y1 x2 y2 on the canvas
    labels: list[Tensor]  # int64 (n,), 1..K (0 is FCOS's background)
    crowd: list[Tensor]  # bool (n,), COCO iscrowd: scored as "ignore", never trained on
    scales: Tensor  # float (N,): canvas pixels per image pixel
    sizes: Tensor  # int64 (N, 2): the image's own height and width
    names: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: Tensor) -> DetSplit:
        pick = index.tolist()
        return DetSplit(self.images[index], [self.boxes[i] for i in pick], [self.labels[i] for i in pick],
                        [self.crowd[i] for i in pick], self.scales[index], self.sizes[index],
                        [self.names[i] for i in pick])


@dataclass
class DetectionData:
    """Train / validation (/ test) splits of letterboxed images with boxes, and how to batch them."""

    dense_task: ClassVar[str] = "detection"
    name: str
    train: DetSplit
    val: DetSplit
    num_classes: int  # object classes, without background
    class_names: list[str]
    side: int
    test: DetSplit | None = None
    augment: bool = True
    scale_range: tuple[float, float] = (0.6, 1.4)  # scale jitter of training images
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    in_chans: int = 3
    clipped: int = 0  # boxes that reached outside their image, clipped to it when read
    dropped: int = 0  # boxes with no area left inside their image, dropped when read

    @property
    def img_size(self) -> int:
        return self.side

    def notes(self) -> list[str]:
        out = []
        if self.clipped:
            out.append(f"{self.clipped} box(es) reached outside their image and were clipped to it")
        if self.dropped:
            out.append(f"{self.dropped} box(es) lay outside their image and were dropped")
        return out

    def split(self, name: str) -> DetSplit:
        found = {"train": self.train, "val": self.val, "test": self.test}.get(name)
        if found is None:
            raise SizelessError(f"{self.name} has no {name!r} split; choose train or val"
                                f"{' or test' if self.test is not None else ''}")
        return found

    def batch(self, split: DetSplit, index: Tensor, generator: torch.Generator | None = None
              ) -> tuple[Tensor, list[dict[str, Tensor]]]:
        """Normalized canvases and per-image targets (``boxes`` x1 y1 x2 y2 in canvas pixels, ``labels``);
        with ``generator``: scale jitter, random placement and horizontal flip, boxes moved alike."""
        images, targets = [], []
        for i in index.tolist():
            keep = ~split.crowd[i]
            image, boxes, labels = split.images[i], split.boxes[i][keep], split.labels[i][keep]
            if generator is not None:
                image, boxes, labels = augment_boxes(image, boxes, labels, self.scale_range, generator)
            images.append(image)
            targets.append({"boxes": boxes, "labels": labels})
        return normalize(torch.stack(images), self.mean, self.std), targets

    def fingerprint(self) -> list:
        return [self.name, "detection", len(self.train), len(self.val), self.num_classes, self.side,
                round(float(sum(b.sum() for b in self.train.boxes[:16])), 3)]


# -- augmentation -----------------------------------------------------------------------------------

def clip_boxes(boxes: Tensor, height: float, width: float) -> tuple[Tensor, Tensor]:
    """Boxes clipped to the image, and which of them keep at least ``MIN_BOX`` pixels a side."""
    out = boxes.clone()
    out[:, 0::2] = out[:, 0::2].clamp(0, width)
    out[:, 1::2] = out[:, 1::2].clamp(0, height)
    keep = ((out[:, 2] - out[:, 0]) >= MIN_BOX) & ((out[:, 3] - out[:, 1]) >= MIN_BOX)
    return out, keep


def augment_boxes(image: Tensor, boxes: Tensor, labels: Tensor, scale_range: tuple[float, float],
                  generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Scale jitter (zoom the canvas in or out), a random placement back on a canvas of the same side
    (crop when larger, paste on grey when smaller) and a horizontal flip; boxes follow the pixels, are
    clipped to the canvas and dropped when less than ``MIN_BOX`` pixels of them remain."""
    side = image.shape[-1]
    scale = uniform(generator, *scale_range)
    new = max(1, round(side * scale))
    zoomed = resize(image, new, new)
    factor = new / side
    boxes = boxes * factor
    if new >= side:
        y, x = randint(generator, new - side), randint(generator, new - side)
        image = zoomed[:, y:y + side, x:x + side]
        boxes = boxes - torch.tensor([x, y, x, y], dtype=boxes.dtype)
    else:
        y, x = randint(generator, side - new), randint(generator, side - new)
        image = torch.full_like(image, round(GREY))
        image[:, y:y + new, x:x + new] = zoomed
        boxes = boxes + torch.tensor([x, y, x, y], dtype=boxes.dtype)
    boxes, keep = clip_boxes(boxes, side, side)
    boxes, labels = boxes[keep], labels[keep]
    if torch.rand((), generator=generator).item() < 0.5:
        image = image.flip(-1)
        boxes = torch.stack([side - boxes[:, 2], boxes[:, 1], side - boxes[:, 0], boxes[:, 3]], 1)
    return image.contiguous(), boxes, labels


# -- reading a COCO dataset -------------------------------------------------------------------------

def _annotation_file(folder: Path) -> Path | None:
    return next((folder / n for n in ANNOTATION_FILES if (folder / n).is_file()), None)


def _layout(path: Path) -> dict[str, tuple[Path, Path]] | None:
    """``{split: (annotation file, images dir)}`` when ``path`` is a COCO detection folder, else None."""
    if not path.is_dir():
        return None

    def images_of(folder: Path) -> Path:
        return folder / "images" if (folder / "images").is_dir() else folder

    single = _annotation_file(path)
    if single is not None:
        return {"train": (single, images_of(path))}
    found = {}
    for split, names in SPLITS.items():
        for name in names:
            file = _annotation_file(path / name) if (path / name).is_dir() else None
            if file is not None:
                found[split] = (file, images_of(path / name))
                break
    return found or None


def load_detection(config: DataConfig) -> DetectionData | None:
    """The ``DATA_SOURCES`` entry: a COCO detection folder (see the module docstring), else None."""
    path = Path(config.spec).expanduser()
    layout = _layout(path)
    if layout is None:
        return None
    if "train" not in layout:
        raise SizelessError(f"{path} has COCO annotations for {', '.join(layout)} but not for train; a detection "
                            "dataset needs train/annotations.json")
    if config.classes:
        raise SizelessError("--classes selects classification labels; a detection dataset keeps its categories")
    side = config.image_size or DEFAULT_SIZE
    if side % STRIDES[-1] or side < 2 * STRIDES[-1]:
        raise SizelessError(f"--image-size {side}: detection canvases must be a multiple of {STRIDES[-1]} pixels, at "
                            f"least {2 * STRIDES[-1]} (the coarsest feature level needs 2x2 cells), e.g. "
                            f"{max(2 * STRIDES[-1], side // STRIDES[-1] * STRIDES[-1])}")
    categories = _categories(layout["train"][0])
    counts = {"clipped": 0, "dropped": 0}
    splits = {name: _read_split(file, images, side, categories, counts) for name, (file, images) in layout.items()}
    train, val, test = arrange_splits(splits["train"], splits.get("val"), splits.get("test"), config, path.name)
    names = [name for _, name in sorted(categories.values())]
    return DetectionData(path.name, train, val, len(names), names, side, test=test, **counts)


def _read_json(file: Path) -> dict:
    try:
        spec = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise SizelessError(f"{file} is not valid JSON ({err}); expected a COCO annotation file") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("images"), list):
        raise SizelessError(f"{file} is not a COCO annotation file: it needs 'images', 'annotations' and "
                            "'categories' lists")
    return spec


def _categories(file: Path) -> dict[int, tuple[int, str]]:
    """COCO category id -> (label 1..K in id order, name)."""
    cats = _read_json(file).get("categories") or []
    try:
        ordered = sorted((int(c["id"]), str(c.get("name", c["id"]))) for c in cats)
    except (KeyError, TypeError, ValueError):
        raise SizelessError(f"{file}: every category needs an 'id' (and a 'name')") from None
    if not ordered:
        raise SizelessError(f"{file} lists no categories; a COCO file names its classes in 'categories'")
    return {cid: (label, name) for label, (cid, name) in enumerate(ordered, start=1)}


def _read_split(file: Path, images_dir: Path, side: int, categories: dict, counts: dict) -> DetSplit:
    spec = _read_json(file)
    annotations = spec.get("annotations")
    if not annotations:
        raise SizelessError(f"{file} has an empty annotation list; a detection split needs boxes to train on "
                            "and to score against")
    by_image: dict[int, list[dict]] = {}
    for ann in annotations:
        by_image.setdefault(ann.get("image_id"), []).append(ann)
    known = {entry.get("id") for entry in spec["images"]}
    strays = [i for i in by_image if i not in known]
    if strays:
        raise SizelessError(f"{file}: annotations refer to image id {strays[0]}, which 'images' does not list")
    split = DetSplit(torch.zeros(len(spec["images"]), 3, side, side, dtype=torch.uint8), [], [], [],
                     torch.zeros(len(spec["images"])), torch.zeros(len(spec["images"]), 2, dtype=torch.long), [])
    for n, entry in enumerate(spec["images"]):
        name = str(entry.get("file_name", ""))
        image_file = images_dir / name
        if not name or not image_file.is_file():
            raise SizelessError(f"{file} names image {name!r} (id {entry.get('id')}), which is not in {images_dir}; "
                                "add the image or remove its entry")
        image = read_rgb(image_file)
        h, w = image.shape[-2:]
        stated = entry.get("height"), entry.get("width")
        if None not in stated and (int(stated[0]), int(stated[1])) != (h, w):
            raise SizelessError(f"{image_file} is {w}x{h} but {file} says {stated[1]}x{stated[0]}; boxes would not "
                                "match the pixels")
        boxes, labels, crowd = _boxes(by_image.get(entry.get("id"), []), file, name, categories)
        raw = boxes.clone()
        boxes, keep = clip_boxes(boxes, h, w)
        counts["clipped"] += int(((boxes != raw).any(1) & keep).sum())
        counts["dropped"] += int((~keep).sum())
        scale = side / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        split.images[n].fill_(round(GREY))
        split.images[n, :, :nh, :nw] = resize(image, nh, nw)
        split.boxes.append(boxes[keep] * scale)
        split.labels.append(labels[keep])
        split.crowd.append(crowd[keep])
        split.scales[n] = scale
        split.sizes[n] = torch.tensor([h, w])
        split.names.append(name)
    return split


def _boxes(annotations: list[dict], file: Path, name: str, categories: dict) -> tuple[Tensor, Tensor, Tensor]:
    boxes, labels, crowd = [], [], []
    for ann in annotations:
        bbox = ann.get("bbox")
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            raise SizelessError(f"{file}: annotation {ann.get('id')} of {name} has bbox {bbox!r}; COCO boxes are "
                                "[x, y, width, height]")
        x, y, bw, bh = (float(v) for v in bbox)
        if bw < 0 or bh < 0:
            raise SizelessError(f"{file}: annotation {ann.get('id')} of {name} has a negative width or height "
                                f"({bbox}); COCO boxes are [x, y, width, height]")
        if ann.get("category_id") not in categories:
            raise SizelessError(f"{file}: annotation {ann.get('id')} of {name} has category {ann.get('category_id')}, "
                                f"which the training split's 'categories' do not list ({sorted(categories)})")
        boxes.append([x, y, x + bw, y + bh])
        labels.append(categories[ann["category_id"]][0])
        crowd.append(bool(ann.get("iscrowd", 0)))
    return (torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(labels, dtype=torch.long),
            torch.tensor(crowd, dtype=torch.bool))


# -- the model head ---------------------------------------------------------------------------------

class SimplePyramid(nn.Module):
    """ViTDet's simple feature pyramid: levels at ``strides`` made from the last map of a plain ViT
    (stride = patch size) by transposed convolutions (finer) or max-pooling (coarser), each followed
    by a 1x1 and a 3x3 convolution with group norm. torchvision's ``FeaturePyramidNetwork`` fuses
    maps a backbone already has at several strides; a plain ViT has one, hence this module."""

    def __init__(self, width: int, patch_size: int, channels: int, strides: tuple[int, ...]):
        super().__init__()
        from torchvision.ops.misc import Conv2dNormActivation

        norm = partial(nn.GroupNorm, 32 if channels % 32 == 0 else 1)
        self.levels = nn.ModuleList()
        for stride in strides:
            ratio = patch_size / stride
            if ratio >= 1:
                if ratio != int(ratio):
                    raise SizelessError(f"patch size {patch_size} cannot make a stride-{stride} feature level")
                resample = nn.ConvTranspose2d(width, width, int(ratio), int(ratio)) if ratio > 1 else nn.Identity()
            else:
                if stride % patch_size:
                    raise SizelessError(f"patch size {patch_size} cannot make a stride-{stride} feature level; use a "
                                        "power-of-two patch size")
                resample = nn.MaxPool2d(stride // patch_size)
            self.levels.append(nn.Sequential(
                resample,
                Conv2dNormActivation(width, channels, 1, norm_layer=norm, activation_layer=None),
                Conv2dNormActivation(channels, channels, 3, norm_layer=norm, activation_layer=None),
            ))

    def forward(self, feature: Tensor) -> dict[str, Tensor]:
        return {str(i): level(feature) for i, level in enumerate(self.levels)}


class StagePyramid(nn.Module):
    """torchvision's ``FeaturePyramidNetwork`` over a CNN's four stages (strides 4 to 32), keeping the levels
    at ``STRIDES`` (the stride-4 map only feeds the top-down path) and adding a max-pooled stride-64 level."""

    def __init__(self, stage_channels: list[int], channels: int):
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

        self.fpn = FeaturePyramidNetwork(list(stage_channels), channels, extra_blocks=LastLevelMaxPool())

    def forward(self, stages: list[Tensor]) -> dict[str, Tensor]:
        levels = list(self.fpn({str(i): x for i, x in enumerate(stages)}).values())[1:]
        return {str(i): x for i, x in enumerate(levels)}


class _Features(nn.Module):
    """The ``backbone`` torchvision's detectors call: the pyramid over features from ``encode``, which
    the owning head sets for each call (a plain ViT, or one fed composed template weights)."""

    def __init__(self, pyramid: nn.Module, channels: int):
        super().__init__()
        self.pyramid, self.out_channels = pyramid, channels
        self.encode = None

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        return self.pyramid(self.encode(images))


class FCOSDetector(nn.Module):
    """torchvision's FCOS (anchor-free, one stage) over a simple feature pyramid from a ViT's last block
    (or torchvision's FPN over a CNN's stages).

    FCOS rather than Faster R-CNN: no region-proposal stage or RoI box head (a 12.8M-parameter MLP at
    torchvision's defaults), so its cost stays with the backbone on a CPU; and no anchor boxes to tune
    for one small dataset. Inputs are the normalized ``side x side`` canvases (torchvision's own
    normalization and resizing are identities here).
    """

    name = "fcos"

    def __init__(self, width: int, depth: int, patch_size: int, num_classes: int, side: int, channels: int = 64,
                 num_convs: int = 2, score_thresh: float = 0.05, stage_channels: list[int] | None = None):
        super().__init__()
        from torchvision.models.detection import FCOS
        from torchvision.models.detection.anchor_utils import AnchorGenerator
        from torchvision.models.detection.fcos import FCOSHead as TorchvisionFCOSHead

        if channels % 32:
            raise SizelessError(f"the fcos head's width must be a multiple of 32 (its group norm), not {channels}")
        self.config = {"name": self.name, "width": width, "depth": depth, "patch_size": patch_size,
                       "num_classes": num_classes, "side": side, "channels": channels, "num_convs": num_convs,
                       "score_thresh": score_thresh, "stage_channels": stage_channels}
        # a plain ViT has one map (a simple pyramid is made from it); a CNN's stages are fused by an FPN
        pyramid = StagePyramid(stage_channels, channels) if stage_channels else \
            SimplePyramid(width, patch_size, channels, STRIDES)
        self.stages = bool(stage_channels)
        features = _Features(pyramid, channels)
        anchors = AnchorGenerator(tuple((s,) for s in STRIDES), ((1.0,),) * len(STRIDES))
        self.detector = FCOS(features, num_classes + 1, min_size=side, max_size=side, image_mean=[0.0] * 3,
                             image_std=[1.0] * 3, anchor_generator=anchors,
                             head=TorchvisionFCOSHead(channels, 1, num_classes + 1, num_convs),
                             score_thresh=score_thresh, detections_per_img=100)

    @classmethod
    def for_backbone(cls, family: str, size, image, num_classes: int, channels: int | None = None) -> FCOSDetector:
        if family == "vit":
            return cls(size.width, size.depth, image.patch_size, num_classes, image.img_size, channels or 64)
        from .segmentation import cnn_stage_channels

        return cls(size.width, size.depth, image.patch_size, num_classes, image.img_size, channels or 64,
                   stage_channels=cnn_stage_channels(family, size, image))

    def features(self, model: nn.Module, images: Tensor):
        """A plain timm ViT's last block as a map (after the final norm), or a CNN's four stage maps."""
        if self.stages:
            return model.forward_intermediates(images, intermediates_only=True)[-4:]  # a ResNet also gives its stem
        return model.forward_intermediates(images, indices=1, norm=True, intermediates_only=True)[-1]

    def raw(self, encode, images: Tensor) -> dict[str, Tensor]:
        """The head's per-location outputs (class logits, boxes, centerness) before any post-processing."""
        backbone = self.detector.backbone
        backbone.encode = encode
        try:
            return self.detector.head(list(backbone(images).values()))
        finally:
            backbone.encode = None

    def forward(self, encode, images: Tensor, targets: list[dict] | None = None):
        """Training: FCOS's losses (dict); evaluation: per image ``boxes`` / ``scores`` / ``labels`` on the canvas."""
        backbone = self.detector.backbone
        backbone.encode = encode
        try:
            return self.detector(list(images), targets)
        finally:
            backbone.encode = None


# -- objective: loss for training, metrics for validation --------------------------------------------

class DetectionObjective:
    """FCOS's summed losses (focal classification, GIoU regression, centerness); validation scores COCO
    mAP@[.5:.95], mAP@.5 and mAP@.75 in each image's own pixels (torchmetrics with pycocotools)."""

    reports_accuracy = False
    primary_metric = "map"
    test_at_end = True  # the training loop scores a test split once, at the end (whole-image passes are costly)

    def __call__(self, forward, images: Tensor, targets: list[dict], indices: Tensor | None = None
                 ) -> tuple[Tensor, dict[str, float]]:
        losses = forward(images, targets)
        return sum(losses.values()), {k: float(v.detach()) for k, v in losses.items()}

    @torch.no_grad()
    def evaluate_split(self, forward, data: DetectionData, split: DetSplit, batch_size: int,
                       device: torch.device) -> dict[str, float]:
        preds = list(predict(forward, data, split, batch_size, device))
        return coco_map(preds, [truth(split, i) for i in range(len(split))])


def truth(split: DetSplit, i: int) -> dict[str, Tensor]:
    """Image ``i``'s boxes in its own pixels."""
    return {"boxes": split.boxes[i] / split.scales[i], "labels": split.labels[i], "iscrowd": split.crowd[i].long()}


def predict(forward, data: DetectionData, split: DetSplit, batch_size: int, device: torch.device):
    """Per image: ``boxes`` (in the image's own pixels), ``scores`` and ``labels``."""
    step = max(1, min(batch_size, 16))
    for start in range(0, len(split), step):
        index = torch.arange(start, min(len(split), start + step))
        images, _ = data.batch(split, index)
        for i, det in zip(index.tolist(), forward(images.to(device)), strict=True):
            h, w = split.sizes[i].tolist()
            boxes, _ = clip_boxes(det["boxes"].float().cpu() / split.scales[i], h, w)
            yield {"boxes": boxes, "scores": det["scores"].float().cpu(), "labels": det["labels"].cpu()}


def coco_map(preds: list[dict], targets: list[dict]) -> dict[str, float]:
    """COCO box metrics: ``map`` (mAP@[.5:.95]), ``map_50``, ``map_75``, ``mar_100``."""
    import contextlib
    import io

    from torchmetrics.detection import MeanAveragePrecision

    require("pycocotools", "dense")

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
    metric.update(preds, targets)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its summary table
        result = metric.compute()
    return {k: float(result[k]) for k in ("map", "map_50", "map_75", "mar_100")}


# -- pictures ---------------------------------------------------------------------------------------

@torch.no_grad()
def save_overlays(forward, data: DetectionData, split: DetSplit, path: Path, count: int = 4,
                  device: torch.device | None = None, min_score: float = 0.3, top: int = 5) -> Path:
    """A PNG grid: per image, the ground-truth boxes (green) and the ``top`` predicted ones scoring at least
    ``min_score`` (red, with their scores), drawn on the model's input."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import draw_bounding_boxes

    from ..plotting import save_figure

    count = min(count, len(split))
    sub = split.subset(torch.arange(count))
    preds = list(predict(forward, data, sub, 16, device or torch.device("cpu")))
    fig, axes = plt.subplots(count, 2, figsize=(8, 4 * count), squeeze=False)
    for i, (pred, row) in enumerate(zip(preds, axes, strict=True)):
        h, w = (int(v) for v in (sub.sizes[i].float() * sub.scales[i]).round().clamp(min=1))
        canvas = sub.images[i][:, :h, :w]
        good = torch.nonzero(pred["scores"] >= min_score).flatten()[:top]  # scores come sorted, highest first
        shown = [
            draw_bounding_boxes(canvas, sub.boxes[i], colors="lime", width=1),
            draw_bounding_boxes(canvas, pred["boxes"][good] * sub.scales[i], colors="red", width=1,
                                labels=[f"{s:.2f}" for s in pred["scores"][good].tolist()]),
        ]
        for ax, picture, title in zip(row, shown, (f"{sub.names[i]}: ground truth", "prediction"), strict=True):
            ax.imshow(picture.permute(1, 2, 0).numpy())
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    save_figure(fig, path)
    return path
