"""What every initializer takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from ..bank import TemplateBank
from ..families import ImageSpec
from ..training import TrainConfig


def default_fit_config() -> TrainConfig:
    """Scaler fitting: a few hundred steps at a high LR; scalers and heads are tiny."""
    return TrainConfig(steps=200, lr=3e-3, warmup=0.1, weight_decay=0.0, min_lr=1e-4)


@dataclass
class InitOptions:
    bank: TemplateBank | None = None
    image: ImageSpec | None = None  # input geometry for methods without a bank
    seed: int = 0
    fit: TrainConfig = field(default_factory=default_fit_config)
    log_dir: Path | None = None  # where the fit stage writes metrics


@dataclass
class Initialized:
    model: nn.Module
    architecture: str
    model_args: dict
    meta: dict  # provenance and recommended fine-tuning settings, stored in the model config
