"""A templated model: plain timm models whose templated weights are composed on every forward.

There is no second model definition: each size is the family's plain model with its templated
parameters removed, and ``functional_call`` feeds it the weights the constraint composes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .errors import SizelessError
from .families import Family, ImageSpec, Kind, nearest_block, task_feature_dim, task_parameters, tie_weights
from .rng import keep_rng, seeded
from .sampling import sub_size


def module_key(name: str) -> str:
    """``nn.ModuleDict``/``ParameterDict`` keys may not contain dots."""
    return name.replace(".", "/")


def pop_parameter(model: nn.Module, name: str) -> Tensor:
    module_path, _, leaf = name.rpartition(".")
    module = model.get_submodule(module_path) if module_path else model
    return module._parameters.pop(leaf)


class TemplateNet(nn.Module):
    """Templates shared by every size, plus per size: scalers and a plain model (free params, head).

    A Transformer size also runs at another width or depth (stochastic size scaling): its scalers
    and free parameters resized by the constraint's seeding rule, heads following the width.
    """

    def __init__(self, family: Family, constraint, sizes: Sequence, image: ImageSpec, num_classes: int, seed: int = 0):
        super().__init__()
        self.family, self.constraint, self.image, self.num_classes = family, constraint, image, num_classes
        self.sizes = {s.key: s for s in sizes}
        self.all_kinds: dict[str, list[Kind]] = {}
        self.templated_kinds: dict[str, list[Kind]] = {}
        self.scaler_names: dict[str, list[str]] = {}
        self._narrow: dict[tuple[str, int, int], tuple[nn.Module, list[Kind]]] = {}  # built on first use
        generator = torch.Generator().manual_seed(seed)
        self.models = nn.ModuleDict()
        self.scalers = nn.ModuleDict()
        with seeded(seed):  # timm's own init draws from the global generator: one seeded stream for all sizes
            plain = [family.build(size, image, num_classes) for size in sizes]
        for size, model in zip(sizes, plain, strict=True):
            kinds = self.kinds_of(size)
            templated = constraint.templated(kinds)
            tie_weights(family, model)
            for kind in templated:
                for name in kind.params:
                    pop_parameter(model, name)
            self.all_kinds[size.key] = kinds
            self.templated_kinds[size.key] = templated
            self.models[module_key(size.key)] = model
            scalers = constraint.init_scalers(templated, generator)
            self.scaler_names[size.key] = list(scalers)
            self.scalers[module_key(size.key)] = self._parameter_dict(scalers, constraint.scalers_trainable)
        # every size's kinds: a template set may be used at one size only (a CNN stage's second block)
        every = [k for size_kinds in self.templated_kinds.values() for k in size_kinds]
        templates = constraint.init_templates(every, generator)
        self.template_names = list(templates)
        self.templates = self._parameter_dict(templates)
        # templates of norms, biases, layer scales, tokens: no weight decay, whatever their name (bn1, gamma);
        # a vector kind with input features (a ViT's patch embedding) is a matrix and keeps it
        vectors = {k.template_key for k in every if k.vector and not k.fan_in}
        for name in self.template_names:
            self.templates[module_key(name)].no_weight_decay = name in vectors

    @staticmethod
    def _parameter_dict(tensors: dict[str, Tensor], trainable: bool = True) -> nn.ParameterDict:
        return nn.ParameterDict({module_key(k): nn.Parameter(v, requires_grad=trainable) for k, v in tensors.items()})

    def kinds_of(self, size) -> list[Kind]:
        cfg = self.constraint.config
        return self.family.kinds(size, self.image, cfg.template_width, cfg.template_mlp_ratio)

    def default_size(self, size: str | None) -> str:
        return size if size is not None else next(iter(self.sizes))

    def model(self, size: str | None = None) -> nn.Module:
        return self.models[module_key(self.default_size(size))]

    def scaler_tensors(self, size: str | None = None) -> dict[str, Tensor]:
        size = self.default_size(size)
        scalers = self.scalers[module_key(size)]
        return {name: scalers[module_key(name)] for name in self.scaler_names[size]}

    def template_tensors(self) -> dict[str, Tensor]:
        return {name: self.templates[module_key(name)] for name in self.template_names}

    def composed(self, size: str | None = None) -> dict[str, Tensor]:
        """Dense templated weights of one size, keyed by the plain model's parameter names."""
        size = self.default_size(size)
        kinds = self.templated_kinds[size]
        return unstack(kinds, self.constraint.compose(self.template_tensors(), self.scaler_tensors(size), kinds))

    def weights(self, size: str | None = None, width: int | None = None,
                depth: int | None = None) -> tuple[nn.Module, dict[str, Tensor]]:
        """The plain model to call and the tensors to call it with, at ``width`` and ``depth`` (default: the
        size's own). Another width or depth resizes the size's scalers and free parameters by the
        constraint's seeding rule, differentiably: stochastic size scaling trains what initializing
        that size will compose."""
        size = self.default_size(size)
        base, own = self.model(size), self.sizes[size]
        width, depth = width or own.width, depth or own.depth
        if (width, depth) == (own.width, own.depth):
            return base, self.composed(size)
        model, kinds, task_names = self._sub_model(size, width, depth)
        templated = self.constraint.templated(kinds)
        scalers = self.constraint.seed_scalers(self.scaler_tensors(size), templated, None)
        params = unstack(templated, self.constraint.compose(self.template_tensors(), scalers, templated))
        source = {k.name: k for k in self.all_kinds[size]}
        for kind in kinds:
            if kind in templated:
                continue
            src = source[kind.name]
            stack = src.to_matrix(torch.stack([base.get_parameter(p) for p in src.params]))
            params.update(unstack([kind], {kind.name: self.constraint.seed_free(stack, src, kind, None)}))
        for name in task_names:  # the task-specific part: its width axis follows the width
            p = base.get_parameter(nearest_block(self.family, name, depth, own.depth))
            where = task_feature_dim(self.family, name, p)
            params[name] = self.constraint.resize_features(p, width, *where) if where else p
        return model, params

    def size_at(self, size: str | None = None, width: int | None = None, depth: int | None = None):
        """The size object of ``size`` run at ``width`` and ``depth`` (each None: its own)."""
        own = self.sizes[self.default_size(size)]
        if width in (None, own.width) and depth in (None, own.depth):
            return own
        if not hasattr(own, "with_width"):
            raise SizelessError(f"a {self.family.name} size cannot run at another width or depth: size sampling "
                                "resizes Transformer sizes")
        if width is not None and width > own.width and not self.constraint.grows_deterministically:
            raise SizelessError(f"size {own.key} cannot run at width {width}: {self.constraint.name} size sampling "
                                f"takes leading slices, so widths up to {own.width}")
        return sub_size(own, width, depth)

    def _sub_model(self, size: str, width: int, depth: int) -> tuple[nn.Module, list[Kind], list[str]]:
        """The plain model of a sub-size with every parameter removed, its kinds, and its task-specific parameters'
        names (each block's label table of a DiT, deeper blocks' included)."""
        if (size, width, depth) not in self._narrow:
            sub = self.size_at(size, width, depth)
            with keep_rng():  # its parameters are dropped below; a caller's random stream stays as it was
                model = self.family.build(sub, self.image, self.num_classes)
            tie_weights(self.family, model)
            task = {id(p) for p in task_parameters(self.family, model)}
            task_names = [name for name, p in model.named_parameters() if id(p) in task]
            for name, _ in list(model.named_parameters()):
                pop_parameter(model, name)
            device = self.templates[module_key(self.template_names[0])].device
            self._narrow[(size, width, depth)] = model.to(device), self.kinds_of(sub), task_names
        return self._narrow[(size, width, depth)]

    def forward(self, x: Tensor | dict | None = None, size: str | None = None, width: int | None = None,
                depth: int | None = None, **inputs):
        """The size's plain model on ``x``; a dict ``x`` (or keyword ``inputs``) is passed as keyword arguments
        (e.g. a Decision Transformer's states, actions, returns_to_go, timesteps, attention_mask; a DiT's
        ``timestep`` and ``class_labels`` beside its noisy images ``x``)."""
        model, params = self.weights(size, width, depth)
        if isinstance(x, dict):
            x, inputs = None, {**x, **inputs}
        return functional_call(model, params, (x,) if x is not None else (), inputs)

    def call(self, fn: Callable, *args, size: str | None = None, width: int | None = None,
             depth: int | None = None):
        """``fn(plain_model, *args)`` with the composed weights, for entry points other than ``forward``
        (e.g. an MAE encoder that sees only the visible patches)."""
        model, params = self.weights(size, width, depth)
        return functional_call(_Call(model, fn), {f"model.{k}": v for k, v in params.items()}, args)

    def after_step(self) -> None:
        """What the constraint imposes after every pre-training step (ramp scalers back on their depth line)."""
        hook = getattr(self.constraint, "after_step", None)
        if hook is not None:
            for size in self.sizes:
                hook(self.scaler_tensors(size), self.templated_kinds[size])

    def freeze_templates(self) -> None:
        self.templates.requires_grad_(False)

    @torch.no_grad()
    def export(self, size: str | None = None) -> nn.Module:
        """A plain timm model with the composed weights: what a user trains from here on.

        Built on the meta device and filled by assignment, so no time goes into a random init
        that would be overwritten (composing a ViT-B-sized model takes well under a second).
        """
        size = self.default_size(size)
        with torch.device("meta"):
            plain = self.family.build(self.sizes[size], self.image, self.num_classes)
        model = self.model(size)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}  # tied modules: a copy per block
        state.update({k: v.detach().clone() for k, v in self.composed(size).items()})
        plain.load_state_dict(state, strict=True, assign=True)
        for name, buffer in model.named_buffers():  # non-persistent buffers (a sin-cos table) are not in the state
            if plain.get_buffer(name).is_meta:
                module_path, _, leaf = name.rpartition(".")
                (plain.get_submodule(module_path) if module_path else plain)._buffers[leaf] = buffer.clone()
        return plain


def unstack(kinds: list[Kind], stacks: dict[str, Tensor]) -> dict[str, Tensor]:
    """``{kind: (layers, rows, cols)}`` -> ``{parameter name: tensor in the model's own shape}``."""
    out = {}
    for kind in kinds:
        stack = stacks[kind.name]
        for layer, name in enumerate(kind.params):
            out[name] = kind.to_param(stack[layer])
    return out


class _Call(nn.Module):
    """Lets ``functional_call`` feed weights to ``fn(model, ...)`` instead of ``model.forward``."""

    def __init__(self, model: nn.Module, fn: Callable):
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self, *args):
        return self.fn(self.model, *args)
