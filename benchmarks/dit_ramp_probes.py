"""Probe: two rules of a DiT ramp bank, each patched into the bench in-process (benchmarks/NOTES.md, "DiT: a Tucker
ramp bank").

- ``--probe endpoints``: a shallower size samples the bank's whole depth line (two layers: its first and last),
  and takes its free parameters at the same depth positions, instead of keeping the bank's leading layers. Reuses
  the finished bench's bank (``--bank NAME-lrLR``) and metric features.
- ``--probe scaled-start``: a Tucker ramp bank whose start puts each slice at its kind's init std (TLEG's layer 0:
  0.125 for a 64-wide attention matrix) instead of the core's 0.02. Pre-trains its own bank.
- ``--probe frozen-lifts``: a Tucker ramp bank whose lifts ``U``, ``V`` keep their (orthogonal) start through
  pre-training, so only the core and ``X`` train, as only the learngene's two templates per slice do. Pre-trains its
  own bank; a target's fit trains them as usual.

    python benchmarks/dit_ramp_probes.py --probe endpoints --from benchmarks/dit-cifar10-tucker-ramp/work \\
        --bank tucker-ramp-bank-lr0.01 --constraint tucker --sizes 96x2 --lrs 3e-3 \\
        --feature-model runs/base-work/classifier --out benchmarks/dit-ramp-endpoints-tucker
    python benchmarks/dit_ramp_probes.py --probe endpoints --from benchmarks/dit-cifar10-ramp-e/work \\
        --bank ramp-bank-lr0.01 --sizes 96x2 --lrs 1e-2 --feature-model runs/base-work/classifier \\
        --out benchmarks/dit-ramp-endpoints-kronecker
    python benchmarks/dit_ramp_probes.py --probe scaled-start --from benchmarks/dit-cifar10-tucker-ramp/work \\
        --constraint tucker --sizes 64x6 --lrs 3e-3 --feature-model runs/base-work/classifier \\
        --out benchmarks/dit-ramp-scaled-start
    python benchmarks/dit_ramp_probes.py --probe frozen-lifts --from benchmarks/dit-cifar10-tucker-ramp/work \\
        --constraint tucker --sizes 64x6 --lrs 3e-3 --feature-model runs/base-work/classifier \\
        --out benchmarks/dit-ramp-frozen-lifts
    # the same with a second pre-training draw (--bank-seed, as benchmarks/dit_bank_seed.py)
    python benchmarks/dit_ramp_probes.py --probe frozen-lifts --bank-seed 1 \\
        --from benchmarks/dit-cifar10-tucker-ramp/work --constraint tucker --sizes 64x6 --lrs 3e-3 \\
        --feature-model runs/base-work/classifier --out benchmarks/dit-ramp-frozen-lifts-seed1
"""

from __future__ import annotations

import torch
from common import pretrain_with_seed, probe_parser, start_probe_work

from sizeless.bench.generate import GenerateBenchConfig, run_generate_bench
from sizeless.constraints import kronecker, tucker


def sample_the_whole_line() -> None:
    """Both constraints cut a shallower size to the leading layers before interpolating over depth: skip the cut."""
    kronecker.leading_layers = tucker.leading_layers = lambda stack, layers: stack


def start_slices_at_their_kinds_std() -> None:
    ramp_start = tucker.TuckerConstraint._ramp_start

    def scaled(self, kinds, generator):
        rows = ramp_start(self, kinds, generator)
        layers, _, per_layer = self.geometry(kinds)
        view, start = rows.view(layers, per_layer, -1), 0
        for kind in kinds:
            count = kind.unit[0] * kind.unit[1]
            if kind.init not in ("zeros", "ones"):  # composed std = core std (0.02) x row norm
                view[:, start:start + count] *= float(kind.init) / 0.02
            start += count
        return rows

    tucker.TuckerConstraint._ramp_start = scaled


def hold_the_lifts() -> None:
    """After every step, the lifts go back to their values after the first (a warm-up step at 1/60 of the LR)."""
    project = tucker.TuckerConstraint.after_step
    starts: dict[int, dict] = {}

    def held(self, scalers, kinds):
        project(self, scalers, kinds)
        start = starts.setdefault(id(scalers[tucker.DEPTH]), {k: scalers[k].detach().clone() for k in "UV"})
        with torch.no_grad():
            for name, value in start.items():
                scalers[name].copy_(value)

    tucker.TuckerConstraint.after_step = held


PROBES = {"endpoints": sample_the_whole_line, "scaled-start": start_slices_at_their_kinds_std,
          "frozen-lifts": hold_the_lifts}


def main() -> None:
    parser = probe_parser(__doc__, "work folder of a finished bench generate run (its metric features are reused)")
    parser.add_argument("--probe", choices=sorted(PROBES), required=True)
    parser.add_argument("--bank", help="endpoints: the bench's bank folder in --from (NAME-lrLR) to reuse")
    parser.add_argument("--constraint", default="kronecker", help="the bank's: kronecker | tucker")
    parser.add_argument("--ranks", default="36,64,64", help="a Tucker bank's core ranks")
    parser.add_argument("--sizes", default="64x6")
    parser.add_argument("--lrs", default="3e-3")
    parser.add_argument("--pretrain-lrs", default="1e-2")
    parser.add_argument("--feature-model", help="the metric classifier --from's bench was given")
    parser.add_argument("--bank-seed", type=int, default=0, help="seed of the bank's pre-training (0: the benches')")
    args = parser.parse_args()
    work = args.out / "work"
    start_probe_work(args.source, work, [args.bank] if args.bank else [])
    PROBES[args.probe]()
    pretrain_with_seed(args.bank_seed)
    run_generate_bench(GenerateBenchConfig(data=args.data, out=args.out, work=work, sizes=args.sizes.split(","),
                                           methods=["templates"], lrs=[float(v) for v in args.lrs.split(",")],
                                           pretrain_lrs=[float(v) for v in args.pretrain_lrs.split(",")],
                                           constraint=args.constraint, ranks=[int(v) for v in args.ranks.split(",")],
                                           bank_scalers="ramp", feature_model=args.feature_model))


if __name__ == "__main__":
    main()
