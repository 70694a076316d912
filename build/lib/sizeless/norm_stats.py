"""BatchNorm running statistics for a model whose weights were just composed or selected.

Running statistics are buffers, not weights: nothing composes them, and statistics gathered
while the scalers were still moving (or none, after a fit of 0 steps) do not describe the final
weights. They are re-estimated from scratch (cumulative average) on a few batches of fit data.
"""

from __future__ import annotations

import torch
from torch import nn

from .data import ImageData

DEFAULT_BATCHES = 20


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, data: ImageData, batches: int = DEFAULT_BATCHES,
                         batch_size: int = 128, seed: int = 0) -> None:
    """Reset every BatchNorm's running mean/var and average them over ``batches`` training batches."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
    was_training = model.training
    model.train()
    device = next(model.parameters()).device
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))
    for start in range(0, min(len(order), batches * batch_size), batch_size):
        idx = order[start:start + batch_size]
        model(data.normalize(data.train.images[idx].to(device)))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.train(was_training)
