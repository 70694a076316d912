"""Which input size and patch size give the best accuracy per CPU-minute for a dense task.

    python benchmarks/dense_resolution.py --task segmentation --data ../shared/data/camvid \\
        --bank benchmarks/dense-source/bank --out benchmarks/dense-resolution-camvid

For each (input size, patch size): template init of one ViT size from a CIFAR-10 bank pre-trained at
32x32 (patch and position embeddings resampled to the task's geometry, scalers fitted through the task
head), then the same number of epochs of training. Every run is timed in CPU seconds of this process
(``time.process_time``, which stays meaningful while other jobs share the machine); the validation metric
is recorded after every epoch, so the report compares configurations at equal CPU time. Choices are
made on a validation split that is never reported (CamVid's val; raccoon's is carved from train).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from common import provenance, provenance_md, write_results

from sizeless.api import initialize_full, train
from sizeless.data import DataConfig, load_data
from sizeless.files import write_json
from sizeless.tasks import get_task
from sizeless.tasks.run import for_selection
from sizeless.training import TrainConfig


def run_config(args, side: int, patch: int, epochs: int, work: Path) -> list[dict]:
    task = get_task(args.task)
    run = work / f"{side}-p{patch}"
    done = run / "timing.json"
    if done.exists():
        return json.loads(done.read_text())["rows"]
    data = for_selection(load_data(DataConfig(args.data, image_size=side)))
    fit = TrainConfig(steps=args.fit_steps, batch_size=args.batch_size, lr=3e-3, warmup=0.1, weight_decay=0.0,
                      min_lr=1e-4)
    start = time.process_time()
    initialize_full(args.size, data, bank=args.bank, fit=fit, patch_size=patch, channels=args.channels,
                    out=run / "init", seed=0)
    init_cpu = time.process_time() - start
    config = TrainConfig(epochs=epochs, batch_size=args.batch_size, lr=args.lr, warmup=0.1, seed=0)
    start = time.process_time()
    _, result = train(run / "init", data, config, out=run / "train", resume=True)
    train_cpu = time.process_time() - start
    final_wall = result.history[-1]["seconds"]
    rows = [{"image_size": side, "patch_size": patch, "tokens": (side // patch) ** 2, "epoch": 0.0,
             "cpu_minutes": init_cpu / 60, "metric": None}]
    for r in result.history:
        rows.append({"image_size": side, "patch_size": patch, "tokens": (side // patch) ** 2, "epoch": r["epoch"],
                     "cpu_minutes": (init_cpu + train_cpu * r["seconds"] / final_wall) / 60,
                     "metric": r[f"val_{task.metrics[0]}"]})
    write_json(done, {"rows": rows, "init_cpu": init_cpu, "train_cpu": train_cpu})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, choices=["segmentation", "detection"])
    parser.add_argument("--data", required=True)
    parser.add_argument("--bank", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--configs", default="128/16/12,128/8/7,192/16/5,256/32/4",
                        help="SIZE/PATCH/EPOCHS,...: epochs chosen so each configuration costs about the same CPU")
    parser.add_argument("--size", default="64x6")
    parser.add_argument("--fit-steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--channels", type=int, default=None)
    args = parser.parse_args()
    meta = provenance()
    task = get_task(args.task)
    rows = []
    for config in args.configs.split(","):
        side, patch, epochs = (int(v) for v in config.split("/"))
        rows += run_config(args, side, patch, epochs, args.out / "runs")
    write_results(args.out, rows, meta)
    metric = task.metrics[0]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    configs = list(dict.fromkeys((r["image_size"], r["patch_size"]) for r in rows))
    for side, patch in configs:
        curve = [r for r in rows if (r["image_size"], r["patch_size"]) == (side, patch) and r["metric"] is not None]
        ax.plot([r["cpu_minutes"] for r in curve], [100 * r["metric"] for r in curve], marker="o",
                label=f"{side}px, patch {patch} ({(side // patch) ** 2} tokens)")
    ax.set(xlabel="CPU minutes (init + training, one process)", ylabel=f"validation {metric} (%)",
           title=f"{args.task}: input and patch size, ViT {args.size} from templates")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "metric_vs_cpu.png", dpi=110)
    budget = min(max(r["cpu_minutes"] for r in rows if (r["image_size"], r["patch_size"]) == c) for c in configs)
    lines = [f"# {args.task}: input size and patch size per CPU-minute\n", provenance_md(meta),
             f"ViT {args.size} initialized from the templates of `{args.bank}` (pre-trained at 32x32, patch 4), "
             f"{args.fit_steps} fit steps, then training (batch {args.batch_size}, LR {args.lr}) for the epochs "
             "in the table, picked so every configuration costs about the same CPU; validation "
             f"{metric} (%) on a split that is not reported. CPU minutes are this process's CPU time "
             "(init + training), so they hold while the machine is shared.\n",
             f"| input | patch | tokens | epochs | CPU min | final {metric} | {metric} at {budget:.1f} CPU min | "
             f"{metric} per CPU min |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for side, patch in configs:
        curve = [r for r in rows if (r["image_size"], r["patch_size"]) == (side, patch) and r["metric"] is not None]
        within = [r["metric"] for r in curve if r["cpu_minutes"] <= budget + 1e-9]
        final = curve[-1]
        lines.append(f"| {side} | {patch} | {(side // patch) ** 2} | {final['epoch']:g} | {final['cpu_minutes']:.1f} | "
                     f"{100 * final['metric']:.2f} | {100 * max(within) if within else float('nan'):.2f} | "
                     f"{100 * final['metric'] / final['cpu_minutes']:.2f} |")
    lines.append("\n![metric vs CPU time](metric_vs_cpu.png)\n")
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
