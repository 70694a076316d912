"""Kronecker constraint (WAVE, WeiT): W[l] = sum_n T[n] (kron) S[l, n]  (DESIGN 2.1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import SizelessError, UnsupportedSize
from ..families.base import Kind
from .depth import leading_layers, project_to_line


@dataclass
class KroneckerConfig:
    """Hyper-parameters of a Kronecker template bank (stored in its config.json)."""

    template_width: int = 32
    num_templates: int = 4
    template_mlp_ratio: float = 4.0
    # "template": biases, norms and embeddings are composed from vector templates too;
    # "free": they are plain parameters, trained alongside and resized to seed new sizes.
    vectors: Literal["template", "free"] = "template"
    # "learned": scalers are trained; "ramp": trained, but each kind's per-layer scalers are held on a line
    # A + l/(L-1) B over depth during pre-training (a deeper size continues the line; benchmarks/NOTES.md, "A ramp
    # bank"); "linear": TLEG's learngene, fixed scalers 1 and l/(L-1) (N=2, same width as the templates), so only
    # depth can change.
    scalers: Literal["learned", "ramp", "linear"] = "learned"

    def __post_init__(self) -> None:
        if self.template_width < 1 or self.num_templates < 1:
            raise SizelessError("template width and number of templates must be positive")
        if self.vectors not in ("template", "free"):
            raise SizelessError(f"vectors must be 'template' or 'free', not {self.vectors!r}")
        if self.scalers not in ("learned", "ramp", "linear"):
            raise SizelessError(f"scalers must be 'learned', 'ramp' or 'linear', not {self.scalers!r}")
        if self.scalers == "linear" and self.num_templates != 2:
            raise SizelessError("linear scalers (TLEG's learngene) need exactly 2 templates: --num-templates 2")

    def to_dict(self) -> dict:
        return asdict(self)


def compose_kind(templates: Tensor, scalers: Tensor) -> Tensor:
    """All layers of one kind in one contraction: ``(N,a,b,*k) x (L,N,m1,m2) -> (L, a*m1, b*m2, *k)``.

    ``T kron S`` puts template row ``i`` on target rows ``i*m1 .. i*m1+m1-1``, so fused qkv groups
    and head boundaries stay where timm expects them. Trailing template dims (a convolution's
    spatial taps ``k``) are carried through: each tap is its own Kronecker product over channels.
    """
    _n, a, b, *spatial = templates.shape
    layers, _, m1, m2 = scalers.shape
    return torch.einsum("nab...,lncd->lacbd...", templates, scalers).reshape(layers, a * m1, b * m2, *spatial)


def resize_stack(stack: Tensor, layers: int, m1: int, m2: int, fan_in: bool, ramp: bool = False) -> Tensor:
    """Resize ``(L, X, m1, m2)`` along depth and both width factors.

    A shallower size keeps the leading layers (:func:`leading_layers`), a deeper one interpolates
    over ``l/(L-1)``; ``ramp`` (TLEG's linear scalers) interpolates both ways. A narrower width keeps
    the leading replicas (what a width-sampled bank pre-trains as the narrower model); a wider one
    interpolates between replicas. Column replicas of a weight are input features, so they are
    rescaled by ``m2_old / m2_new`` to keep each output's magnitude (replicated inputs sum up).
    Differentiable: size sampling trains through it.
    """
    _src_layers, x, _src_m1, src_m2 = stack.shape
    out = (stack if ramp else leading_layers(stack, layers))[:, :, :m1, :m2]
    if tuple(out.shape) != (layers, x, m1, m2):
        grid = out.permute(1, 0, 2, 3).unsqueeze(1).to(torch.float64)  # (X, 1, L, m1, m2)
        out = F.interpolate(grid, size=(layers, m1, m2), mode="trilinear", align_corners=True)
        out = out.squeeze(1).permute(1, 0, 2, 3)
    if fan_in:
        out = out * (src_m2 / m2)
    return out.to(stack.dtype).contiguous()


class KroneckerConstraint:
    """Creates templates and scalers for a family's kinds and composes dense weights from them."""

    name = "kronecker"

    def __init__(self, config: KroneckerConfig):
        self.config = config

    def templated(self, kinds: list[Kind]) -> list[Kind]:
        """The kinds this constraint composes; the others stay free parameters of the plain model."""
        return [k for k in kinds if k.constrained and (not k.vector or self.config.vectors == "template")]

    def check_serves(self, kinds: list[Kind]) -> list[Kind]:
        """The templated kinds of a size a bank is asked to initialize; raises UnsupportedSize if it cannot."""
        templated = self.templated(kinds)
        for kind in templated:
            self._check_linear(kind)
        return templated

    def describe(self) -> str:
        cfg = self.config
        scalers = {"linear": ", fixed linear scalers (a TLEG learngene)",
                   "ramp": ", scalers held linear in depth"}.get(cfg.scalers, "")
        return (f"Kronecker, template width {cfg.template_width}, {cfg.num_templates} templates per kind, "
                f"{cfg.vectors} vectors{scalers}")

    def serves(self) -> str:
        """The widths this constraint can initialize, in words."""
        cfg = self.config
        if cfg.scalers == "linear":
            return f"width {cfg.template_width} only (a learngene changes depth), any depth"
        hidden = cfg.template_width * cfg.template_mlp_ratio
        return (f"widths that are multiples of the template width {cfg.template_width} (MLPs: hidden sizes that "
                f"are multiples of {hidden:g}), any depth")

    def template_shapes(self, kinds: list[Kind]) -> dict[str, tuple[int, ...]]:
        """One stack of ``N`` templates per template key (a kind's own name unless the family shares a set
        across kinds, e.g. a CNN's stages), at the template width; a conv kernel keeps its taps."""
        return {key: shape for key, (_, shape) in self._template_sets(kinds).items()}

    def _template_sets(self, kinds: list[Kind]) -> dict[str, tuple[Kind, tuple[int, ...]]]:
        """The first kind of each template set and the set's shape, which every kind using it must share."""
        out: dict[str, tuple[Kind, tuple[int, ...]]] = {}
        for kind in kinds:
            shape = (self.config.num_templates, *kind.unit, *kind.spatial)
            first, known = out.setdefault(kind.template_key, (kind, shape))
            if known != shape:
                raise SizelessError(f"{kind.name} and {first.name} share template {kind.template_key!r} but need "
                                    f"shapes {shape} and {known}")
        return out

    def scaler_shapes(self, kinds: list[Kind]) -> dict[str, tuple[int, ...]]:
        return {kind.name: (kind.layers, self.config.num_templates, *kind.factors) for kind in kinds}

    def init_templates(self, kinds: list[Kind], generator: torch.Generator) -> dict[str, Tensor]:
        out = {}
        for key, (kind, shape) in self._template_sets(kinds).items():
            if kind.init == "zeros":
                t = torch.zeros(shape)
            elif kind.init == "ones":
                t = torch.zeros(shape)
                t[0] = kind.fill
            else:
                t = torch.randn(shape, generator=generator) * float(kind.init)
            out[key] = t
        return out

    @property
    def scalers_trainable(self) -> bool:
        return self.config.scalers != "linear"

    @torch.no_grad()
    def after_step(self, scalers: dict[str, Tensor], kinds: list[Kind]) -> None:
        """Puts ramp scalers back on their depth line after an optimizer step (a projected step); else nothing."""
        if self.config.scalers == "ramp":
            for stack in scalers.values():
                stack.copy_(project_to_line(stack))

    def _check_linear(self, kind: Kind) -> None:
        if self.config.scalers == "linear" and kind.factors != (1, 1):
            raise UnsupportedSize(
                f"linear expansion (TLEG) keeps the learngene's width {self.config.template_width}: it changes "
                f"depth only, so {kind.name} of shape {kind.shape} cannot be served"
            )

    def init_scalers(self, kinds: list[Kind], generator: torch.Generator) -> dict[str, Tensor]:
        """Random scalers with variance 1/N, so a composed weight has its template's variance.

        Ramp scalers start on their line: the least-squares line through such draws (over L layers it keeps
        2/L of their variance on average). Linear (TLEG) scalers are fixed: layer l = T[0] + l/(L-1) * T[1].
        """
        n = self.config.num_templates
        out = {}
        for kind in kinds:
            self._check_linear(kind)
            if self.config.scalers == "linear":
                out[kind.name] = tleg_scalers(kind.layers)
                continue
            m1, m2 = kind.factors
            s = torch.randn(kind.layers, n, m1, m2, generator=generator) / n**0.5
            if kind.init == "ones":  # template 0 holds the ones: the composed vector starts at exactly 1
                s[:, 0] = 1.0
            out[kind.name] = project_to_line(s) if self.config.scalers == "ramp" else s
        return out

    def compose(self, templates: dict[str, Tensor], scalers: dict[str, Tensor], kinds: list[Kind]) -> dict[str, Tensor]:
        return {kind.name: compose_kind(templates[kind.template_key], scalers[kind.name]) for kind in kinds}

    def seed_scalers(self, source: dict[str, Tensor], kinds: list[Kind],
                     generator: torch.Generator) -> dict[str, Tensor]:
        """Scalers for a new size from a pre-trained size: the depth rule + width resize (deterministic).

        A kind the source size lacks (a CNN stage deeper than the bank's single block) keeps its fresh init.
        """
        out = {}
        for kind in (k for k in kinds if k.name in source):
            self._check_linear(kind)  # linear ramps interpolate to the exact ramp of the new depth
            m1, m2 = kind.factors
            out[kind.name] = resize_stack(source[kind.name], kind.layers, m1, m2, kind.fan_in, self._ramp)
        return out

    def seed_free(self, stack: Tensor, source: Kind, target: Kind, generator: torch.Generator) -> Tensor:
        return resize_free(stack, source, target, self._ramp)

    @property
    def _ramp(self) -> bool:
        """TLEG's learngene: its fixed ramps (and the free parameters beside them) interpolate over depth both ways."""
        return self.config.scalers == "linear"

    grows_deterministically = True  # a wider size interpolates replicas: size sampling may run wider than the bank

    def resize_features(self, weight: Tensor, width: int, dim: int = 1, fan_in: bool = True) -> Tensor:
        """A task-specific tensor's ``dim`` (a classifier's input columns; a policy's embedding outputs) at another
        width, by the rule that resizes scalers (``fan_in``: the features are inputs, rescaled as they replicate)."""
        w = self.config.template_width
        moved = weight.movedim(dim, -1)
        stack = moved.reshape(1, moved[..., 0].numel() * w, 1, moved.shape[-1] // w)
        out = resize_stack(stack, 1, 1, width // w, fan_in=fan_in)
        return out.reshape(*moved.shape[:-1], width).movedim(-1, dim)


def tleg_scalers(layers: int) -> Tensor:
    """TLEG's scalers ``(L, 2, 1, 1)``: layer ``l`` is ``T[0] + l/(L-1) T[1]`` (one layer: ``T[0]``)."""
    ramp = torch.linspace(0, 1, layers) if layers > 1 else torch.zeros(1)
    return torch.stack([torch.ones(layers), ramp], 1).view(layers, 2, 1, 1)


def resize_free(stack: Tensor, source: Kind, target: Kind, ramp: bool = False) -> Tensor:
    """Seed a free (untemplated) parameter stack ``(L, R, C)`` of a new size from a pre-trained one.

    Widths follow the same replica layout as the Kronecker rule (feature ``d = i*m + r``), so the
    stack is viewed as ``(L, a, m1, b, m2)`` and resized like scalers.
    """
    (a, b), (m1, m2) = source.unit, source.factors
    grid = stack.reshape(source.layers, a, m1, b, m2).permute(0, 1, 3, 2, 4).reshape(source.layers, a * b, m1, m2)
    t1, t2 = target.factors
    out = resize_stack(grid, target.layers, t1, t2, source.fan_in, ramp)
    return out.reshape(target.layers, a, b, t1, t2).permute(0, 1, 3, 2, 4).reshape(target.layers, *target.shape)
