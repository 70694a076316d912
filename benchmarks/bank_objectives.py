"""Which bank should the project build by default? Supervised vs distilled vs multi-size, equal budget.

    python benchmarks/bank_objectives.py --data ../shared/data/cifar10-jpeg --out benchmarks/bank-objectives

Transfer protocol: every bank is pre-trained on the source classes (default: CIFAR-10 classes
0-4) for the same number of steps; each then initializes unseen sizes for the target classes
(5-9) with the same fit budget, and the models train with the same budget. The distillation
teacher is a wider, deeper plain ViT trained by `sizeless train` on the source data.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from statistics import mean

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from common import provenance, provenance_md, write_results

from sizeless.api import evaluate_model, initialize_full, pretrain, train
from sizeless.data import DataConfig, load_data, with_train_subset
from sizeless.initializers.base import default_fit_config
from sizeless.objectives import DistillConfig
from sizeless.training import TrainConfig


def labels(text: str) -> list[int]:
    return [int(c) for c in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/bank-objectives"))
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--source-classes", type=labels, default=labels("0,1,2,3,4"))
    parser.add_argument("--target-classes", type=labels, default=labels("5,6,7,8,9"))
    parser.add_argument("--bank-size", default="64x4")
    parser.add_argument("--extra-size", default="128x4", help="second size of the multi-size bank")
    parser.add_argument("--sizes", default="64x6,96x4,128x6")
    parser.add_argument("--pretrain-images", type=int, default=8000)
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--teacher-size", default="128x6")
    parser.add_argument("--teacher-epochs", type=int, default=8)
    parser.add_argument("--fit-images", type=int, default=2000)
    parser.add_argument("--fit-steps", type=int, default=150)
    parser.add_argument("--train-images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--val-images", type=int, default=2000)
    args = parser.parse_args()
    meta = provenance()
    work = args.work or args.out / "work"
    source_full = load_data(DataConfig(args.data, classes=args.source_classes, val_subset=args.val_images))
    target_full = load_data(DataConfig(args.data, classes=args.target_classes, val_subset=args.val_images))
    source = with_train_subset(source_full, args.pretrain_images)
    fit_data, target = (with_train_subset(target_full, n) for n in (args.fit_images, args.train_images))

    _, teacher = train(None, source, TrainConfig(epochs=args.teacher_epochs), size=args.teacher_size,
                       out=work / "teacher", resume=True)
    budget = TrainConfig(epochs=args.pretrain_epochs)
    kronecker = {"template_width": 32, "num_templates": 4}
    banks = {
        "supervised": pretrain(source, [args.bank_size], constraint_config=kronecker, config=budget,
                               out=work / "bank-supervised", resume=True),
        "distill": pretrain(source, [args.bank_size], constraint_config=kronecker, config=budget,
                            objective="distill", distill=DistillConfig(str(work / "teacher")),
                            out=work / "bank-distill", resume=True),
        "multi-size": pretrain(source, [args.bank_size, args.extra_size], constraint_config=kronecker,
                               config=budget, out=work / "bank-multi-size", resume=True),
    }
    rows = []
    sizes = args.sizes.split(",")
    for name, bank in banks.items():
        for size in sizes:
            run = work / f"{name}-{size}"
            init = initialize_full(size, fit_data, bank=bank, fit=replace(default_fit_config(), steps=args.fit_steps),
                                   out=run / "init")
            _, result = train(run / "init", target, TrainConfig(epochs=args.epochs, **init.meta["recommended"]),
                              out=run / "train", resume=True)
            after_init = evaluate_model(init.model, target)["acc"]
            rows.append({"bank": name, "size": init.meta["size"], "after_init": after_init,
                         "final": result.history[-1]["val_acc"], "bank_steps": bank.config["steps"],
                         "bank_seconds": bank.config["seconds"], "bank_source_val_acc": bank.config["val_acc"]})
    for size in sizes:
        _, result = train(None, target, TrainConfig(epochs=args.epochs), size=size,
                          patch_size=banks["supervised"].image.patch_size, out=work / f"scratch-{size}", resume=True)
        rows.append({"bank": "none (random init)", "size": size, "after_init": None,
                     "final": result.history[-1]["val_acc"]})
    meta.update(teacher_val_acc=teacher.history[-1]["val_acc"], args={k: str(v) for k, v in vars(args).items()})
    write_results(args.out, rows, meta)
    plot(rows, args.out / "final_by_size.png")
    report(rows, meta, args, args.out / "report.md")


def plot(rows: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for bank in dict.fromkeys(r["bank"] for r in rows):
        sel = [r for r in rows if r["bank"] == bank]
        ax.plot(range(len(sel)), [100 * r["final"] for r in sel], marker="o", label=bank)
    ax.set_xticks(range(len(sel)), [r["size"] for r in sel])
    ax.set(xlabel="target size (unseen)", ylabel="final accuracy on target classes (%)",
           title="banks at equal pre-training budget")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(rows: list[dict], meta: dict, args, path: Path) -> None:
    lines = ["# Bank objectives at equal pre-training budget (transfer)\n",
             f"Source: classes {args.source_classes}, {args.pretrain_images} images, {args.pretrain_epochs} epochs "
             f"for every bank; distillation teacher ViT {args.teacher_size} trained {args.teacher_epochs} epochs on "
             f"the same images (val acc {100 * meta['teacher_val_acc']:.2f}%). Target: classes {args.target_classes}, "
             f"{args.fit_steps} fit steps on {args.fit_images} images, then {args.epochs} epochs on "
             f"{args.train_images} images.\n",
             "| bank | size | after init | final |", "|---|---|---:|---:|"]
    for r in rows:
        after = f"{100 * r['after_init']:.2f}%" if r["after_init"] is not None else "-"
        lines.append(f"| {r['bank']} | {r['size']} | {after} | {100 * r['final']:.2f}% |")
    lines += ["", "| bank | mean final | mean after init |", "|---|---:|---:|"]
    for bank in dict.fromkeys(r["bank"] for r in rows):
        sel = [r for r in rows if r["bank"] == bank]
        after = [r["after_init"] for r in sel if r["after_init"] is not None]
        lines.append(f"| {bank} | {100 * mean(r['final'] for r in sel):.2f}% | "
                     f"{f'{100 * mean(after):.2f}%' if after else '-'} |")
    lines += ["", "![final accuracy](final_by_size.png)", "", provenance_md(meta)]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
