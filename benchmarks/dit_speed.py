"""Speed of templated DiTs: training step against the plain diffusers model, and sampling throughput.

    python benchmarks/dit_speed.py --out benchmarks/dit-speed

The training steps are interleaved (plain, Kronecker-templated, Kronecker with ramp scalers and their projection,
Tucker-templated, plain, ...) in one process, so CPU contention from other jobs hits them all alike; the ratio of
medians is reported for wall time and for process CPU time (the more robust of the two on a shared machine).
Sampling throughput is images per second at 50 DDIM steps with classifier-free guidance (two model calls per step).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import interleaved_medians, provenance, provenance_md, step_timer, write_results

from sizeless.constraints import build_constraint
from sizeless.diffusion import Diffusion, DiffusionConfig
from sizeless.families import ImageSpec, get_family
from sizeless.generation import SampleConfig, sample
from sizeless.templated import TemplateNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/dit-speed"))
    parser.add_argument("--size", default="128x6")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--sample-sizes", default="64x6,96x4,96x2")
    parser.add_argument("--sample-images", type=int, default=50)
    args = parser.parse_args()
    meta = provenance()
    family, image = get_family("dit"), ImageSpec(32, 3, 4)
    size = family.parse_size(args.size)
    torch.manual_seed(0)
    images = torch.rand(args.batch_size, 3, 32, 32) * 2 - 1
    labels = torch.randint(0, 10, (args.batch_size,))
    objective = Diffusion(DiffusionConfig(), 10)
    modules = {
        "plain diffusers": family.build(size, image, 10),
        "Kronecker (w 32, N 4)": TemplateNet(family, build_constraint("kronecker", {"template_width": 32,
                                                                                   "num_templates": 4}),
                                             [size], image, 10),
        "Kronecker ramp (w 32, N 4), projected": TemplateNet(
            family, build_constraint("kronecker", {"template_width": 32, "num_templates": 4, "scalers": "ramp"}),
            [size], image, 10),
        "Tucker (ranks 48,96,96)": TemplateNet(family, build_constraint("tucker", {"ranks": [48, 96, 96]}), [size],
                                               image, 10),
    }
    # a templated step is what pre-training runs: a ramp bank's includes putting its scalers back on their line
    steps = {name: step_timer(m.train(), lambda m: objective(m, images, labels)[0],
                              m.after_step if isinstance(m, TemplateNet) else None) for name, m in modules.items()}
    med = interleaved_medians(steps, args.repeats, warmup=1)
    plain_wall, plain_cpu = med["plain diffusers"]
    rows = []
    for name, (wall, cpu) in med.items():
        rows.append({"measurement": f"training step, DiT {size.key}, batch {args.batch_size}, 32x32, patch 4",
                     "model": name, "wall_s": round(wall, 4), "cpu_s": round(cpu, 4),
                     "wall_ratio": round(wall / plain_wall, 3), "cpu_ratio": round(cpu / plain_cpu, 3)})
    config = SampleConfig(args.sample_images, steps=50, guidance=1.5, seed=0, batch_size=args.sample_images)
    schedule = dict(DiffusionConfig().scheduler().config)
    for spec in args.sample_sizes.split(","):
        model = family.build(family.parse_size(spec), image, 10).eval()
        wall, cpu = time.perf_counter(), time.process_time()
        sample(model, torch.arange(args.sample_images) % 10, config, schedule, progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows.append({"measurement": f"sampling, DiT {family.parse_size(spec).key}, 50 DDIM steps, guidance 1.5, "
                                    f"batch {args.sample_images}", "model": "plain diffusers",
                     "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                     "images_per_s_wall": round(args.sample_images / wall, 3),
                     "images_per_s_cpu": round(args.sample_images / cpu, 3)})
    meta["threads"] = torch.get_num_threads()
    write_results(args.out, rows, meta)
    lines = ["# DiT speed", "", "| measurement | model | wall (median) | CPU time (median) | wall ratio | CPU ratio |",
             "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['measurement']} | {r['model']} | {r['wall_s']:.3f}s | {r['cpu_s']:.3f}s | "
              f"{r['wall_ratio']:.3f}x | {r['cpu_ratio']:.3f}x |" for r in rows if "wall_ratio" in r]
    lines += ["", "| sampling | images/s (wall) | images/s (CPU time) |", "|---|---:|---:|"]
    lines += [f"| {r['measurement']} | {r['images_per_s_wall']:.2f} | {r['images_per_s_cpu']:.2f} |" for r in rows
              if "images_per_s_wall" in r]
    lines += ["", f"{args.repeats} interleaved repeats after one warm-up each; {meta['threads']} threads. Wall times "
              "depend on what else the machine runs; CPU time is process time (all threads).", "", provenance_md(meta)]
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
