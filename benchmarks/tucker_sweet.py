"""Tucker (SWEET) vs Kronecker banks, supervised vs MAE pre-training, at widths Kronecker cannot serve.

    python benchmarks/tucker_sweet.py --data ../shared/data/cifar10-jpeg --out benchmarks/tucker-sweet

Every bank gets the same data and steps; Tucker ranks are chosen so that its core has about the
Kronecker bank's template parameter count. Two more Tucker banks train with width-wise
stochastic scaling (uniform vs sandwich). Each bank initializes every target size (a Kronecker
bank refuses widths that are not multiples of its template width; the refusal is recorded), the
model trains with the same budget, and two references run beside them: random init, and the
conventional self-supervised path (a plain ViT MAE-pre-trained at the target size, fine-tuned).
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path
from statistics import mean

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from common import provenance, provenance_md, write_results

from sizeless.api import evaluate_model, initialize_full, pretrain, train
from sizeless.data import DataConfig, load_data, with_train_subset
from sizeless.errors import UnsupportedSize
from sizeless.initializers.base import RECOMMENDED_FINETUNE, default_fit_config
from sizeless.mae import MAEConfig
from sizeless.sampling import SizeSampling
from sizeless.training import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/tucker-sweet"))
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--bank-size", default="64x4")
    parser.add_argument("--sampled-size", default="96x4", help="base size of the width-sampled Tucker banks")
    parser.add_argument("--widths", default="32:96:32", help="widths drawn by the width-sampled banks")
    parser.add_argument("--ranks", default="16,64,64", help="Tucker core ranks (~ the Kronecker template count)")
    parser.add_argument("--sizes", default="64x6,80x4")
    parser.add_argument("--pretrain-images", type=int, default=8000)
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--fit-images", type=int, default=2000)
    parser.add_argument("--fit-steps", type=int, default=100)
    parser.add_argument("--train-images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--val-images", type=int, default=2000)
    args = parser.parse_args()
    meta = provenance()
    work = args.work or args.out / "work"
    full = load_data(DataConfig(args.data, val_subset=args.val_images))
    source, fit_data, target = (with_train_subset(full, n) for n in
                                (args.pretrain_images, args.fit_images, args.train_images))
    budget = TrainConfig(epochs=args.pretrain_epochs)
    kronecker = ("kronecker", {"template_width": 32, "num_templates": 4})
    tucker = ("tucker", {"ranks": [int(r) for r in args.ranks.split(",")]})
    specs = {  # name: (constraint, objective, sizes, width sampling)
        "kronecker-supervised": (kronecker, "supervised", args.bank_size, None),
        "kronecker-mae": (kronecker, "mae", args.bank_size, None),
        "tucker-supervised": (tucker, "supervised", args.bank_size, None),
        "tucker-mae": (tucker, "mae", args.bank_size, None),
        "tucker-supervised-widths-uniform": (tucker, "supervised", args.sampled_size, "uniform"),
        "tucker-supervised-widths-sandwich": (tucker, "supervised", args.sampled_size, "sandwich"),
    }
    banks = {}
    for name, ((constraint, cfg), objective, size, distribution) in specs.items():
        sampling = SizeSampling.parse(args.widths, distribution) if distribution else None
        banks[name] = pretrain(source, [size], constraint=constraint, constraint_config=cfg, objective=objective,
                               size_sampling=sampling, config=budget, out=work / f"bank-{name}", resume=True)
        if objective == "mae":
            shutil.copyfile(work / f"bank-{name}" / "reconstructions.png", args.out / f"reconstructions-{name}.png")

    rows = []
    fit = replace(default_fit_config(), steps=args.fit_steps)
    finetune = TrainConfig(epochs=args.epochs, **RECOMMENDED_FINETUNE)
    patch = banks["tucker-supervised"].image.patch_size
    for size in args.sizes.split(","):
        for name, bank in banks.items():
            run = work / f"{name}-{size}"
            base = {"method": name, "template_params": bank.config["template_params"]}
            try:
                init = initialize_full(size, fit_data, bank=bank, fit=fit, out=run / "init")
            except UnsupportedSize as err:
                rows.append({**base, "size": size, "after_init": None, "final": None, "note": str(err)})
                continue
            _, result = train(run / "init", target, finetune, out=run / "train", resume=True)
            rows.append({**base, "size": init.meta["size"], "after_init": evaluate_model(init.model, target)["acc"],
                         "final": result.history[-1]["val_acc"], "note": ""})
        _, result = train(None, target, TrainConfig(epochs=args.epochs), size=size, patch_size=patch,
                          out=work / f"scratch-{size}", resume=True)
        rows.append({"method": "random init", "size": result_size(work / f"scratch-{size}", size),
                     "after_init": None, "final": result.history[-1]["val_acc"], "note": "", "template_params": 0})
        _, _ = train(None, source, budget, size=size, patch_size=patch, objective="mae", mae=MAEConfig(),
                     out=work / f"plain-mae-{size}", resume=True)
        _, result = train(work / f"plain-mae-{size}", target, finetune, out=work / f"plain-mae-{size}-finetune",
                          resume=True)
        rows.append({"method": "plain ViT, MAE at this size + fine-tune", "size": result_size(
            work / f"plain-mae-{size}", size), "after_init": None, "final": result.history[-1]["val_acc"],
            "note": "pre-trained at the target size itself", "template_params": 0})
    bank_rows = [{"bank": name, "size": bank.config["sizes"], "template_params": bank.config["template_params"],
                  "steps": bank.config["steps"], "seconds": bank.config["seconds"],
                  "source_val": bank.config.get("val_acc") or bank.config.get("val_loss")}
                 for name, bank in banks.items()]
    meta.update(args={k: str(v) for k, v in vars(args).items()}, banks=bank_rows)
    write_results(args.out, rows, meta)
    plot(rows, args.out / "final_by_size.png")
    report(rows, bank_rows, meta, args, args.out / "report.md")


def result_size(run: Path, spec: str) -> str:
    import json

    config = run / "config.json"
    return json.loads(config.read_text())["sizeless"]["size"] if config.exists() else spec


def plot(rows: list[dict], path: Path) -> None:
    sizes = list(dict.fromkeys(r["size"].split("h")[0] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        values = []
        for size in sizes:
            sel = [r for r in rows if r["method"] == method and r["size"].split("h")[0] == size]
            values.append(100 * sel[0]["final"] if sel and sel[0]["final"] is not None else 0.0)
        bars = ax.bar([s + i * width for s in range(len(sizes))], values, width, label=method)
        for bar, value in zip(bars, values, strict=True):
            if value == 0.0:
                ax.annotate("n/a", (bar.get_x() + bar.get_width() / 2, 1), ha="center", fontsize=7, rotation=90)
    ax.set_xticks([s + 0.4 - width / 2 for s in range(len(sizes))], sizes)
    ax.set(xlabel="target size (unseen)", ylabel="final accuracy (%)", title="Tucker vs Kronecker, supervised vs MAE")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pct(value) -> str:
    return f"{100 * value:.2f}%" if value is not None else "n/a"


def report(rows: list[dict], bank_rows: list[dict], meta: dict, args, path: Path) -> None:
    lines = ["# Tucker (SWEET) vs Kronecker banks, supervised vs MAE\n",
             f"Every bank: {args.pretrain_images} CIFAR-10 images, {args.pretrain_epochs} epochs. Targets: "
             f"{args.fit_steps} fit steps on {args.fit_images} images (labels, scalers + free vectors + head), then "
             f"{args.epochs} epochs on {args.train_images} images at LR {RECOMMENDED_FINETUNE['lr']}; random init "
             f"trains at 1e-3. Validation: {args.val_images} held-out images.\n",
             "## Banks\n", "| bank | size | template params | steps | seconds | source validation |",
             "|---|---|---:|---:|---:|---|"]
    for b in bank_rows:
        scores = ", ".join(f"{k}: {v:.4f}" if v > 1 or "mae" in b["bank"] else f"{k}: {100 * v:.2f}%"
                           for k, v in (b["source_val"] or {}).items() if v is not None)
        lines.append(f"| {b['bank']} | {', '.join(b['size'])} | {b['template_params']:,} | {b['steps']} | "
                     f"{b['seconds']} | {scores} |")
    lines += ["", "MAE banks report the masked-patch reconstruction loss; the others accuracy.", "",
              "## Targets\n", "| method | size | after init | final | note |", "|---|---|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['size']} | {pct(r['after_init'])} | {pct(r['final'])} | {r['note']} |")
    lines += ["", "| method | mean final over served sizes | sizes served |", "|---|---:|---:|"]
    for method in dict.fromkeys(r["method"] for r in rows):
        served = [r["final"] for r in rows if r["method"] == method and r["final"] is not None]
        total = sum(r["method"] == method for r in rows)
        lines.append(f"| {method} | {pct(mean(served)) if served else 'n/a'} | {len(served)}/{total} |")
    lines += ["", "![final accuracy](final_by_size.png)", "",
              "Reconstructions after MAE pre-training: ![kronecker](reconstructions-kronecker-mae.png) "
              "![tucker](reconstructions-tucker-mae.png)", "", provenance_md(meta)]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
