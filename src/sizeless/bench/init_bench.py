"""`sizeless bench init`: sizes x methods x seeds, trained with the same budget, one report.

Missing inputs are built and cached in the output folder (the bank and the learngene by
`pretrain`, the weight-selection teacher by `train`), so a second run reuses them and every
finished training run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from .. import distributed as dist
from ..api import evaluate_model, initialize_full, pretrain, train
from ..bank import TemplateBank
from ..data import DataConfig, ImageData, load_data, with_train_subset
from ..errors import SizelessError, UnsupportedSize
from ..families import TRANSFORMERS, family_options, get_family
from ..files import write_json
from ..initializers import INITIALIZERS
from ..initializers.base import default_fit_config
from ..training import TrainConfig
from .report import write_report

METHODS = ("templates", "scratch", "weight-selection", "mimetic", "linear-expansion", "direct")
DEFAULT_SIZES = {"vit": ("64x4", "128x6"), "cnn": ("16x2-2-2-2", "32x3-3-3-3")}  # (bank, teacher) built here
DEFAULT_TEMPLATE_WIDTH = {"vit": 32, "cnn": 8}  # the bank's width is 2x the template width


@dataclass
class BenchConfig:
    data: str
    out: Path
    sizes: list[str]
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    fit_steps: int = 200
    epochs: int = 2
    seeds: int = 1
    batch_size: int = 128
    train_subset: int | None = None  # target training images
    fit_subset: int | None = None  # images for scaler fitting
    val_subset: int | None = None
    data_dir: str | None = None
    # transfer protocol: build bank/teacher/learngene/direct on the source, judge on the target
    source_data: str | None = None  # default: data
    target_data: str | None = None  # default: data
    source_classes: list[int] | None = None
    target_classes: list[int] | None = None
    bank: Path | None = None
    teacher: Path | None = None
    learngene: Path | None = None
    family: str = "vit"
    share_stages: bool = False  # CNN banks built here: one template set per stage, or one for all
    patch_size: int | None = None  # default: the family's
    # how missing inputs are built (cached under OUT):
    bank_size: str | None = None  # default: DEFAULT_SIZES[family][0]
    constraint: str = "kronecker"  # of a bank built here; "tucker" uses ``ranks``
    template_width: int | None = None  # default: DEFAULT_TEMPLATE_WIDTH[family]
    num_templates: int = 4
    ranks: tuple[int, int, int] = (16, 64, 64)
    pretrain_epochs: int = 4
    pretrain_lr: float = 1e-3  # bank, teacher and direct pre-training share it
    pretrain_subset: int | None = None
    teacher_size: str | None = None  # default: DEFAULT_SIZES[family][1]

    def __post_init__(self) -> None:
        if "supervised" not in get_family(self.family).objectives:  # an unknown family fails here too
            raise SizelessError(f"bench init judges classifiers by accuracy; for {self.family} (a generator) run "
                                "benchmarks/dit_bench.py, which measures samples")
        kind = "vit" if self.family in TRANSFORMERS else "cnn"
        bank_size, teacher_size = DEFAULT_SIZES[kind]
        self.template_width = self.template_width or DEFAULT_TEMPLATE_WIDTH[kind]
        self.bank_size = self.bank_size or bank_size
        self.teacher_size = self.teacher_size or teacher_size
        unknown = [m for m in self.methods if m not in INITIALIZERS]
        if unknown:
            raise SizelessError(f"unknown methods {unknown}; choose from {', '.join(INITIALIZERS)}")
        if not self.sizes:
            raise SizelessError("give at least one size to benchmark (--sizes 64x4,96x6)")


def _images(bank_or_cfg: dict) -> int:
    """Training images a pre-training run processed (steps x batch)."""
    return int(bank_or_cfg.get("steps", 0)) * int(bank_or_cfg["train"]["batch_size"])


def run_init_bench(cfg: BenchConfig) -> list[dict]:
    out = Path(cfg.out)

    def full(spec: str | None, classes: list[int] | None) -> ImageData:
        return load_data(DataConfig(spec or cfg.data, cfg.data_dir, val_subset=cfg.val_subset, classes=classes))

    source_full = full(cfg.source_data, cfg.source_classes)
    same = (cfg.source_data, cfg.source_classes) == (cfg.target_data, cfg.target_classes)
    target_full = source_full if same else full(cfg.target_data, cfg.target_classes)
    source = with_train_subset(source_full, cfg.pretrain_subset)
    target, fit_data = (with_train_subset(target_full, n) for n in (cfg.train_subset, cfg.fit_subset))
    budget = TrainConfig(epochs=cfg.pretrain_epochs, batch_size=cfg.batch_size, lr=cfg.pretrain_lr)
    inputs: dict[str, dict] = {}

    family_config = family_options(cfg.family, share_stages=cfg.share_stages)
    constraint_config = {"ranks": list(cfg.ranks)} if cfg.constraint == "tucker" else {
        "template_width": cfg.template_width, "num_templates": cfg.num_templates}
    bank = TemplateBank.load(cfg.bank) if cfg.bank else pretrain(
        source, [cfg.bank_size], config=budget, out=out / "bank", resume=True, family=cfg.family,
        family_config=family_config, patch_size=cfg.patch_size, constraint=cfg.constraint,
        constraint_config=constraint_config)
    if bank.config["family"] != cfg.family:
        raise SizelessError(f"the bank holds {bank.config['family']} templates but the benchmark is for {cfg.family}")
    inputs["templates"] = {"path": str(cfg.bank or out / "bank"), "images": _images(bank.config),
                           "seconds": bank.config.get("seconds"), "shared": True}
    pretrain_budget = bank.train_config

    learngene = None
    if "linear-expansion" in cfg.methods and cfg.family in TRANSFORMERS:  # n/a for CNNs (reported as such)
        width = bank.sizes[0].width
        learngene = TemplateBank.load(cfg.learngene) if cfg.learngene else pretrain(
            source, [bank.sizes[0].key], config=pretrain_budget, out=out / "learngene", resume=True,
            constraint_config={"template_width": width, "num_templates": 2, "scalers": "linear"})
        inputs["linear-expansion"] = {"path": str(cfg.learngene or out / "learngene"),
                                      "images": _images(learngene.config), "seconds": learngene.config.get("seconds"),
                                      "shared": True}
    teacher = cfg.teacher
    if teacher is not None:  # a given teacher: its pre-training cost is not known here
        inputs["weight-selection"] = {"path": str(teacher), "images": None, "seconds": None, "shared": True}
    if "weight-selection" in cfg.methods and teacher is None:
        teacher = out / "teacher"
        _, result = train(None, source, pretrain_budget, size=cfg.teacher_size, patch_size=bank.image.patch_size,
                          out=teacher, resume=True, family=cfg.family)
        last = result.history[-1]
        inputs["weight-selection"] = {"path": str(teacher), "images": last["step"] * pretrain_budget.batch_size,
                                      "seconds": last["seconds"], "shared": True}

    rows: list[dict] = []
    sizes = [bank.family.parse_size(s).key for s in cfg.sizes]  # canonical keys, also for "n/a" rows
    for seed in range(cfg.seeds):
        for size in sizes:
            for method in cfg.methods:
                rows += _run_one(cfg, method, size, seed, bank, learngene, teacher, source, target, fit_data,
                                 pretrain_budget, inputs)
    if dist.is_main():
        meta = _provenance(cfg, inputs)
        write_json(out / "results.json", {"meta": meta, "rows": rows})
        write_report(out, rows, meta)
    dist.barrier()
    return rows


def _run_one(cfg, method, size, seed, bank, learngene, teacher, source, target, fit_data, pretrain_budget,
             inputs) -> list[dict]:
    run_dir = Path(cfg.out) / "runs" / f"{method}-{size}-seed{seed}"
    base = {"method": method, "size": size, "seed": seed}
    start = time.perf_counter()
    try:
        init = initialize_full(
            size, fit_data if method in ("templates", "linear-expansion") else target,
            bank=learngene if method == "linear-expansion" else bank, method=method,
            fit=replace(default_fit_config(), steps=cfg.fit_steps), patch_size=bank.image.patch_size, seed=seed,
            out=run_dir / "init", teacher=teacher, source=source, pretrain_config=pretrain_budget, family=cfg.family)
    except UnsupportedSize as err:
        return [{**base, "epoch": None, "status": f"n/a: {err}"}]
    init_seconds = time.perf_counter() - start
    params = sum(p.numel() for p in init.model.parameters())
    pre = inputs.get(method, {})
    if method == "direct":
        pre = {"images": init.meta["pretrain_images"], "seconds": init.meta["pretrain_seconds"], "shared": False}
    n_sizes = len(cfg.sizes)
    images = pre.get("images", 0)
    amortized = images / n_sizes if images is not None and pre.get("shared") else images
    common = {**base, "status": "ok", "params": params,
              "pretrain_images": images, "amortized_pretrain_images": amortized,
              "pretrain_seconds": pre.get("seconds", 0.0) or 0.0, "init_seconds": round(init_seconds, 2)}
    at_init = evaluate_model(init.model, target)
    rows = [{**common, "epoch": 0.0, "val_acc": at_init["acc"], "val_loss": at_init["loss"], "train_seconds": 0.0}]
    config = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, seed=seed)
    config = replace(config, **init.meta.get("recommended", {}))
    _, result = train(run_dir / "init", target, config, out=run_dir / "train", resume=True)
    for r in result.history:
        rows.append({**common, "epoch": r["epoch"], "val_acc": r["val_acc"], "val_loss": r["val_loss"],
                     "train_seconds": r["seconds"]})
    return rows


def _provenance(cfg: BenchConfig, inputs: dict) -> dict:
    return {
        "command": "sizeless " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}",
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "inputs": inputs,
    }
