"""Picking a size for a budget: which rule picks the size that ends most accurate?

For each budget, the candidates are the deepest size that fits at every width of the bank's grid
(the budget's frontier: `sizeless sizes`) plus the size `sizeless init` picks (the widest at the
bank's depth-to-width ratio). Every candidate gets a short probe (a few scaler-fit steps), then the
quick profile's init (fit steps on a small subset) and training; the report compares what each rule
would have picked with the best final accuracy:

- ratio: the widest size at the bank's depth-to-width ratio (the current rule);
- most budget: the frontier size that uses the most of the budget;
- probe loss / probe accuracy: the candidate with the lowest validation loss (highest accuracy)
  after the probe's few fit steps.

    python benchmarks/size_rule.py --data ../shared/data/cifar10-jpeg
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import replace
from pathlib import Path

import torch
from common import provenance, write_results

from sizeless.api import initialize_full, pretrain, train
from sizeless.bank import TemplateBank
from sizeless.data import SPLIT_SEED, DataConfig, load_data, with_train_subset
from sizeless.initializers.base import RECOMMENDED_FINETUNE, default_fit_config
from sizeless.plotting import plt, save_figure
from sizeless.sizing import Budget, choose, size_table
from sizeless.training import TrainConfig

RULES = ("ratio", "most budget", "probe loss", "probe accuracy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/size-rule"))
    parser.add_argument("--budgets", default="300000,1000000", help="parameter budgets")
    parser.add_argument("--bank-size", default="64x4")
    parser.add_argument("--pretrain-subset", type=int, default=8000)
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--probe-steps", type=int, default=25)
    parser.add_argument("--fit-steps", type=int, default=100)
    parser.add_argument("--fit-subset", type=int, default=2000)
    parser.add_argument("--train-subset", type=int, default=4000)
    parser.add_argument("--val-subset", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    full = load_data(DataConfig(args.data, val_subset=args.val_subset))
    work = args.out / "work"
    bank_dir = work / "bank"
    if (bank_dir / "templates.safetensors").exists():
        bank = TemplateBank.load(bank_dir)
    else:
        bank = pretrain(with_train_subset(full, args.pretrain_subset), [args.bank_size],
                        constraint_config={"template_width": 32, "num_templates": 4},
                        config=TrainConfig(epochs=args.pretrain_epochs), out=bank_dir, resume=True)
    fit_data = with_train_subset(full, args.fit_subset)
    train_data = with_train_subset(full, args.train_subset)
    # the probe is judged on training images no stage sees (the subsets are prefixes of one fixed order),
    # never on the validation split the final accuracy is reported on
    order = torch.randperm(len(full.train), generator=torch.Generator().manual_seed(SPLIT_SEED))
    probe_data = replace(fit_data, val=full.train.subset(order[-args.val_subset:]))
    rows, picks = [], {}
    for limit in (int(b) for b in args.budgets.split(",")):
        budget = Budget(max_params=limit)
        table = size_table(bank, budget)
        frontier = {}
        for cost in table.rows:  # the deepest fitting size of each width
            if cost.size.width not in frontier or cost.size.depth > frontier[cost.size.width].size.depth:
                frontier[cost.size.width] = cost
        ratio = choose(bank, table).cost
        candidates = {c.key: c for c in [*frontier.values(), ratio]}
        for key, cost in candidates.items():
            row = run_candidate(work, key, bank, probe_data, fit_data, train_data, args)
            row.update(budget=limit, params=cost.params, macs=cost.macs, budget_use=budget.use(cost),
                       frontier=key in {c.key for c in frontier.values()}, ratio_pick=key == ratio.key)
            rows.append(row)
            print({k: v for k, v in row.items() if k != "curve"}, flush=True)
        mine = [r for r in rows if r["budget"] == limit]
        on_frontier = [r for r in mine if r["frontier"]]
        picks[limit] = {
            "ratio": ratio.key,
            "most budget": max(on_frontier, key=lambda r: r["params"])["size"],
            "probe loss": min(mine, key=lambda r: r["probe_val_loss"])["size"],
            "probe accuracy": max(mine, key=lambda r: r["probe_val_acc"])["size"],
            "best": max(mine, key=lambda r: r["acc_final"])["size"],
        }
    meta = {**provenance(), **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "bank_val_acc": bank.config.get("val_acc"), "picks": picks}
    write_results(args.out, rows, meta)
    report(args.out, rows, meta)


def run_candidate(work: Path, size: str, bank, probe_data, fit_data, train_data, args) -> dict:
    """Probe, init and train one size (cached in work/: a second run reuses it)."""
    cached = work / f"row-{size}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    probe = initialize_full(size, probe_data, bank=bank, fit=replace(default_fit_config(), steps=args.probe_steps),
                            out=work / f"probe-{size}")
    with (work / f"probe-{size}" / "fit" / "metrics.csv").open() as f:
        last = list(csv.DictReader(f))[-1]
    init = initialize_full(size, fit_data, bank=bank, fit=replace(default_fit_config(), steps=args.fit_steps),
                           out=work / f"init-{size}")
    budget = replace(TrainConfig(epochs=args.epochs), **RECOMMENDED_FINETUNE)
    _, result = train(work / f"init-{size}", train_data, budget, out=work / f"train-{size}", resume=True)
    row = {"size": init.meta["size"], "probe_train_loss": float(last["train_loss"]),
           "probe_val_loss": float(last["val_loss"]), "probe_val_acc": probe.meta["fit_val_acc"],
           "acc_after_init": init.meta["fit_val_acc"], "acc_final": result.history[-1]["val_acc"],
           "curve": [r["val_acc"] for r in result.history],
           "train_seconds": result.history[-1]["seconds"]}
    cached.write_text(json.dumps(row))
    return row


def spearman(xs: list[float], ys: list[float]) -> float:
    def ranks(values):
        order = sorted(range(len(values)), key=values.__getitem__)
        out = [0.0] * len(values)
        for rank, i in enumerate(order):
            out[i] = float(rank)
        return out

    rx, ry = ranks(xs), ranks(ys)
    n = len(xs)
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    var = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return cov / var if var else float("nan")


def report(out: Path, rows: list[dict], meta: dict) -> None:
    budgets = list(dict.fromkeys(r["budget"] for r in rows))
    lines = ["# Picking a size for a parameter budget\n",
             f"Bank ViT {meta['bank_size']} (Kronecker, template width 32, N=4; {meta['pretrain_epochs']} epochs on "
             f"{meta['pretrain_subset']} CIFAR-10 images). Per candidate: a probe of {meta['probe_steps']} fit "
             f"steps (judged on {meta['val_subset']} held-out training images), then {meta['fit_steps']} fit "
             f"steps on {meta['fit_subset']} images and {meta['epochs']} epochs on {meta['train_subset']} images "
             f"at LR {RECOMMENDED_FINETUNE['lr']:g}; validation subset "
             f"{meta['val_subset']}. One seed.\n"]
    for limit in budgets:
        mine = sorted((r for r in rows if r["budget"] == limit), key=lambda r: -r["params"])
        lines += [f"## At most {limit:,} parameters\n",
                  "| size | params | budget used | probe val loss | probe val acc | acc after init | final acc |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in mine:
            mark = " (ratio rule)" if r["ratio_pick"] else ""
            lines.append(f"| {r['size']}{mark} | {r['params']:,} | {100 * r['budget_use']:.0f}% | "
                         f"{r['probe_val_loss']:.4f} | {100 * r['probe_val_acc']:.2f} | "
                         f"{100 * r['acc_after_init']:.2f} | {100 * r['acc_final']:.2f} |")
        picks = meta["picks"][limit]
        final = {r["size"]: r["acc_final"] for r in mine}
        lines += ["", "| rule | picks | final acc | behind the best |", "|---|---|---:|---:|"]
        for rule in RULES:
            gap = 100 * (final[picks["best"]] - final[picks[rule]])
            lines.append(f"| {rule} | {picks[rule]} | {100 * final[picks[rule]]:.2f} | {gap:.2f} |")
        rho_loss = spearman([-r["probe_val_loss"] for r in mine], [r["acc_final"] for r in mine])
        rho_acc = spearman([r["probe_val_acc"] for r in mine], [r["acc_final"] for r in mine])
        lines += ["", f"Spearman rank correlation with the final accuracy: probe val loss (negated) {rho_loss:.2f}, "
                      f"probe val accuracy {rho_acc:.2f} ({len(mine)} candidates).\n"]
    lines += [f"- command: `{meta['command']}`", f"- machine: {meta['machine']}", f"- date: {meta['date']}", ""]
    (out / "report.md").write_text("\n".join(lines))
    fig, axes = plt.subplots(1, len(budgets), figsize=(5 * len(budgets), 4), squeeze=False)
    for ax, limit in zip(axes[0], budgets, strict=True):
        mine = [r for r in rows if r["budget"] == limit]
        ax.scatter([r["probe_val_loss"] for r in mine], [100 * r["acc_final"] for r in mine])
        for r in mine:
            ax.annotate(r["size"], (r["probe_val_loss"], 100 * r["acc_final"]), fontsize=8)
        ax.set(title=f"<= {limit:,} parameters", xlabel=f"val loss after {meta['probe_steps']} fit steps",
               ylabel="final validation accuracy (%)")
        ax.grid(alpha=0.3)
    save_figure(fig, out / "probe_vs_final.png")


if __name__ == "__main__":
    main()
