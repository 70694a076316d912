"""Speed of the templated model: the training step against timm's plain step, and export time.

    python benchmarks/speed.py --out benchmarks/speed

1. One optimizer step (forward, backward, AdamW) of the templated ViT (weights composed from
   templates and scalers every step) against the plain timm ViT of the same size, interleaved in
   one run, median of --repeats; the ratio is the number to read (target: <= 1.15 on CPU at
   width 192, depth 6, batch 128, 32x32 inputs, patch 4); the same for the Tucker constraint.
2. Composing and exporting a width-768, depth-12 model (the TemplateNet -> plain timm model ->
   model.safetensors + config.json path of `sizeless init`), target under a second on CPU.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from common import interleaved_medians, provenance, provenance_md, step_timer, write_results

from sizeless.constraints import build_constraint
from sizeless.families import ImageSpec, get_family
from sizeless.models import save_model
from sizeless.templated import TemplateNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/speed"))
    parser.add_argument("--size", default="192x6")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--template-width", type=int, default=32)
    parser.add_argument("--num-templates", type=int, default=4)
    parser.add_argument("--tucker-ranks", default="48,96,96", help="Tucker core ranks for the step measurement")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--export-size", default="768x12h12")
    parser.add_argument("--export-template-width", type=int, default=192)
    parser.add_argument("--export-num-templates", type=int, default=6)
    args = parser.parse_args()
    meta = provenance()
    fam, image = get_family("vit"), ImageSpec(32, 3, 4)
    size = fam.parse_size(args.size)
    con = build_constraint("kronecker", {"template_width": args.template_width, "num_templates": args.num_templates})
    tucker = build_constraint("tucker", {"ranks": [int(r) for r in args.tucker_ranks.split(",")]})
    models = {"templated": TemplateNet(fam, con, [size], image, 10).train(),
              "tucker": TemplateNet(fam, tucker, [size], image, 10).train(),
              "plain": fam.build(size, image, 10).train()}
    x, y = torch.randn(args.batch_size, 3, 32, 32), torch.randint(0, 10, (args.batch_size,))
    steps = {name: step_timer(model, lambda m: F.cross_entropy(m(x), y)) for name, model in models.items()}
    med = {name: wall for name, (wall, _) in interleaved_medians(steps, args.repeats).items()}
    ratio, tucker_ratio = med["templated"] / med["plain"], med["tucker"] / med["plain"]

    big = fam.parse_size(args.export_size)
    con_big = build_constraint("kronecker", {"template_width": args.export_template_width,
                                             "num_templates": args.export_num_templates})
    net_big = TemplateNet(fam, con_big, [big], ImageSpec(224, 3, 16), 1000).eval()
    arch, model_args = fam.model_args(big, ImageSpec(224, 3, 16), 1000)
    export_times, compose_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(3):
            start = time.perf_counter()
            with torch.no_grad():
                net_big.composed()
            compose_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            model = net_big.export()
            save_model(model, Path(tmp) / "model", arch, model_args)
            export_times.append(time.perf_counter() - start)
    params = sum(p.numel() for p in model.parameters())
    rows = [
        {"what": f"train step {size.key} batch {args.batch_size}", "templated_s": med["templated"],
         "plain_s": med["plain"], "ratio": ratio},
        {"what": f"tucker train step {size.key} batch {args.batch_size}", "templated_s": med["tucker"],
         "plain_s": med["plain"], "ratio": tucker_ratio},
        {"what": f"compose {big.key} ({params / 1e6:.1f}M params)", "seconds": min(compose_times)},
        {"what": f"compose + export + save {big.key}", "seconds": min(export_times)},
    ]
    write_results(args.out, rows, meta)
    scalers = sum(p.numel() for p in net_big.scalers.parameters())
    report = [
        "# Speed of templated models\n",
        "| measurement | result | target |",
        "|---|---:|---:|",
        f"| templated / plain timm training step, ViT {size.key}, batch {args.batch_size}, 32x32, patch 4, "
        f"template width {args.template_width}, N={args.num_templates} | **{ratio:.3f}x** "
        f"({med['templated']:.3f}s vs {med['plain']:.3f}s, median of {args.repeats}) | <= 1.15x |",
        f"| Tucker-templated / plain step, same model, ranks {args.tucker_ranks} | **{tucker_ratio:.3f}x** "
        f"({med['tucker']:.3f}s vs {med['plain']:.3f}s) | <= 1.15x |",
        f"| compose all weights of ViT {big.key} ({params / 1e6:.1f}M params, {scalers:,} scalers) "
        f"| {min(compose_times):.3f}s | |",
        f"| compose + export to timm + write model.safetensors, ViT {big.key} | **{min(export_times):.3f}s** "
        f"(best of 3) | < 1s |",
        "",
        provenance_md(meta),
    ]
    (args.out / "report.md").write_text("\n".join(report) + "\n")
    print("\n".join(report))


if __name__ == "__main__":
    main()
