"""A Kronecker DiT bank whose per-layer scalers stay linear in depth (TLEG's ramp on the scalers; width still grows).

A probe, not a library option. The tuned bench's TLEG leads templates at the new depth (64x6) at nearly equal loss;
TLEG's layers lie on one line in depth, a bank's free per-layer scalers do not. Here the bank is pre-trained with
projected steps: after every optimizer step each (L, N, m1, m2) scaler stack becomes its least-squares fit
``A + t_l B`` (``t_l = l/(L-1)``), so a deeper size's interpolated scalers lie on the same line. Then
``bench generate`` runs templates at the given sizes, at one pre-training LR and one target LR (the tuned bench's
choices for the unconstrained bank: 1e-2 and 1e-2; no search), reusing the metric classifier of a finished bench:

    python benchmarks/dit_ramp_bank.py --from benchmarks/dit-cifar10-tuned/work --out benchmarks/dit-ramp-bank \
        --sizes 64x6,96x4,96x2
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch
from common import reuse_metric_classifier
from torch.optim.optimizer import register_optimizer_step_post_hook

from sizeless import templated
from sizeless.api import pretrain
from sizeless.bench.generate import GenerateBench, GenerateBenchConfig, run_generate_bench


def project_to_ramp(stack: torch.Tensor) -> None:
    """In place: the least-squares line over depth through a (L, ...) stack."""
    layers = stack.shape[0]
    design = torch.stack([torch.ones(layers), torch.linspace(0, 1, layers)], 1)
    coefficients = torch.linalg.lstsq(design, stack.reshape(layers, -1)).solution
    stack.copy_((design @ coefficients).reshape(stack.shape))


def pretrain_on_ramp(bench: GenerateBench, lr: float, out: Path) -> None:
    nets, built = [], templated.TemplateNet.__init__

    def recording(self, *args, **kwargs):
        built(self, *args, **kwargs)
        nets.append(self)

    def after_step(optimizer, args, kwargs):
        with torch.no_grad():
            for net in nets:
                for stacks in net.scalers.values():
                    for stack in stacks.values():
                        if stack.dim() == 4 and stack.shape[0] > 2:
                            project_to_ramp(stack)

    templated.TemplateNet.__init__ = recording
    handle = register_optimizer_step_post_hook(after_step)
    try:
        c = bench.cfg
        pretrain(bench.data, [c.bank_size], family="dit", family_config={"embeddings": c.embeddings},
                 constraint_config={"template_width": c.template_width, "num_templates": c.num_templates},
                 config=replace(bench.train_config, lr=lr, steps=bench.steps_for(c.bank_size)), out=out, resume=True)
    finally:
        handle.remove()
        templated.TemplateNet.__init__ = built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, required=True,
                        help="work folder of a finished bench generate run (its metric classifier is reused)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", default="../shared/data/cifar10-jpeg")
    parser.add_argument("--sizes", default="64x6", help="comma-separated target sizes")
    parser.add_argument("--pretrain-lr", type=float, default=1e-2)
    parser.add_argument("--lr", type=float, default=1e-2)
    args = parser.parse_args()
    work = args.out / "work"
    if not work.exists():
        (work / "ledger.json").write_text(json.dumps(reuse_metric_classifier(args.source, work)))
    cfg = GenerateBenchConfig(data=args.data, out=args.out, work=work, sizes=args.sizes.split(","),
                              methods=["templates"], pretrain_lrs=[args.pretrain_lr], lrs=[args.lr])
    bank = work / f"bank-lr{args.pretrain_lr:g}"
    if not (bank / "templates.safetensors").exists():
        bench = GenerateBench(cfg)
        with bench.ledger.stage(bank.name):  # its cost, as the bench would count it
            pretrain_on_ramp(bench, args.pretrain_lr, bank)
    run_generate_bench(cfg)


if __name__ == "__main__":
    main()
