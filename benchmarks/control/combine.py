"""One table of final scores from several policy benches: each method's runs from the first bench that holds them.

    python benchmarks/control/combine.py bench-walker2d-medexp-sampled-carried bench-walker2d-medexp-p2000-carried \
        bench-walker2d-medexp-p2000

A bench's `--compare-with` shows one other bench's methods; when a method was rerun under a new rule in a third
bench, this reads them all. Per size: mean ± sample std over seeds of the score at the end of the budget, and the
templates' lead over the best other method in standard errors of the difference.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path
from statistics import mean, stdev

ROOT = Path(__file__).parent


def final_scores(bench: Path) -> dict[tuple[str, str], list[float]]:
    """``(method, size) -> scores`` at the end of the bench's budget (one per seed)."""
    record = json.loads((bench / "results.json").read_text())
    budget = record["meta"]["config"]["train_steps"]
    scores = defaultdict(list)
    for row in record["rows"]:
        if row["status"] == "ok" and row["step"] == budget:
            scores[row["method"], row["size"]].append(row["score"])
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benches", nargs="+", help="bench folders (under benchmarks/control or paths), first wins")
    benches = [b if b.exists() else ROOT / b for b in map(Path, parser.parse_args().benches)]
    final: dict[tuple[str, str], list[float]] = {}
    for bench in benches:
        for key, scores in final_scores(bench).items():
            final.setdefault(key, scores)
    methods = list(dict.fromkeys(m for m, _ in final))
    print("| size | " + " | ".join(methods) + " | templates' lead |")
    print("|---|" + "---:|" * (len(methods) + 1))
    for size in dict.fromkeys(s for _, s in final):
        cells = {m: final[m, size] for m in methods if (m, size) in final}
        text = [f"{mean(cells[m]):.1f} ± {stdev(cells[m]):.1f}" if m in cells else "n/a" for m in methods]
        others = {m: v for m, v in cells.items() if m != "templates"}
        lead = "n/a"
        if "templates" in cells and others:
            best = max(others, key=lambda m: mean(others[m]))
            ours, theirs = cells["templates"], others[best]
            se = math.sqrt(stdev(ours) ** 2 / len(ours) + stdev(theirs) ** 2 / len(theirs))
            lead = f"{mean(ours) - mean(theirs):+.1f} over {best} ({(mean(ours) - mean(theirs)) / se:+.1f} SE)"
        print(f"| {size} | " + " | ".join(text) + f" | {lead} |")


if __name__ == "__main__":
    main()
