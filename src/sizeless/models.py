"""Plain models in their library's own folder format; timm's hub layout (``config.json`` +
``model.safetensors``) for the image families.

Each format is an entry of ``MODEL_FORMATS``; a family names its format (``family.model_format``,
default timm), and ``load_model`` asks each format whether it owns a folder, so new model types
(a diffusers or transformers ``save_pretrained`` folder) plug in without touching the callers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Protocol

import timm
from timm.models._hub import save_config_for_hf
from torch import nn

from .data import ImageData
from .errors import SizelessError
from .files import atomic_path, load_tensors, read_json, save_tensors, write_json

WEIGHTS_FILE = "model.safetensors"


class ModelFormat(Protocol):
    """How one library stores a plain model; ``config["sizeless"]`` carries sizeless's own record."""

    name: str

    def owns(self, path: Path, config: dict) -> bool:
        """Whether the folder at ``path`` (whose ``config.json`` is ``config``) is in this format."""
        ...

    def save(self, model: nn.Module, path: Path, architecture: str, model_args: dict, data: ImageData | None,
             sizeless: dict) -> None: ...

    def load(self, path: Path, config: dict) -> tuple[nn.Module, dict]: ...


class TimmFormat:
    """timm's hub layout: ``timm.create_model("local-dir:PATH", pretrained=True)`` rebuilds the model."""

    name = "timm"

    def owns(self, path: Path, config: dict) -> bool:
        return "architecture" in config

    def save(self, model: nn.Module, path: Path, architecture: str, model_args: dict, data: ImageData | None,
             sizeless: dict) -> None:
        save_tensors(path / WEIGHTS_FILE, model.state_dict())
        with atomic_path(path / "config.json") as tmp:
            save_config_for_hf(model, str(tmp), model_args=model_args)
            config = json.loads(tmp.read_text())
        config["architecture"] = architecture
        config["num_classes"] = model_args["num_classes"]
        pretrained = config.setdefault("pretrained_cfg", {})
        pretrained["num_classes"] = model_args["num_classes"]
        if data is not None:
            pretrained.update(mean=list(data.mean), std=list(data.std),
                              input_size=[data.in_chans, data.img_size, data.img_size])
            if data.class_names:
                config["label_names"] = data.class_names
        config["sizeless"] = sizeless
        write_json(path / "config.json", config)

    def load(self, path: Path, config: dict) -> tuple[nn.Module, dict]:
        load_tensors(path / WEIGHTS_FILE, "model weights")  # a clear error for truncated or foreign files
        logging.getLogger("timm").setLevel(logging.WARNING)
        try:
            model = timm.create_model(f"local-dir:{path}", pretrained=True)
        except (RuntimeError, KeyError, TypeError, ValueError) as err:
            raise SizelessError(f"timm could not build {path} from its config.json and weights: {err}") from None
        return model, config


MODEL_FORMATS: dict[str, ModelFormat] = {"timm": TimmFormat()}


def model_format(family: str) -> ModelFormat:
    """The folder format of a family's plain models."""
    from .families import get_family

    return MODEL_FORMATS[getattr(get_family(family), "model_format", "timm")]


def save_model(model: nn.Module, path: str | Path, architecture: str, model_args: dict,
               data: ImageData | None = None, sizeless: dict | None = None) -> Path:
    """Write ``model`` to the folder ``path`` in its own format (``model.model_format``) or its family's
    (``sizeless["family"]``, default vit: timm's layout, which ``timm.create_model("local-dir:PATH",
    pretrained=True)`` rebuilds exactly)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    sizeless = sizeless or {}
    own = getattr(model, "model_format", None)  # a model type that is not a family's plain model (a task model)
    fmt = MODEL_FORMATS[own] if own else model_format(sizeless.get("family", "vit"))
    fmt.save(model, path, architecture, model_args, data, sizeless)
    return path


def load_model(path: str | Path) -> tuple[nn.Module, dict]:
    """Load a model folder in whichever registered format owns it; returns the model and its config."""
    path = Path(path)
    if not path.is_dir():
        raise SizelessError(f"model folder {path} does not exist; create one with `sizeless init` or `sizeless train`")
    if (path / "templates.safetensors").exists():
        raise SizelessError(f"{path} is a template bank, not a model; pass it as --bank, or a model as --model")
    config = read_json(path / "config.json", "model config")
    fmt = next((f for f in MODEL_FORMATS.values() if f.owns(path, config)), None)
    if fmt is None:
        raise SizelessError(f"{path / 'config.json'} is not a model config sizeless can read (formats: "
                            f"{', '.join(MODEL_FORMATS)})")
    return fmt.load(path, config)


def model_args_of(config: dict) -> tuple[str, dict]:
    return config.get("architecture", config.get("model_type", "")), dict(config.get("model_args", {}))


def input_geometry(config: dict) -> tuple[int | None, int]:
    """(image side, channels) a saved model takes; timm records img_size as an int or a pair."""
    args = config.get("model_args", {})
    img = args.get("img_size")
    return (img[0] if isinstance(img, (list, tuple)) else img), args.get("in_chans", 3)


def check_input(config: dict, data: ImageData, path: str | Path) -> None:
    """The data fits the saved model's input (the format's own check where it has one, e.g. state/action sizes)."""
    fmt = next((f for f in MODEL_FORMATS.values() if f.owns(Path(path), config)), None)
    custom = getattr(fmt, "check_input", None)
    if custom is not None:
        custom(config, data, path)
        return
    img, chans = input_geometry(config)
    if chans != data.in_chans:
        raise SizelessError(f"{path} takes {chans}-channel images but {data.name} has {data.in_chans}")
    if img is not None and img != data.img_size:
        raise SizelessError(f"{path} takes {img}x{img} images but {data.name} gives {data.img_size}x{data.img_size}; "
                            f"pass --image-size {img}")


def teacher_family(path: str | Path) -> str:
    """The family of a model folder: recorded by sizeless, else ViT (the only family without a record)."""
    config = read_json(Path(path) / "config.json", "model config")
    return config.get("sizeless", {}).get("family", "vit")
