"""Template init (ours) and TLEG's linear expansion: both compose a new size from a bank.

Templates frozen; scalers seeded from the pre-training ones (leading layers or depth interpolation, width resize)
and fitted, with the free vectors and a fresh head, on a little data; then dense export.
Linear expansion is the same path with a learngene bank whose scalers are fixed.
"""

from __future__ import annotations

from dataclasses import replace

from ..data import ImageData
from ..errors import SizelessError, UnsupportedSize
from ..families import TRANSFORMERS
from ..norm_stats import has_batchnorm, reestimate_batchnorm
from ..objectives import default_objective
from ..training import fit
from .base import Initialized, InitOptions, recommended_finetune


def templates(size, data: ImageData, options: InitOptions) -> Initialized:
    bank = options.bank
    if bank is None:
        raise SizelessError("template init needs a template bank: pass --bank BANK")
    if bank.config["constraint_config"].get("scalers") == "linear":
        raise SizelessError("this bank is a linear-expansion learngene; use --method linear-expansion")
    return from_bank(size, data, options, "templates")


def linear_expansion(size, data: ImageData, options: InitOptions) -> Initialized:
    bank = options.bank
    family = bank.config["family"] if bank else options.family or "vit"
    if family not in TRANSFORMERS:
        raise UnsupportedSize(f"linear expansion (TLEG) grows a Transformer's depth from a learngene of blocks; "
                              f"n/a for {family}")
    if bank is None or bank.config["constraint_config"].get("scalers") != "linear":
        raise SizelessError(
            "linear-expansion needs a learngene bank: sizeless pretrain --num-templates 2 --linear-scalers "
            "--template-width WIDTH --size WIDTHxDEPTH ..."
        )
    return from_bank(size, data, options, "linear-expansion")


def target_image(bank, data: ImageData):
    """The bank's image geometry at the data's resolution (position embeddings are resampled)."""
    if data.in_chans != bank.image.in_chans or data.img_size % bank.image.patch_size:
        raise SizelessError(
            f"the bank was pre-trained on {bank.image.in_chans}-channel images with {bank.image.patch_size}px patches; "
            f"{data.name} gives {data.in_chans}-channel {data.img_size}x{data.img_size} images (use --image-size to "
            f"pick a multiple of {bank.image.patch_size})"
        )
    return replace(bank.image, img_size=data.img_size)


def target_spec(bank, data: ImageData):
    """What a model from ``bank`` for ``data`` is built for: the bank's image geometry at the data's resolution,
    or for a family with its own input (a policy's task) the data's."""
    custom = getattr(bank.family, "input_spec", None)
    return custom(data) if custom is not None else target_image(bank, data)


def from_bank(size, data: ImageData, options: InitOptions, method: str) -> Initialized:
    bank = options.bank
    family = bank.family
    image = target_spec(bank, data)
    size = family.parse_size(size)
    net = bank.build_net(size, data.num_classes, seed=options.seed, image=image, labels=data.labels)
    trainable = [p for p in net.parameters() if p.requires_grad]  # scalers, free vectors, new head
    history = []
    if options.fit.steps:
        # re-running an init into the same folder continues (or reuses) its fit instead of refusing
        objective = default_objective(family, data, options.fit, bank.config)  # the family's loss (diffusion: DiT)
        result = fit(net, data, options.fit, objective=objective, params=trainable, out_dir=options.log_dir,
                     resume=True, desc=f"fit {method} {size.key}")
        history = result.history
    model = net.export().cpu()
    if has_batchnorm(model):  # composed weights need their own statistics (the fit's were gathered mid-way)
        reestimate_batchnorm(model, data, batch_size=options.fit.batch_size, seed=options.seed)
    arch, args = family.model_args(size, image, data.num_classes)
    seeded_from = bank.nearest_size(size)
    meta = {
        "method": method,
        "family": family.name,
        "size": size.key,
        "bank_sizes": bank.config["sizes"],
        "bank": bank.summary(),
        "fit": {"data": data.name, "images": len(data.train), "steps": options.fit.steps or 0,
                "batch_size": options.fit.batch_size, "lr": options.fit.lr},
        "seeded_from": seeded_from,
        "head": "the bank's" if bank.carries_task_parts(data.labels, image) else "new",
        "fit_steps": options.fit.steps or 0,
        "fit_val_acc": history[-1].get("val_acc") if history else None,
        "fit_val_loss": history[-1].get("val_loss") if history else None,
        "scaler_params": sum(p.numel() for p in net.scalers.parameters()),
        "family_config": bank.config.get("family_config") or {},
        "recommended": recommended_finetune(family, size.width < family.parse_size(seeded_from).width, bank.labels,
                                            data.labels),
    }
    if bank.config.get("diffusion"):  # a generator keeps its noise schedule
        meta["diffusion"] = bank.config["diffusion"]
    return Initialized(model, arch, args, meta)
