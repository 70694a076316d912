"""What a plain model costs: its parameters and its measured latency (MACs: :mod:`sizeless.flops`)."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

import torch
from torch import Tensor, nn

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


def latency_ms(model: nn.Module, inputs: Tensor | dict[str, Tensor], threads: int = 1, warmup: int = 3,
               repeats: int = 10) -> float:
    """Median wall time (ms) of one inference forward of the batch ``inputs`` (a dict: keyword inputs) on this
    machine's CPU, with ``threads`` intra-op threads, after ``warmup`` untimed forwards."""
    forward = (lambda: model(**inputs)) if isinstance(inputs, dict) else (lambda: model(inputs))
    times = []
    with _threads(threads), eval_mode(model), torch.inference_mode():
        for _ in range(warmup):
            forward()
        for _ in range(repeats):
            start = time.perf_counter()
            forward()
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)
