"""Turn benchmark rows into results.csv, report.md and PNG plots.

The report reads the rows of the chosen learning rate only (the LR sweep gets its own table), and
the test split when the bench carved a validation split for choosing: what it shows was never
chosen on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import sys
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from statistics import mean, stdev

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from ..files import atomic_path, write_csv
from ..plotting import save_figure

FAMILY_TITLES = {"vit": "ViT", "resnet": "ResNet", "convnext": "ConvNeXt"}
METRIC_NAMES = {"acc": "accuracy", "miou": "mean IoU", "map": "mAP@[.5:.95]"}  # how the report names a metric
# methods built on pre-trained inputs (a bank, a teacher, a learngene, direct runs): one replicate per pre-training
# seed; the others (scratch, mimetic) start from nothing pre-trained and are run once
PRETRAINED_METHODS = ("templates", "templates-mae", "weight-selection", "linear-expansion", "direct",
                      "direct-amortized")
SHARED_BELOW = 0.75  # CPU time / (wall time x threads) under this: other processes had part of the cores


def provenance() -> dict:
    """The command, date and machine a bench's report quotes beside its numbers."""
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return {"command": " ".join([_program(), *(shlex.quote(a) for a in sys.argv[1:])]),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                       f"{torch.get_num_threads()} threads, {device}"}


def cpu_model() -> str:
    """The CPU's model name where Linux says it (weights trained on another CPU model differ in the last bits: a
    bench that compares with another must be able to tell), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _program() -> str:
    """How the running command was started: the ``sizeless`` entry point, or a benchmark script that calls the library
    (its report must name the script, not a ``sizeless`` command that does not take its flags)."""
    program = Path(sys.argv[0])
    return "sizeless" if program.name == "sizeless" else f"python {shlex.quote(sys.argv[0])}"


def settings_record(cfg) -> dict:
    """A config dataclass (a bench's settings, a run's training budget) as the bench's records store it: plain JSON
    values, paths as text, so a later run compares its own settings with them value for value."""
    return json.loads(json.dumps(asdict(cfg), default=str))


def _spread(values: list[float]) -> float:
    return stdev(values) if len(values) > 1 else 0.0


class Results:
    """Rows of one bench, indexed: (size, method) -> epoch -> reported metric over seeds (chosen LR).

    A method whose inputs were pre-trained with several seeds is one replicate per pre-training seed: its final
    values are the replicates' means over their target seeds, since the pre-training seed moves results most."""

    def __init__(self, rows: list[dict], meta: dict):
        self.rows, self.meta = rows, meta
        metric = meta["config"].get("metric", "acc")
        ok = [r for r in rows if r["status"] == "ok"]
        self.split = "test" if any(f"test_{metric}" in r for r in ok) else "val"
        self.key = f"{self.split}_{metric}"
        self.metric = metric
        self.name = METRIC_NAMES.get(metric, metric)
        self.sizes = list(dict.fromkeys(r["size"] for r in rows))
        self.methods = list(dict.fromkeys(r["method"] for r in rows))
        chosen = [r for r in ok if r.get("selected", True)]
        # curves of the reported split, or of validation when the test split was scored at the end only (dense
        # tasks, whose whole-image passes are costly); the final numbers are always the reported split's
        self.curve_split = self.split if all(self.key in r for r in chosen) else "val"
        self.curves: dict = defaultdict(lambda: defaultdict(list))
        # (size, method) -> (pre-training seed, target seed) -> (epoch, reported metric)
        self.finals: dict = defaultdict(dict)
        for r in chosen:
            self.curves[(r["size"], r["method"])][r["epoch"]].append(r[f"{self.curve_split}_{metric}"])
            if self.key in r:
                run = (r.get("pretrain_seed", 0), r["seed"])
                at = self.finals[(r["size"], r["method"])].get(run)
                if at is None or r["epoch"] >= at[0]:
                    self.finals[(r["size"], r["method"])][run] = (r["epoch"], r[self.key])
        self.unavailable = {(r["size"], r["method"]): r["status"][5:] for r in rows if r["status"] != "ok"}
        self.params = {r["size"]: r["params"] for r in ok}
        # pre-training seeds with a finished run, per bench: this one (None) and one it is compared with
        self.bench = {r["method"]: r.get("bench") for r in rows}
        self.seeds_of = {bench: len({r.get("pretrain_seed", 0) for r in ok if r.get("bench") == bench})
                         for bench in set(self.bench.values())}
        self.pretrain_seeds = self.seeds_of.get(None, 0)

    def bench_seeds(self, method: str) -> int:
        """Pre-training seeds of the bench that ran ``method``."""
        return self.seeds_of.get(self.bench.get(method), 0)

    def final(self, size: str, method: str) -> list[float] | None:
        """Final values over target seeds; for a pre-trained method of a bench with several pre-training seeds, one
        value per pre-training seed (its target seeds' mean), so its spread is the pre-training seed's."""
        finals = self.finals.get((size, method))
        if not finals:
            return None
        replicates: dict[int, list[float]] = defaultdict(list)
        for (pretrain_seed, _), (_, value) in finals.items():
            replicates[pretrain_seed].append(value)
        if self.bench_seeds(method) < 2 or method not in PRETRAINED_METHODS:
            return [value for values in replicates.values() for value in values]
        return [mean(values) for values in replicates.values()]

    def noise_values(self, size: str, method: str) -> list[float]:
        """What a gap's noise is judged by: :meth:`final`'s values, or the target seeds' where one pre-training seed
        ran (a lower bound on the noise: the pre-training seed's share is unknown)."""
        values = self.final(size, method) or []
        if len(values) > 1:
            return values
        return [value for _, value in self.finals.get((size, method), {}).values()]

    def replicate_count(self, size: str, method: str) -> int:
        """Pre-training seeds with a finished run of this method at this size."""
        return len({pretrain_seed for pretrain_seed, _ in self.finals.get((size, method), {})})

    def at(self, size: str, method: str, which: str) -> float | None:
        """Mean metric right after init, after the first full epoch, or at the end."""
        curve = self.curves.get((size, method))
        if not curve:
            return None
        epochs = sorted(curve)
        if which == "init":  # epoch 0.0 for methods without a fit stage: a falsy key, so no `or` chain here
            epoch = epochs[0]
        elif which == "final":
            epoch = epochs[-1]
        else:
            epoch = next((e for e in epochs if e >= 1), epochs[-1])
        return mean(curve[epoch])


def write_report(out: Path, rows: list[dict], meta: dict) -> None:
    write_csv(out / "results.csv", rows)
    res = Results(rows, meta)
    family = meta["config"].get("family", "vit")
    _plot_curves(res, out / "curves.png", family)
    _plot_final(res, out / "final_by_params.png", family)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(_markdown(res, out))


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def _cell(values: list[float] | None, unavailable: bool) -> str:
    if not values:
        return "n/a" if unavailable else ""
    return f"{100 * mean(values):.2f}" + (f" ± {100 * _spread(values):.2f}" if len(values) > 1 else "")


def _noise(a: list[float], b: list[float]) -> float:
    """Two standard errors of a difference of means (0 with one seed: no estimate of the noise)."""
    if len(a) < 2 or len(b) < 2:
        return 0.0
    return 2 * (_spread(a) ** 2 / len(a) + _spread(b) ** 2 / len(b)) ** 0.5


def _markdown(res: Results, out: Path) -> str:
    meta, cfg = res.meta, res.meta["config"]
    ran = len({r["seed"] for r in res.rows if r["status"] == "ok"})
    # a bench reported in pieces (--finished-only) may not have every seed yet: say how many the numbers hold
    seeds = _of(ran, cfg["seeds"])
    replicates = res.pretrain_seeds
    over = f"{seeds} seed(s)" if replicates < 2 else (
        f"{replicates} pre-training seeds for the methods with pre-trained inputs (each the mean of its {seeds} "
        f"target seed(s); the std is across pre-training seeds), over {seeds} target seed(s) for the others")
    split = "test" if res.split == "test" else "validation"
    curve_split = "test" if res.curve_split == "test" else "validation"
    title = FAMILY_TITLES.get(cfg.get("family", "vit"), cfg.get("family"))
    task = f", {cfg['task']}" if cfg.get("task") else ""
    lines = [f"# Initialization benchmark ({title}{task}{', profile ' + cfg['profile'] if cfg.get('profile') else ''})"
             "\n", _protocol(res) + _compared(res), "",
             f"## Final {split} {res.name} (%)\n",
             f"Mean ± std over {over} at each method's chosen learning rate. Last column: templates (the best "
             "of its banks) minus the best other method at that size; *(noise)* when the gap is under two standard "
             "errors of the difference (for a method with one pre-training seed, its target seeds' spread: a lower "
             "bound on the noise).\n",
             "| size | params | " + " | ".join(res.methods) + " | templates - best other |",
             "|---|---:|" + "---:|" * (len(res.methods) + 1)]
    for size in res.sizes:
        cells = [_cell(res.final(size, m), (size, m) in res.unavailable) + _partial(res, size, m)
                 for m in res.methods]
        params = f"{res.params[size]:,}" if size in res.params else "not run yet"
        lines.append(f"| {size} | {params} | " + " | ".join(cells) + f" | {_gain(res, size)} |")
    lines += _summary(res)
    lines += ["", f"## Right after init, after one epoch, final ({curve_split} {res.name} %, mean over seeds)\n",
              "Templates and linear expansion are shown after their fit stage, which the target budget includes "
              "(their first point sits at the fraction of an epoch the fit used).\n",
              "| size | method | after init | after 1 epoch | final |", "|---|---|---:|---:|---:|"]
    for size in res.sizes:
        for method in res.methods:
            if (size, method) in res.curves:
                lines.append(f"| {size} | {method} | " + " | ".join(
                    _pct(res.at(size, method, w)) for w in ("init", "one", "final")) + " |")
    lines += ["", f"## Epochs to reach scratch's final {curve_split} {res.name}\n",
              "Counted from the start of the target budget (a fit stage included); speed-up = scratch's epochs / "
              "epochs needed.\n",
              "| size | " + " | ".join(res.methods) + " |", "|---|" + "---:|" * len(res.methods)]
    for size in res.sizes:
        if (size, "scratch") in res.curves:
            lines.append(f"| {size} | " + " | ".join(_reach(res, size, m) for m in res.methods) + " |")
    lines += _compute_table(res)
    lines += _sweep_table(res)
    if res.unavailable:
        lines += ["", "## Not served\n"] + [f"- {m} at {s}: {why}" for (s, m), why in res.unavailable.items()]
    figures = ["", "![final accuracy against parameters](final_by_params.png)", "",
               "![accuracy curves](curves.png)", ""]
    if (out / "bank_curve.png").exists():
        figures += ["The bank's pre-training curve ([metrics](bank_metrics.csv)):", "", "![bank](bank_curve.png)", ""]
    for method, picture in meta.get("overlays", {}).items():
        figures += [f"{method} (seed 0) on {split} images: ground truth and prediction", "",
                    f"![{method} predictions]({picture})", ""]
    lines += [*figures, f"- command: `{meta['command']}`", f"- machine: {meta['machine']}",
              f"- date: {meta['date']}", ""]
    return "\n".join(lines)


def _protocol(res: Results) -> str:
    cfg, data = res.meta["config"], res.meta.get("data", {})
    bank = res.meta.get("bank", {})
    lrs = cfg.get("lrs")
    sweep = (f"every method trains at each learning rate of {', '.join(f'{lr:g}' for lr in lrs)} (warm-up "
             f"{cfg['warmup']:g}) and keeps the one with the best final validation {res.name} on seed 0"
             if lrs else "each method trains with its recommended recipe (pre-trained inits: their `recommended` "
             "LR; random inits: LR 1e-3, 10% warm-up)")
    return (f"Data `{cfg['data']}`{_transfer(cfg)}. Bank {', '.join(bank.get('sizes', []))} "
            f"({cfg['constraint']}, {bank.get('template_params') or 0:,} template parameters"
            f"{_bank_vals(res.meta)}), "
            f"{_bank_budget(cfg)} on {data.get('source_train', '?'):,} images; the weight-selection "
            f"teacher ({cfg['teacher_size']}), TLEG's learngene and full-budget direct pre-training get the bank's "
            f"training FLOPs, amortized direct the bank's FLOPs / {res.meta.get('served_sizes', len(cfg['sizes']))} "
            f"sizes{_reused(cfg)}. Target budget, the same "
            f"for every method: {cfg['epochs']} epochs of {data.get('train', '?'):,} images (batch "
            f"{cfg.get('target_batch_size') or cfg['batch_size']}), {cfg['fit_steps']} fit steps"
            f"{_fit_lr(res.meta)} included for the methods that fit; {sweep}. "
            f"Validation: {data.get('val', '?'):,} images"
            + (" carved from train" if cfg.get("holdout") else " (the data's own validation split)")
            + (f"; reported: {data['test']:,} test images" if data.get("test") else "")
            + _sharing(res))


def _compared(res: Results) -> str:
    """Names the methods whose runs are another bench's (--compare-with): same target protocol, own pre-training."""
    beside = [method for method, bench in res.bench.items() if bench]
    if not beside:
        return ""
    return (f" The columns {', '.join(beside)} are the runs of `{res.meta['config']['compare_with']}` (the same target "
            "data, splits and budget, checked; their own pre-trained inputs, whose costs are in the compute table).")


def _sharing(res: Results) -> str:
    """How pre-trained inputs and target seeds relate: one set shared by every target seed, or one per
    pre-training seed, each a replicate of the protocol."""
    cfg = res.meta["config"]
    asked = cfg.get("pretrain_seeds", 1)
    if asked < 2:
        return f". Pre-trained inputs are built once and shared by the {cfg['seeds']} target seed(s)."
    return (f". Every pre-trained input is built once per pre-training seed ({_of(res.pretrain_seeds, asked)}) and "
            f"shared by that seed's {cfg['seeds']} target seed(s); each pre-training seed is a replicate of the "
            "protocol" + (", with its own learning-rate choice." if cfg.get("lrs") else "."))


def _partial(res: Results, size: str, method: str) -> str:
    """Marks a pre-trained method's cell that holds fewer pre-training seeds than others (a bench in pieces)."""
    have = res.replicate_count(size, method)
    if method not in PRETRAINED_METHODS or not have or have == res.bench_seeds(method):
        return ""
    return f" ({have} of {res.bench_seeds(method)} pre-training seeds)"


def _of(ran: int, asked: int) -> str:
    """How many seeds the numbers hold: a bench reported in pieces (--finished-only) may not have all yet."""
    return str(ran) if ran == asked else f"{ran} (of {asked})"


def _bank_vals(meta: dict) -> str:
    """Each pre-training seed's bank, by its own validation accuracy at its size."""
    vals = meta.get("bank", {}).get("val_by_seed", {})
    if len(vals) < 2:
        return ""
    return "; validation accuracy at its size " + ", ".join(f"{100 * v:.2f}% (seed {s})" for s, v in vals.items())


def _bank_budget(cfg: dict) -> str:
    drawn = " and ".join(f"{k[5:]} {', '.join(map(str, cfg[k]))}" for k in ("bank_widths", "bank_depths")
                         if cfg.get(k))
    if not drawn:
        return f"{cfg['pretrain_epochs']} epochs"
    how = ("every step also trains a size drawn from " if cfg.get("bank_distribution") == "paired"
           else "a size per step drawn from ")
    return (f"the FLOPs of {cfg['pretrain_epochs']} epochs at its own size ({how}{drawn}, "
            f"{cfg.get('bank_distribution')})")


def _gain(res: Results, size: str) -> str:
    finals = {m: values for m in res.methods if (values := res.final(size, m))}
    banks = [m for m in finals if m.startswith("templates")]
    others = [m for m in finals if not m.startswith("templates")]
    if not banks or not others:
        return "n/a"
    ours, best = (max(methods, key=lambda m: mean(finals[m])) for methods in (banks, others))
    gap = mean(finals[ours]) - mean(finals[best])
    noise = " *(noise)*" if abs(gap) < _noise(res.noise_values(size, ours), res.noise_values(size, best)) else ""
    return f"{100 * gap:+.2f} vs {best}{noise}"


def _summary(res: Results) -> list[str]:
    gains = [mean(res.final(s, "templates")) - mean(res.final(s, "scratch")) for s in res.sizes
             if res.final(s, "templates") and res.final(s, "scratch")]
    if not gains:
        return []
    return ["", f"Mean gain of templates over scratch: **{100 * mean(gains):+.2f} points** over {len(gains)} sizes."]


def _reach(res: Results, size: str, method: str) -> str:
    scratch, curve = res.curves[(size, "scratch")], res.curves.get((size, method))
    if not curve:
        return "n/a"
    goal, total = mean(scratch[max(scratch)]), max(scratch)
    reached = next((e for e in sorted(curve) if mean(curve[e]) >= goal), None)
    if reached is None:
        return "not reached"
    return f"{reached:g} (at init)" if reached == 0 else f"{reached:g} ({total / reached:.1f}x)"


def wall_time(seconds: float | None, cpu: float | None, threads: int | None, default_threads: int) -> str:
    """Wall time, marked shared when the run's CPU time falls short of its wall time x the threads it ran
    (recorded per run; runs recorded before that are judged by ``default_threads``: the machine's cores, since
    the threads of the invocation that rendered the report say nothing about the run's)."""
    threads = threads or default_threads
    if seconds is None:
        return "unknown"
    shared = cpu is not None and cpu < SHARED_BELOW * seconds * threads
    return f"{seconds:,.0f}" + (" (shared CPU)" if shared else "")


def _compute_table(res: Results) -> list[str]:
    threads = res.meta.get("cores") or res.meta.get("threads", 1)
    lines = ["", "## Compute\n",
             "Training FLOPs = 6 x MACs per image x images (MACs counted by PyTorch's FlopCounterMode). A bank, "
             "teacher or learngene serves every size, so its cost is also shown divided by the number of sizes. "
             "Wall times marked *shared CPU* ran while other processes used the cores (CPU time under "
             f"{SHARED_BELOW:.0%} of wall time x the threads the run used, {threads} where a run did not record "
             "them): compare them only with care.\n",
             "| method | pre-training images | pre-training PFLOPs | amortized per size | pre-training seconds |",
             "|---|---:|---:|---:|---:|"]
    for method in res.methods:
        first: dict[str | None, dict] = {}  # one row per pre-trained input: per size for direct pre-training
        for r in res.rows:
            if r["method"] == method and r["status"] == "ok" and _seed0_run(r):
                first.setdefault(r["size"] if method.startswith("direct") else None, r)
        for size, r in first.items():
            images = f"{r['pretrain_images']:,}" if r["pretrain_images"] is not None else "unknown (given)"
            seconds = wall_time(r["pretrain_seconds"], r["pretrain_cpu_seconds"], r.get("pretrain_threads"), threads)
            lines.append(f"| {method}{f' ({size})' if size else ''} | {images} | {_pf(r['pretrain_flops'])} | "
                         f"{_pf(r['amortized_pretrain_flops'])} | {seconds} |")
    lines += ["", "Target budget per size (every method): training images and PFLOPs, and each method's wall time "
              "for it (seed 0):\n",
              "| size | images | PFLOPs | " + " | ".join(res.methods) + " |",
              "|---|---:|---:|" + "---:|" * len(res.methods)]
    for size in res.sizes:
        last = {m: _last_row(res, size, m) for m in res.methods}
        any_row = next((r for r in last.values() if r), None)
        if any_row:
            cells = [wall_time(r["train_seconds"] + r["init_seconds"], r.get("train_cpu_seconds"),
                              r.get("train_threads"), threads) if r else "n/a" for r in last.values()]
            lines.append(f"| {size} | {any_row['target_images']:,} | {_pf(any_row['target_flops'])} | "
                         + " | ".join(cells) + " |")
    return lines


def _last_row(res: Results, size: str, method: str) -> dict | None:
    rows = [r for r in res.rows if r["size"] == size and r["method"] == method and r["status"] == "ok"
            and r.get("selected", True) and _seed0_run(r)]
    return max(rows, key=lambda r: r["epoch"]) if rows else None


def _seed0_run(row: dict) -> bool:
    """A row of target seed 0 on pre-training seed 0: the run that chose the LR and whose costs are shown."""
    return row["seed"] == 0 and row.get("pretrain_seed", 0) == 0


def _pf(flops: float | None) -> str:
    return "unknown" if flops is None else f"{flops / 1e15:.3f}"


def _sweep_table(res: Results) -> list[str]:
    lrs = res.meta["config"].get("lrs")
    if not lrs or len(lrs) < 2:
        return []
    metric = f"val_{res.metric}"
    lines = ["", f"## Learning-rate sweep (final validation {res.name} %, seed 0; chosen in bold)\n",
             "| size | method | " + " | ".join(f"{lr:g}" for lr in lrs) + " |", "|---|---|" + "---:|" * len(lrs)]
    for size in res.sizes:
        for method in res.methods:
            final: dict[float, tuple[float, float, bool]] = {}
            for r in res.rows:
                if r["size"] == size and r["method"] == method and r["status"] == "ok" and _seed0_run(r):
                    final[r["lr"]] = max(final.get(r["lr"], (-1.0, 0.0, False)), (r["epoch"], r[metric], r["selected"]))
            if final:
                cells = [(f"**{100 * final[lr][1]:.2f}**" if final[lr][2] else f"{100 * final[lr][1]:.2f}")
                         if lr in final else "" for lr in lrs]
                lines.append(f"| {size} | {method} | " + " | ".join(cells) + " |")
    return lines


def _fit_lr(meta: dict) -> str:
    return f" (LR {meta['fit_lr']:g})" if meta.get("fit_lr") else ""


def _reused(cfg: dict) -> str:
    if not cfg.get("pretrained_from"):
        return ""
    return (f" (all of them built by the bench in `{cfg['pretrained_from']}` for its sizes and reused here: this "
            "bench adds no pre-training)")


def _transfer(cfg: dict) -> str:
    if not (cfg.get("source_data") or cfg.get("target_data") or cfg.get("source_classes") or cfg.get("target_classes")):
        return ""
    return (f" (transfer: bank, teacher, learngene and direct built on `{cfg.get('source_data') or cfg['data']}` "
            f"classes {cfg.get('source_classes') or 'all'}; judged on `{cfg.get('target_data') or cfg['data']}` "
            f"classes {cfg.get('target_classes') or 'all'})")


def _plot_curves(res: Results, path: Path, family: str = "vit") -> None:
    sizes = res.sizes
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.6 * len(sizes), 3.8), sharey=True, squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        for method in res.methods:
            curve = res.curves.get((size, method))
            if curve:
                epochs = sorted(curve)
                ax.plot(epochs, [100 * mean(curve[e]) for e in epochs], marker="o", label=method,
                        color=f"C{res.methods.index(method)}")  # one colour per method across panels
        ax.set(title=f"{FAMILY_TITLES.get(family, family)} {size}", xlabel="epoch of the target budget")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{res.curve_split} {res.name} (%)")
    handles = {label: h for ax in axes[0] for h, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    axes[0][-1].legend(handles.values(), handles.keys(), fontsize=8)  # every method, even one missing here
    save_figure(fig, path)


def _plot_final(res: Results, path: Path, family: str = "vit") -> None:
    """Final accuracy against target parameters, mean ± std over seeds: the figure a user reads first."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    order = sorted(res.sizes, key=lambda s: res.params.get(s, 0))
    for method in res.methods:
        pts = [(res.params[s], res.final(s, method)) for s in order if res.final(s, method)]
        if pts:
            ax.errorbar([p for p, _ in pts], [100 * mean(v) for _, v in pts],
                        yerr=[100 * _spread(v) for _, v in pts], marker="o", capsize=3, label=method,
                        color=f"C{res.methods.index(method)}")
    for size in order:
        if size in res.params:
            ax.annotate(size, (res.params[size], ax.get_ylim()[0]), fontsize=7, rotation=90, va="bottom", ha="center",
                        alpha=0.6)
    ax.set_xscale("log")
    ax.set(xlabel="target parameters", ylabel=f"final {res.split} {res.name} (%)",
           title=f"{FAMILY_TITLES.get(family, family)}: final {res.name} by model size (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
