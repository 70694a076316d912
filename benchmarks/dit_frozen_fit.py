"""Probe: templates whose fit keeps the seeded scalers (it trains the free vectors and head only), as TLEG's does.

TLEG's learngene has fixed scalers, so its 60 fit steps train only the free vectors and the head; templates' fit
also moves every scaler. This reruns templates at 64x6 from the ramp bank of ``--from`` (its metric classifier and
its bank at LR 1e-2, copied with their recorded cost) with the scalers frozen through the fit, at templates' chosen
target LR 1e-2 (no searches):

    python benchmarks/dit_frozen_fit.py --from benchmarks/dit-cifar10-ramp/work --out benchmarks/dit-frozen-fit
"""

from __future__ import annotations

from common import probe_parser, start_probe_work

from sizeless.bank import TemplateBank
from sizeless.bench.generate import GenerateBenchConfig, run_generate_bench


def main() -> None:
    args = probe_parser(__doc__, "work folder of a finished ramp-bank bench generate run").parse_args()
    work = args.out / "work"
    start_probe_work(args.source, work, ["ramp-bank-lr0.01"])

    built = TemplateBank.build_net

    def frozen_scalers(self, *a, **kw):
        net = built(self, *a, **kw)
        net.scalers.requires_grad_(False)
        return net

    TemplateBank.build_net = frozen_scalers
    run_generate_bench(GenerateBenchConfig(data=args.data, out=args.out, work=work, sizes=["64x6"],
                                           methods=["templates"], bank_scalers="ramp", pretrain_lrs=[1e-2],
                                           lrs=[1e-2]))


if __name__ == "__main__":
    main()
