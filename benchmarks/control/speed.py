"""Templated Decision Transformer training step against the plain transformers ``DecisionTransformerModel`` step.

    OMP_NUM_THREADS=1 python benchmarks/control/speed.py --out benchmarks/control/speed

One optimizer step (forward, behavior-cloning loss, backward, AdamW) of the templated policy (every
block weight composed from Kronecker templates and scalers, every step) and of the plain model of the
same size, interleaved in one run so a busy machine slows both alike; median of --repeats. Target:
ratio <= 1.05.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import interleaved_medians, provenance, provenance_md, step_timer, write_results

from sizeless.behavior_cloning import BehaviorCloning
from sizeless.constraints import build_constraint
from sizeless.families import get_family
from sizeless.families.decision_transformer import TaskSpec
from sizeless.templated import TemplateNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/control/speed"))
    parser.add_argument("--sizes", default="128x4,192x6")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--context", type=int, default=20)
    parser.add_argument("--template-width", type=int, default=32)
    parser.add_argument("--num-templates", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    meta = provenance()
    fam, task = get_family("decision-transformer"), TaskSpec(17, 6, 1000, args.context)
    con = build_constraint("kronecker", {"template_width": args.template_width, "num_templates": args.num_templates})
    b, k = args.batch_size, args.context
    gen = torch.Generator().manual_seed(0)
    actions = torch.rand(b, k, 6, generator=gen) * 2 - 1
    inputs = {"states": torch.randn(b, k, 17, generator=gen), "actions": actions,
              "returns_to_go": torch.randn(b, k, 1, generator=gen), "timesteps": torch.arange(k).expand(b, -1),
              "attention_mask": torch.ones(b, k, dtype=torch.long)}
    batch = (inputs, {"actions": actions, "mask": torch.ones(b, k, 6)})
    objective, rows = BehaviorCloning(), []
    for spec in args.sizes.split(","):
        size = fam.parse_size(spec)
        torch.manual_seed(0)
        models = {"templated": TemplateNet(fam, con, [size], task, 6).train(), "plain": fam.build(size, task).train()}
        steps = {name: step_timer(model, lambda m: objective(m, *batch)[0]) for name, model in models.items()}
        med = {name: wall for name, (wall, _) in interleaved_medians(steps, args.repeats, warmup=3).items()}
        rows.append({"size": size.key, "batch": b, "context": k, "templated_s": med["templated"],
                     "plain_s": med["plain"], "ratio": med["templated"] / med["plain"],
                     "plain_params": sum(p.numel() for p in models["plain"].parameters())})
        print(rows[-1], flush=True)
    write_results(args.out, rows, meta)
    lines = ["# Decision Transformer: templated vs plain training step\n",
             f"One step (forward, behavior-cloning MSE, backward, AdamW), batch {b}, context {k} (60 tokens), 17 "
             f"states, 6 actions; Kronecker templates of width {args.template_width}, N={args.num_templates}; "
             f"median of {args.repeats} interleaved steps, torch threads {torch.get_num_threads()}.\n",
             "| size | params | plain step | templated step | ratio (target <= 1.05) |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['size']} | {r['plain_params']:,} | {1000 * r['plain_s']:.1f} ms | "
              f"{1000 * r['templated_s']:.1f} ms | **{r['ratio']:.3f}x** |" for r in rows]
    (args.out / "report.md").write_text("\n".join(lines) + "\n\n" + provenance_md(meta))


if __name__ == "__main__":
    main()
