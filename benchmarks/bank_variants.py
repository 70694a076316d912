"""Which bank initializes unseen sizes best? Bank variants at one budget, judged right after init.

    python benchmarks/bank_variants.py --data ../shared/data/cifar10-jpeg --out benchmarks/bank-variants \\
        --variants plain,sampled-wd

Every variant is a 64x6 Kronecker bank pre-trained for the same number of steps on the same images
(a variant that samples sizes per step spends different FLOPs, recorded beside it); each then
initializes the target sizes with the same short fit, and the validation split carved from train
(never the test split) judges them: what the method work chooses on. Optionally each init also
trains for ``--epochs`` on ``--train-images`` (``--epochs 0``: at init only).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from common import provenance, provenance_md, write_results

from sizeless.api import evaluate_model, initialize_full, pretrain, train
from sizeless.data import DataConfig, load_data, with_train_subset
from sizeless.initializers.base import RECOMMENDED_FINETUNE, default_fit_config
from sizeless.sampling import SizeSampling
from sizeless.training import TrainConfig

VARIANTS = {  # name -> (Kronecker settings, size sampling)
    "plain": ({"template_width": 32, "num_templates": 4}, None),
    "n2": ({"template_width": 32, "num_templates": 2}, None),
    "n8": ({"template_width": 32, "num_templates": 8}, None),
    "sampled-w": ({"template_width": 32, "num_templates": 4}, SizeSampling((32, 64, 96))),
    "sampled-d": ({"template_width": 32, "num_templates": 4}, SizeSampling(depths=(3, 6, 10))),
    "sampled-wd": ({"template_width": 32, "num_templates": 4}, SizeSampling((32, 64, 96), depths=(3, 6, 10))),
    "sampled-wd-sandwich": ({"template_width": 32, "num_templates": 4},
                            SizeSampling((32, 64, 96), "sandwich", (3, 6, 10))),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/bank-variants"))
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--variants", default="plain,sampled-wd")
    parser.add_argument("--bank-size", default="64x6")
    parser.add_argument("--sizes", default="32x6,64x3,64x10,96x6,128x4")
    parser.add_argument("--holdout", type=int, default=5000)
    parser.add_argument("--val-images", type=int, default=2000, help="of the holdout, for speed")
    parser.add_argument("--pretrain-images", type=int, default=20000)
    parser.add_argument("--pretrain-epochs", type=int, default=6)
    parser.add_argument("--fit-steps", type=int, default=20)
    parser.add_argument("--train-images", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=0)
    args = parser.parse_args()
    meta = provenance()
    work = args.work or args.out / "work"
    full = load_data(DataConfig(args.data, holdout=args.holdout, val_subset=args.val_images))
    source, target = with_train_subset(full, args.pretrain_images), with_train_subset(full, args.train_images)
    rows = []
    for name in args.variants.split(","):
        constraint_config, sampling = VARIANTS[name]
        bank = pretrain(source, [args.bank_size], constraint_config=constraint_config, size_sampling=sampling,
                        config=TrainConfig(epochs=args.pretrain_epochs), out=work / f"bank-{name}", resume=True)
        for size in args.sizes.split(","):
            run = work / f"{name}-{size}"
            fit = replace(default_fit_config(), steps=args.fit_steps)
            init = initialize_full(size, target, bank=bank, fit=fit, out=run / "init")
            row = {"variant": name, "size": init.meta["size"], "bank_val_acc": bank.config["val_acc"],
                   "bank_seconds": bank.config["seconds"], "at_init": evaluate_model(init.model, full)["acc"]}
            if args.epochs:
                config = TrainConfig(epochs=args.epochs, **RECOMMENDED_FINETUNE, spent_steps=args.fit_steps)
                _, result = train(run / "init", target, config, out=run / "train", resume=True)
                row["final"] = result.history[-1]["val_acc"]
            rows.append(row)
            print(row, flush=True)
    write_results(args.out, rows, meta)
    lines = ["# Bank variants, judged on validation right after init\n",
             f"Bank {args.bank_size}, {args.pretrain_epochs} epochs on {len(source.train):,} images; "
             f"{args.fit_steps} fit steps; validation: {len(full.val):,} images carved from train.\n",
             "| variant | bank val acc | " + " | ".join(args.sizes.split(",")) + " | mean |",
             "|---|---:|" + "---:|" * (len(args.sizes.split(",")) + 1)]
    for name in args.variants.split(","):
        mine = [r for r in rows if r["variant"] == name]
        key = "final" if args.epochs else "at_init"
        accs = [100 * r[key] for r in mine]
        bank_acc = ", ".join(f"{k} {100 * v:.1f}" for k, v in mine[0]["bank_val_acc"].items())
        lines.append(f"| {name} | {bank_acc} | " + " | ".join(f"{a:.2f}" for a in accs) +
                     f" | {sum(accs) / len(accs):.2f} |")
    (args.out / "report.md").write_text("\n".join(lines) + "\n\n" + provenance_md(meta))


if __name__ == "__main__":
    main()
