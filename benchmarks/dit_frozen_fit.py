"""Probe: templates whose fit keeps the seeded scalers (it trains the free vectors and head only), as TLEG's does.

TLEG's learngene has fixed scalers, so its 60 fit steps train only the free vectors and the head; templates' fit
also moves every scaler. This reruns templates at 64x6 from the ramp bank of ``--from`` (its metric classifier and
its bank at LR 1e-2, copied with their recorded cost) with the scalers frozen through the fit, at templates' chosen
target LR 1e-2 (no searches):

    python benchmarks/dit_frozen_fit.py --from benchmarks/dit-cifar10-ramp/work --out benchmarks/dit-frozen-fit
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from common import reuse_metric_classifier

from sizeless.bank import TemplateBank
from sizeless.bench.generate import GenerateBenchConfig, run_generate_bench

BANK = "ramp-bank-lr0.01"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, required=True,
                        help="work folder of a finished ramp-bank bench generate run")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", default="../shared/data/cifar10-jpeg")
    args = parser.parse_args()
    work = args.out / "work"
    if not work.exists():
        ledger = reuse_metric_classifier(args.source, work)
        ledger |= {k: v for k, v in json.loads((args.source / "ledger.json").read_text()).items() if k == BANK}
        shutil.copytree(args.source / BANK, work / BANK)
        scores = json.loads((args.source / "pretrain_lrs.json").read_text())["ramp-bank"]
        (work / "pretrain_lrs.json").write_text(json.dumps({"ramp-bank": {"0.01": scores["0.01"]}}))
        (work / "ledger.json").write_text(json.dumps(ledger))

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
