"""Which layers a shallower (or deeper) size takes from a bank: template init before any fit.

A bank pre-trained at one depth seeds every other depth from its per-layer scalers and free
vectors. This compares the rules for picking them, on a bank's own data, right after init (no fit,
the bank's head resized), so nothing but the rule differs:

- prefix: the leading layers for a shallower size, l/(L-1) interpolation for a deeper one (the rule
  since 2026-12-05);
- interpolate: l/(L-1) interpolation both ways (the rule before; TLEG's ramps still use it);
- nearest: the layer nearest to l/(L-1) of the source, both ways (no blending);
- prefix+last: the leading layers and the last one (shallower); deeper repeats the second-to-last.

    python benchmarks/depth_rule.py --bank benchmarks/standard-cifar10/bank-a2951426 \
        --data ../shared/data/cifar10-jpeg --sizes 64x4,64x3,64x10,128x4,32x6
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from common import provenance, provenance_md, write_results

import sizeless.constraints.kronecker as kronecker
from sizeless.api import evaluate_model, initialize
from sizeless.bank import TemplateBank
from sizeless.data import DataConfig, load_data
from sizeless.initializers.base import default_fit_config


def _pick(rule: str, source: int, layers: int) -> list[int]:
    if rule == "nearest":
        return [round(i * (source - 1) / max(layers - 1, 1)) for i in range(layers)]
    if layers <= source:  # prefix+last
        return [*range(layers - 1), source - 1]
    return [*range(source - 1), *[source - 2] * (layers - source), source - 1]


def depth_rule(rule: str):
    """The constraint's depth selection under ``rule``; what it returns, the constraint then interpolates."""
    def select(stack, layers):
        if rule == "prefix":
            return stack[:layers] if layers < len(stack) else stack
        if rule == "interpolate" or layers == len(stack):
            return stack
        return stack[_pick(rule, len(stack), layers)]
    return select


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bank", type=Path, required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/depth-rule"))
    parser.add_argument("--sizes", default="64x4,64x3,64x10,128x4,32x6")
    parser.add_argument("--rules", default="prefix,interpolate,nearest,prefix+last")
    parser.add_argument("--holdout", type=int, default=2000, help="validation images carved from train (judged on)")
    args = parser.parse_args()
    meta = provenance()
    bank = TemplateBank.load(args.bank)
    if bank.config["constraint"] != "kronecker":
        raise SystemExit(f"{args.bank} is a {bank.config['constraint']} bank; this ablation patches the Kronecker "
                         "constraint's depth rule only")
    data = load_data(DataConfig(args.data, train_subset=512, holdout=args.holdout, test_subset=10))
    no_fit = replace(default_fit_config(), steps=0)
    rows = []
    for size in args.sizes.split(","):
        for rule in args.rules.split(","):
            kronecker.leading_layers = depth_rule(rule)
            result = evaluate_model(initialize(size, data, bank=bank, fit=no_fit), data)
            rows.append({"size": size, "rule": rule, "acc": round(100 * result["acc"], 2),
                         "loss": round(result["loss"], 4)})
            print(rows[-1], flush=True)
    write_results(args.out, rows, meta)
    rules = args.rules.split(",")
    lines = ["# Depth rule: template init before any fit\n",
             f"Bank `{args.bank}` ({bank.config['sizes'][0]}, {bank.config['constraint']}); accuracy (%) on "
             f"{args.holdout} validation images carved from {args.data}'s train split, right after init (no fit "
             "steps, the bank's head).\n", "| size | " + " | ".join(rules) + " |", "|---|" + "---:|" * len(rules)]
    for size in args.sizes.split(","):
        by_rule = {r["rule"]: r["acc"] for r in rows if r["size"] == size}
        best = max(by_rule.values())
        lines.append(f"| {size} | " + " | ".join(f"**{by_rule[r]:.1f}**" if by_rule[r] == best else
                                                 f"{by_rule[r]:.1f}" for r in rules) + " |")
    (args.out / "report.md").write_text("\n".join(lines) + "\n\n" + provenance_md(meta))


if __name__ == "__main__":
    main()
