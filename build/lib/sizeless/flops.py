"""Compute accounting: multiply-accumulates of a forward pass, and training FLOPs from them.

Counted by PyTorch's own ``FlopCounterMode`` on the meta device (shapes only: counting a large
model costs no memory and no arithmetic). It counts the matrix products and convolutions (linear
layers, convolutions, attention's two batched products) at 2 FLOPs per multiply-accumulate, so
MACs = FLOPs / 2; element-wise work (norms, activations, softmax, pooling, biases) is not
counted, as in fvcore's default counts. On the meta device attention runs through its math
decomposition, so it is counted whichever fused kernel the real forward would pick. Training
FLOPs follow the usual convention: a forward pass is 2 FLOPs per MAC and a backward pass twice a
forward, so one training image costs ``6 * MACs``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

TRAIN_FLOPS_PER_MAC = 6  # forward (2) + backward (4)


@contextmanager
def eval_mode(model: nn.Module):
    """Eval mode for a batch of one (BatchNorm in training mode would refuse 1x1 maps), then the mode it had."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def model_macs(model: nn.Module, example: torch.Tensor | dict[str, torch.Tensor]) -> int:
    """MACs of one forward pass of a built ``model`` on ``example`` (a batch of one; a dict is passed as keyword
    inputs), in eval mode.

    Runs on meta copies of its parameters and buffers, so the model's own tensors, device and mode
    are left as they were and counting costs no arithmetic, whatever the model's size.
    """
    meta = {name: torch.empty_like(t, device="meta")
            for name, t in [*model.named_parameters(remove_duplicate=False), *model.named_buffers()]}
    if isinstance(example, dict):
        args, kwargs = (), {k: v.to("meta") for k, v in example.items()}
    else:
        args, kwargs = (example.to("meta"),), {}
    counter = FlopCounterMode(display=False)
    with eval_mode(model), counter, torch.no_grad():
        functional_call(model, meta, args, kwargs, tie_weights=False)
    return counter.get_total_flops() // 2


def macs_per_example(build: Callable[[], nn.Module], example: Callable[[], torch.Tensor | dict]) -> int:
    """MACs of one forward pass of ``build()`` on ``example()`` (a batch of one), built on the meta device."""
    with torch.device("meta"):
        model = build()
        inputs = example()
    return model_macs(model, inputs)


def macs_per_image(model: nn.Module | Callable[[], nn.Module], in_chans: int, img_size: int) -> int:
    """MACs of one forward pass of an image model over one ``in_chans x img_size x img_size`` image.

    ``model`` is a built model (an exported one, say) or a function that builds it (built on the meta
    device, so counting a size never allocates its weights).
    """
    image = lambda: torch.zeros(1, in_chans, img_size, img_size, device="meta")  # noqa: E731
    if isinstance(model, nn.Module):
        return model_macs(model, image())
    return macs_per_example(model, image)


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


def steps_spending(flops: float, macs: int, batch_size: int) -> int:
    """Training steps of ``batch_size`` examples that spend ``flops`` on a model of ``macs`` per example (at least
    one): how a FLOPs-matched baseline's budget is turned into steps."""
    return max(1, round(flops / training_flops(macs, batch_size)))
