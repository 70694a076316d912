"""Datasets as in-memory uint8 tensors: digits, CIFAR-10, HF parquet folders, ImageFolder trees.

Everything is decoded once into memory; that suits the small/medium datasets this tool is
benchmarked on (CIFAR-10 is 150 MB as uint8) and makes data order and augmentation exactly
reproducible and resumable. A ``--data SPEC`` is one of ``digits``, ``cifar10`` or a path.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import SizelessError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
SPLIT_SEED = 0  # subsets and validation splits are fixed, whatever the run seed


def label_space(num_classes: int, class_names: Sequence[str] | None, name: str) -> tuple:
    """What a classifier head predicts: the class names in order, or without names the dataset and class count
    (classes 0-4 and 5-9 of one dataset are five classes each, but not the same five)."""
    return (num_classes, tuple(class_names)) if class_names else (num_classes, name)


class TrainData(Protocol):
    """What the training loop needs from a dataset of any task (images, trajectories, boxes, masks).

    ``batch`` turns rows of a split into model inputs and targets (tensors, or dicts / lists of them)
    on the CPU, augmented with ``generator`` when one is given, so data order and augmentation stay
    functions of (seed, step) and a resumed run replays them.
    """

    name: str
    train: Sized
    val: Sized
    augment: bool

    def batch(self, split: Any, index: Tensor, generator: torch.Generator | None = None) -> tuple[Any, Any]: ...

    def fingerprint(self) -> list:
        """What a checkpoint must match to be resumed on this data."""
        ...


@dataclass
class Split:
    images: Tensor  # uint8 (N, C, H, W)
    labels: Tensor  # int64 (N,)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: Tensor) -> Split:
        return Split(self.images[index], self.labels[index])


@dataclass
class ImageData:
    """A train and a validation split plus what a model needs to know about them."""

    name: str
    train: Split
    val: Split
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    augment: bool = True  # random crop + flip; off for digits, where a flip changes the class
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    # with a validation split carved from train (``DataConfig.holdout``), the shipped one is kept for reporting
    test: Split | None = None

    @property
    def in_chans(self) -> int:
        return self.train.images.shape[1]

    @property
    def img_size(self) -> int:
        return self.train.images.shape[-1]

    def batch(self, split: Split, index: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Normalized float images and labels of ``split[index]``, crop + flip augmented with ``generator``."""
        images = split.images[index]
        if generator is not None:
            images = augment_batch(images, generator)
        return self.normalize(images), split.labels[index]

    @property
    def labels(self) -> tuple:
        return label_space(self.num_classes, self.class_names, self.name)

    def fingerprint(self) -> list:
        return [self.name, len(self.train), len(self.val), self.num_classes, int(self.train.labels.sum())]

    def normalize(self, images: Tensor) -> Tensor:
        x = images.float() / 255.0
        mean = torch.tensor(self.mean[: self.in_chans], device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std[: self.in_chans], device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std


@dataclass
class DataConfig:
    """How to read ``--data``: image size, subsets, where the validation split comes from."""

    spec: str = "digits"
    data_dir: str | None = None
    image_size: int | None = None
    train_subset: int | None = None
    val_subset: int | None = None
    val_fraction: float = 0.2  # used when the dataset ships no validation/test split
    classes: list[int] | None = None  # keep only these labels (re-indexed 0..k-1)
    # carve this many training images as the validation split (for choices such as the learning rate); the
    # dataset's own validation/test split becomes ``test``, only reported, never chosen on
    holdout: int | None = None
    test_subset: int | None = None
    context: int | None = None  # trajectories: context length K of a window (default: the source's, 20)


# Data of other tasks registers here: a source takes the DataConfig and returns its dataset (any
# ``TrainData``), or None when the spec is not its own (e.g. ``minari:ID``, a COCO folder).
DATA_SOURCES: list[Callable[[DataConfig], TrainData | None]] = []


def load_data(config: DataConfig | str) -> TrainData:
    """Load ``config.spec``: a registered source's dataset, else images with resizing, class filtering and subsets."""
    if isinstance(config, str):
        config = DataConfig(spec=config)
    for source in DATA_SOURCES:
        data = source(config)
        if data is not None:
            return data
    spec = config.spec
    if spec == "digits":
        data = _digits(config)
    elif spec == "cifar10":
        data = _cifar10(config)
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise SizelessError(
                f"data path {spec} does not exist; pass 'digits', 'cifar10', a parquet folder or an ImageFolder tree"
            )
        data = _parquet(path, config) if _parquet_files(path) else _image_folder(path, config)
    if config.classes:
        data = _keep_classes(data, config.classes)
    if config.image_size and config.image_size != data.img_size:
        data.train = _resize(data.train, config.image_size)
        data.val = _resize(data.val, config.image_size)
    if config.holdout:
        if config.holdout >= len(data.train):
            raise SizelessError(f"--holdout {config.holdout} leaves no training images ({data.name} has "
                                f"{len(data.train)}); carve fewer")
        data.test = data.val
        data.train, data.val = carve(data.train, config.holdout)
        data.test = _take(data.test, config.test_subset)
    data.train = _take(data.train, config.train_subset)
    data.val = _take(data.val, config.val_subset)
    return data


def with_train_subset(data: ImageData, count: int | None) -> ImageData:
    """The same dataset with a fixed subset of its training split (as ``--train-subset`` picks it)."""
    return replace(data, train=_take(data.train, count))


def fixed_permutation(total: int) -> Tensor:
    """The one seeded order (independent of the run seed) that every subset and carved split is cut from."""
    return torch.randperm(total, generator=torch.Generator().manual_seed(SPLIT_SEED))


def fixed_subset(count: int | None, total: int) -> Tensor:
    """Indices of a fixed subset, as ``--train-subset`` picks them."""
    if not count or count >= total:
        return torch.arange(total)
    return fixed_permutation(total)[:count]


def _take(split: Split, count: int | None) -> Split:
    if not count or count >= len(split):
        return split
    return split.subset(fixed_subset(count, len(split)))


def _holdout(split: Split, fraction: float) -> tuple[Split, Split]:
    return carve(split, max(1, round(len(split) * fraction)))


def carve(split: Split, count: int) -> tuple[Split, Split]:
    """``(train, val)``: a fixed random ``count`` images as a validation split, the rest for training (the same
    whatever the run seed, as ``DataConfig.holdout`` carves them)."""
    order = fixed_permutation(len(split))
    return split.subset(order[count:]), split.subset(order[:count])


def _resize(split: Split, size: int) -> Split:
    x = F.interpolate(split.images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return Split(x.round().clamp(0, 255).to(torch.uint8), split.labels)


def _keep_classes(data: ImageData, classes: list[int]) -> ImageData:
    bad = [c for c in classes if not 0 <= c < data.num_classes]
    if bad:
        raise SizelessError(f"classes {bad} are not in {data.name} (labels 0..{data.num_classes - 1})")
    lookup = torch.full((data.num_classes,), -1, dtype=torch.long)
    lookup[torch.tensor(classes)] = torch.arange(len(classes))

    def keep(split: Split) -> Split:
        mask = lookup[split.labels] >= 0
        return Split(split.images[mask], lookup[split.labels[mask]])

    names = [data.class_names[c] for c in classes] if data.class_names else [str(c) for c in classes]
    return replace(data, train=keep(data.train), val=keep(data.val), num_classes=len(classes), class_names=names,
                   test=keep(data.test) if data.test is not None else None)


def augment_batch(images: Tensor, generator: torch.Generator) -> Tensor:
    """Random crop (reflect padding of 1/8 of the side) and horizontal flip, per image."""
    n, _, h, w = images.shape
    pad = max(1, h // 8)
    padded = torch.nn.functional.pad(images.float(), (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    out[flip] = out[flip].flip(-1)
    return out.to(images.dtype)


def _digits(config: DataConfig) -> ImageData:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)
    full = Split(images, torch.from_numpy(digits.target).long())
    train, val = _holdout(full, config.val_fraction)
    return ImageData("digits", train, val, 10, [str(i) for i in range(10)], augment=False, mean=(0.5,), std=(0.5,))


def _cifar10(config: DataConfig) -> ImageData:
    from torchvision.datasets import CIFAR10

    root = Path(config.data_dir or Path.home() / ".cache" / "sizeless" / "cifar10").expanduser()
    try:
        train = CIFAR10(str(root), train=True, download=config.data_dir is None)
        test = CIFAR10(str(root), train=False, download=False)
    except (RuntimeError, OSError) as err:
        raise SizelessError(
            f"could not read or download CIFAR-10 into {root} ({err}); when offline pass --data-dir with the "
            "extracted cifar-10-batches-py folder's parent, or a parquet copy as --data PATH"
        ) from None

    def split(ds) -> Split:
        return Split(torch.from_numpy(np.asarray(ds.data)).permute(0, 3, 1, 2).contiguous(),
                     torch.tensor(ds.targets, dtype=torch.long))

    return ImageData("cifar10", split(train), split(test), 10, list(train.classes))


def _parquet_files(path: Path) -> dict[str, list[Path]]:
    """Group ``*.parquet`` files by split, from HF names like ``train-00000-of-00001.parquet``."""
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else ([path] if path.suffix == ".parquet" else [])
    groups: dict[str, list[Path]] = {}
    for f in files:
        stem = f.stem.split("-")[0].lower()
        groups.setdefault(stem, []).append(f)
    return groups


def _parquet(path: Path, config: DataConfig) -> ImageData:
    import pyarrow.parquet as pq

    groups = _parquet_files(path)
    if "train" not in groups:
        raise SizelessError(f"{path} has parquet files but none named train*.parquet (found: {', '.join(groups)})")
    val_key = next((k for k in ("validation", "valid", "val", "test") if k in groups), None)
    names: list[str] = []

    def read(files: list[Path]) -> Split:
        nonlocal names
        images, labels = [], []
        for f in files:
            try:
                table = pq.read_table(f)
            except Exception as err:  # pyarrow raises several types for foreign or truncated files
                raise SizelessError(f"{f} is not a readable parquet file ({err})") from None
            image_col, label_col = _parquet_columns(table, f)
            names = names or _class_names(table.schema, label_col)
            images += [_decode(cell, f"{f} row {i}") for i, cell in enumerate(table.column(image_col).to_pylist())]
            labels += table.column(label_col).to_pylist()
        return _stack(images, labels, path)

    train = read(groups["train"])
    val = read(groups[val_key]) if val_key else None
    if val is None:
        train, val = _holdout(train, config.val_fraction)
    num_classes = len(names) or int(max(train.labels.max(), val.labels.max())) + 1
    return ImageData(path.name, train, val, num_classes, names)


def _parquet_columns(table, file: Path) -> tuple[str, str]:
    cols = table.column_names
    image_col = next((c for c in ("img", "image", "pixel_values") if c in cols), None)
    label_col = next((c for c in ("label", "labels", "fine_label") if c in cols), None)
    if image_col is None or label_col is None:
        raise SizelessError(
            f"{file} has columns {cols}; expected an image column (img/image) and a label column (label)"
        )
    return image_col, label_col


def _class_names(schema, label_col: str) -> list[str]:
    meta = (schema.metadata or {}).get(b"huggingface")
    if not meta:
        return []
    try:
        feature = json.loads(meta)["info"]["features"][label_col]
        return list(feature.get("names", []))
    except (KeyError, ValueError, TypeError):
        return []


def _decode(cell, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    raw = cell["bytes"] if isinstance(cell, dict) else cell
    try:
        with Image.open(io.BytesIO(raw)) as img:
            return np.asarray(img.convert("L" if img.mode in ("L", "1", "I;16") else "RGB"))
    except (UnidentifiedImageError, OSError, TypeError) as err:
        raise SizelessError(f"{where}: not a readable image ({err})") from None


def _stack(images: list[np.ndarray], labels: list[int], source: Path) -> Split:
    """One uint8 tensor: grayscale joins colour as RGB when both occur; sizes differ -> square resize."""
    if not images:
        raise SizelessError(f"{source} holds no images")
    if any(im.ndim == 3 for im in images):
        images = [np.repeat(im[..., None], 3, -1) if im.ndim == 2 else im for im in images]
    shapes = {im.shape for im in images}
    if len(shapes) > 1 or any(s[0] != s[1] for s in shapes):
        side = max(max(s[:2]) for s in shapes)
        images = [_pil_resize(im, side) for im in images]
    arr = np.stack(images)
    arr = arr[:, None] if arr.ndim == 3 else arr.transpose(0, 3, 1, 2)
    return Split(torch.from_numpy(np.ascontiguousarray(arr)), torch.tensor(labels, dtype=torch.long))


def _pil_resize(image: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((side, side), Image.BILINEAR))


def _image_folder(path: Path, config: DataConfig) -> ImageData:
    """``root/CLASS/*.jpg``, or ``root/{train,val|test}/CLASS/*.jpg`` with a fixed split."""
    if not path.is_dir():
        raise SizelessError(f"{path} is neither a parquet file nor a folder")
    val_dir = next((path / d for d in ("val", "validation", "test") if (path / d).is_dir()), None)
    train_dir = path / "train" if (path / "train").is_dir() else path
    classes = sorted(d.name for d in train_dir.iterdir() if d.is_dir() and d != val_dir)
    if not classes:
        raise SizelessError(
            f"{path} has no *.parquet files and no class subfolders; expected a Hugging Face parquet folder "
            "or an ImageFolder tree (root/CLASS/image.jpg)"
        )

    def read(root: Path) -> Split:
        images, labels = [], []
        for index, name in enumerate(classes):
            for f in sorted((root / name).iterdir()) if (root / name).is_dir() else []:
                if f.suffix.lower() in IMAGE_EXTENSIONS:
                    images.append(_decode(f.read_bytes(), str(f)))
                    labels.append(index)
        return _stack(images, labels, root)

    train = read(train_dir)
    if val_dir is not None:
        val = read(val_dir)
    else:
        train, val = _holdout(train, config.val_fraction)
    return ImageData(path.name, train, val, len(classes), classes)
