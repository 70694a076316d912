"""Training-curve plots (PNG) from a metrics history."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .files import atomic_path


def plot_history(history: list[dict], path: str | Path, title: str) -> None:
    """Validation accuracy, or loss for objectives without one (left), and train loss (right) per epoch."""
    if not history:
        return
    epochs = [row["epoch"] for row in history]
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 4))
    accuracy = any(k.startswith("val_acc") for k in history[0])  # else a loss-only objective (MAE)
    prefix, scale = ("val_acc", 100) if accuracy else ("val_loss", 1)
    for key in sorted(k for k in history[0] if k.startswith(prefix)):
        acc_ax.plot(epochs, [scale * row[key] for row in history], marker="o", label=key)
    acc_ax.set(xlabel="epoch", ylabel="validation accuracy (%)" if accuracy else "validation loss", title=title)
    acc_ax.grid(alpha=0.3)
    acc_ax.legend()
    loss_ax.plot(epochs, [row["train_loss"] for row in history], marker="o", color="tab:red")
    loss_ax.set(xlabel="epoch", ylabel="train loss", title="train loss")
    loss_ax.grid(alpha=0.3)
    save_figure(fig, path)


def save_figure(fig, path: str | Path) -> None:
    """Write a PNG atomically and free the figure."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
