"""The DiT family: diffusers' ``DiTTransformer2DModel`` (adaLN-Zero, class-conditional), in pixel space.

The plain model is diffusers' own class, so an exported model is a ``save_pretrained`` folder that
``DiTTransformer2DModel.from_pretrained(DIR)`` loads. What is templated per block: the attention
projections (q, k, v, out), the MLP and the adaLN modulation matrix (``6D x D``). diffusers gives
every block its own timestep/label embedding (the original DiT has one); ``embeddings`` decides what
a templated model does with them: ``free`` (per block, plain parameters that new sizes seed by
resizing; the default, best at new sizes in benchmarks/dit-embeddings), ``templated`` (per block,
composed like the rest) or ``shared`` (one embedder for all blocks, as in the original DiT). The
label tables are the task-specific part (like a classifier's head): a bank, a weight-selection teacher
and direct pre-training hand theirs on to a target of the same classes (a deeper target's blocks take the
nearest block's), and every method starts other classes with new ones. diffusers is imported on first use
(it takes seconds).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..errors import SizelessError, UnsupportedSize
from ..files import load_tensors, read_json, write_json
from ..sizes import ViTSize
from .base import ImageSpec, Kind
from .vit import check_width

ARCHITECTURE = "DiTTransformer2DModel"
TIME_FEATURES = 256  # diffusers' sinusoidal timestep features (Timesteps(num_channels=256)) feed the embedder
EMBEDDINGS = ("shared", "templated", "free")
TIME_EMBEDDER = "norm1.emb.timestep_embedder"


def xavier_std(rows: int, cols: int) -> float:
    """The std of ``xavier_uniform_`` (DiT's init for every linear layer)."""
    return math.sqrt(2.0 / (rows + cols))


class DiTFamily:
    name, title = "dit", "DiT"
    task = "unconditional-image-generation"  # the Hub's closest pipeline tag; these models are class-conditional
    model_format = "diffusers"
    objectives = ("diffusion",)
    custom_architectures = ()
    default_depths = range(2, 25)
    example_noun = "image"
    block_prefix = "transformer_blocks."  # each block holds its own label table: a task part inside the blocks
    # weight selection keeps the same channels in each of the adaLN chunks (shift, scale, gate x 2; final shift/scale)
    selection_groups: ClassVar[dict] = {"norm1.linear.weight": (0, 6), "norm1.linear.bias": (0, 6),
                                        "proj_out_1.weight": (0, 2), "proj_out_1.bias": (0, 2)}

    # per-block embedders as free parameters: the best of the three at a new size (benchmarks/dit-embeddings)
    def __init__(self, embeddings: str = "free"):
        if embeddings not in EMBEDDINGS:
            raise SizelessError(f"DiT embeddings must be one of {', '.join(EMBEDDINGS)}, not {embeddings!r}")
        self.embeddings = embeddings

    @property
    def config(self) -> dict:
        """Family options stored in a bank: they decide which parameters the constraint composes."""
        return {"embeddings": self.embeddings}

    def configured(self, embeddings: str = "free") -> DiTFamily:
        return DiTFamily(embeddings)

    # -- sizes and plain models -------------------------------------------------------------------
    def parse_size(self, spec: str | ViTSize) -> ViTSize:
        size = ViTSize.parse(spec)
        if size.mlp_ratio != 4.0:
            raise SizelessError(f"bad DiT size {size.key}: diffusers' DiTTransformer2DModel fixes the MLP ratio at 4; "
                                "spell DiT sizes WIDTHxDEPTH[hHEADS]")
        return size

    def default_patch_size(self, img_size: int) -> int:
        """As for the ViT: 8x8 tokens for natural images (4 px patches at 32x32), 2 px patches below 16 px."""
        return 2 if img_size < 16 else max(1, img_size // 8)

    def model_args(self, size: ViTSize, image: ImageSpec, num_classes: int) -> tuple[str, dict]:
        """diffusers' constructor arguments: epsilon prediction only (no learned variance), pixel space."""
        return ARCHITECTURE, dict(
            num_attention_heads=size.heads, attention_head_dim=size.width // size.heads, in_channels=image.in_chans,
            out_channels=image.in_chans, num_layers=size.depth, sample_size=image.img_size,
            patch_size=image.patch_size, num_embeds_ada_norm=num_classes)

    def build(self, size: ViTSize, image: ImageSpec, num_classes: int) -> nn.Module:
        from diffusers import DiTTransformer2DModel

        if image.img_size % image.patch_size:
            raise SizelessError(f"patch size {image.patch_size} does not divide image size {image.img_size}; pick "
                                "--patch-size among the divisors of the image size")
        values = image.in_chans * image.patch_size**2
        if size.width < values:
            # the output layer maps a width-D token to the patch's noise: a prediction confined to D of its dimensions
            raise UnsupportedSize(f"DiT width {size.width} is below the {values} values of a {image.patch_size}x"
                                  f"{image.patch_size} patch of {image.in_chans} channels, so it can predict only "
                                  f"{size.width} of them (the loss stays above {1 - size.width / values:.2f}); use a "
                                  f"width of at least {values} or a smaller --patch-size")
        _, args = self.model_args(size, image, num_classes)
        model = DiTTransformer2DModel(**args)
        dit_init(model, shared=self.embeddings == "shared")
        prepare(model)
        return model

    def tie_weights(self, model: nn.Module) -> None:
        """A templated model's blocks share one embedder module (``shared``); exported models are untied copies."""
        if self.embeddings == "shared":
            for block in model.transformer_blocks[1:]:
                block.norm1.emb = model.transformer_blocks[0].norm1.emb

    # -- the task-specific part: the label table --------------------------------------------------
    def num_classes(self, model: nn.Module) -> int:
        return int(model.config.num_embeds_ada_norm)

    def reset_classes(self, model: nn.Module, num_classes: int) -> None:
        """New label tables (``num_classes`` + the null label of classifier-free guidance), the same in every block."""
        width = model.inner_dim
        table = nn.Embedding(num_classes + 1, width)
        nn.init.normal_(table.weight, std=0.02)
        for block in model.transformer_blocks:
            labels = block.norm1.emb.class_embedder
            labels.embedding_table = nn.Embedding(num_classes + 1, width)
            labels.embedding_table.weight.data.copy_(table.weight.data)
            labels.num_classes = num_classes
        model.register_to_config(num_embeds_ada_norm=num_classes)

    def task_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        tables = [b.norm1.emb.class_embedder.embedding_table.weight for b in model.transformer_blocks]
        return list({id(t): t for t in tables}.values())  # one table when the blocks share their embedder

    def task_feature_dim(self, name: str, param: nn.Parameter) -> tuple[int, bool]:
        """A label table writes the width (its columns): size sampling resizes it as an output, not rescaled."""
        return 1, False

    def example(self, image: ImageSpec, batch: int = 1) -> dict:
        """One forward's keyword inputs (MACs and latency): noisy images, a timestep and a label per image."""
        images = torch.randn(batch, image.in_chans, image.img_size, image.img_size,
                             generator=torch.Generator().manual_seed(0))
        zeros = torch.zeros(batch, dtype=torch.long)
        return {"hidden_states": images, "timestep": zeros, "class_labels": zeros}

    def attention(self, model: nn.Module) -> list[tuple[Tensor, Tensor, Tensor, Tensor, int]]:
        """Every block's ``(W_q, W_k, W_v, W_out, heads)`` (mimetic init writes them)."""
        return [(b.attn1.to_q.weight, b.attn1.to_k.weight, b.attn1.to_v.weight, b.attn1.to_out[0].weight, b.attn1.heads)
                for b in model.transformer_blocks]

    def adapt_to_image(self, kind_name: str, tensor: Tensor, old: ImageSpec, new: ImageSpec) -> Tensor:
        """diffusers computes DiT's sin-cos position table from the input size: nothing learned to adapt."""
        return tensor

    # -- what is templated --------------------------------------------------------------------------
    def kinds(self, size: ViTSize, image: ImageSpec, template_width: int, template_mlp_ratio: float) -> list[Kind]:
        w, width, depth = template_width, size.width, size.depth
        check_width(width, w)
        hidden, hidden_t = size.mlp_hidden, int(w * template_mlp_ratio)
        if hidden % hidden_t:
            raise UnsupportedSize(f"DiT's MLP hidden size {hidden} (4 x {width}) is not a multiple of the template's "
                                  f"{hidden_t}; the bank's template MLP ratio must divide 4")
        pixels = image.in_chans * image.patch_size**2

        def kind(name: str, params, rows: tuple[int, int], cols: tuple[int, int], init, *, vector: bool,
                 fan_in: bool = True, param_shape=None, constrained: bool = True) -> Kind:
            shape, unit = (rows[0], cols[0]), (rows[1], cols[1])
            param_shape = param_shape or ((rows[0],) if cols == (1, 1) else shape)
            return Kind(name, tuple(params), param_shape, shape, unit, init, fan_in, vector, constrained=constrained)

        def block(leaf: str, rows, cols, init, *, vector=False, fan_in=True, shared=False, constrained=True) -> Kind:
            if shared:  # one module for every block: the first block's parameters
                return kind(f"transformer_blocks.0.{leaf}", [f"transformer_blocks.0.{leaf}"], rows, cols, init,
                            vector=vector, fan_in=fan_in, constrained=constrained)
            params = [f"transformer_blocks.{i}.{leaf}" for i in range(depth)]
            return kind(f"transformer_blocks.*.{leaf}", params, rows, cols, init, vector=vector, fan_in=fan_in,
                        constrained=constrained)

        def bias(leaf: str, rows, **where) -> Kind:
            return block(leaf, rows, (1, 1), "zeros", vector=True, fan_in=False, **where)

        d, m = (width, w), (hidden, hidden_t)
        kinds = []
        for proj in ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0"):
            kinds += [block(f"{proj}.weight", d, d, xavier_std(width, width)), bias(f"{proj}.bias", d)]
        kinds += [block("ff.net.0.proj.weight", m, d, xavier_std(hidden, width)), bias("ff.net.0.proj.bias", m),
                  block("ff.net.2.weight", d, m, xavier_std(width, hidden)), bias("ff.net.2.bias", d),
                  block("norm1.linear.weight", (6 * width, 6 * w), d, "zeros"),  # adaLN-Zero: blocks start as identity
                  bias("norm1.linear.bias", (6 * width, 6 * w))]
        # timestep embedder: linear_1 reads the 256 sinusoidal features (a matrix whose columns never scale:
        # composed by vector templates like a ViT's patch embedding), linear_2 is D x D like the block matrices
        where = {"shared": self.embeddings == "shared", "constrained": self.embeddings == "templated"}
        time = TIME_EMBEDDER
        kinds += [block(f"{time}.linear_1.weight", d, (TIME_FEATURES, TIME_FEATURES), 0.02, vector=True, **where),
                  bias(f"{time}.linear_1.bias", d, **where),
                  block(f"{time}.linear_2.weight", d, d, 0.02, **where), bias(f"{time}.linear_2.bias", d, **where)]
        patch = (image.in_chans, image.patch_size, image.patch_size)
        kinds += [
            kind("pos_embed.proj.weight", ["pos_embed.proj.weight"], d, (pixels, pixels), xavier_std(width, pixels),
                 vector=True, param_shape=(width, *patch)),
            kind("pos_embed.proj.bias", ["pos_embed.proj.bias"], d, (1, 1), "zeros", vector=True, fan_in=False),
            kind("proj_out_1.weight", ["proj_out_1.weight"], (2 * width, 2 * w), d, "zeros", vector=True),
            kind("proj_out_1.bias", ["proj_out_1.bias"], (2 * width, 2 * w), (1, 1), "zeros", vector=True,
                 fan_in=False),
            kind("proj_out_2.weight", ["proj_out_2.weight"], (pixels, pixels), d, "zeros", vector=True),
            kind("proj_out_2.bias", ["proj_out_2.bias"], (pixels, pixels), (1, 1), "zeros", vector=True, fan_in=False),
        ]
        return kinds


@torch.no_grad()
def dit_init(model: nn.Module, shared: bool) -> None:
    """DiT's own initialization (Peebles & Xie): xavier linears, N(0, 0.02) embeddings, zero adaLN and output.

    diffusers' class leaves PyTorch's defaults; adaLN-Zero needs the zeros (every block starts as the
    identity). ``shared``: every block's embedder starts as a copy of the first (the original DiT has one).
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    patch = model.pos_embed.proj
    nn.init.xavier_uniform_(patch.weight.view(patch.weight.shape[0], -1))
    nn.init.zeros_(patch.bias)
    for block in model.transformer_blocks:
        emb = block.norm1.emb
        nn.init.normal_(emb.class_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(emb.timestep_embedder.linear_1.weight, std=0.02)
        nn.init.normal_(emb.timestep_embedder.linear_2.weight, std=0.02)
        nn.init.zeros_(block.norm1.linear.weight)
        nn.init.zeros_(block.norm1.linear.bias)
    for layer in (model.proj_out_1, model.proj_out_2):
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)
    if shared:
        first = model.transformer_blocks[0].norm1.emb.state_dict()
        for block in model.transformer_blocks[1:]:
            block.norm1.emb.load_state_dict(first)


def prepare(model: nn.Module) -> nn.Module:
    """Turn off diffusers' own label dropout: it draws once per block (every block would drop other labels);
    the diffusion objective drops each sample's label once, to the null label, for classifier-free guidance."""
    for block in model.transformer_blocks:
        block.norm1.emb.class_embedder.dropout_prob = 0.0
    return model


WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"  # diffusers' name
SCHEDULER_FILE = "scheduler_config.json"
RECORD = "_sizeless"  # sizeless's record inside diffusers' config.json (diffusers ignores private keys)


class DiTFormat:
    """diffusers' ``save_pretrained`` layout plus the noise schedule and a model card, in one folder.

    ``DiTTransformer2DModel.from_pretrained(DIR)`` and ``DDPMScheduler.from_pretrained(DIR)`` both load it;
    sizeless's own record (family, size, provenance, normalization, label names, schedule) sits in
    config.json under ``_sizeless``. Files are written to a temporary folder and renamed into place.
    """

    name = "diffusers"
    writes_card = True  # its README (how to load and sample, the null label) is written with the weights

    def owns(self, path: Path, config: dict) -> bool:
        return config.get("_class_name") == ARCHITECTURE

    def load_lines(self, path: Path, config: dict) -> list[str]:
        return ["from diffusers import DiTTransformer2DModel",
                f'model = DiTTransformer2DModel.from_pretrained("{path}")']

    def save(self, model: nn.Module, path: Path, architecture: str, model_args: dict, data, sizeless: dict) -> None:
        from ..diffusion import DiffusionConfig

        record = dict(sizeless)
        if data is not None:
            record.update(mean=list(data.mean[:data.in_chans]), std=list(data.std[:data.in_chans]),
                          label_names=list(data.class_names), data=data.name)
        diffusion = DiffusionConfig(**record.get("diffusion", {}))
        record["diffusion"] = diffusion.to_dict()
        staging = Path(tempfile.mkdtemp(prefix=".save-", dir=path))
        try:
            model.save_pretrained(staging, safe_serialization=True)
            config = read_json(staging / "config.json", "diffusers config")
            write_json(staging / "config.json", {**config, RECORD: record})
            diffusion.scheduler().save_pretrained(staging)
            (staging / "README.md").write_text(model_card(config, record))
            for name in (WEIGHTS_FILE, SCHEDULER_FILE, "README.md", "config.json"):  # config last: it makes a model
                os.replace(staging / name, path / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def load(self, path: Path, config: dict) -> tuple[nn.Module, dict]:
        from diffusers import DiTTransformer2DModel

        load_tensors(path / WEIGHTS_FILE, "model weights")  # a clear error for truncated or foreign files
        try:
            model = DiTTransformer2DModel.from_pretrained(path, low_cpu_mem_usage=False)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
            raise SizelessError(f"diffusers could not build {path} from its config.json and weights: "
                                f"{str(err).splitlines()[0]}") from None
        record = config.get(RECORD, {})
        args = {k: v for k, v in model.config.items() if not k.startswith("_")}
        return prepare(model), {"architecture": ARCHITECTURE, "model_args": args, "sizeless": record,
                                "label_names": record.get("label_names", [])}

    def record(self, config: dict) -> dict:
        return config.get(RECORD, {})


def model_card(config: dict, record: dict) -> str:
    """A short README for the folder: what it is, how it was made, how to load and sample from it."""
    width = config["num_attention_heads"] * config["attention_head_dim"]
    made = record.get("method", "training")
    size = record.get("size") or f"{width}x{config['num_layers']}"
    lines = [
        "---", "library_name: diffusers", "tags: [dit, class-conditional, sizeless]", "---", "",
        f"# DiT {size} (pixel space, {config['sample_size']}px, "
        f"{config['in_channels']} channels)", "",
        f"A class-conditional diffusion transformer (diffusers `DiTTransformer2DModel`, adaLN-Zero, epsilon "
        f"prediction, {config['num_embeds_ada_norm']} classes + a null label for classifier-free guidance), "
        f"made by sizeless ({made}; data: {record.get('data', 'unknown')}).", "",
        "```python", "from diffusers import DDIMScheduler, DiTTransformer2DModel",
        'model = DiTTransformer2DModel.from_pretrained("THIS_FOLDER")',
        'scheduler = DDIMScheduler.from_pretrained("THIS_FOLDER")  # the training schedule, scheduler_config.json',
        "```", "",
        f"Pixels are normalized with mean {record.get('mean')} and std {record.get('std')}; label "
        f"{config['num_embeds_ada_norm']} is the null label. Sample with "
        "`sizeless sample --model THIS_FOLDER --num-images 16 --out samples`.", "",
    ]
    return "\n".join(lines)
