"""Which layers a deeper DiT takes from a shallower bank: templates at one new depth under a patched depth rule.

A probe, not a library option: the shipped rule (a deeper size interpolates the bank's per-layer scalers and free
stacks over ``l/(L-1)``) is replaced in-process by

- ``nearest``: each new layer copies the nearest bank layer;
- ``identity-tail``: the bank's layers in order, then copies of its last layer whose attention and MLP output
  projections start at zero, so the deeper DiT computes exactly the bank's function before its fit
  (adaLN-Zero blocks whose outputs are zero are identities);
- ``interp``: the shipped rule, unpatched (the baseline, or another LR grid);

and ``sizeless bench generate`` runs the templates method under the same protocol, reusing a finished bench's bank
and metric classifier (copied into this run's work folder so their cost is not paid again). See benchmarks/NOTES.md,
"DiT at a new depth".

    python benchmarks/dit_depth_rule.py --rule identity-tail --from runs/dit-depth/work --out runs/dit-depth-idtail
    # under the tuned protocol (the bank of benchmarks/dit-cifar10-tuned, each of its pre-training LRs)
    python benchmarks/dit_depth_rule.py --rule identity-tail --from benchmarks/dit-cifar10-tuned/work \
        --out benchmarks/dit-depth-rule/identity-tail-tuned --lrs 1e-3,3e-3,1e-2,3e-2 --sweep-steps 300 \
        --pretrain-lrs 3e-3,1e-2,3e-2 --compare-with benchmarks/dit-cifar10-tuned
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from common import probe_parser, reuse_metric_classifier, start_probe_work

from sizeless.bench.generate import GenerateBenchConfig, run_generate_bench
from sizeless.constraints import kronecker

OUTPUT_PROJECTIONS = ("attn1.to_out.0", "ff.net.2")  # a block whose outputs are zero adds nothing


def index_map(rule: str, bank_layers: int, layers: int) -> list[int]:
    if rule == "nearest":
        return [round(layer * (bank_layers - 1) / (layers - 1)) for layer in range(layers)]
    return [min(layer, bank_layers - 1) for layer in range(layers)]  # identity-tail


def patch(rule: str) -> None:
    shipped = kronecker.resize_stack

    def resize_stack(stack, layers, m1, m2, fan_in, ramp=False):
        if not ramp and layers > stack.shape[0]:
            stack = stack[index_map(rule, stack.shape[0], layers)]
        return shipped(stack, layers, m1, m2, fan_in, ramp)

    kronecker.resize_stack = resize_stack  # resize_free calls it too: free stacks follow the same map
    if rule != "identity-tail":
        return
    seed_scalers = kronecker.KroneckerConstraint.seed_scalers

    def zero_tail(self, source, kinds, generator):
        out = seed_scalers(self, source, kinds, generator)
        for name, scalers in out.items():
            bank_layers = source[name].shape[0]
            if any(p in name for p in OUTPUT_PROJECTIONS) and scalers.shape[0] > bank_layers:
                scalers[bank_layers:] = 0
        return out

    kronecker.KroneckerConstraint.seed_scalers = zero_tail


def main() -> None:
    parser = probe_parser(__doc__, "work folder of a finished bench generate run (its bank and classifier are reused)")
    parser.add_argument("--rule", choices=("interp", "nearest", "identity-tail"), required=True)
    parser.add_argument("--size", default="64x6")
    parser.add_argument("--lrs", default="3e-4,1e-3,3e-3")  # the sweep of benchmarks/dit-cifar10, compared with
    parser.add_argument("--sweep-steps", type=int, default=150)
    parser.add_argument("--pretrain-lrs", default="1e-3",  # the bank of benchmarks/dit-cifar10
                        help="the --from bench's pre-training LR grid (its bank is reused, not rebuilt)")
    parser.add_argument("--compare-with", type=Path, default=None)
    args = parser.parse_args()
    if args.rule != "interp":
        patch(args.rule)
    pretrain_lrs = [float(x) for x in args.pretrain_lrs.split(",")]
    work = args.out / "work"
    if not work.exists() and args.source is not None:
        reuse(args.source, work, pretrain_lrs)
    run_generate_bench(GenerateBenchConfig(data=args.data, out=args.out, work=work, sizes=[args.size],
                                           methods=["templates"], lrs=[float(x) for x in args.lrs.split(",")],
                                           sweep_steps=args.sweep_steps, pretrain_lrs=pretrain_lrs,
                                           compare_with=args.compare_with))


def reuse(source: Path, work: Path, pretrain_lrs: list[float]) -> None:
    """The finished bench's metric classifier and bank (each pre-training LR of it), with their recorded cost."""
    if not (source / "bank").is_dir():
        start_probe_work(source, work, [f"bank-lr{lr:g}" for lr in pretrain_lrs])
        return
    # a bench from before the pre-training LR search: one bank folder, one LR
    kept = reuse_metric_classifier(source, work)
    (lr,) = pretrain_lrs
    shutil.copytree(source / "bank", work / f"bank-lr{lr:g}")
    kept[f"bank-lr{lr:g}"] = json.loads((source / "ledger.json").read_text())["bank"]
    (work / "ledger.json").write_text(json.dumps(kept, indent=2))


if __name__ == "__main__":
    main()
