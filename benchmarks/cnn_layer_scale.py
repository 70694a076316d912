"""ConvNeXt layer scale after template init: carried over (the default) vs reset to timm's 1e-6.

Takes the template-initialized models of a `sizeless bench init --family convnext` run, evaluates
each as initialized and with every block's layer scale ``gamma`` reset to 1e-6 (what a new timm
ConvNeXt starts from), then trains both for the benchmark's epochs at the recommended fine-tuning
LR, so the table shows what a silenced init costs right away and after training.

    python benchmarks/cnn_layer_scale.py --bench benchmarks/bench-init-cifar10-convnext
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from common import provenance, write_results

from sizeless.api import evaluate_model, train
from sizeless.data import DataConfig, load_data, with_train_subset
from sizeless.families.convnext import LAYER_SCALE
from sizeless.initializers.base import RECOMMENDED_FINETUNE
from sizeless.models import load_model, save_model
from sizeless.training import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, required=True, help="output folder of a ConvNeXt bench init run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/cnn-layer-scale"))
    args = parser.parse_args()
    cfg = json.loads((args.bench / "results.json").read_text())["meta"]["config"]
    full = load_data(DataConfig(cfg["data"], val_subset=cfg["val_subset"]))
    data = with_train_subset(full, cfg["train_subset"])
    budget = replace(TrainConfig(epochs=cfg["epochs"], batch_size=cfg["batch_size"]), **RECOMMENDED_FINETUNE)
    rows = []
    for folder in sorted((args.bench / "runs").glob("templates-*-seed0")):
        size = folder.name.removeprefix("templates-").removesuffix("-seed0")
        for variant in ("carried over", f"reset to {LAYER_SCALE:g}"):
            model, config = load_model(folder / "init")
            if variant != "carried over":
                with torch.no_grad():
                    for stage in model.stages:
                        for block in stage.blocks:
                            block.gamma.fill_(LAYER_SCALE)
            gamma = torch.cat([b.gamma.detach().abs() for s in model.stages for b in s.blocks]).mean().item()
            at_init = evaluate_model(model, data)["acc"]
            with tempfile.TemporaryDirectory() as tmp:
                save_model(model, tmp, config["architecture"], config["model_args"], data)
                _, result = train(tmp, data, budget)
            rows.append({"size": size, "layer_scale": variant, "mean_abs_gamma": gamma, "acc_at_init": at_init,
                         "acc_final": result.history[-1]["val_acc"], "epochs": cfg["epochs"]})
            print(rows[-1], flush=True)
    meta = {**provenance(), "bench": str(args.bench), "train": vars(budget)}
    write_results(args.out, rows, meta)
    lines = ["# ConvNeXt layer scale after template init\n",
             f"Template-initialized models of `{args.bench}`; accuracy (%) right after init and after "
             f"{cfg['epochs']} epochs at LR {budget.lr:g} on {cfg['train_subset']} images (validation subset "
             f"{cfg['val_subset']}).\n",
             "| size | layer scale | mean abs gamma | acc at init | acc after training |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r['size']} | {r['layer_scale']} | {r['mean_abs_gamma']:.3g} | {100 * r['acc_at_init']:.2f} | "
              f"{100 * r['acc_final']:.2f} |" for r in rows]
    lines += ["", f"- command: `{meta['command']}`", f"- machine: {meta['machine']}", f"- date: {meta['date']}", ""]
    (args.out / "report.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
