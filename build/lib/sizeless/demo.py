"""`sizeless demo`: the whole story on an embedded dataset in a few CPU minutes, no network.

Pre-train a small bank on scikit-learn's digits, initialize three sizes it never saw (a new
depth, a new width, both), train each for the same short budget from template init and from
random init, and compare.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .api import evaluate_model, initialize_full, pretrain, train
from .data import load_data
from .initializers.base import default_fit_config
from .plotting import plt, save_figure
from .training import TrainConfig

BANK_SIZE = "64x4"
TARGET_SIZES = ("64x8", "128x4", "96x6")  # new depth, new width, both
FIT_STEPS = 150
CURVES_FILE = "curves.png"


def run_demo(out: str | Path, seed: int = 0, pretrain_epochs: int = 30, target_epochs: int = 6
             ) -> tuple[list[dict], Path]:
    """One row per target size (size, params, final accuracy from templates and from scratch, and both
    accuracy curves from epoch 0), and the path of their plot."""
    out = Path(out)
    data = load_data("digits")
    bank = pretrain(
        data, [BANK_SIZE], constraint_config={"template_width": 32, "num_templates": 4},
        config=TrainConfig(epochs=pretrain_epochs, batch_size=64, lr=2e-3, seed=seed), out=out / "bank",
        resume=True,
    )
    budget = TrainConfig(epochs=target_epochs, batch_size=32, seed=seed)
    rows = []
    for size in TARGET_SIZES:
        fit = replace(default_fit_config(), steps=FIT_STEPS)
        init = initialize_full(size, data, bank=bank, fit=fit, seed=seed, out=out / f"templates-{size}")
        tuned = replace(budget, **init.meta["recommended"])
        _, from_templates = train(out / f"templates-{size}", data, tuned, out=out / f"train-templates-{size}",
                                  resume=True)
        # the random init `train` starts from (same seed, same draw), to plot the scratch curve from epoch 0
        scratch = initialize_full(size, data, method="scratch", patch_size=bank.image.patch_size, seed=seed)
        model, from_scratch = train(None, data, budget, size=size, patch_size=bank.image.patch_size,
                                    out=out / f"train-scratch-{size}", resume=True)
        rows.append({
            "size": init.meta["size"],
            "params": sum(p.numel() for p in model.parameters()),
            "templates": from_templates.history[-1]["val_acc"],
            "scratch": from_scratch.history[-1]["val_acc"],
            "curves": {
                "templates": [evaluate_model(init.model, data)["acc"]] + [r["val_acc"] for r in from_templates.history],
                "scratch": [evaluate_model(scratch.model, data)["acc"]] + [r["val_acc"] for r in from_scratch.history],
            },
        })
    return rows, plot_demo(rows, out / CURVES_FILE)


def plot_demo(rows: list[dict], path: Path) -> Path:
    """Validation accuracy per epoch (0 = right after init), templates vs scratch, one panel per size."""
    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 3.6), sharey=True, squeeze=False)
    for ax, row in zip(axes[0], rows, strict=True):
        for method, color in (("templates", "tab:blue"), ("scratch", "tab:gray")):
            curve = row["curves"][method]
            ax.plot(range(len(curve)), [100 * v for v in curve], marker="o", color=color, label=f"from {method}")
        ax.set(title=f"{row['size']} ({row['params']:,} parameters)", xlabel="epoch")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation accuracy (%)")
    axes[0][0].legend()
    save_figure(fig, path)
    return path
