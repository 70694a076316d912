"""Exported model folders describe themselves: no field of a registry checkpoint leaks into them."""

import json
import re
from pathlib import Path

import pytest
import timm
import torch
from timm.models import get_pretrained_cfg

from sizeless.api import initialize_full, train
from sizeless.data import DataConfig, load_data
from sizeless.models import STRUCTURAL_CFG, hub_config, load_model
from sizeless.training import TrainConfig

OURS = {"input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std", "num_classes", "description"}
# (family, size, input side, stem reduction) -> the timm architecture it exports as
CASES = [("vit", "32x2", 8, None, "vit_tiny_patch16_224"), ("resnet", "8x1-1-1-1", 8, 1, "sizeless_resnet"),
         ("resnet", "8x1-1-1-1", 32, 4, "resnet18"), ("convnext", "8x1-1-1-1", 8, 1, "convnext_atto")]


@pytest.fixture(scope="module")
def data():
    return {side: load_data(DataConfig("digits", image_size=None if side == 8 else side, train_subset=64,
                                       val_subset=32)) for side in (8, 32)}


def registry_strings(architecture: str) -> set[str]:
    """Every tag, hub id, url, license and paper reference timm's registry holds for ``architecture``."""
    found = set()
    for name in timm.list_pretrained(f"{architecture}.*") or [architecture]:
        cfg = get_pretrained_cfg(name)
        tag = name.partition(".")[2]
        found |= {tag} if tag else set()
        for field in ("hf_hub_id", "url", "license", "origin_url", "paper_name", "paper_ids", "tag"):
            value = getattr(cfg, field, None) if cfg is not None else None
            found |= {value} if isinstance(value, str) and value else set()
    return found


def check_clean(config: dict, architecture: str, data) -> None:
    pretrained = config["pretrained_cfg"]
    assert set(pretrained) <= OURS | set(STRUCTURAL_CFG), set(pretrained) - OURS - set(STRUCTURAL_CFG)
    assert pretrained["input_size"] == [data.in_chans, data.img_size, data.img_size]
    assert pretrained["mean"] == list(data.mean) and pretrained["std"] == list(data.std)
    assert pretrained["num_classes"] == config["num_classes"] == data.num_classes
    assert (pretrained["crop_pct"], pretrained["interpolation"]) == (1.0, "bilinear")  # no ImageNet crop
    text = json.dumps(config)
    leaked = sorted(s for s in registry_strings(architecture) if s in text)
    assert not leaked, f"registry fields in the export: {leaked}"


@pytest.mark.parametrize(("family", "size", "side", "stem", "architecture"), CASES)
def test_exports_carry_no_registry_fields_and_load_strictly(tmp_path, data, family, size, side, stem, architecture):
    images = data[side]
    init = initialize_full(size, images, method="scratch", family=family, patch_size=stem, out=tmp_path / "m")
    assert init.architecture == architecture
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert registry_strings(architecture), "the check needs the registry's own fields to look for"
    check_clean(config, architecture, images)
    loaded = timm.create_model(f"local-dir:{tmp_path / 'm'}", pretrained=True).eval()
    keys = loaded.load_state_dict(init.model.state_dict(), strict=True)
    assert not keys.missing_keys and not keys.unexpected_keys
    x = images.normalize(images.val.images[:2])
    torch.testing.assert_close(loaded(x), init.model.eval()(x))
    assert set(loaded.pretrained_cfg["mean"]) == {0.5}  # timm reads the normalization back from our cfg


def test_a_model_with_a_registry_cfg_is_re_exported_clean(tmp_path, data):
    """An old export (or any folder) that names a registry tag: training it writes a clean config."""
    images = data[8]
    initialize_full("32x2", images, method="scratch", out=tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    foreign = get_pretrained_cfg("vit_tiny_patch16_224").to_dict()
    fields = ("tag", "hf_hub_id", "license", "crop_pct", "interpolation", "test_input_size", "origin_url", "paper_ids")
    config["pretrained_cfg"] |= {k: foreign[k] for k in fields if foreign.get(k)}
    assert config["pretrained_cfg"].get("tag") == "augreg_in21k_ft_in1k"  # the tag exports used to carry
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    train(tmp_path / "old", images, TrainConfig(steps=1, batch_size=32), out=tmp_path / "new")
    again = json.loads((tmp_path / "new" / "config.json").read_text())
    check_clean(again, "vit_tiny_patch16_224", images)
    assert "then trained" in again["pretrained_cfg"]["description"]


def test_without_data_the_models_own_geometry_is_written(data):
    images = data[8]
    init = initialize_full("8x1-1-1-1", images, method="scratch", family="convnext")
    config = hub_config(init.model, init.architecture, init.model_args)
    assert config["pretrained_cfg"]["input_size"] == [1, 8, 8] and config["pretrained_cfg"]["mean"] == [0.5]
    assert "label_names" not in config and "sizeless" in config


def test_load_model_reads_what_save_model_writes(tmp_path, data):
    images = data[8]
    initialize_full("32x2", images, method="scratch", out=tmp_path / "m")
    model, config = load_model(tmp_path / "m")
    assert config["model_args"]["embed_dim"] == 32 and tuple(model.pretrained_cfg["input_size"]) == (1, 8, 8)


def test_sizeless_uses_no_private_timm_module():
    """Private timm modules (``timm.models._hub`` and the like) change without notice between releases."""
    src = Path(__file__).resolve().parent.parent / "src" / "sizeless"
    private = re.compile(r"^\s*(from|import)\s+timm(\.\w+)*\._\w+", re.MULTILINE)
    found = [f"{path.relative_to(src)}: {hit.group(0).strip()}" for path in src.rglob("*.py")
             for hit in private.finditer(path.read_text())]
    assert not found, found
