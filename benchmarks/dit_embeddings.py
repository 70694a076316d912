"""Which way to treat diffusers' per-block timestep/label embedders in a templated DiT: shared, templated or free.

    OMP_NUM_THREADS=1 python benchmarks/dit_embeddings.py --data ../shared/data/cifar10-jpeg

Three Kronecker banks with the same data, steps and seed differ only in the family's ``embeddings``
option; each is judged by its held-out denoising loss (fixed timesteps and noise) on a validation split
carved from the training images, and after initializing an unseen size (new width and depth) with the
same short fit. Lower is better. The label table is task-specific in all three (new at init).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from statistics import mean, stdev

from common import provenance, provenance_md, write_results

from sizeless.api import evaluate_model, initialize_full, pretrain
from sizeless.bench.generate import Ledger
from sizeless.data import DataConfig, load_data
from sizeless.families.dit import EMBEDDINGS
from sizeless.training import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/dit-embeddings"))
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--bank-size", default="64x4")
    parser.add_argument("--target-size", default="96x6")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--fit-steps", type=int, default=40)
    parser.add_argument("--val-images", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    meta = provenance()
    work = args.work or args.out / "work"
    data = load_data(DataConfig(args.data, holdout=args.val_images))  # LRs and losses on images carved from train
    ledger = Ledger(work / "ledger.json")
    budget = TrainConfig(steps=args.steps, batch_size=64, lr=1e-3, warmup=0.05, weight_decay=0.0)
    fit = TrainConfig(steps=args.fit_steps, batch_size=64, lr=3e-3, warmup=0.1, weight_decay=0.0, min_lr=1e-4)
    rows = []
    for seed in range(args.seeds):
        for mode in EMBEDDINGS:
            tag = f"{mode}-seed{seed}" if seed else mode  # seed 0 keeps the first run's folders
            with ledger.stage(f"bank-{tag}"):
                bank = pretrain(data, [args.bank_size], family="dit", family_config={"embeddings": mode},
                                constraint_config={"template_width": 32, "num_templates": 4},
                                config=replace(budget, seed=seed), out=work / f"bank-{tag}", resume=True)
            with ledger.stage(f"init-{tag}"):
                init = initialize_full(args.target_size, data, bank=bank, fit=fit, seed=seed,
                                       out=work / f"init-{tag}")
            free = sum(v.numel() for k, v in bank.tensors.items() if k.startswith("free/"))
            rows.append({"embeddings": mode, "seed": seed,
                         "bank_val_loss": next(iter(bank.config["val_loss"].values())),
                         "target_val_loss_after_fit": evaluate_model(init.model, data, family="dit")["loss"],
                         "template_params": bank.config["template_params"], "free_params": free,
                         "scaler_params": init.meta["scaler_params"],
                         "target_params": sum(p.numel() for p in init.model.parameters())})
            print(rows[-1])
    meta.update(budget=vars(budget), fit=vars(fit), bank_size=args.bank_size, target_size=args.target_size,
                cost=ledger.total())
    write_results(args.out, rows, meta)
    lines = ["# DiT embedders in a templated model: shared, templated or free", "",
             f"Kronecker banks at {args.bank_size} (template width 32, N=4), {args.steps} steps of batch 64 on "
             f"CIFAR-10-jpeg training images (LR 1e-3, no weight decay); target {args.target_size} (new width and "
             f"depth), {args.fit_steps} fit steps. Held-out denoising loss (MSE of the predicted noise at fixed "
             f"timesteps and noise) on {args.val_images} images carved from the training split; lower is better.",
             f" Mean ± std over {args.seeds} seeds (bank, scalers and fit data order all follow the seed).",
             "", "| embeddings | bank val loss | target val loss after fit | template params | free params |",
             "|---|---:|---:|---:|---:|"]
    for mode in EMBEDDINGS:
        mine = [r for r in rows if r["embeddings"] == mode]

        def stat(key, mine=mine):
            values = [r[key] for r in mine]
            return f"{mean(values):.4f}" + (f" ± {stdev(values):.4f}" if len(values) > 1 else "")

        lines.append(f"| {mode} | {stat('bank_val_loss')} | {stat('target_val_loss_after_fit')} | "
                     f"{mine[0]['template_params']:,} | {mine[0]['free_params']:,} |")
    lines += ["", f"Cost: {meta['cost']['cpu_s'] / 60:.1f} CPU-minutes (process time, 1 thread), "
              f"{meta['cost']['wall_s'] / 60:.1f} minutes wall on the shared CPU.", "", provenance_md(meta)]
    (args.out / "report.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
