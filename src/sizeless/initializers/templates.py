"""Template init (ours): frozen templates, seeded scalers fitted on a little data, dense export."""

from __future__ import annotations

from ..data import ImageData
from ..errors import SizelessError
from ..training import fit
from .base import Initialized, InitOptions

# Fine-tuning after template init: a quarter of the random-init LR keeps the first epoch from
# knocking the initialization back down (DESIGN 2.4); the sweep is in benchmarks/NOTES.md.
RECOMMENDED_FINETUNE = {"lr": 2.5e-4, "warmup": 0.02}


def templates(size, data: ImageData, options: InitOptions) -> Initialized:
    bank = options.bank
    if bank is None:
        raise SizelessError("template init needs a template bank: pass --bank BANK")
    image = bank.image
    if (data.in_chans, data.img_size) != (image.in_chans, image.img_size):
        raise SizelessError(
            f"the bank was pre-trained on {image.in_chans}-channel {image.img_size}x{image.img_size} images, "
            f"{data.name} gives {data.in_chans}-channel {data.img_size}x{data.img_size}; "
            f"pass --image-size {image.img_size}"
        )
    family = bank.family
    size = family.parse_size(size)
    net = bank.build_net(size, data.num_classes, seed=options.seed)
    trainable = [p for p in net.parameters() if p.requires_grad]  # scalers, free vectors, new head
    history = []
    if options.fit.steps:
        # re-running an init into the same folder continues (or reuses) its fit instead of refusing
        result = fit(net, data, options.fit, params=trainable, out_dir=options.log_dir, resume=True,
                     desc=f"fit scalers {size.key}")
        history = result.history
    model = net.export().cpu()
    arch, args = family.model_args(size, image, data.num_classes)
    meta = {
        "method": "templates",
        "family": family.name,
        "size": size.key,
        "bank_sizes": bank.config["sizes"],
        "seeded_from": bank.nearest_size(size),
        "fit_steps": options.fit.steps or 0,
        "fit_val_acc": history[-1].get("val_acc") if history else None,
        "scaler_params": sum(p.numel() for p in net.scalers.parameters()),
        "recommended": dict(RECOMMENDED_FINETUNE),
    }
    return Initialized(model, arch, args, meta)
