"""Sampling from a DiT: a diffusers scheduler (DDIM or DPM-Solver), classifier-free guidance, and files.

Everything a sample depends on is an argument: the same model, labels, steps, guidance, scheduler and
seed give the same images. Outputs (a labelled grid, the images as PNG files or as a parquet file in
the Hugging Face layout of the shared CIFAR-10 copy) are written to a staging folder that is renamed
into place only once complete.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .errors import SizelessError

# --scheduler names -> diffusers classes, built from the training schedule's config
SCHEDULERS = {"ddim": "DDIMScheduler", "dpm": "DPMSolverMultistepScheduler"}
FORMATS = ("png", "parquet")
GRID_COLUMNS = 16  # at most this many images of a class in the grid


@dataclass
class SampleConfig:
    """How to sample: images, classes (default: all, in turn), steps, guidance scale, scheduler, seed."""

    num_images: int = 16
    classes: list[int] | None = None
    steps: int = 50
    guidance: float = 1.5  # 1: conditional only, 0: unconditional only, >1: classifier-free guidance
    seed: int = 0
    scheduler: str = "ddim"
    batch_size: int = 250

    def __post_init__(self) -> None:
        problems = {
            "--num-images must be at least 1": self.num_images >= 1,
            "--steps must be at least 1 (50 is a good default for DDIM, 20 for DPM-Solver)": self.steps >= 1,
            f"--guidance must be 0 or more (1: no guidance), not {self.guidance:g}": self.guidance >= 0,
            f"--scheduler must be one of {', '.join(SCHEDULERS)}, not {self.scheduler!r}":
                self.scheduler in SCHEDULERS,
            "--batch-size must be at least 1": self.batch_size >= 1,
            "--classes is empty": self.classes is None or len(self.classes) > 0,
        }
        bad = [message for message, ok in problems.items() if not ok]
        if bad:
            raise SizelessError("; ".join(bad))

    def labels(self, num_classes: int) -> Tensor:
        """One label per image, the classes in turn (so any count is as balanced as it can be)."""
        classes = list(range(num_classes)) if self.classes is None else list(self.classes)
        unknown = [c for c in classes if not 0 <= c < num_classes]
        if unknown:
            raise SizelessError(f"unknown class {unknown[0]}: the model knows classes 0..{num_classes - 1}")
        return torch.tensor(classes).repeat(-(-self.num_images // len(classes)))[:self.num_images]


def make_scheduler(name: str, training_config: dict):
    """A diffusers sampling scheduler with the training schedule (betas, timesteps, clipping)."""
    import diffusers

    return getattr(diffusers, SCHEDULERS[name]).from_config(training_config)


def guided_noise(model: nn.Module, x: Tensor, t: Tensor, labels: Tensor, null_label: int, guidance: float) -> Tensor:
    """Epsilon with classifier-free guidance: ``eps_u + g * (eps_c - eps_u)``, one batched call."""
    n = len(x)
    times = t.expand(n) if t.ndim == 0 else t
    if guidance == 1:
        return model(x, timestep=times, class_labels=labels, return_dict=False)[0]
    null = torch.full_like(labels, null_label)
    if guidance == 0:
        return model(x, timestep=times, class_labels=null, return_dict=False)[0]
    both = model(torch.cat([x, x]), timestep=torch.cat([times, times]), class_labels=torch.cat([labels, null]),
                 return_dict=False)[0]
    cond, uncond = both.chunk(2)
    return uncond + guidance * (cond - uncond)


@torch.no_grad()
def sample(model: nn.Module, labels: Tensor, config: SampleConfig, training_config: dict,
           progress: bool = True) -> Tensor:
    """Images in the model's normalized pixel space (``[-1, 1]``), one per label, in batches.

    The initial noise of all images is drawn first from ``config.seed``, so the result does not depend
    on the batch size; DDIM (eta 0) and DPM-Solver are deterministic after that.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    cfg = model.config
    shape = (len(labels), cfg.in_channels, cfg.sample_size, cfg.sample_size)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(config.seed))
    null_label = int(cfg.num_embeds_ada_norm)
    batches = [range(s, min(s + config.batch_size, len(labels))) for s in range(0, len(labels), config.batch_size)]
    out = []
    with tqdm(total=config.steps * len(batches), desc=f"sample ({config.scheduler}, {config.steps} steps)",
              disable=not progress, dynamic_ncols=True, mininterval=0.5) as bar:
        for batch in batches:
            scheduler = make_scheduler(config.scheduler, training_config)  # multistep solvers keep per-run state
            scheduler.set_timesteps(config.steps)
            x = noise[batch.start:batch.stop].to(device) * scheduler.init_noise_sigma
            y = labels[batch.start:batch.stop].to(device)
            for t in scheduler.timesteps:
                eps = guided_noise(model, scheduler.scale_model_input(x, t), t.to(device), y, null_label,
                                   config.guidance)
                x = scheduler.step(eps, t, x).prev_sample
                bar.update(1)
            out.append(x.clamp(-1, 1).cpu())
    model.train(was_training)
    return torch.cat(out)


def to_uint8(images: Tensor, mean, std) -> Tensor:
    """Undo the data normalization: ``(N, C, H, W)`` floats -> uint8 pixels."""
    mean = torch.tensor(mean, dtype=images.dtype).view(1, -1, 1, 1)
    std = torch.tensor(std, dtype=images.dtype).view(1, -1, 1, 1)
    return ((images * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)


# -- files ------------------------------------------------------------------------------------------
def _png(image: Tensor) -> bytes:
    from PIL import Image

    array = image.permute(1, 2, 0).numpy()
    pil = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()


def _names(labels: Tensor, class_names: list[str]) -> list[str]:
    return [class_names[int(c)] if int(c) < len(class_names) else str(int(c)) for c in labels]


def _relative_paths(labels: Tensor, class_names: list[str]) -> list[str]:
    """``CLASS/NNNN.png``, numbered per class (the shared CIFAR copy's ``path`` layout)."""
    counts: dict[str, int] = {}
    paths = []
    for name in _names(labels, class_names):
        paths.append(f"{name}/{counts.get(name, 0):04d}.png")
        counts[name] = counts.get(name, 0) + 1
    return paths


def save_grid(images: Tensor, labels: Tensor, class_names: list[str], path: Path, title: str = "") -> None:
    """One row per class (up to ``GRID_COLUMNS`` images each), labelled with the class name."""
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    from .plotting import save_figure

    classes = sorted({int(c) for c in labels})
    rows = [images[labels == c][:GRID_COLUMNS] for c in classes]
    columns = max(len(r) for r in rows)
    padded = [torch.cat([r, torch.zeros(columns - len(r), *r.shape[1:], dtype=r.dtype)]) for r in rows]
    grid = make_grid(torch.cat(padded), nrow=columns, padding=1, pad_value=255).permute(1, 2, 0).numpy()
    side = images.shape[-1] + 1
    fig, ax = plt.subplots(figsize=(max(3.0, 0.45 * columns + 1.2), max(1.5, 0.45 * len(rows) + 0.6)))
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", interpolation="nearest")
    ax.set_yticks([side * (i + 0.5) for i in range(len(rows))], _names(torch.tensor(classes), class_names))
    ax.set_xticks([])
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def save_parquet(images: Tensor, labels: Tensor, class_names: list[str], path: Path) -> None:
    """``img`` (struct of PNG ``bytes`` and ``path``) + ``label`` (ClassLabel), as in the shared CIFAR-10 copy."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = class_names or [str(i) for i in range(int(labels.max()) + 1)]
    cells = [{"bytes": _png(im), "path": p} for im, p in zip(images, _relative_paths(labels, names), strict=True)]
    features = {"img": {"_type": "Image"}, "label": {"names": names, "_type": "ClassLabel"}}
    schema = pa.schema([("img", pa.struct([("bytes", pa.binary()), ("path", pa.string())])), ("label", pa.int64())],
                       metadata={"huggingface": json.dumps({"info": {"features": features}})})
    pq.write_table(pa.Table.from_pylist([{"img": c, "label": int(y)} for c, y in zip(cells, labels, strict=True)],
                                        schema=schema), path)


def save_pngs(images: Tensor, labels: Tensor, class_names: list[str], folder: Path) -> None:
    for image, relative in zip(images, _relative_paths(labels, class_names), strict=True):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(_png(image))


def check_out(out: Path) -> None:
    """Refuse to write into a folder that already holds something (before any sampling starts)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SizelessError(f"{out} already exists and is not empty; choose a new --out folder")


def write_samples(out: Path, images: Tensor, labels: Tensor, class_names: list[str], fmt: str, meta: dict,
                  title: str = "") -> None:
    """``grid.png``, the images (``images/CLASS/NNNN.png`` or ``train.parquet``) and ``samples.json``,
    staged beside ``out`` and renamed into place when complete."""
    if fmt not in FORMATS:
        raise SizelessError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        save_grid(images, labels, class_names, staging / "grid.png", title)
        if fmt == "parquet":
            save_parquet(images, labels, class_names, staging / "train.parquet")
        else:
            save_pngs(images, labels, class_names, staging / "images")
        (staging / "samples.json").write_text(json.dumps(meta, indent=2) + "\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes a private folder; keep the usual mode
        if out.exists():
            out.rmdir()  # empty (check_out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
