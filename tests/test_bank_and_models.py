import json
import shutil

import pytest
import timm
import torch

from sizeless.api import initialize, initialize_full
from sizeless.bank import TemplateBank
from sizeless.errors import SizelessError
from sizeless.initializers.base import default_fit_config
from sizeless.models import load_model, save_model


def test_bank_round_trip(bank_dir, tmp_path, digits):
    bank = TemplateBank.load(bank_dir)
    assert bank.config["family"] == "vit" and bank.config["sizes"] == ["32x2h1"]
    bank.save(tmp_path / "copy")
    again = TemplateBank.load(tmp_path / "copy")
    assert again.tensors.keys() == bank.tensors.keys()
    for key, value in bank.tensors.items():
        assert torch.equal(value, again.tensors[key])
    x = digits.normalize(digits.val.images[:4])
    a, b = bank.build_net("64x3", 10).eval(), again.build_net("64x3", 10).eval()
    torch.testing.assert_close(a(x), b(x))


def test_seeding_at_the_pretrained_size_reproduces_the_pretrained_weights(bank_dir):
    bank = TemplateBank.load(bank_dir)
    net = bank.build_net("32x2", 10)
    for name, scaler in net.scaler_tensors().items():
        torch.testing.assert_close(scaler, bank.tensors[f"scaler/32x2h1/{name}"])
    assert not any(p.requires_grad for p in net.templates.parameters())


def test_init_exports_a_timm_local_dir_model(bank_dir, tmp_path, digits):
    fit = default_fit_config()
    fit.steps, fit.batch_size = 3, 32
    result = initialize_full("64x3", digits, bank=bank_dir, fit=fit, out=tmp_path / "model")
    model = timm.create_model(f"local-dir:{tmp_path / 'model'}", pretrained=True).eval()
    x = digits.normalize(digits.val.images[:4])
    torch.testing.assert_close(model(x), result.model.eval()(x))  # the saved weights, as timm loads them
    keys = model.load_state_dict(result.model.state_dict(), strict=True)
    assert not keys.missing_keys and not keys.unexpected_keys
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["model_args"]["embed_dim"] == 64 and config["model_args"]["depth"] == 3
    assert config["sizeless"]["method"] == "templates" and "recommended" in config["sizeless"]


def test_init_rejects_widths_that_are_not_multiples(bank_dir, digits):
    with pytest.raises(SizelessError, match="valid widths: 16, 32, 48"):
        initialize("40x2h1", digits, bank=bank_dir)


def test_same_seed_same_weights(bank_dir, digits):
    fit = default_fit_config()
    fit.steps, fit.batch_size = 4, 32
    a = initialize("48x3", digits, bank=bank_dir, fit=fit, seed=3)
    b = initialize("48x3", digits, bank=bank_dir, fit=fit, seed=3)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_truncated_and_foreign_bank_files(bank_dir, tmp_path):
    broken = tmp_path / "truncated"
    shutil.copytree(bank_dir, broken)
    data = (broken / "templates.safetensors").read_bytes()
    (broken / "templates.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(SizelessError, match="truncated or not a safetensors file"):
        TemplateBank.load(broken)

    for field, value, message in (("family", "unet", "unknown family 'unet'"),
                                  ("constraint", "cp", "unknown constraint 'cp'"),
                                  ("constraint", "tucker", "bad tucker constraint settings"),
                                  ("format", "something-else", "not a sizeless template bank")):
        other = tmp_path / f"{field}-{value}"
        shutil.copytree(bank_dir, other)
        config = json.loads((other / "config.json").read_text())
        config[field] = value
        (other / "config.json").write_text(json.dumps(config))
        with pytest.raises(SizelessError, match=message):
            TemplateBank.load(other)

    mismatched = tmp_path / "mismatched"
    shutil.copytree(bank_dir, mismatched)
    config = json.loads((mismatched / "config.json").read_text())
    config["constraint_config"]["template_width"] = 8
    (mismatched / "config.json").write_text(json.dumps(config))
    with pytest.raises(SizelessError, match="do not match the bank's config"):
        TemplateBank.load(mismatched)

    with pytest.raises(SizelessError, match="does not exist"):
        TemplateBank.load(tmp_path / "nowhere")


def test_model_folder_errors(bank_dir, tmp_path, digits):
    from sizeless.families import ImageSpec, get_family

    fam = get_family("vit")
    size, image = fam.parse_size("32x2"), ImageSpec(8, 1, 2)
    model = fam.build(size, image, 10)
    arch, args = fam.model_args(size, image, 10)
    save_model(model, tmp_path / "m", arch, args, digits)
    loaded, _ = load_model(tmp_path / "m")
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(SizelessError, match="truncated"):
        load_model(tmp_path / "m")
    with pytest.raises(SizelessError, match="is a template bank, not a model"):
        load_model(bank_dir)
    with pytest.raises(SizelessError, match="is a model folder, not a template bank"):
        save_model(model, tmp_path / "m2", arch, args, digits)
        TemplateBank.load(tmp_path / "m2")
