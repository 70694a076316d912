"""Random init: timm's own default initialization (the baseline every method must beat)."""

from __future__ import annotations

from ..data import ImageData
from ..errors import SizelessError
from ..families import get_family
from ..rng import seeded
from .base import Initialized, InitOptions


def scratch(size, data: ImageData, options: InitOptions) -> Initialized:
    bank = options.bank
    family = get_family(bank.config["family"], bank.config.get("family_config")) if bank else \
        get_family(options.family or "vit")
    image = options.image or (options.bank.image if options.bank else None)
    if image is None:
        raise SizelessError("scratch init needs an input geometry (image size, channels, patch size)")
    size = family.parse_size(size)
    with seeded(options.seed):  # timm's init draws from the global generator
        model = family.build(size, image, data.num_classes)
    arch, args = family.model_args(size, image, data.num_classes)
    return Initialized(model, arch, args, {"method": "scratch", "family": family.name, "size": size.key})
