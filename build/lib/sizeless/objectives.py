"""Objectives turn a batch into a loss: each is a small callable with the same shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Forward = Callable[[Tensor], Tensor]


class Supervised:
    """Cross-entropy on labels (WeiT's constraint-based pre-training, and ordinary training)."""

    plain_cost = True  # a step costs the model's forward and backward alone: 6 MACs per example (DESIGN 2.7)

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    def __call__(self, forward: Forward, images: Tensor, labels: Tensor,
                 indices: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        logits = forward(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        correct = (logits.argmax(-1) == labels).sum().item()
        return loss, {"correct": float(correct)}


def soft_kl(student: Tensor, teacher: Tensor, temperature: float = 1.0) -> Tensor:
    """``tau^2 * KL(p_teacher^tau || p_student^tau)``, averaged over the batch."""
    return F.kl_div(F.log_softmax(student / temperature, -1), F.log_softmax(teacher / temperature, -1),
                    log_target=True, reduction="batchmean") * temperature**2


def distillation_loss(student: Tensor, teacher: Tensor, labels: Tensor, temperature: float, kd_weight: float,
                      ce_weight: float) -> tuple[Tensor, Tensor, Tensor]:
    """``kd_weight * tau^2 * KL(p_teacher^tau || p_student^tau) + ce_weight * CE(student, labels)``."""
    kd = soft_kl(student, teacher, temperature)
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


def _supervised(data, config, **_) -> Supervised:
    return Supervised(config.label_smoothing)


def _distill(data, config, distill: DistillConfig | None = None, **_) -> Distill:
    from .errors import SizelessError
    from .teachers import load_teacher

    if distill is None:
        raise SizelessError("--objective distill needs a teacher: --teacher NAME|FOLDER|FILE")
    teacher = load_teacher(distill.teacher, distill.teacher_arch, distill.allow_pickle)
    if teacher.num_classes != data.num_classes:
        raise SizelessError(f"the teacher predicts {teacher.num_classes} classes but {data.name} has "
                            f"{data.num_classes}; distill on the teacher's label space")
    if distill.cache_logits and config.augments(data):
        raise SizelessError("teacher logits can be cached only without augmentation: add --no-augment")
    return Distill(teacher, data.mean, data.std, distill.temperature, distill.kd_weight, distill.ce_weight,
                   cache_size=len(data.train) if distill.cache_logits else None)


def _diffusion(data, config, diffusion=None, **_):
    from .diffusion import Diffusion, DiffusionConfig

    return Diffusion(diffusion or DiffusionConfig(), data.num_classes)


# Objectives the trainer runs as ``loss(forward, inputs, targets)`` on the model itself, by name:
# ``factory(data, train_config, **settings)`` (settings: ``distill=DistillConfig``, ``diffusion=DiffusionConfig``).
# Other tasks register theirs here (e.g. "behavior-cloning", from the module that defines it); a family lists
# the names it trains with in ``family.objectives``. MAE, which trains a decoder beside the model, has its own
# path in the API.
OBJECTIVES: dict[str, Callable] = {"supervised": _supervised, "distill": _distill, "diffusion": _diffusion}


def default_objective(family, data, config, record: dict | None = None):
    """The loss a family's models train with by default (its first objective: what a template fit, direct
    pre-training and evaluation use), with the settings a bank or model folder ``record``-ed (a noise schedule)."""
    from .diffusion import DiffusionConfig

    settings = (record or {}).get("diffusion") or {}
    return OBJECTIVES[family.objectives[0]](data, config, diffusion=DiffusionConfig(**settings))
