"""Plain models in their library's own folder format; timm's hub layout (``config.json`` +
``model.safetensors``) for the image families.

Each format is an entry of ``MODEL_FORMATS``; a family names its format (``family.model_format``,
default timm), and ``load_model`` asks each format whether it owns a folder, so new model types
(a diffusers or transformers ``save_pretrained`` folder) plug in without touching the callers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import timm
from torch import nn

from .data import ImageData
from .errors import SizelessError
from .families.dit import DiTFormat
from .files import load_tensors, read_json, save_tensors, write_json

WEIGHTS_FILE = "model.safetensors"
# What a registry pretrained_cfg says about the architecture itself: module names and whether the
# input size is baked in. The rest of it (tag, hub id, url, license, paper, ImageNet statistics,
# crop and test sizes) describes a registry checkpoint that these weights are not.
STRUCTURAL_CFG = ("first_conv", "classifier", "fixed_input_size")


class ModelFormat(Protocol):
    """How one library stores a plain model; ``config["sizeless"]`` carries sizeless's own record."""

    name: str

    def owns(self, path: Path, config: dict) -> bool:
        """Whether the folder at ``path`` (whose ``config.json`` is ``config``) is in this format."""
        ...

    def save(self, model: nn.Module, path: Path, architecture: str, model_args: dict, data: ImageData | None,
             sizeless: dict) -> None: ...

    def load(self, path: Path, config: dict) -> tuple[nn.Module, dict]: ...

    def load_lines(self, path: Path, config: dict) -> list[str]:
        """Two lines of Python that load the folder with its own library (quoted in its model card)."""
        ...

    # optional: ``record(config) -> dict``, sizeless's record (family, size, provenance, recommended fine-tuning)
    # in this format's config.json when it is kept elsewhere than under "sizeless" (diffusers: "_sizeless")


class TimmFormat:
    """timm's hub layout: ``timm.create_model("local-dir:PATH", pretrained=True)`` rebuilds the model."""

    name = "timm"

    def owns(self, path: Path, config: dict) -> bool:
        return "architecture" in config

    def save(self, model: nn.Module, path: Path, architecture: str, model_args: dict, data: ImageData | None,
             sizeless: dict) -> None:
        save_tensors(path / WEIGHTS_FILE, model.state_dict())
        write_json(path / "config.json", hub_config(model, architecture, model_args, data, sizeless))

    def load(self, path: Path, config: dict) -> tuple[nn.Module, dict]:
        load_tensors(path / WEIGHTS_FILE, "model weights")  # a clear error for truncated or foreign files
        logging.getLogger("timm").setLevel(logging.WARNING)
        if not timm.is_model(config["architecture"]):
            raise SizelessError(f"{path} needs timm architecture {config['architecture']!r}, which this Python does "
                                f"not know (made by a newer sizeless or another library?); {path / 'README.md'} "
                                "says how to load it")
        try:
            model = timm.create_model(f"local-dir:{path}", pretrained=True)
        except (RuntimeError, KeyError, TypeError, ValueError) as err:
            raise SizelessError(f"timm could not build {path} from its config.json and weights: {err}") from None
        return model, config

    def load_lines(self, path: Path, config: dict) -> list[str]:
        from .families import needs_sizeless

        architecture = config.get("architecture", "")
        first = f"import sizeless, timm  # sizeless registers {architecture} in timm" \
            if needs_sizeless(architecture) else "import timm"
        return [first, f'model = timm.create_model("local-dir:{path}", pretrained=True)']


MODEL_FORMATS: dict[str, ModelFormat] = {"timm": TimmFormat(), "diffusers": DiTFormat()}


def hub_config(model: nn.Module, architecture: str, model_args: dict, data: ImageData | None = None,
               sizeless: dict | None = None) -> dict:
    """timm's hub ``config.json`` for weights made here, written field by field (timm has no public
    writer): a pretrained_cfg that describes this model's own input, normalization and classes.

    Without ``data``, input size and mean/std come from the model's cfg, which every family sets to
    sizeless's own (``pretrained_cfg_overlay`` at build time, or a config written here).
    """
    own = model.pretrained_cfg
    num_classes = model_args["num_classes"]
    input_size = [data.in_chans, data.img_size, data.img_size] if data is not None else list(own["input_size"])
    mean, std = (data.mean, data.std) if data is not None else (own["mean"], own["std"])
    meta = sizeless or {}
    how = f" ({meta['method']} init{', then trained' if 'train' in meta else ''})" if "method" in meta else ""
    where = f" on {data.name}" if data is not None else ""
    name = f"{meta.get('family', 'model')} {meta['size']} ({architecture} with its model_args)" \
        if "size" in meta else architecture
    pretrained = {k: own[k] for k in STRUCTURAL_CFG if own.get(k) is not None}
    pretrained.update(
        input_size=input_size,
        interpolation="bilinear",  # how sizeless resizes (--image-size); inputs are not cropped
        crop_pct=1.0,
        crop_mode="center",
        mean=list(mean),
        std=list(std),
        num_classes=num_classes,
        description=f"{name}, made by sizeless{how}{where}: {'x'.join(map(str, input_size))} inputs, "
                    f"{num_classes} classes; not a timm registry checkpoint",
    )
    config = {"architecture": architecture, "num_classes": num_classes, "num_features": model.num_features,
              "model_args": dict(model_args), "pretrained_cfg": pretrained}
    if data is not None and data.class_names:
        config["label_names"] = list(data.class_names)
    config["sizeless"] = meta
    return config


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
    sizeless = {**(sizeless or {}), **({"data": data.name} if data is not None else {})}
    own = getattr(model, "model_format", None)  # a model type that is not a family's plain model (a task model)
    fmt = MODEL_FORMATS[own] if own else model_format(sizeless.get("family", "vit"))
    fmt.save(model, path, architecture, model_args, data, sizeless)
    from .cards import write_card  # cards describe banks too, and banks import the families that import this

    write_card(path, fmt, model)
    return path


def _owner(path: Path) -> tuple[ModelFormat, dict]:
    if not path.is_dir():
        raise SizelessError(f"model folder {path} does not exist; create one with `sizeless init` or `sizeless train`")
    if (path / "templates.safetensors").exists():
        raise SizelessError(f"{path} is a template bank, not a model; pass it as --bank, or a model as --model")
    config = read_json(path / "config.json", "model config")
    return folder_format(path, config), config


def load_model(path: str | Path) -> tuple[nn.Module, dict]:
    """Load a model folder in whichever registered format owns it; returns the model and its config
    (with sizeless's record as ``config["sizeless"]``, whatever the format)."""
    fmt, config = _owner(Path(path))
    return fmt.load(Path(path), config)


def load_model_for(path: str | Path, objective: str, needed: str) -> tuple[nn.Module, dict]:
    """A model folder whose family trains with ``objective`` (a classifier for features, a generator for
    sampling) and its config; any other model is refused in one line saying what it is and what is ``needed``."""
    from .families import get_family

    if (Path(path) / "templates.safetensors").exists():
        raise SizelessError(f"{path} is a template bank, not {needed}")
    family = model_record(path).get("family", "vit")  # checked before minutes of building a model
    if objective not in get_family(family).objectives:
        raise SizelessError(f"{path} is a {family} model, not {needed}")
    return load_model(path)


def model_record(path: str | Path) -> dict:
    """sizeless's record of a model folder (family, size, recommended fine-tuning), without building the model."""
    fmt, config = _owner(Path(path))
    record = getattr(fmt, "record", None)
    return record(config) if record else config.get("sizeless", {})


def folder_format(path: Path, config: dict) -> ModelFormat:
    """The registered format that owns the folder ``path`` (whose ``config.json`` is ``config``)."""
    fmt = next((f for f in MODEL_FORMATS.values() if f.owns(path, config)), None)
    if fmt is None:
        raise SizelessError(f"{path / 'config.json'} is not a model config sizeless can read (formats: "
                            f"{', '.join(MODEL_FORMATS)})")
    return fmt


def model_args_of(config: dict) -> tuple[str, dict]:
    return config.get("architecture", config.get("model_type", "")), dict(config.get("model_args", {}))


def input_geometry(config: dict) -> tuple[int | None, int]:
    """(image side, channels) a saved model takes; timm records img_size as an int or a pair."""
    args = config.get("model_args", {})
    img = args.get("img_size", args.get("sample_size"))  # timm's names, or diffusers'
    return (img[0] if isinstance(img, (list, tuple)) else img), args.get("in_chans", args.get("in_channels", 3))


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
    return model_record(path).get("family", "vit")
