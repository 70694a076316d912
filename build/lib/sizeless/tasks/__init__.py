"""Dense-prediction tasks behind one registry: each task brings its data source, heads, objective
(loss + validation metrics) and pictures; :mod:`sizeless.tasks.run` initializes, trains and
evaluates task models with any initializer's backbone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..data import DATA_SOURCES
from ..errors import SizelessError
from ..families import TRANSFORMERS
from ..initializers.base import default_fit_config
from ..models import MODEL_FORMATS
from . import detection, segmentation
from .model import DenseFormat, DenseModel, TemplatedDense


@dataclass(frozen=True)
class Task:
    """What sizeless needs to know about a dense-prediction task."""

    name: str
    load: Callable  # DataConfig -> the task's dataset, or None when the spec is not one (a DATA_SOURCES entry)
    heads: dict[str, type[nn.Module]]  # name -> head class (``for_backbone``, ``features``, ``config``)
    default_head: str  # for a ViT backbone
    cnn_head: str  # for a CNN backbone (its stages are a feature pyramid already)
    make_objective: Callable[[Any], Any]  # dataset -> objective (loss, ``evaluate_split``, ``primary_metric``)
    save_overlays: Callable  # (forward, data, split, path, count, device) -> path of a PNG grid
    default_patch: int  # ViT patch size at the task's default input size (benchmarks/dense-resolution)
    default_batch: int  # images per step
    metrics: tuple[str, ...]  # headline metrics, the first one primary (higher is better)
    # the template fit's LR: a dense head is a fresh ~0.3M-parameter network, not a linear layer, and at the
    # classifier fit's 3e-3 it wrecked an MAE bank's detector for good (benchmarks/NOTES.md: "Dense tasks on the
    # standard profile's pre-training")
    fit_lr: float = 1e-3

    def head_class(self, name: str | None, family: str = "vit") -> type[nn.Module]:
        name = name or (self.default_head if family in TRANSFORMERS else self.cnn_head)
        if name not in self.heads:
            raise SizelessError(f"unknown {self.name} head {name!r}; choose from {', '.join(self.heads)}")
        return self.heads[name]

    def objective(self, data):
        return self.make_objective(data)

    def classes(self, data) -> dict:
        """What a model records about the classes it predicts (checked against data at train / eval)."""
        out = {"num_classes": data.num_classes, "class_names": list(data.class_names)}
        if hasattr(data, "ignore_index"):
            out["ignore_index"] = data.ignore_index
        return out


TASKS: dict[str, Task] = {
    "segmentation": Task(
        "segmentation", segmentation.load_segmentation, {"dpt": segmentation.DPTHead, "fpn": segmentation.FPNHead},
        "dpt", "fpn",
        lambda data: segmentation.SegmentationObjective(data.num_classes, data.ignore_index, data.class_names),
        segmentation.save_overlays, default_patch=16, default_batch=8, metrics=("miou", "pixel_acc", "mean_acc")),
    "detection": Task(
        "detection", detection.load_detection, {"fcos": detection.FCOSDetector}, "fcos", "fcos",
        lambda data: detection.DetectionObjective(), detection.save_overlays, default_patch=16, default_batch=8,
        metrics=("map", "map_50", "map_75", "mar_100")),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise SizelessError(f"unknown task {name!r}; choose from {', '.join(TASKS)} (classification needs no "
                            "--task)") from None


def task_of(data) -> str | None:
    """The dense task a dataset is for (None: classification images or any other TrainData)."""
    return getattr(data, "dense_task", None)


def default_fit_lr(data) -> float:
    """The template fit's learning rate on ``data``: its dense task's, else the classifier fit's."""
    task = task_of(data)
    return get_task(task).fit_lr if task else default_fit_config().lr


def resolve_task(task: str | None, data) -> Task | None:
    """The task to run: ``--task`` when given (it must match the data), else the one the data implies."""
    implied = task_of(data)
    if task is None or task == "classification":
        if task == "classification" and implied:
            raise SizelessError(f"--task classification but {data.name} is {implied} data")
        return get_task(implied) if implied else None
    chosen = get_task(task)
    if implied != chosen.name:
        what = f"{implied} data" if implied else "a classification dataset (class folders or labels)"
        layout = {"segmentation": "SPLIT/images + SPLIT/masks", "detection": "SPLIT/images + SPLIT/annotations.json"}
        raise SizelessError(f"--task {task} but {data.name} is {what}; {task} reads a {layout[task]} folder")
    return chosen


def build_head(task: str, config: dict) -> nn.Module:
    """A head from its recorded config (``DenseFormat.load``)."""
    config = dict(config)
    cls = get_task(task).head_class(config.pop("name", None))
    return cls(**config)


for _task in TASKS.values():
    if _task.load not in DATA_SOURCES:
        DATA_SOURCES.append(_task.load)
MODEL_FORMATS["dense"] = DenseFormat(build_head)

__all__ = ["TASKS", "DenseModel", "Task", "TemplatedDense", "build_head", "default_fit_lr", "get_task", "resolve_task",
           "task_of"]
