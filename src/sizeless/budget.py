"""What a plain model costs: its parameters and its measured latency (MACs: :mod:`sizeless.flops`)."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

import torch
from torch import nn

from .families import ImageSpec
from .flops import eval_mode


def count_params(model: nn.Module) -> int:
    """Parameters of ``model`` (shared ones once): what ``model.safetensors`` holds, minus buffers."""
    return sum(p.numel() for p in model.parameters())


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
    with _threads(threads), eval_mode(model), torch.inference_mode():
        for _ in range(warmup):
            model(images)
        for _ in range(repeats):
            start = time.perf_counter()
            model(images)
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)
