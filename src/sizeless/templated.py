"""A templated model: plain timm models whose templated weights are composed on every forward.

There is no second model definition: each size is the family's plain model with its templated
parameters removed, and ``functional_call`` feeds it the weights the constraint composes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .errors import SizelessError
from .families import Family, ImageSpec, Kind


def module_key(name: str) -> str:
    """``nn.ModuleDict``/``ParameterDict`` keys may not contain dots."""
    return name.replace(".", "/")


def pop_parameter(model: nn.Module, name: str) -> Tensor:
    module_path, _, leaf = name.rpartition(".")
    module = model.get_submodule(module_path) if module_path else model
    return module._parameters.pop(leaf)


class TemplateNet(nn.Module):
    """Templates shared by every size, plus per size: scalers and a plain model (free params, head)."""

    def __init__(self, family: Family, constraint, sizes: Sequence, image: ImageSpec, num_classes: int, seed: int = 0):
        super().__init__()
        self.family, self.constraint, self.image, self.num_classes = family, constraint, image, num_classes
        self.sizes = {s.key: s for s in sizes}
        self.all_kinds: dict[str, list[Kind]] = {}
        self.templated_kinds: dict[str, list[Kind]] = {}
        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)  # timm's own init draws from the global generator
        cfg = constraint.config
        self.models = nn.ModuleDict()
        self.scalers = nn.ModuleDict()
        for size in sizes:
            kinds = family.kinds(size, image, cfg.template_width, cfg.template_mlp_ratio)
            templated = constraint.templated(kinds)
            model = family.build(size, image, num_classes)
            for kind in templated:
                for name in kind.params:
                    pop_parameter(model, name)
            self.all_kinds[size.key] = kinds
            self.templated_kinds[size.key] = templated
            self.models[module_key(size.key)] = model
            scalers = constraint.init_scalers(templated, generator)
            self.scalers[module_key(size.key)] = self._parameter_dict(scalers, constraint.scalers_trainable)
        every = [k for kinds in self.templated_kinds.values() for k in kinds]  # a set may be absent at one size
        self.template_kinds = template_kinds(every, constraint)
        self.templates = self._parameter_dict(constraint.init_templates(self.template_kinds, generator))
        for kind in self.template_kinds:  # templates of norms, biases, layer scales: no weight decay, whatever
            self.templates[module_key(kind.name)].no_weight_decay = kind.vector  # their name (bn1, gamma)

    @staticmethod
    def _parameter_dict(tensors: dict[str, Tensor], trainable: bool = True) -> nn.ParameterDict:
        return nn.ParameterDict({module_key(k): nn.Parameter(v, requires_grad=trainable) for k, v in tensors.items()})

    def default_size(self, size: str | None) -> str:
        return size if size is not None else next(iter(self.sizes))

    def model(self, size: str | None = None) -> nn.Module:
        return self.models[module_key(self.default_size(size))]

    def scaler_tensors(self, size: str | None = None) -> dict[str, Tensor]:
        scalers = self.scalers[module_key(self.default_size(size))]
        return {k.name: scalers[module_key(k.name)] for k in self.templated_kinds[self.default_size(size)]}

    def template_tensors(self) -> dict[str, Tensor]:
        """Templates by template key (a kind's own name unless the family shares one set across kinds)."""
        return {k.name: self.templates[module_key(k.name)] for k in self.template_kinds}

    def composed(self, size: str | None = None) -> dict[str, Tensor]:
        """Dense templated weights of one size, keyed by the plain model's parameter names."""
        size = self.default_size(size)
        templates = self.template_tensors()
        per_kind = {k.name: templates[k.template_key] for k in self.templated_kinds[size]}
        stacks = self.constraint.compose(per_kind, self.scaler_tensors(size))
        out = {}
        for kind in self.templated_kinds[size]:
            stack = stacks[kind.name]
            for layer, name in enumerate(kind.params):
                out[name] = stack[layer].view(kind.param_shape)
        return out

    def forward(self, x: Tensor, size: str | None = None) -> Tensor:
        return functional_call(self.model(size), self.composed(size), (x,))

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
        state = {k: v.detach().clone() for k, v in self.model(size).state_dict().items()}
        state.update({k: v.detach().clone() for k, v in self.composed(size).items()})
        plain.load_state_dict(state, strict=True, assign=True)
        return plain


def template_kinds(kinds: Sequence[Kind], constraint) -> list[Kind]:
    """One kind per template set, named by its template key; kinds sharing a set must agree on its shape."""
    out: dict[str, Kind] = {}
    for kind in kinds:
        first = out.setdefault(kind.template_key, replace(kind, name=kind.template_key))
        if constraint.template_shape(first) != constraint.template_shape(kind):
            raise SizelessError(f"kinds sharing template {kind.template_key!r} disagree on its shape: "
                                f"{constraint.template_shape(first)} vs {constraint.template_shape(kind)}")
    return list(out.values())
