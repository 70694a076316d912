"""Dense-prediction models: a plain timm backbone plus a task head, and their folder format.

A folder holds ``config.json`` (task, head settings, the data the model expects, provenance),
``head.safetensors`` (decoder / detector weights) and ``backbone/`` in timm's hub layout, so the
backbone alone is ``timm.create_model("local-dir:PATH/backbone", pretrained=True)`` and the whole
model is ``sizeless.models.load_model(PATH)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from torch import Tensor, nn

from .. import __version__
from ..errors import SizelessError
from ..files import load_tensors, save_tensors, write_json
from ..models import load_model, save_model
from ..templated import TemplateNet

FORMAT = "sizeless-dense"
FORMAT_VERSION = 1
HEAD_FILE = "head.safetensors"
BACKBONE_DIR = "backbone"
INFO_KEYS = ("backbone", "input", "classes")  # what DenseModel.info records


class DenseModel(nn.Module):
    """A plain timm ``backbone`` and a task ``head``: ``forward(images, targets=None)``.

    The head reads the backbone through ``head.features(backbone, images)``, so the same head also
    runs on a templated backbone (:class:`TemplatedDense`) during scaler fitting.
    """

    model_format = "dense"

    def __init__(self, task: str, backbone: nn.Module, head: nn.Module, info: dict):
        super().__init__()
        self.task, self.backbone, self.head, self.info = task, backbone, head, info

    def encode(self, images: Tensor):
        return self.head.features(self.backbone, images)

    def forward(self, images: Tensor, targets=None):
        return self.head(self.encode, images, targets)


class TemplatedDense(nn.Module):
    """A task head on a :class:`TemplateNet`'s size: the backbone's weights are composed on every call,
    so fitting trains scalers (and free vectors) through the task's own loss, templates frozen."""

    def __init__(self, net: TemplateNet, head: nn.Module):
        super().__init__()
        self.net, self.head = net, head

    def encode(self, images: Tensor):
        return self.net.call(self.head.features, images)

    def forward(self, images: Tensor, targets=None):
        return self.head(self.encode, images, targets)


class DenseFormat:
    """The ``MODEL_FORMATS`` entry for :class:`DenseModel` folders (see the module docstring)."""

    name = "dense"

    def __init__(self, build_head: Callable[[str, dict], nn.Module]):
        self.build_head = build_head

    def owns(self, path: Path, config: dict) -> bool:
        return config.get("format") == FORMAT

    library = "sizeless"  # the whole model loads with sizeless; its backbone/ folder alone with timm

    def load_lines(self, path: Path, config: dict) -> list[str]:
        return ["from sizeless.models import load_model",
                f'model, config = load_model("{path}")  # a DenseModel: backbone + {config.get("task", "task")} head']

    def card_notes(self, config: dict) -> list[str]:
        """What a dense model's card adds: its task and head, and where the plain backbone lies."""
        head = config.get("head") or {}
        return [f"A {config.get('task', 'dense')} model: a plain backbone and a new head "
                f"(`{head.get('name', 'head')}`). The backbone alone is a timm model folder: "
                f'`timm.create_model("local-dir:PATH/{BACKBONE_DIR}", pretrained=True)`.']

    def save(self, model: DenseModel, path: Path, architecture: str, model_args: dict, data, sizeless: dict) -> None:
        path = Path(path)
        save_model(model.backbone, path / BACKBONE_DIR, architecture, model_args, None,
                   {"family": model.info["backbone"]["family"], "size": model.info["backbone"]["size"],
                    "backbone_of": f"a {model.task} model"})
        save_tensors(path / HEAD_FILE, model.head.state_dict())
        write_json(path / "config.json", {  # written last: a folder without it is not a model
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "library_version": __version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "task": model.task,
            "head": model.head.config,
            **{k: v for k, v in model.info.items() if k != "sizeless"},
            "sizeless": sizeless,
        })

    def load(self, path: Path, config: dict) -> tuple[DenseModel, dict]:
        version = config.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise SizelessError(f"{path} was written by another sizeless (dense model format {version}); upgrade "
                                "sizeless")
        backbone, _ = load_model(path / BACKBONE_DIR)
        try:
            head = self.build_head(config["task"], dict(config["head"]))
        except (KeyError, TypeError) as err:
            raise SizelessError(f"{path / 'config.json'} is damaged ({type(err).__name__}: {err}); re-create the "
                                "model") from None
        try:
            head.load_state_dict(load_tensors(path / HEAD_FILE, "head weights"), strict=True)
        except RuntimeError as err:
            raise SizelessError(f"{path / HEAD_FILE} does not match the head in its config.json "
                                f"({str(err).splitlines()[0][:160]}); re-create the model") from None
        info = {k: config[k] for k in INFO_KEYS if k in config}
        return DenseModel(config["task"], backbone, head, info), config
