"""Shared bits of the benchmark scripts: provenance, result files."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import sys
from pathlib import Path

import torch

from sizeless.files import write_csv


def provenance() -> dict:
    """The command, machine and date a result came from (quoted beside every number)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
    }


def write_results(out: Path, rows: list[dict], meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    write_csv(out / "results.csv", rows)


def provenance_md(meta: dict) -> str:
    return (f"- command: `{meta['command']}`\n- machine: {meta['machine']} ({meta['device']})\n"
            f"- date: {meta['date']}\n")
