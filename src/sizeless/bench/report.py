"""Turn benchmark rows into results.csv, report.md and PNG plots."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from statistics import mean, pstdev

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ..files import atomic_path, write_csv
from ..plotting import save_figure

FAMILY_TITLES = {"vit": "ViT", "resnet": "ResNet", "convnext": "ConvNeXt"}


def _curves(rows: list[dict]) -> dict[tuple[str, str], dict[float, list[float]]]:
    """(size, method) -> epoch -> accuracies over seeds."""
    curves: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["status"] == "ok":
            curves[(r["size"], r["method"])][r["epoch"]].append(r["val_acc"])
    return curves


def _final(curve: dict[float, list[float]]) -> list[float]:
    return curve[max(curve)]


def write_report(out: Path, rows: list[dict], meta: dict) -> None:
    write_csv(out / "results.csv", rows)
    curves = _curves(rows)
    sizes = list(dict.fromkeys(r["size"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    unavailable = {(r["size"], r["method"]): r["status"] for r in rows if r["status"] != "ok"}
    _plot_curves(curves, sizes, methods, out / "curves.png", meta["config"].get("family", "vit"))
    _plot_final(curves, sizes, methods, out / "final_by_size.png")
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(_markdown(rows, curves, sizes, methods, unavailable, meta))


def _markdown(rows, curves, sizes, methods, unavailable, meta) -> str:
    cfg = meta["config"]
    lines = [
        f"# Initialization benchmark ({FAMILY_TITLES.get(cfg.get('family', 'vit'), cfg.get('family'))})\n",
        f"Data `{cfg['data']}`{_transfer(cfg)}; {cfg['fit_steps']} fit steps, then {cfg['epochs']} epochs of "
        "training per model "
        f"(batch {cfg['batch_size']}, train subset {cfg['train_subset']}, validation subset {cfg['val_subset']}); "
        f"{cfg['seeds']} seed(s). Final validation accuracy (%), mean ± std over seeds when there are several.\n",
        "| size | " + " | ".join(methods) + " | templates - best baseline |",
        "|---|" + "---:|" * (len(methods) + 1),
    ]
    for size in sizes:
        cells, means = [], {}
        for method in methods:
            curve = curves.get((size, method))
            if not curve:
                cells.append("n/a" if (size, method) in unavailable else "")
                continue
            final = _final(curve)
            means[method] = mean(final)
            spread = f" ± {100 * pstdev(final):.2f}" if len(final) > 1 else ""
            cells.append(f"{100 * mean(final):.2f}{spread}")
        others = [v for m, v in means.items() if m != "templates"]
        gain = f"{100 * (means['templates'] - max(others)):+.2f}" if "templates" in means and others else "n/a"
        lines.append(f"| {size} | " + " | ".join(cells) + f" | {gain} |")
    lines += ["", "Epochs of training to reach scratch's final accuracy (speed-up = scratch's epochs / epochs needed; "
              "0 = already there right after init):\n",
              "| size | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    for size in sizes:
        scratch = curves.get((size, "scratch"))
        if not scratch:
            continue
        goal, total = mean(_final(scratch)), max(scratch)
        cells = []
        for method in methods:
            curve = curves.get((size, method))
            reached = next((e for e in sorted(curve) if mean(curve[e]) >= goal), None) if curve else None
            if reached is None:
                cells.append("not reached" if curve else "n/a")
            else:
                cells.append(f"{reached:g} (at init)" if reached == 0 else f"{reached:g} ({total / reached:.1f}x)")
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    lines += ["", "Pre-training compute (training images processed before init; a bank, learngene or teacher "
              "serves every size, so it is also shown divided by the number of sizes):\n",
              "| method | pre-training images | amortized per size | seconds |", "|---|---:|---:|---:|"]
    for method in methods:
        row = next((r for r in rows if r["method"] == method and r["status"] == "ok"), None)
        if row:
            known = row["pretrain_images"] is not None
            total = f"{row['pretrain_images']:,}" if known else "unknown (given)"
            amortized = f"{row['amortized_pretrain_images']:,.0f}" if known else "unknown"
            lines.append(f"| {method} | {total} | {amortized} | {row['pretrain_seconds'] or 0:.0f} |")
    if unavailable:
        lines += ["", "Not served:", ""] + [f"- {m} at {s}: {v[5:]}" for (s, m), v in unavailable.items()]
    lines += ["", "![accuracy curves](curves.png)", "", "![final accuracy by size](final_by_size.png)", "",
              f"- command: `{meta['command']}`", f"- machine: {meta['machine']}", f"- date: {meta['date']}", ""]
    return "\n".join(lines)


def _transfer(cfg: dict) -> str:
    if not (cfg.get("source_data") or cfg.get("target_data") or cfg.get("source_classes") or cfg.get("target_classes")):
        return ""
    return (f" (transfer: bank, teacher, learngene and direct built on `{cfg.get('source_data') or cfg['data']}` "
            f"classes {cfg.get('source_classes') or 'all'}; judged on `{cfg.get('target_data') or cfg['data']}` "
            f"classes {cfg.get('target_classes') or 'all'})")


def _plot_curves(curves, sizes, methods, path: Path, family: str = "vit") -> None:
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.6 * len(sizes), 3.8), sharey=True, squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        for method in methods:
            curve = curves.get((size, method))
            if curve:
                epochs = sorted(curve)
                ax.plot(epochs, [100 * mean(curve[e]) for e in epochs], marker="o", label=method,
                        color=f"C{methods.index(method)}")  # one colour per method across panels
        ax.set(title=f"{FAMILY_TITLES.get(family, family)} {size}", xlabel="epoch (0 = right after init)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation accuracy (%)")
    handles = {label: h for ax in axes[0] for h, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    axes[0][-1].legend(handles.values(), handles.keys(), fontsize=8)  # every method, even one missing here
    save_figure(fig, path)


def _plot_final(curves, sizes, methods, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for method in methods:
        pts = [(i, 100 * mean(_final(curves[(s, method)]))) for i, s in enumerate(sizes) if (s, method) in curves]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=method,
                    color=f"C{methods.index(method)}")
    ax.set_xticks(range(len(sizes)), sizes)
    ax.set(xlabel="target size", ylabel="final validation accuracy (%)", title="final accuracy by size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)

