"""What every initializer takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from ..bank import TemplateBank
from ..data import ImageData
from ..families import ImageSpec
from ..training import TrainConfig

# Training after a pre-trained init (templates, linear expansion, weight selection, direct). A model that keeps
# its source's function (as wide or wider, the same outputs) keeps it best at a quarter of the random-init LR,
# which stops the first epoch from knocking the initialization back down (DESIGN 2.4); one that must rebuild part
# of it (narrower than its source, or new classes) needs the random-init LR. Both are what the standard profile's
# validation sweep chose (benchmarks/NOTES.md, "The learning rate after init").
KEEP_FINETUNE = {"lr": 2.5e-4, "warmup": 0.02}
REBUILD_FINETUNE = {"lr": 1e-3, "warmup": 0.05}


def recommended_finetune(family, narrower: bool, source_labels: tuple, target_labels: tuple) -> dict:
    """The fine-tuning recipe a pre-trained init records (``sizeless train`` uses it unless told otherwise).

    Other classes count only for a classifier: a family with task parts of its own (a policy's embeddings, a
    generator's label table) measured no such rule (the control benches' held-out-task sweeps chose 3e-4 at four
    sizes and 3e-3 at one)."""
    new_classes = source_labels != target_labels and not hasattr(family, "task_parameters")
    return dict(REBUILD_FINETUNE if narrower or new_classes else KEEP_FINETUNE)


def default_fit_config() -> TrainConfig:
    """Scaler fitting: a few hundred steps at a high LR; scalers and heads are tiny."""
    return TrainConfig(steps=200, lr=3e-3, warmup=0.1, weight_decay=0.0, min_lr=1e-4)


@dataclass
class InitOptions:
    bank: TemplateBank | None = None  # templates; a learngene bank for linear-expansion
    image: ImageSpec | None = None  # input geometry for methods without a bank
    seed: int = 0
    fit: TrainConfig = field(default_factory=default_fit_config)
    log_dir: Path | None = None  # where the fit (or direct pre-training) stage writes metrics
    teacher: Path | None = None  # weight-selection: a larger pre-trained model folder
    source: ImageData | None = None  # direct: the pre-training data (default: the target data)
    pretrain: TrainConfig | None = None  # direct: the pre-training budget (default: the bank's)
    family: str | None = None  # methods without a bank: the family to build (default: vit)


@dataclass
class Initialized:
    model: nn.Module
    architecture: str
    model_args: dict
    meta: dict  # provenance and recommended fine-tuning settings, stored in the model config
