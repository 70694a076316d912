"""Template init vs random init on CIFAR-10 (JPEG copy), at sizes the bank never saw.

One bank is pre-trained on 40k training images; each unseen size gets template init (scalers
fitted for 200 steps on 2k images) and random init, then both train for 2 epochs on 10k images
with the same budget. Writes results.csv/json, report.md and curves.png under --out.

    python benchmarks/cifar_templates.py --data ../shared/data/cifar10-jpeg --out benchmarks/cifar10-vit
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from common import provenance, provenance_md, write_results

from sizeless.api import evaluate_model, initialize_full, pretrain, train
from sizeless.data import DataConfig, load_data
from sizeless.initializers.base import default_fit_config
from sizeless.training import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="CIFAR-10 parquet folder (or any --data spec)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/cifar10-vit"))
    parser.add_argument("--work", type=Path, default=None, help="banks and runs (default: OUT/work, not committed)")
    parser.add_argument("--bank-size", default="64x4")
    parser.add_argument("--sizes", default="64x6,96x4,128x6", help="unseen target sizes")
    parser.add_argument("--template-width", type=int, default=32)
    parser.add_argument("--num-templates", type=int, default=4)
    parser.add_argument("--vectors", default="template")
    parser.add_argument("--pretrain-images", type=int, default=40_000)
    parser.add_argument("--pretrain-epochs", type=int, default=8)
    parser.add_argument("--fit-images", type=int, default=2_000)
    parser.add_argument("--fit-steps", type=int, default=200)
    parser.add_argument("--train-images", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--val-images", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    meta = provenance()
    work = args.work or args.out / "work"

    def data(n: int):
        return load_data(DataConfig(args.data, train_subset=n, val_subset=args.val_images))

    bank = pretrain(
        data(args.pretrain_images), [args.bank_size],
        constraint_config={"template_width": args.template_width, "num_templates": args.num_templates,
                           "vectors": args.vectors},
        config=TrainConfig(epochs=args.pretrain_epochs, seed=args.seed), out=work / "bank", resume=True,
    )
    fit_data, train_data = data(args.fit_images), data(args.train_images)
    budget = TrainConfig(epochs=args.epochs, seed=args.seed)
    rows, curves = [], {}
    for size in args.sizes.split(","):
        t0 = time.perf_counter()
        fit = replace(default_fit_config(), steps=args.fit_steps)
        init = initialize_full(size, fit_data, bank=bank, fit=fit, seed=args.seed, out=work / f"init-{size}")
        init_seconds = time.perf_counter() - t0
        runs = {
            "templates": (work / f"init-{size}", replace(budget, **init.meta["recommended"])),
            "scratch": (None, budget),
        }
        scratch = initialize_full(size, train_data, method="scratch", patch_size=bank.image.patch_size,
                                  seed=args.seed)
        at_init = {"templates": init.meta["fit_val_acc"], "scratch": evaluate_model(scratch.model, train_data)["acc"]}
        for method, (model, config) in runs.items():
            t0 = time.perf_counter()
            trained, result = train(model, train_data, config, size=size, patch_size=bank.image.patch_size,
                                    out=work / f"train-{method}-{size}", resume=True)
            curves[(size, method)] = [(0.0, at_init[method])] + [(r["epoch"], r["val_acc"]) for r in result.history]
            for r in result.history:
                rows.append({
                    "size": init.meta["size"], "method": method, "epoch": r["epoch"], "val_acc": r["val_acc"],
                    "val_loss": r["val_loss"], "train_loss": r["train_loss"],
                    "params": sum(p.numel() for p in trained.parameters()),
                    "after_init_acc": at_init[method],
                    "init_seconds": init_seconds if method == "templates" else 0.0,
                    "train_seconds": time.perf_counter() - t0,
                })
    meta.update(bank_seconds=bank.config["seconds"], bank_val_acc=bank.config["val_acc"], args=vars(args) | {
        "out": str(args.out), "work": str(work)})
    write_results(args.out, rows, meta)
    plot(curves, args.out / "curves.png")
    report(rows, meta, args, args.out / "report.md")


def plot(curves: dict, path: Path) -> None:
    sizes = list(dict.fromkeys(s for s, _ in curves))
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.5 * len(sizes), 3.6), sharey=True)
    for ax, size in zip(axes if len(sizes) > 1 else [axes], sizes, strict=False):
        for method, style in (("templates", "o-"), ("scratch", "s--")):
            pts = curves[(size, method)]
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], style, label=method)
        ax.set(title=f"ViT {size} (unseen size)", xlabel="epoch (0 = right after init)")
        ax.grid(alpha=0.3)
    axes_list = axes if len(sizes) > 1 else [axes]
    axes_list[0].set_ylabel("validation accuracy (%)")
    axes_list[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(rows: list[dict], meta: dict, args, path: Path) -> None:
    final = {}
    for r in rows:
        final[(r["size"], r["method"])] = r
    lines = [
        "# Template init vs random init on CIFAR-10 (JPEG copy)\n",
        f"Bank: ViT {args.bank_size}, Kronecker, template width {args.template_width}, {args.num_templates} templates "
        f"per kind, vectors={args.vectors}, pre-trained {args.pretrain_epochs} epochs on {args.pretrain_images} "
        f"images ({meta['bank_seconds']:.0f}s; val acc {meta['bank_val_acc']}).",
        f"Targets: {args.fit_steps} scaler-fit steps on {args.fit_images} images, then {args.epochs} epochs on "
        f"{args.train_images} images, same budget for both methods; accuracy on {args.val_images} test images.\n",
        "| size | params | templates: after init | templates: final | scratch: after init | scratch: final | gain |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size in dict.fromkeys(r["size"] for r in rows):
        t, s = final[(size, "templates")], final[(size, "scratch")]
        gain = 100 * (t["val_acc"] - s["val_acc"])
        lines.append(f"| {size} | {t['params']:,} | {100 * t['after_init_acc']:.2f}% | {100 * t['val_acc']:.2f}% | "
                     f"{100 * s['after_init_acc']:.2f}% | {100 * s['val_acc']:.2f}% | {gain:+.2f} |")
    lines += ["", "![curves](curves.png)", "", provenance_md(meta)]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
