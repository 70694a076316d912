"""Shared bits of the benchmark scripts: provenance, result files, step timing."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor, nn

from sizeless.bench.generate import GenerateBench
from sizeless.bench.report import provenance  # noqa: F401  (the scripts' one record of command, machine, date)
from sizeless.constraints import KroneckerConstraint
from sizeless.families.base import Kind
from sizeless.files import write_csv


def write_results(out: Path, rows: list[dict], meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    write_csv(out / "results.csv", rows)


def reuse_metric_classifier(source: Path, work: Path) -> dict:
    """Start ``work`` (a new bench generate cache) with the metric classifier and real-image features of the finished
    bench whose cache is ``source``; returns their recorded cost as ledger rows, so the reuse is counted, not hidden.
    A bench given its classifier (``--feature-model``) holds only its hash record: the probe must be given it too."""
    work.mkdir(parents=True)
    if (source / "classifier").is_dir():
        shutil.copytree(source / "classifier", work / "classifier")
    else:
        shutil.copy(source / "metric_classifier.json", work)
    shutil.copy(source / "real_features.safetensors", work)
    ledger = json.loads((source / "ledger.json").read_text())
    return {k: ledger[k] for k in ("classifier", "real-features") if k in ledger}


def start_probe_work(source: Path | None, work: Path, inputs: Iterable[str] = ()) -> None:
    """Start ``work`` (a probe's bench generate cache) from the finished bench cached in ``source``: its metric
    classifier and real-image features, and the pre-trained input folders ``inputs`` (``NAME-lrLR``) with their
    validation losses, each with its recorded cost in the new ledger. Nothing when ``work`` exists (a resumed probe)
    or there is no ``source`` (the probe's bench then trains its own classifier, as its first stage)."""
    if work.exists() or source is None:
        return
    ledger = reuse_metric_classifier(source, work)
    recorded = json.loads((source / "ledger.json").read_text())
    scores = json.loads((source / "pretrain_lrs.json").read_text()) if inputs else {}
    kept = {}
    for folder in inputs:
        shutil.copytree(source / folder, work / folder)
        ledger[folder] = recorded[folder]
        name = folder.rpartition("-lr")[0]
        kept[name] = scores[name]
    if kept:
        (work / "pretrain_lrs.json").write_text(json.dumps(kept, indent=2))
    (work / "ledger.json").write_text(json.dumps(ledger, indent=2))


def probe_parser(doc: str, source_help: str) -> argparse.ArgumentParser:
    """The flags of a DiT probe that reuses a finished bench: ``--from`` its work folder, ``--out``, ``--data``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, help=source_help + "; default: train it here")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", default="../shared/data/cifar10-jpeg")
    return parser


def start_scalers_with(rewrite: Callable[[Kind, Tensor, torch.Generator], Tensor | None]) -> None:
    """Patch every Kronecker scaler start a probe's pre-training draws: ``rewrite(kind, drawn, generator)`` returns the
    kind's new ``(L, N, m1, m2)`` start, or None to keep the drawn one."""
    drawn = KroneckerConstraint.init_scalers

    def start(self, kinds, generator):
        out = drawn(self, kinds, generator)
        for kind in kinds:
            new = rewrite(kind, out[kind.name], generator)
            if new is not None:
                out[kind.name] = new
        return out

    KroneckerConstraint.init_scalers = start


def provenance_md(meta: dict) -> str:
    device = f" ({meta['device']})" if "device" in meta else ""  # results written before the machine named it
    return f"- command: `{meta['command']}`\n- machine: {meta['machine']}{device}\n- date: {meta['date']}\n"


def step_timer(module: nn.Module, loss_of: Callable[[nn.Module], Tensor],
               after: Callable[[], None] | None = None) -> Callable[[], tuple[float, float]]:
    """One optimizer step (forward, backward, AdamW) in wall and CPU seconds. One optimizer serves every call, so
    its state is made once, in the warm-up, as in a training loop, not timed in every step."""
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4)

    def step() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        loss = loss_of(module)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if after is not None:  # what the training loop does after every step (a ramp bank's projection)
            after()
        return time.perf_counter() - wall, time.process_time() - cpu

    return step


def interleaved_medians(steps: dict[str, Callable[[], tuple[float, float]]], repeats: int,
                        warmup: int = 2) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each named step over ``repeats`` rounds after ``warmup`` rounds; the steps
    take turns within a round, so a busy machine slows all of them alike and their ratio stays honest."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    for round_ in range(warmup + repeats):
        for name, step in steps.items():
            measured = step()
            if round_ >= warmup:
                times[name].append(measured)
    return {name: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
            for name, ts in times.items()}


def pretrain_with_seed(seed: int) -> None:
    """Patch every bench generate built after this to pre-train its inputs (bank, learngene) from ``seed``: the
    template and scaler init and the pre-training batches, where the benches use 0."""
    built = GenerateBench.__init__

    def seeded(self, cfg):
        built(self, cfg)
        self.train_config = replace(self.train_config, seed=seed)

    GenerateBench.__init__ = seeded
