"""Hugging Face transformers ``save_pretrained`` folders (``DecisionTransformerModel``) as a model format.

The folder is exactly what ``save_pretrained`` writes (``config.json`` + ``model.safetensors``), so
``DecisionTransformerModel.from_pretrained(DIR)`` loads it; the transformers config also carries a
``sizeless`` record (provenance, and the task: environment, state statistics, reference scores,
return scale) that ``sizeless eval`` rolls the policy out with; ``save_model`` adds the README model
card (``load_lines`` and ``card_notes`` below).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from torch import nn

from .errors import SizelessError
from .files import load_tensors, write_json

WEIGHTS_FILE = "model.safetensors"


class TransformersFormat:
    name = "transformers"

    def owns(self, path: Path, config: dict) -> bool:
        return config.get("model_type") == "decision_transformer"

    def save(self, model: nn.Module, path: Path, architecture: str, model_args: dict, data, sizeless: dict) -> None:
        task = data.task() if data is not None and hasattr(data, "task") and len(data.tasks) == 1 else None
        # the environments its embeddings and heads serve (weight selection carries them to a seen one)
        serves = {"label_names": list(data.class_names), "num_classes": data.num_classes} if data is not None else {}
        record = {**sizeless, **({"task": task} if task else {}), **serves}
        tmp = Path(tempfile.mkdtemp(prefix=".save-", dir=path))
        try:
            model.save_pretrained(tmp, safe_serialization=True)
            config = json.loads((tmp / "config.json").read_text())
            config["sizeless"] = record
            os.replace(tmp / WEIGHTS_FILE, path / WEIGHTS_FILE)
            write_json(path / "config.json", config)  # last: a folder with a config is complete
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def load(self, path: Path, config: dict) -> tuple[nn.Module, dict]:
        from .families.decision_transformer import require

        load_tensors(path / WEIGHTS_FILE, "model weights")  # a clear error for truncated or foreign files
        transformers = require("transformers")
        transformers.utils.logging.disable_progress_bar()
        try:
            model = transformers.DecisionTransformerModel.from_pretrained(path)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
            raise SizelessError(f"transformers could not load {path}: {str(err).splitlines()[0]}") from None
        return model, config

    def check_input(self, config: dict, data, path) -> None:
        """The data's state and action sizes must be the policy's: name the mismatch and how to re-init."""
        if not hasattr(data, "state_dim"):
            raise SizelessError(f"{path} is a Decision Transformer policy; it trains on trajectories "
                                "(--data minari:DATASET_ID), not on images")
        want = (config["state_dim"], config["act_dim"])
        have = (data.state_dim, data.act_dim)
        if want != have:
            raise SizelessError(
                f"{path} takes states of size {want[0]} and actions of size {want[1]} but {data.name} has "
                f"{have[0]} and {have[1]}; initialize a policy for this task instead (`sizeless init --bank BANK "
                f"--data {data.name} ...`, whose embeddings and action head are new for the task)")

    def load_lines(self, path: Path, config: dict) -> list[str]:
        return ["from transformers import DecisionTransformerModel",
                f'model = DecisionTransformerModel.from_pretrained("{path}")']

    def card_notes(self, config: dict) -> list[str]:
        """What a policy's model card adds: its task, and how to feed and roll it out."""
        task = (config.get("sizeless") or {}).get("task") or {}
        return [f"A policy for `{task.get('env', 'an unrecorded environment')}` (data `{task.get('id', 'unknown')}`). "
                "States are normalized with `sizeless.task.state_mean` / `state_std` from `config.json`; returns-to-go "
                f"are divided by {task.get('return_scale', 1000.0):g}. Roll it out with "
                "`sizeless eval --model DIR --env ENV --target-return R`."]
