"""Template banks: ``config.json`` + ``templates.safetensors`` (DESIGN 4), validated on load."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from . import __version__
from .constraints import build_constraint
from .data import label_space
from .errors import SizelessError, UnsupportedSize
from .families import (
    ImageSpec,
    Kind,
    carries_task_parts,
    get_family,
    input_key,
    nearest_block,
    task_feature_dim,
    task_parameters,
)
from .files import load_tensors, read_json, save_tensors, write_json
from .templated import TemplateNet
from .training import TrainConfig

FORMAT = "sizeless-bank"
FORMAT_VERSION = 1
CONFIG_FILE, TENSOR_FILE = "config.json", "templates.safetensors"
MODEL_WEIGHTS = ("model.safetensors", "diffusion_pytorch_model.safetensors")  # timm's and diffusers' model folders


@dataclass
class TemplateBank:
    """Templates plus the pre-training scalers and free vectors that seed new sizes."""

    config: dict
    tensors: dict[str, Tensor]
    path: Path | None = None  # where it was loaded from (recorded in the models it initializes)

    # -- what the bank describes ------------------------------------------------------------------
    @property
    def family(self):
        return get_family(self.config["family"], self.config.get("family_config"))

    @property
    def constraint(self):
        return build_constraint(self.config["constraint"], self.config["constraint_config"])

    @property
    def image(self):
        """The input geometry the bank was built for: an ``ImageSpec``, or the family's own spec (``input_spec``)."""
        family = self.family
        return getattr(family, "input_type", ImageSpec)(**self.config[input_key(family)])

    @property
    def sizes(self) -> list:
        return [self.family.parse_size(s) for s in self.config["sizes"]]

    @property
    def train_config(self) -> TrainConfig:
        """The pre-training budget, e.g. for direct pre-training "with the same budget"."""
        return TrainConfig(**self.config["train"])

    @property
    def widest_size(self):
        """The pre-trained size that sets the shape of the sizes `sizeless sizes` lists (widest, then deepest)."""
        return max(self.sizes, key=lambda s: (s.width, s.depth))

    def summary(self) -> dict:
        """What a model initialized from this bank records about it (its card quotes this)."""
        keys = ("family", "constraint", "constraint_config", "objective", "data", "sizes", "steps", "train_flops",
                "template_params")
        return {"path": str(self.path) if self.path else None, **{k: self.config.get(k) for k in keys}}

    def check_serves(self, size, image: ImageSpec | None = None) -> list[Kind]:
        """The templated kinds of ``size``; raises UnsupportedSize unless the constraint composes them and the
        bank holds every template set they use."""
        templated = self.constraint.check_serves(self.kinds(size, image))
        for name in self.constraint.template_shapes(templated):
            if f"template/{name}" not in self.tensors:
                raise UnsupportedSize(
                    f"the bank has no template {name!r} for {size.key} (its sizes {self.config['sizes']} never "
                    "used it); pre-train the bank at a size with at least 2 blocks per stage"
                )
        return templated

    def kinds(self, size, image: ImageSpec | None = None) -> list[Kind]:
        """The family's kinds for ``size`` at the bank's template width (and input geometry by default)."""
        cfg = self.constraint.config
        return self.family.kinds(size, image or self.image, cfg.template_width, cfg.template_mlp_ratio)

    # -- building templated models ----------------------------------------------------------------
    @classmethod
    def from_net(cls, net: TemplateNet, meta: dict) -> TemplateBank:
        tensors = {f"template/{k}": v for k, v in net.template_tensors().items()}
        templated = {n for kinds in net.templated_kinds.values() for k in kinds for n in k.params}
        for key in net.sizes:
            tensors.update({f"scaler/{key}/{k}": v for k, v in net.scaler_tensors(key).items()})
            model = net.model(key)
            # the task-specific part (a classifier's head, a policy's embeddings and heads): reused only for a
            # target it serves (carries_task_parts)
            head = {id(p) for p in task_parameters(net.family, model)}
            free = {n: p for n, p in model.named_parameters() if n not in templated and id(p) not in head}
            tensors.update({f"free/{key}/{n}": p for n, p in free.items()})
            tensors.update({f"head/{key}/{n}": p for n, p in model.named_parameters() if id(p) in head})
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "library_version": __version__,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "family": net.family.name,
            "family_config": getattr(net.family, "config", {}),
            "constraint": net.constraint.name,
            "constraint_config": net.constraint.config.to_dict(),
            input_key(net.family): vars(net.image),
            "sizes": list(net.sizes),
            "num_classes": net.num_classes,
            **meta,
        }
        return cls(config, {k: v.detach().cpu().clone() for k, v in tensors.items()})

    def nearest_size(self, size) -> str:
        """The pre-trained size to seed from: closest width, then closest depth."""
        return min(self.sizes, key=lambda s: (abs(s.width - size.width), abs(s.depth - size.depth))).key

    @property
    def labels(self) -> tuple:
        """The label space the bank's heads predict (see :func:`sizeless.data.label_space`)."""
        return label_space(self.config["num_classes"], self.config.get("class_names"), self.config.get("data", ""))

    def carries_task_parts(self, labels: tuple | None, image=None) -> bool:
        """Whether a target of ``labels`` (its label space) and input ``image`` (default: the bank's) gets the bank's
        task-specific part (else a new one): the family's carry rule, for a bank that stored one (DiT banks made
        before label tables carried stored none)."""
        return (labels is not None and any(k.startswith("head/") for k in self.tensors)
                and carries_task_parts(self.family, self.labels, labels, self.image, image or self.image))

    def build_net(self, size, num_classes: int, seed: int = 0, image: ImageSpec | None = None,
                  labels: tuple | None = None) -> TemplateNet:
        """A templated model of a new size: frozen templates, seeded scalers and free vectors, and a head.

        ``image`` moves it to another input resolution or patch size (same channels): the family
        adapts resolution-dependent kinds such as position and patch embeddings. The task-specific part is the
        bank's, resized to the new width, when it serves ``labels`` (the target's label space); else new.
        """
        size = self.family.parse_size(size)
        image = image or self.image
        if isinstance(image, ImageSpec) and image.in_chans != self.image.in_chans:
            raise SizelessError(
                f"the bank was pre-trained on {self.image.in_chans}-channel inputs; {image.in_chans}-channel "
                "targets cannot use it"
            )
        if (isinstance(image, ImageSpec) and image.patch_size != self.image.patch_size
                and not hasattr(self.family, "adapt_model")):
            raise SizelessError(
                f"the bank was pre-trained with patch size {self.image.patch_size}; a {self.family.name} target "
                "needs the same patch size"
            )
        family = self.family
        self.check_serves(size, image)
        net = TemplateNet(family, self.constraint, [size], image, num_classes, seed=seed)
        source = self.nearest_size(size)
        source_size = family.parse_size(source)
        pretrained_kinds = {k.name: k for k in self.kinds(source_size)}
        source_kinds = {k.name: k for k in self.kinds(source_size, image)}
        generator = torch.Generator().manual_seed(seed)  # constraints that extend a width draw the new part
        with torch.no_grad():
            for name, param in net.template_tensors().items():
                param.copy_(family.adapt_to_image(name, self.tensors[f"template/{name}"], self.image, image))
            kinds = net.templated_kinds[size.key]
            names = [k for k in net.scaler_names[size.key] if f"scaler/{source}/{k}" in self.tensors]
            seeded = net.constraint.seed_scalers({k: self.tensors[f"scaler/{source}/{k}"] for k in names}, kinds,
                                                 generator)
            scalers = net.scaler_tensors()
            for name, value in seeded.items():  # a scaler the source size lacks keeps its fresh init
                scalers[name].copy_(value)
            model = net.model()
            if self.carries_task_parts(labels, image):
                head = {id(p) for p in task_parameters(family, model)}
                for name, param in model.named_parameters():  # a block deeper than the source's: the nearest one's
                    stored_name = nearest_block(family, name, size.depth, source_size.depth)
                    stored = self.tensors.get(f"head/{source}/{stored_name}")
                    if id(param) in head and stored is not None:
                        where = task_feature_dim(family, name, param)
                        param.copy_(net.constraint.resize_features(stored, param.shape[where[0]], *where) if where
                                    else stored)
            for kind in net.all_kinds[size.key]:
                if kind in kinds or kind.name not in pretrained_kinds:  # absent at the source: fresh init
                    continue
                old = pretrained_kinds[kind.name]
                stack = old.to_matrix(torch.stack([self.tensors[f"free/{source}/{p}"] for p in old.params]))
                stack = family.adapt_to_image(kind.name, stack, self.image, image)
                resized = net.constraint.seed_free(stack, source_kinds[kind.name], kind, generator)
                for layer, pname in enumerate(kind.params):
                    model.get_parameter(pname).copy_(kind.to_param(resized[layer]))
        net.freeze_templates()
        return net

    # -- files ------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_tensors(path / TENSOR_FILE, self.tensors, metadata={"format": FORMAT})
        write_json(path / CONFIG_FILE, self.config)

    @classmethod
    def load(cls, path: str | Path) -> TemplateBank:
        path = Path(path)
        if not path.is_dir():
            raise SizelessError(f"template bank {path} does not exist; create one with `sizeless pretrain --out`")
        if not (path / TENSOR_FILE).exists() and any((path / f).exists() for f in MODEL_WEIGHTS):
            raise SizelessError(f"{path} is a model folder, not a template bank; pass it as --model, a bank as --bank")
        config = read_json(path / CONFIG_FILE, "template bank config")
        if config.get("format") != FORMAT:
            found = config.get("format")
            raise SizelessError(f"{path / CONFIG_FILE} is not a sizeless template bank config (format {found!r})")
        version = config.get("format_version")
        if not isinstance(version, int):
            raise SizelessError(f"{path / CONFIG_FILE} has no valid format_version; the bank config is damaged")
        if version > FORMAT_VERSION:
            raise SizelessError(f"{path} was written by a newer sizeless (bank format {version}); upgrade sizeless")
        bank = cls(config, load_tensors(path / TENSOR_FILE, "template bank"), path)
        try:
            bank.validate(path)
        except (KeyError, TypeError, ValueError) as err:
            raise SizelessError(f"{path / CONFIG_FILE} is damaged ({type(err).__name__}: {err}); re-create the "
                                "bank") from None
        return bank

    def validate(self, path: str | Path = "bank") -> None:
        """The config agrees with itself, and every tensor it implies is present with the right shape."""
        constraint = self.constraint  # raises on an unknown constraint
        family = self.family  # raises on an unknown family
        for size in self.config["sizes"]:
            try:
                family.parse_size(size)
            except SizelessError:
                raise SizelessError(
                    f"{path}: the bank's config is inconsistent: family {family.name} but pre-trained size {size!r} "
                    f"is not a {getattr(family, 'title', family.name)} size; re-create the bank (or correct 'family' "
                    "in its config.json)"
                ) from None
        problems = []
        for size in self.sizes:
            kinds = self.kinds(size)
            templated = constraint.templated(kinds)
            expected = {f"template/{k}": shape for k, shape in constraint.template_shapes(templated).items()}
            scalers = constraint.scaler_shapes(templated)
            expected.update({f"scaler/{size.key}/{k}": shape for k, shape in scalers.items()})
            for kind in (k for k in kinds if k not in templated):
                expected.update({f"free/{size.key}/{p}": kind.param_shape for p in kind.params})
            for key, shape in expected.items():
                got = self.tensors.get(key)
                if got is None or tuple(got.shape) != tuple(shape):
                    problems.append(f"{key} {'missing' if got is None else tuple(got.shape)} (want {tuple(shape)})")
        if problems:
            raise SizelessError(
                f"{path}: the tensors do not match the bank's config "
                f"({self.config['family']}/{self.config['constraint']}): "
                f"{'; '.join(problems[:3])}{' ...' if len(problems) > 3 else ''}"
            )
