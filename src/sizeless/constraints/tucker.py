"""Tucker constraint (SWEET): every square slice of every block, ``W = G x1 X x2 U x3 V`` (DESIGN 2.2).

A ViT block's matrices are cut into ``D x D`` slices (q, k, v, proj, the MLP-ratio row blocks of
fc1 and column blocks of fc2): ``S`` slices per layer, ``L*S`` in all, stacked layer-major. One
core ``G`` (``r1 x r2 x r3``) is shared by every size; a size owns ``X`` (``L*S x r1``: which mix
of template slices each layer and component gets), ``U`` and ``V`` (``D x r2``, ``D x r3``: the
width lift). Nothing ties ``D`` to a template width, and a narrower model is the leading rows of
``U``/``V``: what width-wise stochastic scaling trains and what seeding a narrower size uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import SizelessError, UnsupportedSize
from ..families.base import Kind
from .depth import leading_layers, project_to_line

CORE, DEPTH, ROWS, COLS = "G", "X", "U", "V"


@dataclass
class TuckerConfig:
    """Hyper-parameters of a Tucker template bank (stored in its config.json)."""

    # r1 (slices), r2 (output features), r3 (input features); the default matches a 32-wide, N=4 Kronecker
    # bank at width 64 in template parameters (65.5k), as measured in benchmarks/tucker-sweet
    ranks: tuple[int, int, int] = (16, 64, 64)
    mlp_ratio: int = 4  # every size of a bank slices its MLP into this many D x D blocks
    # "learned": every layer's row of X is free; "ramp": each slice's rows lie on a line A_s + l/(L-1) B_s over depth
    # (projected back after every pre-training step), starting as TLEG's learngene does: a base and a growth per
    # slice in directions of the core no other slice starts in, so a deeper size continues the line it trained
    scalers: Literal["learned", "ramp"] = "learned"

    def __post_init__(self) -> None:
        self.ranks = tuple(int(r) for r in self.ranks)
        if len(self.ranks) != 3 or min(self.ranks) < 1:
            raise SizelessError(f"Tucker needs three positive ranks R1,R2,R3, not {self.ranks}")
        if self.mlp_ratio != int(self.mlp_ratio) or self.mlp_ratio < 1:
            raise SizelessError(f"Tucker slices the MLP into D x D blocks: its MLP ratio must be a whole number, "
                                f"not {self.mlp_ratio}")
        self.mlp_ratio = int(self.mlp_ratio)
        if self.scalers not in ("learned", "ramp"):
            raise SizelessError(f"Tucker scalers must be 'learned' or 'ramp', not {self.scalers!r}")

    # Families express kinds in units of a template width; Tucker slices are D x D, so the unit is
    # one feature and a kind's ``unit`` is its grid of slices (qkv (3, 1), fc2 (1, r)).
    @property
    def template_width(self) -> int:
        return 1

    @property
    def template_mlp_ratio(self) -> float:
        return float(self.mlp_ratio)

    def to_dict(self) -> dict:
        return asdict(self) | {"ranks": list(self.ranks)}


def tucker_product(core: Tensor, depth: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """``G x1 X x2 U x3 V``: ``(r1,r2,r3), (S,r1), (D,r2), (D,r3) -> (S, D, D)``, cheapest order first."""
    mixed = torch.einsum("abc,sa->sbc", core, depth)
    return torch.einsum("sbc,ib,jc->sij", mixed, rows, cols)


def slice_or_extend(matrix: Tensor, rows: int, generator: torch.Generator) -> Tensor:
    """Leading ``rows`` rows of a width scaler; extra rows are drawn with the existing rows' spread."""
    if rows <= len(matrix):
        return matrix[:rows].clone()
    extra = torch.randn(rows - len(matrix), matrix.shape[1], generator=generator, dtype=matrix.dtype)
    return torch.cat([matrix, extra * matrix.std(0, keepdim=True)])


class TuckerConstraint:
    """Creates the core and per-size scalers for a family's block matrices and composes them."""

    name = "tucker"
    scalers_trainable = True

    def __init__(self, config: TuckerConfig):
        self.config = config

    # -- which parameters, in which layout -----------------------------------------------------------
    def templated(self, kinds: list[Kind]) -> list[Kind]:
        """Block matrices only; biases, norms and embeddings stay free (sliced under stochastic width)."""
        matrices = [k for k in kinds if not k.vector and k.constrained]
        conv = next((k for k in matrices if k.spatial), None)
        if conv is not None:
            raise UnsupportedSize(f"the Tucker constraint composes a Transformer's square weight slices (vit); "
                                  f"convolutions such as {conv.name} need --constraint kronecker")
        if not matrices:
            raise UnsupportedSize("the Tucker constraint needs a family with square weight slices (vit)")
        width = matrices[0].factors[0]
        for kind in matrices:
            if kind.factors != (width, width) or kind.layers != matrices[0].layers:
                raise UnsupportedSize(
                    f"{kind.name} of shape {kind.shape} is not a grid of {width}x{width} slices; a Tucker bank "
                    f"needs every size at MLP ratio {self.config.mlp_ratio} (spell sizes without an m suffix)"
                )
        return matrices

    def check_serves(self, kinds: list[Kind]) -> list[Kind]:
        """The templated kinds of a size a bank is asked to initialize; raises UnsupportedSize if it cannot."""
        return self.templated(kinds)

    def describe(self) -> str:
        r1, r2, r3 = self.config.ranks
        ramp = ", depth scalers held linear in depth" if self.config.scalers == "ramp" else ""
        return f"Tucker, core ranks {r1}x{r2}x{r3}, MLP ratio {self.config.mlp_ratio}{ramp}"

    def serves(self) -> str:
        """The widths this constraint can initialize, in words."""
        return f"any width the heads divide (at MLP ratio {self.config.mlp_ratio}), any depth"

    @staticmethod
    def geometry(kinds: list[Kind]) -> tuple[int, int, int]:
        """Depth ``L``, width ``D`` and slices per layer ``S`` of a size's templated kinds."""
        return kinds[0].layers, kinds[0].factors[0], sum(k.unit[0] * k.unit[1] for k in kinds)

    def template_shapes(self, kinds: list[Kind]) -> dict[str, tuple[int, ...]]:
        return {CORE: self.config.ranks}

    def scaler_shapes(self, kinds: list[Kind]) -> dict[str, tuple[int, ...]]:
        layers, width, per_layer = self.geometry(kinds)
        r1, r2, r3 = self.config.ranks
        return {DEPTH: (layers * per_layer, r1), ROWS: (width, r2), COLS: (width, r3)}

    # -- initialization ----------------------------------------------------------------------------
    def init_templates(self, kinds: list[Kind], generator: torch.Generator) -> dict[str, Tensor]:
        """Core entries at timm's weight std (0.02): with scalers of variance ``1/r``, so are the weights."""
        return {CORE: torch.randn(self.config.ranks, generator=generator) * 0.02}

    def init_scalers(self, kinds: list[Kind], generator: torch.Generator) -> dict[str, Tensor]:
        """Semi-orthogonal factors with entries of variance ``1/r``: a product of four small random
        factors sits near a saddle and barely trains for its first hundred steps (measured on
        digits: loss 2.32 vs 2.04 after 60 steps); orthogonal factors keep every direction alive."""
        out = {name: _orthogonal(rows, cols, generator) for name, (rows, cols) in self.scaler_shapes(kinds).items()}
        if self.config.scalers == "ramp":
            out[DEPTH] = self._ramp_start(kinds, generator)
        # a kind that starts at zero (DiT's adaLN-Zero modulation) gets zero depth-scaler rows: its slices compose to
        # exactly 0 and still get gradients through the core and U, V
        layers, _, per_layer = self.geometry(kinds)
        rows = out[DEPTH].view(layers, per_layer, -1)
        start = 0
        for kind in kinds:
            count = kind.unit[0] * kind.unit[1]
            if kind.init == "zeros":
                rows[:, start:start + count] = 0.0
            start += count
        return out

    def _ramp_start(self, kinds: list[Kind], generator: torch.Generator) -> Tensor:
        """``X[l, s] = A_s + l/(L-1) B_s`` with the ``2S`` directions ``A_s, B_s`` orthonormal when ``r1 >= 2S``
        (rows of unit norm on average otherwise): TLEG's learngene's start, ``W_l = T_base + t_l T_growth`` with
        independent slices, in a bank whose lifts still serve other widths. Layer 0 has the learned start's row
        norm, the last layer twice its square, as TLEG's last layer has twice its template's variance."""
        layers, _, per_layer = self.geometry(kinds)
        directions = _orthogonal(2 * per_layer, self.config.ranks[0], generator).view(per_layer, 2, -1)
        t = torch.linspace(0, 1, layers) if layers > 1 else torch.zeros(1)
        rows = directions[None, :, 0] + t[:, None, None] * directions[None, :, 1]  # (L, S, r1)
        return rows.reshape(layers * per_layer, -1)

    @torch.no_grad()
    def after_step(self, scalers: dict[str, Tensor], kinds: list[Kind]) -> None:
        """Puts a ramp bank's depth scalers back on their line over depth after an optimizer step; else nothing."""
        if self.config.scalers == "ramp":
            depth = scalers[DEPTH]
            depth.copy_(project_to_line(depth.view(kinds[0].layers, -1)).view_as(depth))

    def seed_scalers(self, source: dict[str, Tensor], kinds: list[Kind],
                     generator: torch.Generator) -> dict[str, Tensor]:
        """A new size from a pre-trained one: ``X``'s leading layers for a shallower size, interpolated over
        depth (``l/(L-1)``) per slice for a deeper one; ``U``/``V`` sliced to a narrower width or extended to a
        wider one."""
        layers, width, per_layer = self.geometry(kinds)
        depth = source[DEPTH]
        src_layers = len(depth) // per_layer
        if src_layers * per_layer != len(depth):
            raise SizelessError(f"the bank's depth scaler has {len(depth)} rows, not a multiple of {per_layer} "
                                "slices per layer: it was pre-trained at another MLP ratio")
        grid = leading_layers(depth.view(src_layers, -1), layers).T.unsqueeze(0).to(torch.float64)  # (1, S*r1, L)
        depth = F.interpolate(grid, size=layers, mode="linear", align_corners=True)[0].T.reshape(-1, depth.shape[1])
        return {
            DEPTH: depth.to(source[DEPTH].dtype).contiguous(),
            ROWS: slice_or_extend(source[ROWS], width, generator),
            COLS: slice_or_extend(source[COLS], width, generator),
        }

    def seed_free(self, stack: Tensor, source: Kind, target: Kind, generator: torch.Generator) -> Tensor:
        """A free parameter at another size: its leading layers (shallower) or interpolated over depth (deeper),
        each width block sliced or extended with the family's init (new features start as a random init would)."""
        (a, b), (m1, m2), (t1, t2) = source.unit, source.factors, target.factors
        blocks = leading_layers(stack.reshape(source.layers, a, m1, b, m2), target.layers)
        if len(blocks) != target.layers:
            flat = blocks.reshape(source.layers, -1).T.unsqueeze(0).to(torch.float64)
            flat = F.interpolate(flat, size=target.layers, mode="linear", align_corners=True)[0].T
            blocks = flat.to(stack.dtype).reshape(target.layers, a, m1, b, m2)
        blocks = blocks[:, :, :t1, :, :t2]
        if (t1, t2) != tuple(blocks.shape[2:5:2]):
            fresh = _fresh(target, generator, stack.dtype).reshape(target.layers, a, t1, b, t2)
            fresh[:, :, :blocks.shape[2], :, :blocks.shape[4]] = blocks
            blocks = fresh
        return blocks.reshape(target.layers, *target.shape).contiguous()

    # -- composition -------------------------------------------------------------------------------
    def compose(self, templates: dict[str, Tensor], scalers: dict[str, Tensor], kinds: list[Kind]) -> dict[str, Tensor]:
        """Every block matrix of a size from one Tucker product, cut back into the family's kinds."""
        layers, width, _ = self.geometry(kinds)
        slices = tucker_product(templates[CORE], scalers[DEPTH], scalers[ROWS], scalers[COLS])
        slices = slices.view(layers, -1, width, width)
        out, start = {}, 0
        for kind in kinds:
            a, b = kind.unit
            block = slices[:, start:start + a * b].reshape(layers, a, b, width, width)
            out[kind.name] = block.permute(0, 1, 3, 2, 4).reshape(layers, a * width, b * width)
            start += a * b
        return out

    grows_deterministically = False  # a wider size draws new rows: size sampling runs at the bank's width or below

    def resize_features(self, weight: Tensor, width: int, dim: int = 1, fan_in: bool = True) -> Tensor:
        """A task-specific tensor's ``dim`` (a classifier's input columns; a policy's embedding outputs) at another
        width: the leading features, as for ``U``/``V``; the features of a wider size start at zero (unread
        inputs, silent outputs). ``fan_in`` is the Kronecker rule's; leading slices need no rescaling."""
        if width <= weight.shape[dim]:
            return weight.narrow(dim, 0, width)
        pad = list(weight.shape)
        pad[dim] = width - weight.shape[dim]
        return torch.cat([weight, weight.new_zeros(pad)], dim)


def _orthogonal(rows: int, cols: int, generator: torch.Generator) -> Tensor:
    """A semi-orthogonal ``rows x cols`` factor whose rows have unit norm on average."""
    return torch.nn.init.orthogonal_(torch.empty(rows, cols), gain=max(rows / cols, 1) ** 0.5, generator=generator)


def _fresh(kind: Kind, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
    shape = (kind.layers, *kind.shape)
    if kind.init == "zeros":
        return torch.zeros(shape, dtype=dtype)
    if kind.init == "ones":
        return torch.ones(shape, dtype=dtype)
    return torch.randn(shape, generator=generator, dtype=dtype) * float(kind.init)
