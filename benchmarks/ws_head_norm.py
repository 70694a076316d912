"""Weight selection for ConvNeXt: select the teacher's ``head.norm`` (sizeless) or leave it at its default.

The public weight-selection code skips every parameter whose name starts with "head", so a
ConvNeXt student's final LayerNorm (``head.norm``, before the classifier) starts at timm's
default (weight 1, bias 0); sizeless selects it from the teacher like every other non-classifier
tensor. This trains one ConvNeXt teacher, weight-selects each student size both ways, and trains
every student for the same short budget at the recommended fine-tuning LR.

    python benchmarks/ws_head_norm.py --data ../shared/data/cifar10-jpeg
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from common import provenance, write_results

from sizeless.api import evaluate_model, initialize_full, train
from sizeless.data import DataConfig, load_data, with_train_subset
from sizeless.initializers.base import RECOMMENDED_FINETUNE
from sizeless.models import save_model
from sizeless.plotting import plt, save_figure
from sizeless.training import TrainConfig

VARIANTS = ("selected from teacher", "timm default (reference code)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/ws-head-norm"))
    parser.add_argument("--teacher-size", default="32x3-3-3-3")
    parser.add_argument("--sizes", default="16x2-2-2-2,16x3-3-3-3,32x2-2-2-2")
    parser.add_argument("--teacher-subset", type=int, default=8000)
    parser.add_argument("--train-subset", type=int, default=4000)
    parser.add_argument("--val-subset", type=int, default=2000)
    parser.add_argument("--teacher-epochs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()

    full = load_data(DataConfig(args.data, val_subset=args.val_subset))
    teacher_data = with_train_subset(full, args.teacher_subset)
    data = with_train_subset(full, args.train_subset)
    work = args.out / "work"
    teacher = work / "teacher"
    train(None, teacher_data, TrainConfig(epochs=args.teacher_epochs, lr=3e-3), size=args.teacher_size,
          family="convnext", out=teacher, resume=True)
    teacher_acc = evaluate_model(teacher, data)["acc"]
    rows = []
    for size in args.sizes.split(","):
        for seed in range(args.seeds):
            init = initialize_full(size, data, method="weight-selection", teacher=teacher, seed=seed,
                                   family="convnext")
            for variant in VARIANTS:
                model = init.model if variant == VARIANTS[0] else with_default_head_norm(init.model)
                at_init = evaluate_model(model, data)["acc"]
                budget = replace(TrainConfig(epochs=args.epochs, seed=seed), **RECOMMENDED_FINETUNE)
                with tempfile.TemporaryDirectory() as tmp:
                    save_model(model, tmp, init.architecture, init.model_args, data, init.meta)
                    _, result = train(tmp, data, budget)
                rows.append({"size": size, "seed": seed, "head_norm": variant, "acc_at_init": at_init,
                             "acc_final": result.history[-1]["val_acc"],
                             "curve": [r["val_acc"] for r in result.history]})
                print({k: v for k, v in rows[-1].items() if k != "curve"}, flush=True)
    meta = {**provenance(), "teacher_acc": teacher_acc, **vars(args) | {"out": str(args.out)}}
    write_results(args.out, rows, meta)
    report(args.out, rows, meta)


def with_default_head_norm(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of the weight-selected student with ``head.norm`` back at timm's init (weight 1, bias 0)."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        model.head.norm.weight.fill_(1.0)
        model.head.norm.bias.zero_()
    return model


def report(out: Path, rows: list[dict], meta: dict) -> None:
    sizes = list(dict.fromkeys(r["size"] for r in rows))

    def mean(size, variant, key):
        vals = [r[key] for r in rows if r["size"] == size and r["head_norm"] == variant]
        return 100 * sum(vals) / len(vals), 100 * float(torch.tensor(vals).std()) if len(vals) > 1 else 0.0

    lines = ["# Weight selection for ConvNeXt: the teacher's head.norm selected or left at its default\n",
             f"Teacher ConvNeXt {meta['teacher_size']} ({meta['teacher_epochs']} epochs on {meta['teacher_subset']} "
             f"images, {100 * meta['teacher_acc']:.2f}% on the validation subset); students trained "
             f"{meta['epochs']} epochs on {meta['train_subset']} images at LR {RECOMMENDED_FINETUNE['lr']:g}, "
             f"validation subset {meta['val_subset']}; mean ± std over {meta['seeds']} seeds (%).\n",
             "| size | head.norm | acc at init | acc after training |", "|---|---|---:|---:|"]
    for size in sizes:
        for variant in VARIANTS:
            (a, sa), (f, sf) = mean(size, variant, "acc_at_init"), mean(size, variant, "acc_final")
            lines.append(f"| {size} | {variant} | {a:.2f} ± {sa:.2f} | {f:.2f} ± {sf:.2f} |")
    lines += ["", f"- command: `{meta['command']}`", f"- machine: {meta['machine']}", f"- date: {meta['date']}", ""]
    (out / "report.md").write_text("\n".join(lines))
    fig, axes = plt.subplots(1, len(sizes), figsize=(4 * len(sizes), 3.5), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        for variant, color in zip(VARIANTS, ("tab:blue", "tab:orange"), strict=True):
            for r in (r for r in rows if r["size"] == size and r["head_norm"] == variant):
                ax.plot(range(len(r["curve"]) + 1), [100 * r["acc_at_init"]] + [100 * v for v in r["curve"]],
                        color=color, marker="o", alpha=0.8, label=variant if r["seed"] == 0 else None)
        ax.set(title=size, xlabel="epoch", ylabel="validation accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(fig, out / "curves.png")


if __name__ == "__main__":
    main()
