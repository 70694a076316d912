"""Held-out denoising error of finished DiTs per timestep: where along the noise schedule two generators differ.

The bench's held-out denoising loss averages the epsilon MSE over an even grid of timesteps, which the low-noise end
dominates (MSE ~0.3 at t=20, ~0.0003 at t=950); sampling starts at the high-noise end, where an epsilon error is
amplified by 1/sqrt(alpha_bar) in the predicted image. This probe measures each model at fixed timesteps on the
bench's held-out images (the same split and order as `bench generate`), with fixed noise and the true labels:

    python benchmarks/dit_per_timestep.py --out benchmarks/dit-per-timestep \\
        templates=benchmarks/dit-cifar10-tuned/work/runs/templates-64x6-seed0-lr0.01/train ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from common import provenance, provenance_md, write_results

from sizeless.bench.generate import GenerateBench, GenerateBenchConfig
from sizeless.diffusion import DiffusionConfig
from sizeless.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="LABEL=MODEL_FOLDER (a trained DiT folder)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", default="../shared/data/cifar10-jpeg")
    parser.add_argument("--timesteps", default="20,100,250,500,750,950")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--null-labels", action="store_true",
                        help="predict with the null label: the unconditional branch that classifier-free guidance "
                             "subtracts (the bench's held-out loss sees the true labels only)")
    args = parser.parse_args()
    meta = provenance()
    bench = GenerateBench(GenerateBenchConfig(data=args.data, out=args.out, work=args.out / "work", sizes=["64x6"],
                                              test_images=args.images))
    held_out = bench.test_data.val  # the bench's held-out denoising images
    images, labels = bench.test_data.normalize(held_out.images), held_out.labels
    if args.null_labels:  # DiT's label embedder keeps row num_classes for the dropped label
        labels = torch.full_like(labels, bench.full.num_classes)
    scheduler = DiffusionConfig().scheduler()
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(7))
    timesteps = [int(t) for t in args.timesteps.split(",")]
    rows = []
    for spec in args.models:
        label, folder = spec.split("=", 1)
        model = load_model(Path(folder))[0].eval()
        row = {"model": label, "folder": folder}
        with torch.no_grad():
            for t in timesteps:
                step = torch.full((len(images),), t)
                noisy = scheduler.add_noise(images, noise, step)
                predicted = model(noisy, timestep=step, class_labels=labels, return_dict=False)[0]
                row[f"t{t}"] = (predicted - noise).pow(2).mean().item()
        rows.append(row)
        print(label, " ".join(f"t{t}={row[f't{t}']:.5f}" for t in timesteps), flush=True)
    write_results(args.out, rows, meta)
    lines = ["# Held-out epsilon MSE per timestep", "",
             f"{len(images)} held-out images of `{args.data}` (the `bench generate` split), fixed noise, "
             + ("the null label (the unconditional prediction)." if args.null_labels else "true labels."),
             "", "| model | " + " | ".join(f"t={t}" for t in timesteps) + " |",
             "|---|" + "---:|" * len(timesteps)]
    # three significant digits: the high-noise errors are 1000x smaller than the low-noise ones and differ as much
    lines += [f"| {r['model']} | " + " | ".join(f"{r[f't{t}']:.3g}" for t in timesteps) + " |" for r in rows]
    (args.out / "report.md").write_text("\n".join(lines) + "\n\n" + provenance_md(meta))


if __name__ == "__main__":
    main()
