"""Objectives turn a batch into a loss: each is a small callable with the same shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Forward = Callable[[Tensor], Tensor]
# Objectives of other tasks register a factory ``fn(data, config) -> objective`` under their name (e.g.
# "behavior-cloning"); pretrain and train look names up here after their built-in ones.
OBJECTIVES: dict[str, Callable] = {}


def objective_name(objective: str | None, family) -> str:
    """The objective to train with: a family's own (``family.objective``, e.g. behavior cloning for a policy)
    stands in for the classifier default "supervised"."""
    own = getattr(family, "objective", None)
    return own if own and objective in (None, "supervised") else objective or "supervised"


def family_objective(family, data, config):
    """The family's own loss object for stages that train without naming one (scaler fitting, direct
    pre-training); None means cross-entropy."""
    name = getattr(family, "objective", None)
    return OBJECTIVES[name](data, config) if name else None


class Supervised:
    """Cross-entropy on labels (WeiT's constraint-based pre-training, and ordinary training)."""

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    def __call__(self, forward: Forward, images: Tensor, labels: Tensor,
                 indices: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        logits = forward(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        correct = (logits.argmax(-1) == labels).sum().item()
        return loss, {"correct": float(correct)}


def distillation_loss(student: Tensor, teacher: Tensor, labels: Tensor, temperature: float, kd_weight: float,
                      ce_weight: float) -> tuple[Tensor, Tensor, Tensor]:
    """``kd_weight * tau^2 * KL(p_teacher^tau || p_student^tau) + ce_weight * CE(student, labels)``."""
    kd = F.kl_div(F.log_softmax(student / temperature, -1), F.log_softmax(teacher / temperature, -1),
                  log_target=True, reduction="batchmean") * temperature**2
    ce = F.cross_entropy(student, labels)
    return kd_weight * kd + ce_weight * ce, kd, ce


@dataclass
class DistillConfig:
    """WAVE-style distillation settings (stored in the bank config)."""

    teacher: str  # timm name, model folder / local-dir:PATH, or checkpoint file (with teacher_arch)
    teacher_arch: str | None = None
    temperature: float = 4.0
    kd_weight: float = 1.0
    ce_weight: float = 1.0
    cache_logits: bool = False  # per-image teacher logits, computed once (needs augmentation off)
    allow_pickle: bool = False


class Distill:
    """WAVE's objective: soft distillation to an ancestry model's logits plus cross-entropy on labels.

    The teacher runs in eval mode without gradients on the batch re-normalized to its own
    mean/std and resized to its input size, so any timm classifier over the same classes can teach.
    """

    def __init__(self, teacher: nn.Module, data_mean, data_std, temperature: float = 4.0, kd_weight: float = 1.0,
                 ce_weight: float = 1.0, cache_size: int | None = None):
        cfg = getattr(teacher, "pretrained_cfg", {}) or {}
        self.teacher = teacher.eval().requires_grad_(False)
        chans, *self.input_size = cfg.get("input_size", (len(data_mean), None, None))
        self.chans = chans

        def column(values) -> Tensor:
            return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)

        self.data_stats = column(data_mean), column(data_std)
        self.teacher_stats = column(cfg.get("mean", data_mean)), column(cfg.get("std", data_std))
        self.temperature, self.kd_weight, self.ce_weight = temperature, kd_weight, ce_weight
        # per-image logits of the un-augmented training set, filled on first sight (cache_size images)
        self.cache: Tensor | None = None
        self.cache_size = cache_size

    @torch.no_grad()
    def teacher_logits(self, images: Tensor) -> Tensor:
        """Undo the data's normalization, match the teacher's channels, size and normalization."""
        self.teacher.to(images.device)
        d_mean, d_std = (s.to(images.device) for s in self.data_stats)
        t_mean, t_std = (s.to(images.device) for s in self.teacher_stats)
        x = images * d_std + d_mean
        if x.shape[1] == 1 and self.chans != 1:
            x = x.expand(-1, self.chans, -1, -1)  # grayscale data, colour teacher
        x = (x - t_mean) / t_std
        if self.input_size[0] and list(x.shape[-2:]) != list(self.input_size):
            x = F.interpolate(x, size=tuple(self.input_size), mode="bilinear", align_corners=False, antialias=True)
        return self.teacher(x).float()

    def cached_logits(self, images: Tensor, indices: Tensor) -> Tensor:
        if self.cache is None:
            self.cache = torch.full((self.cache_size, self.teacher.num_classes), float("nan"))
        missing = torch.isnan(self.cache[indices, 0])
        if missing.any():
            self.cache[indices[missing]] = self.teacher_logits(images[missing.to(images.device)]).cpu()
        return self.cache[indices].to(images.device)

    def __call__(self, forward: Forward, images: Tensor, labels: Tensor,
                 indices: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        if self.cache_size and indices is not None:
            teacher = self.cached_logits(images, indices)
        else:
            teacher = self.teacher_logits(images)
        logits = forward(images)
        loss, _, _ = distillation_loss(logits, teacher, labels, self.temperature, self.kd_weight, self.ce_weight)
        return loss, {"correct": float((logits.argmax(-1) == labels).sum().item())}
