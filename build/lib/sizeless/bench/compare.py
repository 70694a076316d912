"""Another bench's runs reported beside this one's (``--compare-with``).

A bank variant (a narrower bank, another template count) is judged against baselines that already ran under the
same target protocol; running them again would cost hours and give the same numbers. The report then computes the
gaps and their noise itself instead of leaving them to hand arithmetic.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import SizelessError
from ..files import read_json

# what two benches must share for their runs to stand in one table: the target data, its splits and budget
TARGET_PROTOCOL = ("family", "data", "data_dir", "target_data", "source_classes", "target_classes", "task", "metric",
                   "epochs", "fit_steps", "fit_lr", "batch_size", "target_batch_size", "train_subset", "holdout",
                   "test_subset", "val_subset", "warmup", "image_size", "task_patch_size")


def comparable_bench(config: dict, root: Path, protocol: tuple[str, ...] = TARGET_PROTOCOL) -> dict:
    """The record (``results.json``) of the bench in ``root``, refused in one line when it judged its runs under
    another target protocol than ``config`` (a bench's settings as its record stores them; ``protocol`` names the
    settings that make the protocol, the image bench's unless a family's bench judges by more)."""
    root = Path(root)
    if root.resolve() == Path(config["out"]).resolve():
        raise SizelessError("--compare-with names this bench's own folder; name the bench whose baselines to show")
    record = read_json(root / "results.json", "--compare-with names a bench that has run (its results.json)")
    clash = differences(record.get("meta", {}).get("config", {}), config, protocol)
    if clash:
        raise SizelessError(f"--compare-with {root} judged its runs under another target protocol: {clash}; "
                            "compare benches with the same target data, splits and budget")
    return record


def differences(theirs: dict, ours: dict, names: tuple[str, ...]) -> str:
    """``name theirs (this bench: ours)`` for every name whose values differ; empty when none does."""
    return ", ".join(f"{n} {theirs.get(n)} (this bench: {ours.get(n)})" for n in names if theirs.get(n) != ours.get(n))


def compared_rows(record: dict, root: Path, own_rows: list[dict], own_methods: list[str]) -> list[dict]:
    """The other bench's rows of the methods this bench does not run, at the sizes it ran, marked with their bench."""
    sizes = {row["size"] for row in own_rows}
    return [{**row, "bench": str(root)} for row in record.get("rows", [])
            if row["method"] not in own_methods and row["size"] in sizes]
