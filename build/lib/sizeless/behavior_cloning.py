"""Behavior cloning for Decision Transformers: return-conditioned action regression.

The policy sees K steps of (return-to-go, state, action) and predicts each step's action from its
state token; the loss is the mean squared error over real (unpadded) steps and action dimensions,
as in the Decision Transformer paper. Validation reports the same error on held-out episodes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .objectives import OBJECTIVES


def predict_actions(forward: Callable, inputs: dict) -> Tensor:
    """Action predictions of a plain ``DecisionTransformerModel``, a ``TemplateNet`` or a forward function."""
    out = forward(**inputs) if isinstance(forward, nn.Module) else forward(inputs)
    return out.action_preds if hasattr(out, "action_preds") else out[1]


def masked_mse(pred: Tensor, target: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Sum of squared errors over ``mask`` and the number of masked-in entries."""
    return ((pred.float() - target) ** 2 * mask).sum(), mask.sum()


class BehaviorCloning:
    """Mean squared error on continuous actions (no accuracy to report)."""

    reports_accuracy = False
    plain_cost = True  # a step costs the policy's forward and backward alone (no teacher, no decoder)

    def __call__(self, forward: Callable, inputs: dict, targets: dict,
                 indices: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        sse, count = masked_mse(predict_actions(forward, inputs), targets["actions"], targets["mask"])
        return sse / count.clamp(min=1), {}

    @torch.no_grad()
    def score(self, forward: Callable, inputs: dict, targets: dict) -> dict[str, float]:
        """Per-window sums: the batch's mean action error, weighted by its windows (``evaluate`` averages)."""
        sse, count = masked_mse(predict_actions(forward, inputs), targets["actions"], targets["mask"])
        windows = len(targets["mask"])
        return {"loss": (sse / count.clamp(min=1)).item() * windows}


OBJECTIVES["behavior-cloning"] = lambda data, config, **_: BehaviorCloning()
