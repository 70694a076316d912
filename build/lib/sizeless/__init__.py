"""sizeless: learn size-agnostic weight templates once, initialize timm models of any size."""

__version__ = "0.1.0"

from .api import evaluate_model, initialize, pretrain, train
from .bank import TemplateBank
from .data import DataConfig, load_data
from .errors import SizelessError
from .objectives import DistillConfig
from .training import TrainConfig

__all__ = ["DataConfig", "DistillConfig", "SizelessError", "TemplateBank", "TrainConfig", "evaluate_model",
           "initialize", "load_data", "pretrain", "train"]
