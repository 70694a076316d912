"""Training-curve plots (PNG) from a metrics history."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .files import atomic_path


def plot_history(history: list[dict], path: str | Path, title: str, metric: str | None = None) -> None:
    """Validation accuracy (or ``metric``, e.g. mean IoU), or loss for objectives without one (left), and
    train loss (right) per epoch."""
    if not history:
        return
    epochs = [row["epoch"] for row in history]
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 4))
    metric = metric or "acc"
    accuracy = f"val_{metric}" in history[0] or any(k.startswith(f"val_{metric}[") for k in history[0])
    prefix, scale = (f"val_{metric}", 100) if accuracy else ("val_loss", 1)  # else a loss-only objective (MAE)
    for key in sorted(k for k in history[0] if k == prefix or k.startswith(f"{prefix}[")):
        acc_ax.plot(epochs, [scale * row[key] for row in history], marker="o", label=key)
    label = "validation accuracy (%)" if metric == "acc" else f"validation {metric} (%)"
    acc_ax.set(xlabel="epoch", ylabel=label if accuracy else "validation loss", title=title)
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
