"""Ancestry (teacher) models for distillation: a timm name, a model folder or a checkpoint file.

Nothing is unpickled by default: safetensors files are read as tensors, ``.pth``/``.pt`` files
only through ``torch.load(weights_only=True)``; a checkpoint that needs full unpickling (which
can run arbitrary code) is refused unless the caller passes ``allow_pickle=True``.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import timm
import torch
from torch import nn

from .errors import SizelessError
from .files import load_tensors
from .models import load_model


def load_checkpoint(path: Path, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """A state dict from a safetensors or PyTorch checkpoint file (nested ``state_dict``/``model`` keys ok)."""
    if path.suffix == ".safetensors":
        return load_tensors(path, "teacher checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not allow_pickle:
            raise SizelessError(
                f"{path} holds Python objects that only full unpickling can read, and unpickling can run arbitrary "
                "code; re-save it as safetensors, or pass --allow-unsafe-pickle if you trust the file"
            ) from None
        logging.getLogger("sizeless").warning("unpickling %s (allowed explicitly): %s", path, str(err)[:80])
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, OSError, EOFError, KeyError, ValueError) as err:
        raise SizelessError(f"{path} is not a readable PyTorch checkpoint ({type(err).__name__}: {err})") from None
    for key in ("state_dict", "model", "model_ema"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SizelessError(f"{path} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_teacher(spec: str, arch: str | None = None, allow_pickle: bool = False) -> nn.Module:
    """``spec``: a timm model name (pre-trained weights from the Hugging Face Hub), ``local-dir:PATH``
    or a model folder, or a checkpoint file (with ``arch``, the timm architecture it belongs to)."""
    path = Path(spec.removeprefix("local-dir:")).expanduser()
    if spec.startswith("local-dir:") or path.is_dir():
        model, _ = load_model(path)
    elif path.is_file():
        if not arch:
            raise SizelessError(f"{path} is a checkpoint file: name its timm architecture with --teacher-arch")
        state = load_checkpoint(path, allow_pickle)
        head = state.get("head.weight")
        classes = {"num_classes": head.shape[0]} if head is not None else {}
        try:
            model = timm.create_model(arch, pretrained=False, **classes)
            model.load_state_dict(state)
        except (RuntimeError, KeyError, TypeError) as err:
            raise SizelessError(f"{path} does not fit timm's {arch}: {str(err).splitlines()[0][:200]}") from None
    elif timm.is_model(spec):
        try:
            model = timm.create_model(spec, pretrained=True)
        except Exception as err:  # hub download errors come in many types
            raise SizelessError(
                f"could not get pre-trained {spec} from the Hugging Face Hub ({type(err).__name__}); when offline, "
                "pass a model folder, or a checkpoint file with --teacher-arch"
            ) from None
    else:
        raise SizelessError(f"teacher {spec!r} is neither a file, a folder, nor a timm model name")
    return model.eval().requires_grad_(False)
