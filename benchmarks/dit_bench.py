"""DiT initializers side by side on CIFAR-10-jpeg (32x32, pixel space): templates against random init, weight
selection from a larger DiT, TLEG's linear expansion, mimetic init and direct pre-training.

    OMP_NUM_THREADS=1 python benchmarks/dit_bench.py --data ../shared/data/cifar10-jpeg --out benchmarks/dit-cifar10

Protocol (every number is a flag; the defaults are the committed run):
- a validation split is carved from the training images; learning rates are chosen on it, never on the
  test split that the results report;
- the metric instrument is a ConvNeXt classifier trained here on all training images (its test accuracy and
  weights' SHA-256 are in the report); Frechet distance (FD) and kernel distance (KD, KID's estimator) are
  measured in its penultimate features against as many test images, with the real-vs-real floor (training vs
  test images, same count); class consistency is its accuracy on generated images against their labels;
- the bank, TLEG's learngene, the weight-selection teacher (a larger DiT) and each size's direct pre-training
  get the same training FLOPs (the bank's steps scaled by forward multiply-adds per image);
- every method then gets the same target budget in steps of the same batch: the template fit counts inside it;
- each method trains at the learning rate that gave it the lowest validation denoising loss in a shorter sweep
  at one size; mimetic and direct run with one seed (context), the rest with every seed;
- images are sampled with DDIM and classifier-free guidance from the same noise for every model.
Every finished stage and run is cached under --work; run the same command again to resume.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from statistics import mean, stdev

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from common import provenance, provenance_md, write_results
from dit_common import Ledger, carve_validation, dit_flops

from sizeless.api import evaluate_model, initialize_full, noise_schedule, pretrain, train
from sizeless.bank import TemplateBank
from sizeless.data import DataConfig, load_data
from sizeless.errors import UnsupportedSize
from sizeless.families import get_family
from sizeless.files import load_tensors, save_tensors
from sizeless.gen_metrics import FeatureModel, compare, real_floor
from sizeless.generation import SampleConfig, sample, to_uint8
from sizeless.models import load_model
from sizeless.plotting import save_figure
from sizeless.training import TrainConfig

FITTED = ("templates", "linear-expansion")  # methods whose init fits scalers: the fit counts in the target budget
PRETRAINED = {"templates": "bank", "linear-expansion": "learngene", "weight-selection": "teacher",
              "direct": "direct"}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--out", type=Path, default=Path("benchmarks/dit-cifar10"))
    p.add_argument("--work", type=Path, default=None, help="cache of every stage and run (default OUT/work)")
    p.add_argument("--sizes", default="64x6,96x4,96x2", help="unseen sizes: new depth, new width, both")
    p.add_argument("--methods", default="templates,scratch,weight-selection,linear-expansion,mimetic,direct")
    p.add_argument("--one-seed-methods", default="mimetic,direct", help="context baselines run with seed 0 only")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--bank-size", default="64x4")
    p.add_argument("--template-width", type=int, default=32)
    p.add_argument("--num-templates", type=int, default=4)
    p.add_argument("--embeddings", default="free")
    p.add_argument("--teacher-size", default="128x6")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--pretrain-steps", type=int, default=1200, help="bank steps; the others get its FLOPs")
    p.add_argument("--pretrain-lr", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=300, help="target budget per method (template fit included)")
    p.add_argument("--fit-steps", type=int, default=60)
    p.add_argument("--lrs", default="3e-4,1e-3,3e-3", help="learning-rate sweep after init")
    p.add_argument("--sweep-size", default="64x6")
    p.add_argument("--sweep-steps", type=int, default=150, help="target steps of a sweep run (fit scaled alike)")
    p.add_argument("--val-images", type=int, default=2000, help="carved from the training images")
    p.add_argument("--test-images", type=int, default=1000, help="test images for the held-out denoising loss")
    p.add_argument("--num-images", type=int, default=500, help="images per FD/KD evaluation (and real ones)")
    p.add_argument("--sample-steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=1.5)
    p.add_argument("--curve-points", type=int, default=4, help="denoising-loss evaluations during training")
    p.add_argument("--fd-points", default="0,1", help="fractions of the budget where FD/KD are measured")
    p.add_argument("--classifier-size", default="32x2-2-2-2")
    p.add_argument("--classifier-family", default="convnext")
    p.add_argument("--classifier-epochs", type=int, default=5)
    p.add_argument("--classifier-lr", type=float, default=2e-3)
    return p.parse_args()


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work = args.work or args.out / "work"
        self.ledger = Ledger(self.work / "ledger.json")
        full = load_data(DataConfig(args.data))
        self.full = full
        self.data, test = carve_validation(full, args.val_images)
        self.test = test
        order = torch.randperm(len(test), generator=torch.Generator().manual_seed(1))
        self.test_data = replace(self.data, val=test.subset(order[:args.test_images]))  # held-out denoising loss
        n = args.num_images
        self.real_test = test.subset(order[args.test_images:args.test_images + n])  # FD/KD reference images
        train_order = torch.randperm(len(self.data.train), generator=torch.Generator().manual_seed(2))
        self.real_train = self.data.train.subset(train_order[:n])  # the floor: real training images
        self.labels = torch.arange(n) % full.num_classes
        self.tokens = (full.img_size // get_family("dit").default_patch_size(full.img_size)) ** 2
        self.train_config = TrainConfig(steps=args.pretrain_steps, batch_size=args.batch_size, lr=args.pretrain_lr,
                                        warmup=0.05, weight_decay=0.0)

    # -- the metric instrument ------------------------------------------------------------------------
    def classifier(self) -> FeatureModel:
        a = self.args
        out = self.work / "classifier"
        with self.ledger.stage("classifier"):
            train(None, self.full, TrainConfig(epochs=a.classifier_epochs, batch_size=128, lr=a.classifier_lr),
                  size=a.classifier_size, family=a.classifier_family, out=out, resume=True)
        features = FeatureModel.load(out)
        cache = self.work / "real_features.safetensors"
        if not cache.exists():
            with self.ledger.stage("real-features"):
                test, train_ = features(self.real_test.images), features(self.real_train.images)
                accuracy = evaluate_model(out, self.full)["acc"]
                save_tensors(cache, {"test_f": test[0], "test_l": test[1], "train_f": train_[0],
                                     "train_l": train_[1], "acc": torch.tensor(accuracy)})
        saved = load_tensors(cache, "real features")
        self.real = (saved["test_f"], saved["test_l"])
        self.floor = real_floor((saved["train_f"], saved["train_l"]), self.real)
        features.info["test_acc"] = float(saved["acc"])
        return features

    # -- pre-trained inputs, all with the bank's FLOPs ---------------------------------------------------
    def steps_for(self, size: str) -> int:
        a = self.args
        return max(1, round(a.pretrain_steps * dit_flops(a.bank_size, self.tokens) / dit_flops(size, self.tokens)))

    def inputs(self) -> dict:
        a, cfg = self.args, self.train_config
        kron = {"template_width": a.template_width, "num_templates": a.num_templates}
        family_config = {"embeddings": a.embeddings}
        with self.ledger.stage("bank"):
            bank = pretrain(self.data, [a.bank_size], family="dit", family_config=family_config,
                            constraint_config=kron, config=cfg, out=self.work / "bank", resume=True)
        out = {"bank": bank}
        if "linear-expansion" in a.methods:
            width = get_family("dit").parse_size(a.bank_size).width
            with self.ledger.stage("learngene"):
                out["learngene"] = pretrain(self.data, [a.bank_size], family="dit", family_config=family_config,
                                            constraint_config={"template_width": width, "num_templates": 2,
                                                               "scalers": "linear"},
                                            config=cfg, out=self.work / "learngene", resume=True)
        if "weight-selection" in a.methods:
            with self.ledger.stage("teacher"):
                train(None, self.data, replace(cfg, steps=self.steps_for(a.teacher_size)), size=a.teacher_size,
                      family="dit", out=self.work / "teacher", resume=True)
            out["teacher"] = self.work / "teacher"
        return out

    def direct_model(self, size: str, inputs: dict) -> Path:
        """Direct pre-training of ``size`` with the bank's training FLOPs (seed 0), built once."""
        out = self.work / f"direct-{size}"
        if not (out / "config.json").exists():
            with self.ledger.stage(f"direct-{size}"):
                initialize_full(size, self.data, bank=inputs["bank"], method="direct", seed=0, out=out, family="dit",
                                pretrain_config=replace(self.train_config, steps=self.steps_for(size)))
        return out

    # -- one method at one size, trained in segments with evaluations between ---------------------------
    def measure(self, model, features: FeatureModel, with_fd: bool) -> dict:
        row = {"denoising_loss": evaluate_model(model, self.test_data, family="dit")["loss"]}
        if with_fd:
            config = SampleConfig(len(self.labels), steps=self.args.sample_steps, guidance=self.args.guidance,
                                  seed=12345, scheduler="ddim")
            images = to_uint8(sample(model, self.labels, config, noise_schedule({}), progress=False),
                              self.full.mean, self.full.std)
            row.update(compare(features(images), self.labels, self.real))
        return row

    def run(self, method: str, size: str, seed: int, lr: float, inputs: dict, features: FeatureModel,
            sweep: bool = False) -> list[dict]:
        """Init, then train in segments; a sweep run is shorter and is judged on the carved validation split only."""
        a = self.args
        total = a.sweep_steps if sweep else a.steps
        key = f"{'sweep-' if sweep else ''}{method}-{size}-seed{seed}-lr{lr:g}"
        run_dir = self.work / "runs" / key
        record = run_dir / "metrics.json"
        state = json.loads(record.read_text()) if record.exists() else {"rows": [], "done": False}
        if state["done"]:
            return state["rows"]
        fit_steps = round(a.fit_steps * total / a.steps) if method in FITTED else 0
        train_steps = total - fit_steps
        base = {"method": method, "size": size, "seed": seed, "lr": lr}
        fit = TrainConfig(steps=max(1, fit_steps), batch_size=a.batch_size, lr=3e-3, warmup=0.1, weight_decay=0.0,
                          min_lr=1e-4)
        bank = inputs["learngene"] if method == "linear-expansion" else inputs["bank"]
        init_dir = run_dir / "init"
        with self.ledger.stage(f"{key}/init"):
            try:
                if method == "direct":  # pre-trained once per size (the bank's FLOPs), shared by its runs
                    init_dir = self.direct_model(size, inputs)
                    initial = load_model(init_dir)[0]
                else:
                    initial = initialize_full(size, self.data, bank=bank if method in FITTED else None,
                                              method=method, fit=fit, seed=seed, out=init_dir,
                                              teacher=inputs.get("teacher"), family="dit").model
            except UnsupportedSize as err:
                state = {"rows": [{**base, "status": f"n/a: {err}"}], "done": True}
                record.parent.mkdir(parents=True, exist_ok=True)
                record.write_text(json.dumps(state, indent=1) + "\n")
                return state["rows"]
        params = sum(p.numel() for p in initial.parameters())
        pre_images = {"templates": inputs["bank"].config.get("steps", 0),
                      "linear-expansion": inputs.get("learngene").config.get("steps", 0)
                      if inputs.get("learngene") else 0,
                      "weight-selection": self.steps_for(a.teacher_size), "direct": self.steps_for(size)}
        base.update(status="ok", params=params, pretrain_images=pre_images.get(method, 0) * a.batch_size,
                    pretrain_shared=method in ("templates", "linear-expansion", "weight-selection"))
        fd_at = {round(float(f) * train_steps) for f in a.fd_points.split(",")}
        points = sorted({round(train_steps * k / a.curve_points) for k in range(1, a.curve_points + 1)} | fd_at)
        if sweep:
            fd_at, points = set(), [train_steps]
        done = {r["train_step"] for r in state["rows"]}
        config = TrainConfig(steps=train_steps, batch_size=a.batch_size, lr=lr, warmup=0.05, weight_decay=0.0,
                             seed=seed)
        if 0 not in done and not sweep:
            with self.ledger.stage(f"{key}/eval0"):
                row = self.measure(initial, features, 0 in fd_at)
            state["rows"].append({**base, "train_step": 0, "target_steps": fit_steps, **row})
        for point in points:
            if point in done or point == 0:
                continue
            with self.ledger.stage(f"{key}/train{point}"):
                model, _ = train(init_dir, self.data, config, out=run_dir / "train", resume=True,
                                 stop_at_step=point if point < train_steps else None)
            with self.ledger.stage(f"{key}/eval{point}"):
                row = {"val_denoising_loss": evaluate_model(model, self.data, family="dit")["loss"]} if sweep else \
                    self.measure(model, features, point in fd_at)
            state["rows"].append({**base, "train_step": point, "target_steps": fit_steps + point, **row})
            record.write_text(json.dumps(state, indent=1) + "\n")
        state["done"] = True
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(state, indent=1) + "\n")
        return state["rows"]

    # -- learning rates: a sweep per method on the validation split --------------------------------------
    def sweep(self, inputs: dict, features: FeatureModel) -> tuple[dict, list[dict]]:
        a = self.args
        best, rows = {}, []
        for method in a.methods:
            scores = {}
            for lr in a.lrs:
                final = self.run(method, a.sweep_size, 0, lr, inputs, features, sweep=True)[-1]
                if final["status"] != "ok":
                    break
                scores[lr] = final["val_denoising_loss"]  # on the validation split carved from the training images
                rows.append({"method": method, "lr": lr, "val_denoising_loss": scores[lr]})
            best[method] = min(scores, key=scores.get) if scores else a.lrs[0]
        return best, rows

    # -- figures ---------------------------------------------------------------------------------------
    def sample_grid(self, size: str, best: dict, path: Path) -> None:
        """One row per method (seed 0, final model) and a row of real test images; a column per class."""
        from torchvision.utils import make_grid

        classes = self.full.num_classes
        labels = torch.arange(classes)
        config = SampleConfig(classes, steps=50, guidance=self.args.guidance, seed=7, scheduler="ddim")
        rows, names = [], []
        for method in self.args.methods:
            folder = self.work / "runs" / f"{method}-{size}-seed0-lr{best[method]:g}" / "train"
            if not (folder / "config.json").exists():
                continue
            model = load_model(folder)[0]
            rows.append(to_uint8(sample(model, labels, config, noise_schedule({}), progress=False), self.full.mean,
                                 self.full.std))
            names.append(method)
        real = torch.stack([self.test.images[self.test.labels == c][0] for c in range(classes)])
        rows.append(real)
        names.append("real (test)")
        grid = make_grid(torch.cat(rows), nrow=classes, padding=1, pad_value=255).permute(1, 2, 0).numpy()
        fig, ax = plt.subplots(figsize=(0.55 * classes + 2, 0.55 * len(rows) + 0.8))
        ax.imshow(grid, interpolation="nearest")
        side = self.full.img_size + 1
        ax.set_yticks([side * (i + 0.5) for i in range(len(rows))], names)
        ax.set_xticks([side * (i + 0.5) for i in range(classes)], self.full.class_names, rotation=60, fontsize=7)
        ax.set_title(f"DiT {size}: 50 DDIM steps, guidance {self.args.guidance:g}, same noise per column", fontsize=9)
        save_figure(fig, path)


def curves(rows: list[dict], sizes: list[str], methods: list[str], path: Path) -> None:
    fig, axes = plt.subplots(2, len(sizes), figsize=(4.6 * len(sizes), 7.5), squeeze=False)
    for col, size in enumerate(sizes):
        for index, method in enumerate(methods):
            mine = [r for r in rows if r["size"] == size and r["method"] == method and r.get("status") == "ok"]
            for row_ax, metric in zip(axes[:, col], ("fd", "denoising_loss"), strict=True):
                steps = sorted({r["target_steps"] for r in mine if metric in r})
                if not steps:
                    continue
                values = [mean(r[metric] for r in mine if r["target_steps"] == s and metric in r) for s in steps]
                row_ax.plot(steps, values, marker="o", label=method, color=f"C{index}")
        axes[0, col].set(title=f"{size}: Frechet distance (classifier features)", xlabel="target steps",
                         ylabel="FD (lower is better)")
        axes[1, col].set(title=f"{size}: held-out denoising loss", xlabel="target steps", ylabel="MSE")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    save_figure(fig, path)


def summarize(rows: list[dict], sizes: list[str], methods: list[str]) -> list[dict]:
    """Final metrics per (size, method): mean and std over seeds."""
    out = []
    for size in sizes:
        for method in methods:
            runs = [r for r in rows if r["size"] == size and r["method"] == method]
            if runs and runs[0].get("status", "ok") != "ok":
                out.append({"size": size, "method": method, "status": runs[0]["status"]})
                continue
            last = {}
            for r in runs:
                if "fd" in r and r["target_steps"] >= last.get(r["seed"], {}).get("target_steps", -1):
                    last[r["seed"]] = r
            finals = list(last.values())
            if not finals:
                continue
            row = {"size": size, "method": method, "status": "ok", "seeds": len(finals), "params": finals[0]["params"]}
            for metric in ("fd", "kd", "class_consistency", "denoising_loss"):
                values = [r[metric] for r in finals]
                row[metric] = mean(values)
                row[f"{metric}_std"] = stdev(values) if len(values) > 1 else None
            out.append(row)
    return out


def report(args, meta, table, sweep_rows, best, features, floor, ledger_total, inputs_meta, path: Path) -> None:
    def cell(row, metric, scale=1.0, digits=2):
        if row.get("status") != "ok":
            return "n/a"
        std = row.get(f"{metric}_std")
        text = f"{scale * row[metric]:.{digits}f}"
        return text + (f" ± {scale * std:.{digits}f}" if std is not None else "")

    sizes = args.sizes
    lines = ["# DiT initializers on CIFAR-10-jpeg (32x32 pixels)", "",
             f"Bank {args.bank_size} (Kronecker, template width {args.template_width}, N={args.num_templates}, "
             f"embeddings {args.embeddings}); unseen sizes {', '.join(sizes)}; every method "
             f"{args.steps} target steps of batch {args.batch_size} (the template fit's {args.fit_steps} steps "
             f"included); FD/KD/class consistency from {args.num_images} images (DDIM {args.sample_steps} steps, "
             f"guidance {args.guidance:g}) against {args.num_images} test images; "
             f"held-out denoising loss on {args.test_images} test images at fixed timesteps and noise.", "",
             f"**Metric instrument**: {features.info['family']} {features.info['size']} classifier trained here "
             f"({features.info['params']:,} parameters), test accuracy {100 * features.info['test_acc']:.2f}%, "
             f"weights SHA-256 `{features.info['sha256']}`. FD is the Frechet distance in its penultimate "
             "features (FID's formula, not FID: no Inception weights here); KD is KID's kernel estimator in the "
             "same features.", "",
             f"**Real-vs-real floor** ({args.num_images} training vs {args.num_images} test images): FD "
             f"{floor['fd']:.2f}, KD {floor['kd']:.4f}.", ""]
    for size in sizes:
        lines += [f"## {size}", "", "| method | params | FD | KD x100 | class consistency (%) | denoising loss |",
                  "|---|---:|---:|---:|---:|---:|"]
        for row in (r for r in table if r["size"] == size):
            params = f"{row['params']:,}" if row.get("status") == "ok" else ""
            lines.append(f"| {row['method']} | {params} | {cell(row, 'fd')} | {cell(row, 'kd', 100, 3)} | "
                         f"{cell(row, 'class_consistency', 100, 1)} | {cell(row, 'denoising_loss', 1, 4)} |")
        lines += [f"| real-vs-real floor | | {floor['fd']:.2f} | {100 * floor['kd']:.3f} | "
                  f"{100 * features.info['test_acc']:.1f} (classifier on test) | |", ""]
    wins = []
    for size in sizes:
        ours = next((r for r in table if r["size"] == size and r["method"] == "templates"), None)
        rivals = [r for r in table if r["size"] == size and r["method"] in ("scratch", "weight-selection",
                                                                             "linear-expansion")
                  and r.get("status") == "ok"]
        if ours is None or ours.get("status") != "ok" or not rivals:
            continue
        best_fd = min(rivals, key=lambda r: r["fd"])
        best_cc = max(rivals, key=lambda r: r["class_consistency"])
        wins.append(f"| {size} | {ours['fd']:.2f} vs {best_fd['fd']:.2f} ({best_fd['method']}) | "
                    f"{'yes' if ours['fd'] < best_fd['fd'] else '**no**'} | {100 * ours['class_consistency']:.1f} vs "
                    f"{100 * best_cc['class_consistency']:.1f} ({best_cc['method']}) | "
                    f"{'yes' if ours['class_consistency'] > best_cc['class_consistency'] else '**no**'} |")
    lines += ["## Templates against scratch, weight selection and linear expansion (mean over seeds)", "",
              "| size | FD: templates vs best rival | templates better | class consistency: templates vs best | "
              "templates better |", "|---|---|---|---|---|", *wins, ""]
    lines += ["## Learning rates (validation split carved from the training images)", "",
              f"Sweep at {args.sweep_size}, seed 0, {args.sweep_steps} target steps (fit scaled alike); chosen: " +
              ", ".join(f"{m} {lr:g}" for m, lr in best.items()), "",
              "| method | LR | validation denoising loss |", "|---|---:|---:|"]
    lines += [f"| {r['method']} | {r['lr']:g} | {r['val_denoising_loss']:.4f} |" for r in sweep_rows]
    lines += ["", "## Budget", "",
              "Pre-training (same training FLOPs each, forward multiply-adds per image x steps): "
              + "; ".join(f"{k} {v}" for k, v in inputs_meta.items()) + ".",
              f"Total: **{ledger_total['cpu_s'] / 3600:.2f} CPU-hours** of process time at 1 thread "
              f"({ledger_total['wall_s'] / 3600:.2f} hours wall on the shared 2-core CPU), classifier included.",
              "", "![curves](curves.png)", ""]
    lines += [f"![samples {size}](samples-{size}.png)" for size in sizes]
    lines += ["", provenance_md(meta)]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    args = parse()
    args.sizes = args.sizes.split(",")
    args.methods = args.methods.split(",")
    args.lrs = [float(v) for v in args.lrs.split(",")]
    one_seed = set(args.one_seed_methods.split(","))
    meta = provenance()
    bench = Bench(args)
    features = bench.classifier()
    inputs = bench.inputs()
    best, sweep_rows = bench.sweep(inputs, features)
    rows = []
    for seed in range(args.seeds):
        for size in args.sizes:
            for method in args.methods:
                if seed and method in one_seed:
                    continue
                rows += bench.run(method, size, seed, best[method], inputs, features)
    for size in args.sizes:
        bench.sample_grid(size, best, args.out / f"samples-{size}.png")
    table = summarize(rows, args.sizes, args.methods)
    bank = TemplateBank.load(bench.work / "bank")
    inputs_meta = {"bank": f"{args.bank_size}, {bank.config['steps']} steps",
                   "teacher": f"{args.teacher_size}, {bench.steps_for(args.teacher_size)} steps",
                   "learngene": f"{args.bank_size}, {args.pretrain_steps} steps",
                   "direct": ", ".join(f"{s} {bench.steps_for(s)} steps" for s in args.sizes)}
    meta.update(args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                classifier=features.info, floor=bench.floor, best_lr=best, cost=bench.ledger.total(),
                inputs=inputs_meta)
    write_results(args.out, rows, meta)
    (args.out / "summary.json").write_text(json.dumps({"table": table, "sweep": sweep_rows}, indent=1) + "\n")
    curves(rows, args.sizes, args.methods, args.out / "curves.png")
    report(args, meta, table, sweep_rows, best, features, bench.floor, bench.ledger.total(), inputs_meta,
           args.out / "report.md")
    print((args.out / "report.md").read_text())


if __name__ == "__main__":
    main()
