"""Probe: a width-32 ramp bank that starts as TLEG's learngene does, so that widths still grow.

TLEG's start (every layer T0 + t T1, t = l/(L-1)) explains most of its lead at the new depth
(benchmarks/dit_tleg_like_bank.py). Here a Kronecker bank (template width 32, N 4, ramp scalers) starts with the first
half of its templates' scalers equal in every layer and the second half growing with t from zero (random replica
scalers, variance 1/N as usual), then trains on its line. It reuses the metric classifier of ``--from`` and runs at
the LRs the ramp bank chose (pre-training 1e-2, target 1e-2), no searches:

    python benchmarks/dit_grown_start_bank.py --from benchmarks/dit-cifar10-ramp-b/work \\
        --out benchmarks/dit-grown-start-bank --sizes 64x6

With 2x2 replica scalers a 64-wide layer needs four Kronecker terms, so N 4 split in halves cannot hold a whole-layer
start; ``--num-templates 8`` can. ``--tleg-scale`` draws each half once at TLEG's variance, ``--basis`` gives each half
the unit 2x2 matrices (layer 0 is the templates' entries, once each), ``--frozen-scalers`` holds them there through
pre-training and fit (TLEG's learngene stored as width-32 templates); benchmarks/NOTES.md, "TLEG's start in a width-32
bank", has the commands and numbers.
"""

from __future__ import annotations

import torch
from common import probe_parser, start_probe_work, start_scalers_with

from sizeless.bench.generate import GenerateBenchConfig, run_generate_bench
from sizeless.constraints import KroneckerConstraint


def grown_start(stack: torch.Tensor, draw: torch.Tensor | None = None) -> torch.Tensor:
    """``(L, N, m1, m2)`` draws -> the first N/2 templates' layer-0 draw in every layer, the rest t times the last
    layer's; with ``draw`` (``1, N, m1, m2``) those two come from it instead."""
    layers, n = stack.shape[:2]
    t = torch.linspace(0, 1, layers).view(layers, 1, 1, 1) if layers > 1 else torch.zeros(1, 1, 1, 1)
    half = n // 2
    first, last = (stack[:1], stack[-1:]) if draw is None else (draw, draw)
    return torch.cat([first[:, :half].expand(layers, -1, -1, -1), t * last[:, half:]], 1).clone()


def basis_draw(shape: tuple[int, ...]) -> torch.Tensor | None:
    """``(1, N, m1, m2)`` scalers where each half of the templates holds the unit matrices of ``m1 x m2``: template
    n fills the replicas at one position, so the composed layer is every template entry once (an isometry, as a full
    matrix is to its own entries) and half of N templates span every matrix of the layer's width. Halves larger
    than ``m1 * m2`` leave their extra templates' scalers at zero; halves smaller (a wider target, whose scalers are
    seeded from the bank's) get None: the drawn start stays."""
    _, n, m1, m2 = shape
    if m1 * m2 > n // 2:  # a target wider than the bank: its scalers are seeded from the bank's, not drawn
        return None
    out = torch.zeros(shape)
    for half in (0, n // 2):
        for k in range(m1 * m2):
            out[0, half + k].view(-1)[k] = 1.0
    return out


def main() -> None:
    parser = probe_parser(__doc__, "work folder of a finished bench generate run (its metric classifier is reused)")
    parser.add_argument("--sizes", default="64x6,96x4,96x2")
    parser.add_argument("--num-templates", type=int, default=4,
                        help="N; from 8 on (with 2x2 replica scalers) each half spans every 64-wide matrix")
    parser.add_argument("--lrs", default="1e-2", help="target LRs (comma-separated), chosen on validation at 64x6")
    parser.add_argument("--tleg-scale", action="store_true",
                        help="draw the scalers afresh with variance 2/N: layer 0 composes to the template's variance "
                             "and the last layer to twice it, as TLEG's T0 + t T1 (default: the ramp bank's projected "
                             "draws, about a third of that)")
    parser.add_argument("--basis", action="store_true",
                        help="each half's scalers start at the unit matrices instead of random draws (TLEG's scale)")
    parser.add_argument("--frozen-scalers", action="store_true",
                        help="scalers stay at their start in pre-training and fit (with --basis: TLEG's learngene in "
                             "width-32 templates)")
    args = parser.parse_args()
    work = args.out / "work"
    start_probe_work(args.source, work)

    def start(kind, stack, generator):
        if kind.init == "ones":
            return None
        draw = basis_draw(tuple(stack[:1].shape)) if args.basis else \
            torch.randn(1, *stack.shape[1:], generator=generator) * (2 / stack.shape[1]) ** 0.5 \
            if args.tleg_scale else None
        return grown_start(stack, draw)

    start_scalers_with(start)
    if args.frozen_scalers:
        KroneckerConstraint.scalers_trainable = property(lambda self: False)
    run_generate_bench(GenerateBenchConfig(data=args.data, out=args.out, work=work, sizes=args.sizes.split(","),
                                           methods=["templates"], bank_scalers="ramp", pretrain_lrs=[1e-2],
                                           num_templates=args.num_templates,
                                           lrs=[float(v) for v in args.lrs.split(",")]))


if __name__ == "__main__":
    main()
