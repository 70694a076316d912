"""Cheap probes of the issue-10 method questions on sklearn digits (8x8, minutes on a laptop CPU).

    python benchmarks/digits_probes.py --out benchmarks/digits-probes

Two questions, judged on a 300-image validation split carved from train, right after init and after
a 20-step fit, at five sizes around a 64x4 Kronecker bank (32x4 narrower, 64x2 shallower, 64x6
deeper, 96x4 wider, 128x3 wider and shallower):

1. Size sampling: does a bank trained with stochastic widths (32, 64, 96) and depths (2-6), for the
   same steps, initialize other sizes better than a bank trained at 64x4 only? And a ``paired`` bank,
   whose every step trains 64x4 and 32x4, the narrow one distilled in place from the wide one's
   logits (the narrow passes add about a quarter to each step's FLOPs), at distillation weight 1
   and 0.25, and with template width 16 instead of 32 (so the narrow size has 2x2 scalers, not 1x1)?
2. Narrowing rule: a narrower width keeps the leading replicas of each template scaler (the shipped
   rule, what a width-sampled bank trains). The probe ``pool`` averages the replicas instead (rows
   by mean, input columns by sum, which keeps each output's magnitude); it patches
   ``kronecker.resize_stack`` for that variant only, as a candidate rule, not the shipped one.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from common import provenance, provenance_md, write_results

import sizeless.constraints.kronecker as kronecker
from sizeless.api import evaluate_model, initialize_full, pretrain
from sizeless.data import DataConfig, load_data
from sizeless.initializers.base import default_fit_config
from sizeless.sampling import SizeSampling
from sizeless.training import TrainConfig

SIZES = ("32x4", "64x2", "64x6", "96x4", "128x3")
# name: (size sampling, template width)
BANKS = {"plain": (None, 32), "sampled": (SizeSampling((32, 64, 96), depths=(2, 3, 4, 5, 6)), 32),
         "paired-w1": (SizeSampling((32,), "paired", paired_weight=1.0), 32),
         "paired": (SizeSampling((32,), "paired"), 32),
         "plain-tw16": (None, 16), "paired-tw16": (SizeSampling((32,), "paired"), 16)}
SHIPPED_RESIZE = kronecker.resize_stack


def pooled_resize(stack: torch.Tensor, layers: int, m1: int, m2: int, fan_in: bool, ramp: bool = False) -> torch.Tensor:
    """Narrower widths average the replicas (inputs summed) instead of keeping the leading ones."""
    _layers, _x, s1, s2 = stack.shape
    if m1 <= s1 and m2 <= s2 and (m1, m2) != (s1, s2):
        pooled = F.adaptive_avg_pool2d(stack.to(torch.float64), (m1, m2))
        if fan_in:
            pooled = pooled * (s2 / m2)
        return SHIPPED_RESIZE(pooled.to(stack.dtype), layers, m1, m2, False, ramp)
    return SHIPPED_RESIZE(stack, layers, m1, m2, fan_in, ramp)


def probe_sizes(bank_name: str, bank, rule: str, data) -> list[dict]:
    """Accuracy right after init and after a 20-step fit at every probe size."""
    rows = []
    for size in SIZES:
        row = {"bank": bank_name, "narrowing": rule, "size": size,
               "bank_val_acc": round(100 * bank.config["val_acc"]["64x4h2"], 2),
               "bank_gflops": round(bank.config["train_flops"] / 1e9, 1)}
        for steps in (0, 20):
            init = initialize_full(size, data, bank=bank, fit=replace(default_fit_config(), steps=steps))
            row[f"val_acc_fit{steps}"] = round(100 * evaluate_model(init.model, data)["acc"], 2)
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/digits-probes"))
    parser.add_argument("--work", type=Path, default=None, help="where banks are cached (default OUT/work)")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    work = args.work or args.out / "work"
    data = load_data(DataConfig("digits", holdout=300))
    rows = []
    for bank_name, (sampling, template_width) in BANKS.items():
        bank = pretrain(data, ["64x4"], constraint_config={"template_width": template_width, "num_templates": 4},
                        size_sampling=sampling, config=TrainConfig(epochs=args.epochs, batch_size=64, lr=2e-3),
                        out=work / f"bank-{bank_name}", resume=True)
        rules = ("slice", "pool") if bank_name == "plain" else ("slice",)
        for rule in rules:
            kronecker.resize_stack = pooled_resize if rule == "pool" else SHIPPED_RESIZE
            try:
                rows += probe_sizes(bank_name, bank, rule, data)
            finally:  # the next bank trains with the shipped rule (before 2026-12-05 a sampled bank trained pooled)
                kronecker.resize_stack = SHIPPED_RESIZE
    meta = provenance()
    write_results(args.out, rows, meta)
    lines = ["# Digits probes (issue 10): size sampling and the narrowing rule", "",
             "Validation accuracy (%) on 300 digits carved from train, 64x4 Kronecker banks (template width 32 "
             f"unless the name says 16, 4 templates, {args.epochs} epochs; paired banks distil at weight 0.25 unless "
             "the name says w1), right after init and after a 20-step fit.", "",
             "| bank | bank training GFLOPs | narrowing | size | after init | after 20 fit steps |",
             "|---|---:|---|---|---:|---:|"]
    lines += [f"| {r['bank']} | {r['bank_gflops']:,.0f} | {r['narrowing']} | {r['size']} | {r['val_acc_fit0']:.1f} "
              f"| {r['val_acc_fit20']:.1f} |" for r in rows]
    lines += ["", provenance_md(meta)]
    (args.out / "report.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
