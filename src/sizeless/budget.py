"""What a plain model costs: parameters, multiply-accumulates per image, and measured latency.

MACs are counted by PyTorch's own ``torch.utils.flop_counter.FlopCounterMode`` on a batch-1
forward over the meta device (shapes only, no arithmetic: the cost grows with the number of
operations, not with width or resolution). It counts the matrix products and convolutions
(linear layers, convolutions, attention's two batched products) as 2 FLOPs per
multiply-accumulate, so MACs = FLOPs / 2; element-wise work (norms, activations, softmax,
pooling, biases) is not counted, as in fvcore's default counts. On the meta device attention runs through its math
decomposition, so it is counted whichever fused kernel the real forward would pick.
"""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from .families import ImageSpec


def count_params(model: nn.Module) -> int:
    """Parameters of ``model`` (shared ones once): what ``model.safetensors`` holds, minus buffers."""
    return sum(p.numel() for p in model.parameters())


@contextmanager
def _eval(model: nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def macs_per_image(model: nn.Module, image_spec: ImageSpec) -> int:
    """Multiply-accumulates of one forward of one ``image_spec`` image through ``model`` (in eval mode).

    Runs on meta copies of the parameters and buffers, so the model's own tensors and device are
    untouched and the cost is independent of its size.
    """
    meta = {name: torch.empty_like(t, device="meta")
            for name, t in [*model.named_parameters(remove_duplicate=False), *model.named_buffers()]}
    image = torch.empty(1, image_spec.in_chans, image_spec.img_size, image_spec.img_size, device="meta")
    with _eval(model), FlopCounterMode(display=False) as counter, torch.no_grad():
        functional_call(model, meta, (image,), tie_weights=False)
    return counter.get_total_flops() // 2


@contextmanager
def _threads(count: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def latency_ms(model: nn.Module, image_spec: ImageSpec, batch_size: int = 1, threads: int = 1, warmup: int = 3,
               repeats: int = 10) -> float:
    """Median wall time (ms) of one inference forward of a ``batch_size`` batch on this machine's CPU,
    with ``threads`` intra-op threads, after ``warmup`` untimed forwards."""
    images = torch.randn(batch_size, image_spec.in_chans, image_spec.img_size, image_spec.img_size,
                         generator=torch.Generator().manual_seed(0))
    times = []
    with _threads(threads), _eval(model), torch.inference_mode():
        for _ in range(warmup):
            model(images)
        for _ in range(repeats):
            start = time.perf_counter()
            model(images)
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)
