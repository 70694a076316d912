"""Plain models in timm's hub layout (``config.json`` + ``model.safetensors``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import timm
from timm.models._hub import save_config_for_hf
from torch import nn

from .cards import CARD_FILE, write_card
from .data import ImageData
from .errors import SizelessError
from .files import atomic_path, load_tensors, read_json, save_tensors, write_json

WEIGHTS_FILE = "model.safetensors"


def save_model(model: nn.Module, path: str | Path, architecture: str, model_args: dict,
               data: ImageData | None = None, sizeless: dict | None = None) -> Path:
    """Write ``path/config.json`` and ``path/model.safetensors`` so that
    ``timm.create_model("local-dir:PATH", pretrained=True)`` rebuilds the model exactly."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
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
    config["sizeless"] = {**(sizeless or {}), **({"data": data.name} if data is not None else {})}
    write_json(path / "config.json", config)
    write_card(path, config, model)
    return path


def load_model(path: str | Path) -> tuple[nn.Module, dict]:
    """Load a model folder through timm's ``local-dir:`` source; returns the model and its config."""
    path = Path(path)
    if not path.is_dir():
        raise SizelessError(f"model folder {path} does not exist; create one with `sizeless init` or `sizeless train`")
    if (path / "templates.safetensors").exists():
        raise SizelessError(f"{path} is a template bank, not a model; pass it as --bank, or a model as --model")
    config = read_json(path / "config.json", "model config")
    load_tensors(path / WEIGHTS_FILE, "model weights")  # a clear error for truncated or foreign files
    logging.getLogger("timm").setLevel(logging.WARNING)
    if not timm.is_model(config.get("architecture")):
        raise SizelessError(f"{path} needs timm architecture {config.get('architecture')!r}, which this Python does "
                            f"not know (made by a newer sizeless or another library?); {path / CARD_FILE} says how "
                            "to load it")
    try:
        model = timm.create_model(f"local-dir:{path}", pretrained=True)
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise SizelessError(f"timm could not build {path} from its config.json and weights: {err}") from None
    return model, config


def model_args_of(config: dict) -> tuple[str, dict]:
    return config["architecture"], dict(config.get("model_args", {}))


def input_geometry(config: dict) -> tuple[int | None, int]:
    """(image side, channels) a saved model takes; timm records img_size as an int or a pair."""
    args = config.get("model_args", {})
    img = args.get("img_size")
    return (img[0] if isinstance(img, (list, tuple)) else img), args.get("in_chans", 3)


def check_input(config: dict, data: ImageData, path: str | Path) -> None:
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
