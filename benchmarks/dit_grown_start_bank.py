"""Probe: a width-32 ramp bank that starts as TLEG's learngene does, so that widths still grow.

TLEG's start (every layer T0 + t T1, t = l/(L-1)) explains most of its lead at the new depth
(benchmarks/dit_tleg_like_bank.py). Here a Kronecker bank (template width 32, N 4, ramp scalers) starts with the first
half of its templates' scalers equal in every layer and the second half growing with t from zero (random replica
scalers, variance 1/N as usual), then trains on its line. It reuses the metric classifier of ``--from`` and runs at
the LRs the ramp bank chose (pre-training 1e-2, target 1e-2), no searches:

    python benchmarks/dit_grown_start_bank.py --from benchmarks/dit-cifar10-ramp-b/work \\
        --out benchmarks/dit-grown-start-bank --sizes 64x6
"""

from __future__ import annotations

import torch
from common import probe_parser, start_probe_work

from sizeless.bench.generate import GenerateBenchConfig, run_generate_bench
from sizeless.constraints import KroneckerConstraint


def grown_start(stack: torch.Tensor) -> torch.Tensor:
    """``(L, N, m1, m2)`` draws -> the first N/2 templates' layer-0 draw in every layer, the rest t times theirs."""
    layers, n = stack.shape[:2]
    t = torch.linspace(0, 1, layers).view(layers, 1, 1, 1) if layers > 1 else torch.zeros(1, 1, 1, 1)
    half = n // 2
    return torch.cat([stack[:1, :half].expand(layers, -1, -1, -1), t * stack[-1:, half:]], 1).clone()


def main() -> None:
    parser = probe_parser(__doc__, "work folder of a finished bench generate run (its metric classifier is reused)")
    parser.add_argument("--sizes", default="64x6,96x4,96x2")
    args = parser.parse_args()
    work = args.out / "work"
    start_probe_work(args.source, work)

    drawn = KroneckerConstraint.init_scalers

    def start(self, kinds, generator):
        out = drawn(self, kinds, generator)
        return {name: stack if kind.init == "ones" else grown_start(stack)
                for kind in kinds for name, stack in [(kind.name, out[kind.name])]}

    KroneckerConstraint.init_scalers = start
    run_generate_bench(GenerateBenchConfig(data=args.data, out=args.out, work=work, sizes=args.sizes.split(","),
                                           methods=["templates"], bank_scalers="ramp", pretrain_lrs=[1e-2],
                                           lrs=[1e-2]))


if __name__ == "__main__":
    main()
