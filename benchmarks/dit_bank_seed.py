"""Probe: the same bench with every pre-trained input drawn and trained from another seed.

Every DiT report so far pre-trained each input (bank, learngene) once, from seed 0: its target seeds vary the fit and
training, never the pre-training, so a lead like TLEG's at the new depth carries one draw of its learngene. This probe
reruns chosen methods with the pre-training seed changed (the template and scaler init and the pre-training batches)
and the LRs they chose before, beside the seed-0 bench's classifier:

    python benchmarks/dit_bank_seed.py --from runs/base-work --out benchmarks/dit-bank-seed1-tleg --bank-seed 1 \\
        --methods linear-expansion --lrs 3e-3
    # a Tucker bank measured with a given metric classifier (no --from: nothing else is reused)
    python benchmarks/dit_bank_seed.py --feature-model runs/base-work/classifier \\
        --out benchmarks/dit-bank-seed1-tucker --bank-seed 1 --methods templates --constraint tucker --ranks 36,64,64 \\
        --bank-scalers learned --lrs 3e-3
"""

from __future__ import annotations

from common import pretrain_with_seed, probe_parser, start_probe_work

from sizeless.bench.generate import GenerateBenchConfig, run_generate_bench


def main() -> None:
    parser = probe_parser(__doc__, "work folder of a finished bench generate run (its metric classifier is reused)")
    parser.add_argument("--bank-seed", type=int, required=True, help="seed of every pre-training (0: the benches')")
    parser.add_argument("--methods", default="linear-expansion,templates")
    parser.add_argument("--sizes", default="64x6")
    parser.add_argument("--lrs", default="3e-3,1e-2")
    parser.add_argument("--pretrain-lrs", default="1e-2")
    parser.add_argument("--constraint", default="kronecker", help="the bank's: kronecker | tucker")
    parser.add_argument("--ranks", default="16,64,64", help="a Tucker bank's core ranks")
    parser.add_argument("--bank-scalers", default="ramp", help="ramp | learned (a Tucker bank before 2026-12-08: "
                        "learned, its only kind then)")
    parser.add_argument("--feature-model", help="a metric classifier folder instead of --from's")
    args = parser.parse_args()
    work = args.out / "work"
    start_probe_work(args.source, work)
    pretrain_with_seed(args.bank_seed)
    run_generate_bench(GenerateBenchConfig(data=args.data, out=args.out, work=work, sizes=args.sizes.split(","),
                                           methods=args.methods.split(","),
                                           lrs=[float(v) for v in args.lrs.split(",")],
                                           pretrain_lrs=[float(v) for v in args.pretrain_lrs.split(",")],
                                           constraint=args.constraint, ranks=[int(v) for v in args.ranks.split(",")],
                                           bank_scalers=args.bank_scalers,
                                           feature_model=args.feature_model))


if __name__ == "__main__":
    main()
