"""Compute accounting: multiply-accumulates of a forward pass, and training FLOPs from them.

Counted by PyTorch's own ``FlopCounterMode`` (matrix products, convolutions and attention) on the
meta device, so counting a large model costs no memory and no arithmetic. Training FLOPs follow
the usual convention: a forward pass is 2 FLOPs per MAC and a backward pass twice a forward, so
one training image costs ``6 * MACs``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

TRAIN_FLOPS_PER_MAC = 6  # forward (2) + backward (4)


def macs_per_example(build: Callable[[], nn.Module], example: Callable[[], object]) -> int:
    """MACs of one forward pass of ``build()`` on ``example()`` (a batch of one), built on the meta device."""
    with torch.device("meta"):
        model = build().eval()  # a batch of one: BatchNorm in training mode would refuse 1x1 maps
        inputs = example()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(inputs)
    return counter.get_total_flops() // 2


def macs_per_image(model_fn: Callable[[], nn.Module], in_chans: int, img_size: int) -> int:
    """MACs of one forward pass of an image model over one ``in_chans x img_size x img_size`` image."""
    return macs_per_example(model_fn, lambda: torch.zeros(1, in_chans, img_size, img_size))


def training_flops(macs: int, images: int) -> int:
    """FLOPs of training on ``images`` examples (forward + backward) of a model with ``macs`` per example."""
    return TRAIN_FLOPS_PER_MAC * macs * images


def cumulative_macs(draw: Callable[[int], Hashable], macs_of: Callable[[Hashable], int]) -> Iterator[int]:
    """Running per-example MACs over steps 0, 1, 2, ...: each step at the size it drew (counted once per size)."""
    cache: dict[Hashable, int] = {}
    total, step = 0, 0
    while True:
        where = draw(step)
        if where not in cache:
            cache[where] = macs_of(where)
        total += cache[where]
        yield total
        step += 1
