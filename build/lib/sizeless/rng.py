"""Seeded work without touching a caller's random stream.

timm's initializers (and a fresh head, a MAE decoder) draw from the global generators, so a
reproducible build has to seed them; seeding them for good would change the random stream of
the program that called sizeless. ``keep_rng`` forks the global state and hands the caller's
state back on exit; ``seeded`` seeds inside such a fork. Scopes nest: inside an API call (one
fork), a seeded block reseeds the call's stream and what it leaves behind stays until the call
returns, exactly as ``torch.manual_seed`` inside the call used to behave, so results are those
of the unforked code while the caller sees no draw at all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_scope = threading.local()


@contextmanager
def keep_rng() -> Iterator[None]:
    """The global generators are restored on exit from the outermost scope (also usable as a decorator).

    The CPU generator is always forked; a CUDA device only when the runtime is already initialized
    (forking would initialize it, and seeding an uninitialized runtime queues the seed for every
    device, past the fork). Models are built on the CPU, so their weights depend on the CPU seed.
    """
    if getattr(_scope, "devices", None) is not None:  # nested: the outer scope restores
        yield
        return
    devices = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        _scope.devices = devices
        try:
            yield
        finally:
            _scope.devices = None


def reseed(seed: int) -> None:
    """Seed the global generators inside the enclosing :func:`keep_rng` scope (only there: outside
    one it would reseed a caller's stream for good)."""
    devices = getattr(_scope, "devices", None)
    if devices is None:
        raise RuntimeError("reseed() outside keep_rng(): it would change the caller's random stream")
    torch.random.default_generator.manual_seed(seed)
    for device in devices:  # the CUDA device the outermost scope forked, if any
        torch.cuda.default_generators[device].manual_seed(seed)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """The block runs on the global generators seeded at ``seed``, forked by :func:`keep_rng`."""
    with keep_rng():
        reseed(seed)
        yield
