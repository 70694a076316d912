"""Probe: a full-width ramp bank with TLEG's two templates and its scalers' start (1, l/(L-1)), then learned.

The full-width ramp bank (N 4) holds TLEG's learngene in its function class yet samples worse at the new depth;
this bank differs from the learngene only in that its scalers train (on their line) after starting where TLEG's stay.
It reuses the metric classifier of ``--from`` (with its recorded cost), pre-trains at 1e-2 (the learngene's LR) and
runs templates at 64x6 at 3e-3 (TLEG's chosen target LR), no searches:

    python benchmarks/dit_tleg_like_bank.py --from benchmarks/dit-cifar10-ramp-b/work \\
        --out benchmarks/dit-tleg-like-bank
"""

from __future__ import annotations

from common import probe_parser, start_probe_work, start_scalers_with

from sizeless.bench.generate import GenerateBenchConfig, run_generate_bench
from sizeless.constraints.kronecker import tleg_scalers


def main() -> None:
    parser = probe_parser(__doc__, "work folder of a finished bench generate run (its metric classifier is reused)")
    args = parser.parse_args()
    work = args.out / "work"
    start_probe_work(args.source, work)

    # TLEG's ramp (1, l/(L-1)) where it fits: one scaler per template, two templates
    start_scalers_with(lambda kind, stack, generator: tleg_scalers(kind.layers) if kind.factors == (1, 1) else None)
    run_generate_bench(GenerateBenchConfig(data=args.data, out=args.out, work=work, sizes=["64x6"],
                                           methods=["templates"], bank_scalers="ramp", template_width=64,
                                           num_templates=2, pretrain_lrs=[1e-2], lrs=[3e-3]))


if __name__ == "__main__":
    main()
