"""What the DiT benchmark scripts share: the CIFAR split, step counting by FLOPs, CPU-time accounting."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch

from sizeless.data import ImageData, Split

SPLIT_SEED = 0


def carve_validation(data: ImageData, count: int) -> tuple[ImageData, Split]:
    """``(data with a validation split carved from train, the original held-out split)``: hyper-parameters are
    chosen on the carved split, results are reported on the held-out (test) split."""
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(SPLIT_SEED))
    val, train = data.train.subset(order[:count]), data.train.subset(order[count:])
    return replace(data, train=train, val=val), data.val


def dit_flops(size: str, tokens: int) -> float:
    """Multiply-adds of one DiT forward per image (attention projections, MLP, attention scores, adaLN)."""
    width, depth = (int(v) for v in size.split("h")[0].split("x"))
    per_token = 12 * width * width + 2 * tokens * width
    return depth * (tokens * per_token + 6 * width * width)


class Ledger:
    """Process CPU time and wall time of every stage, kept in a JSON file so a resumed run adds to it."""

    def __init__(self, path: Path):
        self.path = path
        self.rows = json.loads(path.read_text()) if path.exists() else {}

    @contextmanager
    def stage(self, name: str):
        if name in self.rows:  # finished in an earlier run: its cost is already counted
            yield
            return
        cpu, wall = time.process_time(), time.perf_counter()
        yield
        self.rows[name] = {"cpu_s": round(time.process_time() - cpu, 1), "wall_s": round(time.perf_counter() - wall, 1)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.rows, indent=1) + "\n")

    def total(self) -> dict:
        return {k: round(sum(r[k] for r in self.rows.values()), 1) for k in ("cpu_s", "wall_s")}
