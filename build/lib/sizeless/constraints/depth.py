"""The depth rule every constraint seeds a new size by: what a shallower size keeps of a pre-trained stack."""

from __future__ import annotations

import torch
from torch import Tensor


def leading_layers(stack: Tensor, layers: int) -> Tensor:
    """The first ``layers`` entries of a per-layer ``stack`` (dim 0) when the new size is shallower; else ``stack``.

    A prefix of a trained network is itself a network whose residual stream the final norm and head
    can read; an ``l/(L-1)`` blend of neighbouring layers is not. On the standard profile's 64x6 ViT
    bank, before any fit: 64x4 starts at 53.9% (blend: 20.0%), 64x3 at 42.9% (blend: 13.5%)
    (benchmarks/depth-rule). A deeper size still interpolates over ``l/(L-1)``, which the callers
    do after this; a TLEG ramp is not cut (it must stay the exact ramp of its new depth).
    """
    return stack[:layers] if layers < stack.shape[0] else stack


def project_to_line(stack: Tensor) -> Tensor:
    """The least-squares line ``A + t_l B`` (``t_l = l/(L-1)``) through a per-layer ``stack`` (dim 0).

    Ramp scalers live on this line, so a deeper size's interpolated scalers continue it exactly, as
    TLEG's learngene's do (a free stack, interpolated, bends wherever its layers bend). One or two
    layers are a line already.
    """
    layers = stack.shape[0]
    if layers <= 2:
        return stack
    design = torch.stack([torch.ones(layers), torch.linspace(0, 1, layers)], 1).to(stack)
    coefficients = torch.linalg.lstsq(design, stack.reshape(layers, -1)).solution
    return (design @ coefficients).reshape(stack.shape)
