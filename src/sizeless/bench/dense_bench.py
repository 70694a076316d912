"""`sizeless bench init --task segmentation|detection`: every initializer's backbone under one task head.

Protocol. Sizes x methods x seeds, each a dense model whose ViT backbone one method initialized, with
the same new head, data, augmentation and training budget (``epochs`` over the task's training
split; the template fit runs ``fit_epochs`` of them, through the task head, so templates train for
``epochs - fit_epochs``). The peak LR of every method is the best of the same sweep (``lrs``) at one
size and seed, judged on the validation split; results are reported on the test split (a dataset
without one, such as raccoon, has a fixed fifth of its training split carved off as validation and
its own validation split reported as test). Source-side inputs are built once and cached in
``source_dir`` (share it between tasks): the supervised CIFAR bank, the weight-selection teacher and
one direct pre-training run per size (seed 0, like the bank and the teacher); the MAE / Tucker bank
is pre-trained on the task's own training images (no labels) in ``out``. Every run is cached, and
its CPU time (this process's, meaningful on a shared machine) recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from statistics import mean, pstdev

import torch

from ..api import initialize_full, pretrain, train
from ..bank import TemplateBank
from ..data import DataConfig, load_data, with_train_subset
from ..errors import SizelessError, UnsupportedSize
from ..files import atomic_path, read_json, write_csv, write_json
from ..initializers.base import default_fit_config
from ..mae import MAEConfig
from ..tasks import get_task
from ..tasks.run import evaluate_dense, for_selection
from ..training import TrainConfig

DENSE_METHODS = ("templates", "templates-mae", "scratch", "weight-selection", "mimetic", "direct")


@dataclass
class DenseBenchConfig:
    task: str
    data: str  # the task's dataset (segmentation folder, COCO folder)
    out: Path
    sizes: list[str]
    source_data: str | None = None  # classification images for the bank, teacher and direct pre-training
    methods: list[str] = field(default_factory=lambda: list(DENSE_METHODS))
    seeds: int = 2
    epochs: int = 10
    fit_epochs: int = 2  # templates: scaler fit through the task head, inside ``epochs``
    batch_size: int | None = None  # default: the task's
    image_size: int | None = None  # default: the task's
    patch_size: int | None = None
    channels: int | None = None
    lrs: tuple[float, ...] = (1e-3, 3e-3)
    sweep_size: str | None = None  # default: the middle size
    train_subset: int | None = None
    val_subset: int | None = None
    source_dir: Path | None = None  # default: OUT/source
    bank: Path | None = None
    mae_bank: Path | None = None
    teacher: Path | None = None
    bank_size: str = "64x4"
    template_width: int = 32
    num_templates: int = 4
    teacher_size: str = "128x6"
    pretrain_epochs: int = 4
    pretrain_subset: int | None = 20000
    pretrain_val_subset: int | None = 2000
    pretrain_lr: float = 1e-3
    mae_size: str = "64x4"
    mae_ranks: tuple[int, int, int] = (16, 64, 64)
    mae_epochs: int = 100
    mae_batch_size: int = 32
    mae_lr: float = 1.5e-3

    def __post_init__(self) -> None:
        get_task(self.task)
        unknown = [m for m in self.methods if m not in DENSE_METHODS]
        if unknown:
            raise SizelessError(f"unknown methods {unknown} for a dense benchmark; choose from "
                                f"{', '.join(DENSE_METHODS)}")
        if not self.sizes:
            raise SizelessError("give at least one size to benchmark (--sizes 64x6,96x4,128x6)")
        if self.fit_epochs >= self.epochs:
            raise SizelessError("the template fit is part of the training budget: --fit-epochs must be below --epochs")
        needs = [m for m in self.methods if m in ("weight-selection", "direct") or (m == "templates" and not self.bank)]
        if self.source_data is None and needs:
            raise SizelessError(f"{', '.join(needs)} need the classification images the bank, teacher or direct "
                                "pre-training use: pass --source-data (e.g. ../shared/data/cifar10-jpeg)")


class _Clock:
    """CPU seconds of this process spent inside ``with`` blocks."""

    def __enter__(self):
        self.start = time.process_time()
        return self

    def __exit__(self, *exc):
        self.seconds = time.process_time() - self.start


def run_dense_bench(cfg: DenseBenchConfig) -> list[dict]:
    task = get_task(cfg.task)
    out = Path(cfg.out)
    source_dir = Path(cfg.source_dir or out / "source")
    data = for_selection(load_data(DataConfig(cfg.data, image_size=cfg.image_size, train_subset=cfg.train_subset,
                                              val_subset=cfg.val_subset)))
    batch = cfg.batch_size or task.default_batch
    inputs = _build_inputs(cfg, task, data, source_dir, out)
    sizes = cfg.sizes
    sweep_size = cfg.sweep_size or sizes[len(sizes) // 2]
    chosen, sweep = {}, []
    for method in cfg.methods:  # each method's peak LR: the best of the same sweep, on validation
        scores = {}
        for lr in cfg.lrs:
            rows = _run(cfg, task, data, inputs, method, sweep_size, 0, lr, batch, out)
            final = [r for r in rows if r.get("final")]
            scores[lr] = final[0]["val_metric"] if final else None
            sweep.append({"method": method, "size": sweep_size, "lr": lr, "val_metric": scores[lr]})
        served = {lr: v for lr, v in scores.items() if v is not None}
        chosen[method] = max(served, key=served.get) if served else cfg.lrs[0]
    rows = []
    for seed in range(cfg.seeds):
        for size in sizes:
            for method in cfg.methods:
                rows += _run(cfg, task, data, inputs, method, size, seed, chosen[method], batch, out)
    meta = _provenance(cfg, inputs, chosen, sweep, task, data, batch)
    write_json(out / "results.json", {"meta": meta, "rows": rows, "sweep": sweep})
    write_csv(out / "results.csv", rows)
    _overlays(cfg, task, data, out, chosen, sizes[-1])
    _report(out, rows, meta, task)
    return rows


def _pretrain_budget(cfg: DenseBenchConfig) -> TrainConfig:
    return TrainConfig(epochs=cfg.pretrain_epochs, batch_size=128, lr=cfg.pretrain_lr)


def _build_inputs(cfg: DenseBenchConfig, task, data, source_dir: Path, out: Path) -> dict:
    """The bank, MAE bank, teacher and direct models (built once, cached), with their CPU seconds."""
    inputs: dict = {"cpu": {}}
    source = None

    def source_data():
        nonlocal source
        if source is None:
            full = load_data(DataConfig(cfg.source_data, val_subset=cfg.pretrain_val_subset))
            source = with_train_subset(full, cfg.pretrain_subset)
        return source

    def timed(name: str, folder: Path, build) -> Path:
        done = folder / "cpu_seconds.json"
        if done.exists():
            inputs["cpu"][name] = read_json(done, "timing")["seconds"]
            return folder
        with _Clock() as clock:
            build()
        inputs["cpu"][name] = clock.seconds
        write_json(done, {"seconds": clock.seconds})
        return folder

    methods = set(cfg.methods)
    if "templates" in methods or "direct" in methods:
        inputs["bank"] = cfg.bank or timed("bank", source_dir / "bank", lambda: pretrain(
            source_data(), [cfg.bank_size], config=_pretrain_budget(cfg), out=source_dir / "bank", resume=True,
            constraint_config={"template_width": cfg.template_width, "num_templates": cfg.num_templates}))
    if "templates-mae" in methods:
        mae_dir = out / "mae-bank"
        config = TrainConfig(epochs=cfg.mae_epochs, batch_size=cfg.mae_batch_size, lr=cfg.mae_lr, warmup=0.05)
        inputs["mae_bank"] = cfg.mae_bank or timed("mae_bank", mae_dir, lambda: pretrain(
            data, [cfg.mae_size], objective="mae", mae=MAEConfig(), constraint="tucker",
            constraint_config={"ranks": list(cfg.mae_ranks)}, config=config,
            patch_size=cfg.patch_size or task.default_patch, out=mae_dir, resume=True))
    if "weight-selection" in methods:
        inputs["teacher"] = cfg.teacher or timed("teacher", source_dir / "teacher", lambda: train(
            None, source_data(), _pretrain_budget(cfg), size=cfg.teacher_size, out=source_dir / "teacher",
            resume=True))
        source_data()  # weight selection runs at the teacher's input geometry, on the source images
    if "direct" in methods:
        bank = TemplateBank.load(inputs["bank"])
        for size in cfg.sizes:
            folder = source_dir / f"direct-{size}"
            inputs[f"direct-{size}"] = timed(f"direct-{size}", folder, lambda folder=folder, size=size:
                                             initialize_full(size, source_data(), bank=bank, method="direct",
                                                             seed=0, out=folder))
    inputs["source"] = source
    return inputs


def _run(cfg, task, data, inputs, method, size, seed, lr, batch, out) -> list[dict]:
    """One (method, size, seed, LR): init, train, test; cached in ``out/runs``."""
    run = out / "runs" / f"{method}-{size}-seed{seed}-lr{lr:g}"
    done = run / "result.json"
    if done.exists():
        return read_json(done, "run result")["rows"]
    base = {"method": method, "size": size, "seed": seed, "lr": lr}
    steps_per_epoch = max(1, len(data.train) // batch)
    templated = method.startswith("templates")
    with _Clock() as init_clock:
        try:
            init = _init(cfg, task, data, inputs, method, size, seed, batch, steps_per_epoch, run / "init")
        except UnsupportedSize as err:
            rows = [{**base, "status": f"n/a: {err}"}]
            write_json(done, {"rows": rows})
            return rows
    metric = task.metrics[0]
    at_init = evaluate_dense(run / "init", data, split="val")
    offset = cfg.fit_epochs if templated else 0
    rows = [{**base, "status": "ok", "epoch": float(offset), "val_metric": at_init[metric], "cpu_seconds": 0.0}]
    config = TrainConfig(epochs=cfg.epochs - offset, batch_size=batch, lr=lr, warmup=0.1, seed=seed)
    with _Clock() as train_clock:
        _, result = train(run / "init", data, config, out=run / "train", resume=True)
    wall = result.history[-1]["seconds"] or 1.0
    for r in result.history:
        rows.append({**base, "status": "ok", "epoch": offset + r["epoch"], "val_metric": r[f"val_{metric}"],
                     "cpu_seconds": init_clock.seconds + train_clock.seconds * r["seconds"] / wall})
    test = evaluate_dense(run / "train", data, split="test")
    params = sum(p.numel() for p in init.model.backbone.parameters())
    rows[-1].update(final=True, params=params, **{f"test_{k}": v for k, v in test.items()})
    write_json(done, {"rows": rows})
    return rows


def _init(cfg, task, data, inputs, method, size, seed, batch, steps_per_epoch, folder: Path):
    common = {"seed": seed, "patch_size": cfg.patch_size, "channels": cfg.channels, "out": folder}
    if method.startswith("templates"):
        bank = inputs["bank"] if method == "templates" else inputs["mae_bank"]
        fit = replace(default_fit_config(), steps=cfg.fit_epochs * steps_per_epoch, batch_size=batch)
        return initialize_full(size, data, bank=bank, method="templates", fit=fit, **common)
    if method == "direct":
        return initialize_full(size, data, method="direct", backbone=inputs[f"direct-{size}"], **common)
    return initialize_full(size, data, method=method, teacher=inputs.get("teacher"), source=inputs.get("source"),
                           **common)


def _overlays(cfg, task, data, out: Path, chosen: dict, size: str) -> None:
    """Overlay grids of every method's seed-0 model at the largest size, on the same test images."""
    for method in cfg.methods:
        model = out / "runs" / f"{method}-{size}-seed0-lr{chosen[method]:g}" / "train"
        if (model / "config.json").exists():
            evaluate_dense(model, data, split="test", overlays=out / "overlays" / f"{method}-{size}.png", count=3)


def _provenance(cfg, inputs, chosen, sweep, task, data, batch) -> dict:
    return {
        "command": "sizeless " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} thread(s)",
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "task": task.name, "metric": task.metrics[0], "batch_size": batch,
        "splits": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        "image_size": data.img_size,
        "lr": chosen, "sweep": sweep,
        "pretrain_cpu_seconds": inputs["cpu"],
    }


# -- report -----------------------------------------------------------------------------------------

def _report(out: Path, rows: list[dict], meta: dict, task) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting import save_figure

    metric = meta["metric"]
    ok = [r for r in rows if r.get("status") == "ok"]
    sizes = list(dict.fromkeys(r["size"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    final = {}
    for r in ok:
        if r.get("final"):
            final.setdefault((r["size"], r["method"]), []).append(r[f"test_{metric}"])
    curves: dict = {}
    for r in ok:
        curves.setdefault((r["size"], r["method"]), {}).setdefault(r["epoch"], []).append(r["val_metric"])

    fig, axes = plt.subplots(1, len(sizes), figsize=(4.6 * len(sizes), 3.8), sharey=True, squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        for i, method in enumerate(methods):
            curve = curves.get((size, method))
            if curve:
                epochs = sorted(curve)
                ax.plot(epochs, [100 * mean(curve[e]) for e in epochs], marker="o", ms=3, label=method, color=f"C{i}")
        ax.set(title=f"ViT {size}", xlabel="epoch of the task budget")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"validation {metric} (%)")
    axes[0][-1].legend(fontsize=8)
    save_figure(fig, out / "curves.png")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, method in enumerate(methods):
        pts = [(j, 100 * mean(final[(s, method)])) for j, s in enumerate(sizes) if (s, method) in final]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=method, color=f"C{i}")
    ax.set_xticks(range(len(sizes)), sizes)
    ax.set(xlabel="backbone size", ylabel=f"test {metric} (%)", title=f"{task.name}: final {metric} by size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, out / "final_by_size.png")

    cfg = meta["config"]
    cpu_runs = sum(max(r["cpu_seconds"] for r in ok if (r["method"], r["size"], r["seed"], r["lr"]) == key)
                   for key in {(r["method"], r["size"], r["seed"], r["lr"]) for r in ok})
    cpu_pre = sum(meta["pretrain_cpu_seconds"].values())
    lines = [
        f"# Initialization benchmark: {task.name} ({metric})\n",
        f"Data `{cfg['data']}` at {meta['image_size']} px (train {meta['splits']['train']} / val "
        f"{meta['splits']['val']} / reported test {meta['splits']['test']} images); ViT backbones, "
        f"{cfg['epochs']} epochs of batch {meta['batch_size']} for every method (templates: {cfg['fit_epochs']} of "
        f"them fit the scalers through the task head), {cfg['seeds']} seeds. Test {metric} (%), mean ± std over "
        "seeds (the std is the noise: seeds change the head, the data order and augmentation, and the backbone "
        "of scratch and mimetic).\n",
        "| size | " + " | ".join(methods) + " | templates - best baseline |",
        "|---|" + "---:|" * (len(methods) + 1),
    ]
    baselines = [m for m in methods if not m.startswith("templates")]
    for size in sizes:
        cells, means = [], {}
        for method in methods:
            values = final.get((size, method))
            if not values:
                cells.append("n/a")
                continue
            means[method] = mean(values)
            spread = f" ± {100 * pstdev(values):.2f}" if len(values) > 1 else ""
            cells.append(f"{100 * mean(values):.2f}{spread}")
        ours = [means[m] for m in methods if m.startswith("templates") and m in means]
        others = [means[m] for m in baselines if m in means]
        gain = f"{100 * (max(ours) - max(others)):+.2f}" if ours and others else "n/a"
        lines.append(f"| {size} | " + " | ".join(cells) + f" | {gain} |")
    lines += ["", f"Peak LR per method (best validation {metric} of the sweep at {meta['sweep'][0]['size']}, seed 0):",
              "", "| method | " + " | ".join(f"LR {lr:g}" for lr in cfg["lrs"]) + " | chosen |",
              "|---|" + "---:|" * (len(cfg["lrs"]) + 1)]
    for method in methods:
        cells = [next((f"{100 * s['val_metric']:.2f}" if s["val_metric"] is not None else "n/a"
                       for s in meta["sweep"] if s["method"] == method and s["lr"] == lr), "") for lr in cfg["lrs"]]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {meta['lr'][method]:g} |")
    if task.name == "segmentation":
        lines += ["", f"Per-class test IoU (%) at {sizes[-1]}, mean over seeds:", ""]
        names = [k[len("test_iou_"):] for k in ok[-1] if k.startswith("test_iou_")] if ok else []
        lines += ["| method | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for method in methods:
            runs = [r for r in ok if r.get("final") and r["method"] == method and r["size"] == sizes[-1]]
            if runs:
                lines.append(f"| {method} | " + " | ".join(
                    f"{100 * mean(r[f'test_iou_{n}'] for r in runs):.1f}" for n in names) + " |")
    else:
        lines += ["", "Test mAP@.5 (%), mean over seeds:", "", "| size | " + " | ".join(methods) + " |",
                  "|---|" + "---:|" * len(methods)]
        for size in sizes:
            cells = []
            for method in methods:
                runs = [r["test_map_50"] for r in ok if r.get("final") and (r["size"], r["method"]) == (size, method)]
                cells.append(f"{100 * mean(runs):.2f}" if runs else "n/a")
            lines.append(f"| {size} | " + " | ".join(cells) + " |")
    lines += ["", "Compute (CPU seconds of one process; the machine was shared, so wall time is longer):", "",
              "| input | CPU minutes |", "|---|---:|"]
    lines += [f"| {name} | {seconds / 60:.1f} |" for name, seconds in meta["pretrain_cpu_seconds"].items()]
    models = sum(len(v) for v in final.values())
    lines += [f"| task runs (init + training of {models} models, and the LR sweep) | {cpu_runs / 60:.1f} |",
              f"| total | {(cpu_runs + cpu_pre) / 60:.1f} |", ""]
    unavailable = {(r["size"], r["method"]): r["status"] for r in rows if r.get("status", "ok") != "ok"}
    if unavailable:
        lines += ["Not served:", ""] + [f"- {m} at {s}: {v[5:]}" for (s, m), v in unavailable.items()] + [""]
    lines += ["![validation curves](curves.png)", "", "![final by size](final_by_size.png)", ""]
    lines += [f"![{m} predictions](overlays/{m}-{sizes[-1]}.png)" for m in methods
              if (out / "overlays" / f"{m}-{sizes[-1]}.png").exists()]
    lines += ["", f"- command: `{meta['command']}`", f"- machine: {meta['machine']}", f"- date: {meta['date']}", ""]
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text("\n".join(lines))
