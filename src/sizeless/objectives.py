"""Objectives turn a batch into a loss: each is a small callable with the same shape."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

Forward = Callable[[Tensor], Tensor]


class Supervised:
    """Cross-entropy on labels (WeiT's constraint-based pre-training, and ordinary training)."""

    name = "supervised"

    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    def __call__(self, forward: Forward, images: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        logits = forward(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        correct = (logits.argmax(-1) == labels).sum().item()
        return loss, {"correct": float(correct)}


OBJECTIVES = {"supervised": Supervised}
