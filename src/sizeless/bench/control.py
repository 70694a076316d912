"""`sizeless bench init --family decision-transformer`: initializers compared by return in the simulator.

The same grid as the image bench (sizes x methods x seeds, one bank, learngene and teacher built
on the source data and cached), but the metric is the policy's normalized return, rolled out in
the target dataset's environment right after init and at every ``--eval-steps`` point of the same
behavior-cloning budget (training pauses there with ``stop_at_step`` and resumes exactly), so each
run gives a return-vs-steps curve. Every finished init, training checkpoint and evaluation is
cached under OUT; a second run picks them up.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from statistics import mean, pstdev

from .. import distributed as dist
from ..api import initialize_full, pretrain, rollout_model, sampled_steps, train
from ..bank import TemplateBank
from ..data import DataConfig, load_data
from ..errors import SizelessError, UnsupportedSize
from ..families import get_family
from ..files import atomic_path, read_json, write_csv, write_json
from ..flops import steps_spending, training_flops
from ..initializers.base import default_fit_config
from ..initializers.direct import keeps_task_parts
from ..sampling import SizeSampling
from ..sizing import params_and_macs
from ..training import TrainConfig
from .compare import TARGET_PROTOCOL, comparable_bench, compared_rows, differences
from .init_bench import ALIASES, FIT_METHODS, BenchConfig
from .report import SHARED_BELOW, provenance, settings_record, wall_time

FAMILY = "decision-transformer"
# what a policy bench's rollouts add to the image bench's target protocol, and what names the judged dataset: a
# dataset remade with another expert has other episodes and reference returns, hence other normalized scores
POLICY_PROTOCOL = ("train_steps", "context", "episodes", "target_return", "eval_steps")
TASK_IDENTITY = ("id", "env", "episodes", "steps", "ref_min_score", "ref_max_score")


def run_control_bench(cfg: BenchConfig) -> list[dict]:
    out = Path(cfg.out)
    source = load_data(DataConfig(cfg.source_data or cfg.data, cfg.data_dir, context=cfg.context))
    target = load_data(DataConfig(cfg.target_data or cfg.data, cfg.data_dir, train_subset=cfg.train_subset,
                                  context=cfg.context))
    if len(target.tasks) != 1:
        raise SizelessError(f"the benchmark judges one task; --data/--target-data names {len(target.tasks)} datasets")
    task = target.task()
    compared = _comparable(cfg, task) if cfg.compare_with else None  # refused before anything trains
    budget = TrainConfig(epochs=cfg.pretrain_epochs, steps=cfg.pretrain_steps, batch_size=cfg.batch_size,
                         lr=cfg.pretrain_lr)
    inputs: dict[str, dict] = {}
    started = time.process_time()

    sampling = SizeSampling.optional(cfg.bank_widths, cfg.bank_distribution, cfg.bank_depths)
    bank = TemplateBank.load(cfg.bank) if cfg.bank else pretrain(
        source, [cfg.bank_size], family=FAMILY, config=_bank_budget(budget, cfg.bank_size, source, sampling),
        out=out / "bank", resume=True, constraint=cfg.constraint, constraint_config=cfg.bank_constraint,
        size_sampling=sampling)
    budgets = _Budgets(bank, len(cfg.sizes))
    inputs["templates"] = _cost(bank.config, cfg.bank or out / "bank", budgets.flops)
    learngene = None
    if "linear-expansion" in cfg.methods:  # TLEG's learngene: the bank's size and FLOPs (a sampled bank's are its
        # drawn sizes')
        learngene = TemplateBank.load(cfg.learngene) if cfg.learngene else pretrain(
            source, [bank.sizes[0].key], family=FAMILY, config=budgets.config(bank.sizes[0].key),
            out=out / "learngene", resume=True,
            constraint_config={"template_width": bank.sizes[0].width, "num_templates": 2, "scalers": "linear"})
        inputs["linear-expansion"] = _cost(learngene.config, cfg.learngene or out / "learngene",
                                           budgets.spent(bank.sizes[0].key, learngene.config["steps"]))
    teacher = cfg.teacher
    if "weight-selection" in cfg.methods and teacher is None:
        teacher = out / "teacher"
        _, result = train(None, source, budgets.config(cfg.teacher_size), size=cfg.teacher_size, family=FAMILY,
                          out=teacher, resume=True)
        last = result.history[-1]
        inputs["weight-selection"] = _cost({**last, "steps": last["step"]}, teacher,
                                           budgets.spent(cfg.teacher_size, last["step"]))

    rows: list[dict] = []
    sizes = [bank.family.parse_size(s).key for s in cfg.sizes]
    chosen: dict[tuple[str, str], float | None] = {}  # the LR seed 0 chose on validation; later seeds reuse it
    for seed in range(cfg.seeds):
        for size in sizes:
            for method in cfg.methods:
                run = _Run(cfg, method, size, seed, target, task)
                run_rows = run.evaluate(bank, learngene, teacher, source, chosen.get((method, size)), budgets)
                chosen.setdefault((method, size), run.lr)
                rows += run_rows
    if dist.is_main():
        meta = _provenance(cfg, inputs) | {"env": task["env"], "task": {k: task.get(k) for k in TASK_IDENTITY},
            "cpu_minutes_this_run": round((time.process_time() - started) / 60, 1)}
        write_json(out / "results.json", {"meta": meta, "rows": rows})
        beside = compared_rows(compared, cfg.compare_with, rows, cfg.methods) if compared else []
        write_report(out, rows + beside, meta)
    dist.barrier()
    return rows


def _bank_budget(budget: TrainConfig, bank_size: str, source, sampling: SizeSampling | None) -> TrainConfig:
    """The bank's steps: ``--pretrain-steps`` at its own size, or as many size-sampled steps as spend those FLOPs
    (DESIGN 2.7: a sampled bank costs what its drawn sizes cost, so the rivals' budgets stay as they are)."""
    if sampling is None:
        return budget
    family = get_family(FAMILY)
    steps = budget.steps or budget.epochs * max(1, len(source.train) // budget.batch_size)
    return replace(budget, steps=sampled_steps(family, family.parse_size(bank_size), family.input_spec(source), None,
                                               sampling, budget.seed, steps))


def _provenance(cfg: BenchConfig, inputs: dict) -> dict:
    return {**provenance(), "config": settings_record(cfg), "inputs": inputs}


def _comparable(cfg: BenchConfig, task: dict) -> dict:
    """The --compare-with bench's record, refused in one line unless its policies were judged like this bench's:
    the same protocol (budget, context, rollouts) on the same dataset (episodes and reference returns)."""
    record = comparable_bench(settings_record(cfg), cfg.compare_with, TARGET_PROTOCOL + POLICY_PROTOCOL)
    clash = differences(record.get("meta", {}).get("task", {}), task, TASK_IDENTITY)
    if clash:
        raise SizelessError(f"--compare-with {cfg.compare_with} judged another dataset: {clash}; a remade dataset "
                            "gives other scores: rerun that bench's methods on this one")
    return record


def _cost(record: dict, path, flops: int) -> dict:
    """Steps, FLOPs and wall time of a pre-training run, with the CPU time and threads that tell a shared CPU."""
    return {"path": str(path), **{k: record.get(k) for k in ("steps", "seconds", "cpu_seconds", "threads")},
            "flops": flops, **({"size_sampling": record["size_sampling"]} if record.get("size_sampling") else {})}


def _sampled(name: str, cost: dict) -> str:
    """A size-sampled input's draws in words (the steps column counts drawn steps, the FLOPs column what they cost)."""
    sampling = cost["size_sampling"]
    drawn = [f"{what} of {', '.join(map(str, sampling[what + 's']))}" for what in ("width", "depth")
             if sampling[what + "s"]]
    return (f"- {name}: SWEET-style size sampling, each step at a {' and a '.join(drawn)} ({sampling['distribution']} "
            "draws); its steps are the drawn steps that spend its FLOPs")


class _Budgets:
    """Pre-training budgets in FLOPs (DESIGN 2.7): the weight-selection teacher and full direct pre-training get the
    bank's FLOPs at their own size, amortized direct pre-training that divided by the sizes the bank serves.

    Counted per context window of the source data's task (what the bank trained on); a wider or deeper model gets
    fewer steps of the bank's batch size.
    """

    def __init__(self, bank: TemplateBank, served_sizes: int):
        self.bank, self.served_sizes = bank, served_sizes
        self.flops = bank.config.get("train_flops") or self.spent(bank.sizes[0].key, bank.config["steps"])

    def spent(self, size: str, steps: int) -> int:
        """FLOPs of ``steps`` pre-training steps at ``size`` and the bank's batch size."""
        return training_flops(self.macs(size), steps * self.bank.train_config.batch_size)

    def macs(self, size: str) -> int:
        """MACs of one context window through the plain policy of ``size``."""
        return params_and_macs(self.bank.family, self.bank.family.parse_size(size), self.bank.image)[1]

    def config(self, size: str, amortized: bool = False) -> TrainConfig:
        flops = self.flops / (self.served_sizes if amortized else 1)
        train_config = self.bank.train_config
        return replace(train_config, steps=steps_spending(flops, self.macs(size), train_config.batch_size))


class _Run:
    """One (method, size, seed): init, the LR chosen on validation, then the return-vs-steps curve.

    Steps are behavior-cloning steps of the budget: a template method's fit is counted inside it (its
    curve starts after the fit, at ``fit_steps``), as the image bench counts fit images. With several
    ``--lrs`` every LR trains the whole budget once and the lowest held-out-episode loss chooses (seed 0;
    later seeds take that LR); only the chosen LR is rolled out. Without ``--lrs``: the method's recipe.
    """

    def __init__(self, cfg: BenchConfig, method: str, size: str, seed: int, target, task: dict):
        self.cfg, self.method, self.size, self.seed, self.target, self.task = cfg, method, size, seed, target, task
        self.dir = Path(cfg.out) / "runs" / f"{method}-{size}-seed{seed}"
        self.spent = cfg.fit_steps if method in FIT_METHODS else 0
        if self.spent >= cfg.train_steps:
            raise SizelessError(f"--fit-steps {cfg.fit_steps} must be below --train-steps {cfg.train_steps}: the "
                                "fit is behavior cloning too, counted inside the budget")
        self.lr: float | None = None
        self.pretrain_steps: int | None = None  # direct pre-training's steps at this size (FLOPs-matched)
        self.recipe: dict = {}
        self.sweep: dict[float, float] = {}

    def evaluate(self, bank, learngene, teacher, source, chosen_lr: float | None, budgets: _Budgets) -> list[dict]:
        base = {"method": self.method, "size": self.size, "seed": self.seed}
        start = time.perf_counter()
        try:
            init = self._initialize(bank, learngene, teacher, source, budgets)
        except UnsupportedSize as err:
            return [{**base, "step": None, "status": f"n/a: {err}"}]
        self.recipe = init.meta.get("recommended", {})
        common = {**base, "status": "ok", "params": sum(p.numel() for p in init.model.parameters()),
                  "init_seconds": round(time.perf_counter() - start, 2), "fit_steps": self.spent,
                  "pretrain_steps": self.pretrain_steps}
        lrs = self.cfg.lrs or [None]
        if chosen_lr is not None:
            lrs = [chosen_lr]
        if len(lrs) > 1:
            self.sweep = {lr: self._final_val_loss(lr) for lr in lrs}
            self.lr = min(self.sweep, key=self.sweep.get)
        else:
            self.lr = lrs[0]
        config = self._config(self.lr)
        tag = "" if self.cfg.lrs is None else f"-lr{config.lr:g}"  # without a sweep: the folders of earlier benches
        common |= {"lr": config.lr, "sweep_val_loss": {f"{k:g}": v for k, v in self.sweep.items()}}
        budget = self.cfg.train_steps
        points = sorted({self.spent, *(s for s in (*self.cfg.eval_steps, budget) if s > self.spent)})
        rows = []
        for point in points:
            cache = self.dir / f"eval{tag}-{point}.json"
            if cache.exists():  # with this invocation's sweep: a wider --lrs may have re-judged the cached choice
                rows.append(read_json(cache, "benchmark evaluation") | {"sweep_val_loss": common["sweep_val_loss"]})
                continue
            if point > self.spent and any((self.dir / f"eval{tag}-{p}.json").exists() for p in points if p > point):
                raise SizelessError(f"{self.dir} was trained past step {point} with other --eval-steps; training "
                                    "cannot go back: delete that folder (or use another --out) to evaluate at new "
                                    "steps")
            model, seconds = init.model, 0.0
            if point > self.spent:
                steps = point - self.spent
                model, result = train(self.dir / "init", self.target, config, out=self.dir / f"train{tag}",
                                      resume=True, stop_at_step=steps if point < budget else None)
                seconds = result.history[-1]["seconds"] if result.history else 0.0
            metrics = rollout_model(model, self.task["env"], episodes=self.cfg.episodes, task=self.task,
                                    seed=10_000 + 100 * self.seed, target_return=self.cfg.target_return,
                                    progress=False)
            row = {**common, "step": point, "score": metrics["normalized_score"], "return": metrics["return_mean"],
                   "return_std": metrics["return_std"], "train_seconds": seconds}
            write_json(cache, row)
            rows.append(row)
        return rows

    def _initialize(self, bank, learngene, teacher, source, budgets: _Budgets):
        cfg = self.cfg
        fit = replace(default_fit_config(), steps=cfg.fit_steps, batch_size=cfg.batch_size)
        pretrain_config = None
        if ALIASES.get(self.method, self.method) == "direct":
            pretrain_config = budgets.config(self.size, amortized=self.method == "direct-amortized")
            self.pretrain_steps = pretrain_config.steps
        setup = {"fit_steps": self.spent, "train_steps": cfg.train_steps, "train_subset": cfg.train_subset,
                 "pretrain_steps": self.pretrain_steps}
        if self.method not in ("scratch", "mimetic"):  # a pre-trained policy's embeddings and heads: kept or new
            given = {"templates": bank, "linear-expansion": learngene}.get(self.method)  # a bank says for itself
            family = get_family(FAMILY)
            carried = given.carries_task_parts(self.target.labels, family.input_spec(self.target)) \
                if given is not None else keeps_task_parts(family, source, self.target)  # the teacher's, direct's
            setup["task_parts"] = "carried" if carried else "new"
        self._check_setup(setup)
        return initialize_full(self.size, self.target, bank=learngene if self.method == "linear-expansion" else bank,
                               method=ALIASES.get(self.method, self.method), fit=fit, seed=self.seed,
                               out=self.dir / "init", teacher=teacher, source=source,
                               pretrain_config=pretrain_config, family=FAMILY)

    def _check_setup(self, setup: dict) -> None:
        """Refuse a run folder made under other settings: its cached training and rollouts would be reused as if not.

        Direct pre-training's steps follow from the bank's FLOPs (amortized: divided by the number of ``--sizes``), so
        another bank or another size list changes that method's model under the same folder name; so does whether the
        pre-trained embeddings and heads carry to the target (folders from before that rule record neither).
        """
        path = self.dir / "setup.json"
        if path.exists():
            old = read_json(path, "benchmark run settings")
            changed = {k: (old.get(k), v) for k, v in setup.items() if old.get(k) != v}
            if changed:
                said = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items())
                raise SizelessError(f"{self.dir} was run with other settings ({said}); give this bench another --out, "
                                    "or remove that folder to redo the run")
            return
        write_json(path, setup)

    def _config(self, lr: float | None) -> TrainConfig:
        config = TrainConfig(steps=self.cfg.train_steps - self.spent, batch_size=self.cfg.batch_size, seed=self.seed)
        if lr is None:  # the method's recipe (what earlier benches ran)
            return replace(config, **self.recipe)
        return replace(config, lr=lr, warmup=self.cfg.warmup)

    def _final_val_loss(self, lr: float) -> float:
        """Held-out-episode loss after the whole budget at ``lr`` (cached by train's resume)."""
        _, result = train(self.dir / "init", self.target, self._config(lr), out=self.dir / f"sweep-lr{lr:g}",
                          resume=True)
        return float(result.history[-1]["val_loss"])


def write_report(out: Path, rows: list[dict], meta: dict) -> None:
    write_csv(out / "results.csv", rows)
    curves: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["status"] == "ok":
            curves[(r["size"], r["method"])][r["step"]].append(r["score"])
    sizes = list(dict.fromkeys(r["size"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    _plot(curves, sizes, methods, out / "curves.png", meta["env"])
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(_markdown(rows, curves, sizes, methods, meta))


def _few(cfg: dict) -> str:
    """The few-demonstration setting in words, when ``--train-subset`` keeps some of the training episodes."""
    n = cfg.get("train_subset")
    return f"; targets train on a fixed {n} of its training episodes, validation on the same held-out ones" if n else ""


def _markdown(rows, curves, sizes, methods, meta) -> str:
    cfg, task = meta["config"], meta["task"]
    seeds = cfg["seeds"]
    lines = [
        f"# Initialization benchmark (Decision Transformer, {meta['env']})\n",
        f"Bank, learngene, teacher and direct pre-training on `{cfg.get('source_data') or cfg['data']}`; judged on "
        f"`{cfg.get('target_data') or cfg['data']}` ({task['episodes']} episodes, {task['steps']:,} steps"
        f"{_few(cfg)}). "
        f"{cfg['train_steps']} behavior-cloning steps per model (batch {cfg['batch_size']}, context "
        f"{cfg['context']}), the {cfg['fit_steps']} fit steps of template methods counted inside them (their "
        f"curves start after the fit); {_lr_rule(cfg)}. Normalized score "
        f"100 (R - R_random) / (R_expert - R_random) with R_random {task['ref_min_score']:.1f} and R_expert "
        f"{task['ref_max_score']:.1f}, {cfg['episodes']} episodes per evaluation, mean ± std over {seeds} seed(s) "
        "(the std is the spread of the seeds' means: training seed and episode seeds both vary).\n",
        "| size | " + " | ".join(methods) + " | templates - best baseline |",
        "|---|" + "---:|" * (len(methods) + 1),
    ]
    unavailable = {(r["size"], r["method"]): r["status"] for r in rows if r["status"] != "ok"}
    for size in sizes:
        cells, means = [], {}
        for method in methods:
            curve = curves.get((size, method))
            if not curve:
                cells.append("n/a" if (size, method) in unavailable else "")
                continue
            final = curve[max(curve)]
            means[method] = mean(final)
            cells.append(f"{mean(final):.1f} ± {pstdev(final):.1f}" if len(final) > 1 else f"{mean(final):.1f}")
        others = [v for m, v in means.items() if m != "templates"]
        gain = f"{means['templates'] - max(others):+.1f}" if "templates" in means and others else "n/a"
        lines.append(f"| {size} | " + " | ".join(cells) + f" | {gain} |")
    borrowed = {r["bench"]: None for r in rows if r.get("bench")}
    if borrowed:
        lines += ["", f"Runs of methods other than {', '.join(cfg['methods'])} come from `{', '.join(borrowed)}` (the "
                  "same target protocol and dataset, checked before this bench ran)."]
    lines += ["", "Right after init (template methods: after their fit, at the step given), normalized score:\n",
              "| size | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    for size in sizes:
        cells = []
        for method in methods:
            curve = curves.get((size, method))
            first = min(curve) if curve else None
            cells.append("n/a" if first is None else f"{mean(curve[first]):.1f}" + (f" (step {first})" if first
                                                                                    else ""))
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    lines += _lr_table(rows, sizes, methods)
    lines += ["", "Behavior-cloning steps to reach scratch's final score (speed-up = scratch's steps / steps needed; "
              "0 = already there right after init):\n", "| size | " + " | ".join(methods) + " |",
              "|---|" + "---:|" * len(methods)]
    for size in sizes:
        scratch = curves.get((size, "scratch"))
        if not scratch:
            continue
        goal, total = mean(scratch[max(scratch)]), max(scratch)
        cells = []
        for method in methods:
            curve = curves.get((size, method))
            reached = next((s for s in sorted(curve) if mean(curve[s]) >= goal), None) if curve else None
            if reached is None:
                cells.append("not reached" if curve else "n/a")
            else:
                cells.append("0 (at init)" if reached == 0 else f"{reached} ({total / reached:.1f}x)")
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    lines += ["", "Pre-training (steps x batch on the source data; shared inputs serve every size; the teacher and "
              "direct pre-training get the bank's FLOPs at their own size, amortized direct that divided by the "
              f"sizes). Wall times marked *shared CPU* had under {SHARED_BELOW:.0%} of their wall time x threads in "
              "CPU time:\n", "| input | steps | GFLOPs | seconds |", "|---|---:|---:|---:|"]
    for name, cost in meta["inputs"].items():  # a cost without its threads: judged against the machine's cores
        seconds = wall_time(cost.get("seconds"), cost.get("cpu_seconds"), cost.get("threads"), os.cpu_count() or 1)
        gflops = f"{cost['flops'] / 1e9:.1f}" if cost.get("flops") else "not recorded"
        lines.append(f"| {name} | {cost.get('steps')} | {gflops} | {seconds} |")
    direct = {(r["method"], r["size"]): r["pretrain_steps"] for r in rows
              if r["status"] == "ok" and r.get("pretrain_steps") is not None}
    for method in dict.fromkeys(m for m, _ in direct):
        lines.append(f"| {method} | " + ", ".join(f"{direct[method, s]} at {s}" for s in sizes
                                                   if (method, s) in direct) + " | | |")
    sampled = [_sampled(name, cost) for name, cost in meta["inputs"].items() if cost.get("size_sampling")]
    lines += ["", *sampled] if sampled else []
    if unavailable:
        lines += ["", "Not served:", ""] + [f"- {m} at {s}: {v[5:]}" for (s, m), v in unavailable.items()]
    lines += ["", "![normalized score vs steps](curves.png)", "", f"- command: `{meta['command']}`",
              f"- machine: {meta['machine']}", f"- date: {meta['date']}",
              f"- CPU time of this invocation (cached parts excluded): {meta['cpu_minutes_this_run']} min", ""]
    return "\n".join(lines)


def _lr_rule(cfg: dict) -> str:
    if not cfg.get("lrs"):
        return "each method trains at its recipe's LR"
    return (f"every method's LR is the best of {', '.join(f'{lr:g}' for lr in cfg['lrs'])} by held-out-episode loss "
            "after the whole budget (seed 0; later seeds reuse it)")


def _lr_table(rows: list[dict], sizes: list[str], methods: list[str]) -> list[str]:
    """Chosen LR per size and method, with each swept LR's held-out loss (seed 0's rows carry the sweep)."""
    sweeps = {(r["size"], r["method"]): (r["lr"], r["sweep_val_loss"]) for r in rows
              if r["status"] == "ok" and r["seed"] == 0 and r.get("sweep_val_loss")}
    if not sweeps:
        return []
    lines = ["", "Learning rate chosen on held-out episodes (behavior-cloning loss after the budget, per swept LR):\n",
             "| size | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for size in sizes:
        cells = []
        for method in methods:
            lr, losses = sweeps.get((size, method), (None, {}))
            cells.append(f"**{lr:g}** (" + ", ".join(f"{k}: {v:.4f}" for k, v in losses.items()) + ")" if losses
                         else "n/a")
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    return lines


def _plot(curves, sizes, methods, path: Path, env: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting import save_figure

    fig, axes = plt.subplots(1, len(sizes), figsize=(4.6 * len(sizes), 3.8), sharey=True, squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        for method in methods:
            curve = curves.get((size, method))
            if curve:
                steps = sorted(curve)
                ax.errorbar(steps, [mean(curve[s]) for s in steps], yerr=[pstdev(curve[s]) for s in steps],
                            marker="o", capsize=3, label=method, color=f"C{methods.index(method)}")
        ax.set(title=f"DT {size} on {env}", xlabel="behavior-cloning steps (a fit included)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("normalized score")
    handles = {label: h for ax in axes[0] for h, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    axes[0][-1].legend(handles.values(), handles.keys(), fontsize=8)
    save_figure(fig, path)

