"""Ablations that set the project's defaults: how free vectors are handled, and the LR after init.

    python benchmarks/ablations.py --data digits --out benchmarks/ablations-digits

A. vectors="template" (biases, norms, embeddings composed from vector templates) against
   vectors="free" (plain parameters, resized to seed new sizes): one bank each, same budget.
B. Peak LR and warm-up when training after template init, against the random-init recipe.
Each target: unseen sizes, template init with --fit-steps, then --epochs of training.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from statistics import mean

from common import provenance, provenance_md, write_results

from sizeless.api import initialize_full, pretrain, train
from sizeless.data import DataConfig, load_data
from sizeless.initializers.base import RECOMMENDED_FINETUNE, default_fit_config
from sizeless.training import TrainConfig

LR_RECIPES = {"lr 1e-3, warm-up 10% (random-init recipe)": (1e-3, 0.1), "lr 5e-4, warm-up 2%": (5e-4, 0.02),
              "lr 2.5e-4, warm-up 2%": (2.5e-4, 0.02)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="digits")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/ablations-digits"))
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--bank-size", default="64x4")
    parser.add_argument("--sizes", default="64x8,128x4,96x6")
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--pretrain-images", type=int, default=None)
    parser.add_argument("--train-images", type=int, default=None)
    parser.add_argument("--val-images", type=int, default=None)
    parser.add_argument("--fit-steps", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    meta = provenance()
    work = args.work or args.out / "work"
    pre = load_data(DataConfig(args.data, train_subset=args.pretrain_images, val_subset=args.val_images))
    target = load_data(DataConfig(args.data, train_subset=args.train_images, val_subset=args.val_images))
    budget = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    fit = replace(default_fit_config(), steps=args.fit_steps)
    rows = []

    def run(study: str, variant: str, bank, size: str, lr: float, warmup: float) -> None:
        init_dir = work / f"init-{bank.config['constraint_config']['vectors']}-{size}"
        init = initialize_full(size, target, bank=bank, fit=fit, seed=args.seed, out=init_dir)
        config = replace(budget, lr=lr, warmup=warmup)
        tag = f"{study}-{variant}-{size}".replace(" ", "").replace(",", "_").replace("%", "").replace("(", "") \
            .replace(")", "")
        _, result = train(init_dir, target, config, out=work / f"train-{tag}", resume=True)
        first, last = result.history[0], result.history[-1]
        rows.append({"study": study, "variant": variant, "size": init.meta["size"],
                     "after_init": init.meta["fit_val_acc"], "epoch1": first["val_acc"], "final": last["val_acc"]})

    banks = {}
    for vectors in ("template", "free"):
        banks[vectors] = pretrain(
            pre, [args.bank_size], constraint_config={"template_width": 32, "num_templates": 4, "vectors": vectors},
            config=TrainConfig(epochs=args.pretrain_epochs, batch_size=64, lr=2e-3, seed=args.seed),
            out=work / f"bank-{vectors}", resume=True)
        for size in args.sizes.split(","):
            run("A: vectors", vectors, banks[vectors], size, RECOMMENDED_FINETUNE["lr"], RECOMMENDED_FINETUNE["warmup"])
    for name, (lr, warmup) in LR_RECIPES.items():
        for size in args.sizes.split(","):
            run("B: LR after init", name, banks["template"], size, lr, warmup)
    write_results(args.out, rows, meta)
    lines = [f"# Ablations on {args.data}\n",
             f"Bank {args.bank_size} (template width 32, N=4, {args.pretrain_epochs} epochs); unseen sizes "
             f"{args.sizes}; {args.fit_steps} fit steps; {args.epochs} epochs of training (batch {args.batch_size}). "
             "Mean validation accuracy over the sizes.\n",
             "| study | variant | after init | after epoch 1 | final |", "|---|---|---:|---:|---:|"]
    for study, variant in dict.fromkeys((r["study"], r["variant"]) for r in rows):
        sel = [r for r in rows if r["study"] == study and r["variant"] == variant]
        lines.append(f"| {study} | {variant} | {100 * mean(r['after_init'] for r in sel):.2f}% | "
                     f"{100 * mean(r['epoch1'] for r in sel):.2f}% | {100 * mean(r['final'] for r in sel):.2f}% |")
    lines += ["", provenance_md(meta)]
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
