"""The Decision Transformer family: Hugging Face transformers' ``DecisionTransformerModel`` (GPT-2 blocks).

Templated: every block's attention and MLP matrices, biases and LayerNorms, the final and the
embedding LayerNorm, and the return, timestep and position embeddings (all width-dependent,
task-agnostic). GPT-2 stores its ``Conv1D`` weights in-by-out, so those kinds are declared in the
library's out-by-in layout with ``transpose=True``: q/k/v stay column groups of ``c_attn`` and the
Kronecker rows follow the output features as for a ViT. Task-specific (never in a bank, new for
every task): the state and action embeddings and the prediction heads.

Importing this module registers the Minari data source (``--data minari:ID``) and the transformers
model format; transformers, gymnasium and minari are imported only when used (``sizeless[control]``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..errors import SizelessError, UnsupportedSize
from ..sizes import ViTSize
from .base import Kind, TransformerSizes

EXTRA = "pip install 'sizeless[control]'  (transformers, gymnasium[mujoco], minari[create,hdf5], stable-baselines3)"
ARCHITECTURE = "DecisionTransformerModel"
TASK_MODULES = ("embed_state", "embed_action", "predict_state", "predict_action", "predict_return")


def require(module: str):
    """Import one of the control extras, or say in one line what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise SizelessError(f"the decision-transformer family needs {module.split('.')[0]} ({err.msg}): "
                            f"{EXTRA}") from None


@dataclass(frozen=True)
class TaskSpec:
    """What a policy is built for: state and action sizes, episode length (timestep embedding) and context K."""

    state_dim: int
    act_dim: int
    max_ep_len: int = 1000
    context: int = 20

    @property
    def positions(self) -> int:
        """GPT-2 position embeddings: one per token of a context (return, state, action per step)."""
        return 3 * self.context


class DecisionTransformerFamily(TransformerSizes):
    name, title, task = "decision-transformer", "Decision Transformer", "reinforcement-learning"
    custom_architectures = ()  # transformers' own DecisionTransformerModel
    model_format = "transformers"
    input_key = "task"  # bank configs store the TaskSpec under "task"
    input_type = TaskSpec
    objectives = ("behavior-cloning",)  # what pretrain, init's fit and train use unless told otherwise
    example_noun = "context window"  # one example: what MACs are counted per and a fit's data is counted in
    default_depths = range(2, 25)  # the depths `sizeless sizes` lists when the user gives none
    # weight selection picks q, k and v columns of GPT-2's fused c_attn per group
    selection_groups: ClassVar[dict] = {"attn.c_attn.weight": (1, 3), "attn.c_attn.bias": (0, 3)}

    def example(self, task: TaskSpec, batch: int) -> dict[str, Tensor]:
        """``batch`` context windows of zeros: the keyword inputs of one policy forward (MACs, latency)."""
        steps = (batch, task.context)
        return {"states": torch.zeros(*steps, task.state_dim), "actions": torch.zeros(*steps, task.act_dim),
                "returns_to_go": torch.zeros(*steps, 1), "timesteps": torch.zeros(steps, dtype=torch.long),
                "attention_mask": torch.ones(steps, dtype=torch.long)}

    @contextmanager
    def counting(self, model: nn.Module):
        """Eager attention while MACs are counted: transformers' SDPA path reads the mask's values (impossible on
        the meta device), and eager attention is the math decomposition every family's attention is counted by."""
        previous = model.config._attn_implementation
        model.set_attn_implementation("eager")
        try:
            yield model
        finally:
            model.set_attn_implementation(previous)

    def describe_size(self, size: ViTSize) -> str:
        return (f"GPT-2 policy, width {size.width}, depth {size.depth}, {size.heads} head(s), MLP ratio "
                f"{size.mlp_ratio:g}")

    def input_spec(self, data, patch_size: int | None = None) -> TaskSpec:
        """The spec of a trajectory dataset (``TrajectoryData``)."""
        if not hasattr(data, "state_dim"):
            raise SizelessError(f"the decision-transformer family trains on trajectories (--data minari:DATASET_ID), "
                                f"not on {data.name}")
        return TaskSpec(data.state_dim, data.act_dim, data.max_ep_len, data.context)

    def default_patch_size(self, img_size: int) -> int:
        return 1  # no patches; kept for the family protocol

    def model_args(self, size: ViTSize, task: TaskSpec, num_classes: int | None = None) -> tuple[str, dict]:
        return ARCHITECTURE, dict(
            state_dim=task.state_dim, act_dim=task.act_dim, hidden_size=size.width, n_layer=size.depth,
            n_head=size.heads, n_inner=size.mlp_hidden, max_ep_len=task.max_ep_len, n_positions=task.positions,
            action_tanh=True, activation_function="relu", bos_token_id=0, eos_token_id=0, resid_pdrop=0.1,
            embd_pdrop=0.1, attn_pdrop=0.1,
        )

    def build(self, size: ViTSize, task: TaskSpec, num_classes: int | None = None) -> nn.Module:
        transformers = require("transformers")
        _, args = self.model_args(size, task)
        return transformers.DecisionTransformerModel(transformers.DecisionTransformerConfig(**args))

    def task_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        return [p for name in TASK_MODULES for p in model.get_submodule(name).parameters()]

    def carries_task_parts(self, source: tuple | None, target: tuple, source_task: TaskSpec | None = None,
                           target_task: TaskSpec | None = None) -> bool:
        """A pre-trained policy's embeddings and heads serve a target whose environments it all trained on, with the
        same action size (labels are ``(act_dim, environments)``; older records name no environments: never) and,
        where both are known, the same padded state size (multi-task data pad states to their largest)."""
        same_states = source_task is None or target_task is None or source_task.state_dim == target_task.state_dim
        return (source is not None and isinstance(source[1], tuple) and isinstance(target[1], tuple)
                and source[0] == target[0] and set(target[1]) <= set(source[1]) and same_states)

    def task_feature_dim(self, name: str, param: nn.Parameter) -> tuple[int, bool] | None:
        """The state and action embeddings write the width (their rows, bias included); the heads read it."""
        if name.startswith(("embed_state.", "embed_action.")):
            return 0, False
        return (1, True) if param.ndim == 2 else None

    def attention(self, model: nn.Module):
        """Per block: ``(W_q, W_k, W_v, W_proj, heads)`` as ``(out, in)`` views into GPT-2's in-by-out Conv1D
        weights (mimetic init writes them)."""
        out = []
        for block in model.encoder.h:
            q, k, v = block.attn.c_attn.weight.T.view(3, block.attn.embed_dim, block.attn.embed_dim)
            out.append((q, k, v, block.attn.c_proj.weight.T, block.attn.num_heads))
        return out

    def input_of(self, config: dict) -> TaskSpec:
        """The task a saved policy was built for, from its transformers config (what a weight-selection teacher's
        embeddings read: its padded state size)."""
        return TaskSpec(config["state_dim"], config["act_dim"], config["max_ep_len"], config["n_positions"] // 3)

    def size_of(self, config: dict) -> ViTSize:
        """The size of a saved model from its transformers config (weight-selection teachers)."""
        return ViTSize(config["hidden_size"], config["n_layer"], config["n_head"],
                       (config.get("n_inner") or 4 * config["hidden_size"]) / config["hidden_size"])

    def retask(self, model: nn.Module, size: ViTSize, task: TaskSpec) -> nn.Module:
        """The same policy for another task: everything but the task-specific parts carried over."""
        fresh = self.build(size, task)
        fresh.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith(TASK_MODULES)},
                              strict=False)
        return fresh

    def adapt_to_image(self, kind_name: str, tensor: Tensor, old: TaskSpec, new: TaskSpec) -> Tensor:
        if (old.max_ep_len, old.context) != (new.max_ep_len, new.context) and kind_name in (
                "embed_timestep.weight", "encoder.wpe.weight"):
            raise SizelessError(f"the bank was built for episodes of {old.max_ep_len} steps and context {old.context};"
                                f" the target has {new.max_ep_len} and {new.context}: use the bank's context")
        return tensor

    def kinds(self, size: ViTSize, task: TaskSpec, template_width: int, template_mlp_ratio: float) -> list[Kind]:
        w, width, depth = template_width, size.width, size.depth
        if width % w:
            valid = ", ".join(str(w * k) for k in range(1, 9))
            raise UnsupportedSize(f"width {width} is not a multiple of the template width {w}; valid widths: {valid}, "
                                  f"... (any multiple of {w})")
        hidden_t = int(w * template_mlp_ratio)
        if size.mlp_hidden % hidden_t:
            raise UnsupportedSize(f"MLP hidden size {size.mlp_hidden} of size {size.key} is not a multiple of the "
                                  f"template's {hidden_t}; pick an MLP ratio r with {width}*r a multiple of {hidden_t}")
        hidden = size.mlp_hidden

        def block(name: str, shape, unit, init, matrix=False) -> Kind:
            params = tuple(f"encoder.h.{i}.{name}" for i in range(depth))
            param_shape = (shape[1], shape[0]) if matrix else (shape[0],)
            return Kind(f"encoder.h.*.{name}", params, param_shape, shape, unit, init, fan_in=matrix, vector=not matrix,
                        transpose=matrix)

        def glob(name: str, param_shape, shape, unit, init) -> Kind:
            return Kind(name, (name,), param_shape, shape, unit, init, False, True)

        vec = (width, 1), (w, 1)
        return [
            block("attn.c_attn.weight", (3 * width, width), (3 * w, w), 0.02, True),
            block("attn.c_proj.weight", (width, width), (w, w), 0.02, True),
            block("mlp.c_fc.weight", (hidden, width), (hidden_t, w), 0.02, True),
            block("mlp.c_proj.weight", (width, hidden), (w, hidden_t), 0.02, True),
            block("attn.c_attn.bias", (3 * width, 1), (3 * w, 1), "zeros"),
            block("attn.c_proj.bias", *vec, "zeros"),
            block("mlp.c_fc.bias", (hidden, 1), (hidden_t, 1), "zeros"),
            block("mlp.c_proj.bias", *vec, "zeros"),
            block("ln_1.weight", *vec, "ones"),
            block("ln_1.bias", *vec, "zeros"),
            block("ln_2.weight", *vec, "ones"),
            block("ln_2.bias", *vec, "zeros"),
            glob("encoder.ln_f.weight", (width,), *vec, "ones"),
            glob("encoder.ln_f.bias", (width,), *vec, "zeros"),
            glob("embed_ln.weight", (width,), *vec, "ones"),
            glob("embed_ln.bias", (width,), *vec, "zeros"),
            glob("embed_return.weight", (width, 1), *vec, 0.02),
            glob("embed_return.bias", (width,), *vec, "zeros"),
            glob("embed_timestep.weight", (task.max_ep_len, width), (task.max_ep_len, width), (task.max_ep_len, w),
                 0.02),
            glob("encoder.wpe.weight", (task.positions, width), (task.positions, width), (task.positions, w), 0.02),
            glob("encoder.wte.weight", (1, width), (1, width), (1, w), 0.02),
        ]


def _register() -> None:
    from .. import behavior_cloning  # noqa: F401  (registers the "behavior-cloning" objective)
    from ..data import DATA_SOURCES
    from ..models import MODEL_FORMATS
    from ..trajectories import minari_source
    from ..transformers_format import TransformersFormat

    if minari_source not in DATA_SOURCES:
        DATA_SOURCES.append(minari_source)
    MODEL_FORMATS.setdefault(TransformersFormat.name, TransformersFormat())


_register()
