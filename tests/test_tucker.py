"""Tucker constraint (SWEET): composition, slice layout, stochastic width, arbitrary-width init."""

import json

import pytest
import torch

from sizeless.api import image_spec, initialize_full, pretrain
from sizeless.bank import TemplateBank
from sizeless.constraints import build_constraint, tucker_product
from sizeless.data import load_data
from sizeless.errors import SizelessError, UnsupportedSize
from sizeless.families import ImageSpec, get_family
from sizeless.sampling import SizeSampling
from sizeless.templated import TemplateNet
from sizeless.training import TrainConfig

IMAGE = ImageSpec(8, 1, 2)
VIT = get_family("vit")


def mode_product(tensor: torch.Tensor, matrix: torch.Tensor, mode: int) -> torch.Tensor:
    """Textbook n-mode product via unfolding: (T x_n M) = fold(M @ unfold_n(T))."""
    moved = tensor.movedim(mode, 0)
    unfolded = moved.reshape(moved.shape[0], -1)
    return (matrix @ unfolded).reshape(matrix.shape[0], *moved.shape[1:]).movedim(0, mode)


def test_tucker_product_matches_mode_products():
    g = torch.Generator().manual_seed(0)
    core, x = torch.randn(3, 4, 5, generator=g), torch.randn(7, 3, generator=g)
    u, v = torch.randn(6, 4, generator=g), torch.randn(9, 5, generator=g)
    reference = mode_product(mode_product(mode_product(core, x, 0), u, 1), v, 2)
    torch.testing.assert_close(tucker_product(core, x, u, v), reference)


def test_slices_land_on_the_right_timm_parameters():
    """With X = I and U = V = I, slice s is core slice s: tag each with its index and look it up."""
    size = VIT.parse_size("8x2h2")
    con = build_constraint("tucker", {"ranks": [24, 8, 8]})
    kinds = con.templated(VIT.kinds(size, IMAGE, 1, 4.0))
    assert [k.name for k in kinds] == ["blocks.*.attn.qkv.weight", "blocks.*.attn.proj.weight",
                                       "blocks.*.mlp.fc1.weight", "blocks.*.mlp.fc2.weight"]
    core = torch.arange(1.0, 25.0).view(24, 1, 1).expand(24, 8, 8)
    scalers = {"X": torch.eye(24), "U": torch.eye(8), "V": torch.eye(8)}
    stacks = con.compose({"G": core}, scalers, kinds)
    for layer in range(2):
        tag = 12 * layer + torch.arange(1.0, 13.0)  # q, k, v, proj, fc1 x4, fc2 x4
        qkv, proj = stacks["blocks.*.attn.qkv.weight"][layer], stacks["blocks.*.attn.proj.weight"][layer]
        fc1, fc2 = stacks["blocks.*.mlp.fc1.weight"][layer], stacks["blocks.*.mlp.fc2.weight"][layer]
        assert [qkv[8 * i:8 * i + 8].unique().item() for i in range(3)] == tag[:3].tolist()
        assert proj.unique().item() == tag[3]
        assert [fc1[8 * i:8 * i + 8].unique().item() for i in range(4)] == tag[4:8].tolist()
        assert [fc2[:, 8 * i:8 * i + 8].unique().item() for i in range(4)] == tag[8:].tolist()


def test_narrow_width_equals_a_model_built_at_that_width():
    con = build_constraint("tucker", {"ranks": [12, 8, 8]})
    wide = TemplateNet(VIT, con, [VIT.parse_size("64x2")], IMAGE, 10, seed=1)
    narrow_size = VIT.parse_size("32x2")  # head dim 32 kept: 1 head
    narrow = TemplateNet(VIT, con, [narrow_size], IMAGE, 10, seed=2)
    with torch.no_grad():
        narrow.templates["G"].copy_(wide.templates["G"])
        for name, p in narrow.scaler_tensors().items():
            p.copy_(wide.scaler_tensors()[name][:32] if name != "X" else wide.scaler_tensors()[name])
        wide_kinds = {k.name: k for k in wide.all_kinds["64x2h2"]}
        wide_model = wide.model()
        for kind in narrow.all_kinds["32x2h1"]:
            if kind in narrow.templated_kinds["32x2h1"]:
                continue
            src = wide_kinds[kind.name]
            stack = torch.stack([wide_model.get_parameter(p) for p in src.params]).reshape(src.layers, *src.shape)
            blocks = stack.reshape(src.layers, *src.unit[:1], src.factors[0], src.unit[1], src.factors[1])
            sliced = blocks[:, :, :kind.factors[0], :, :kind.factors[1]].reshape(kind.layers, *kind.shape)
            for layer, name in enumerate(kind.params):
                narrow.model().get_parameter(name).copy_(sliced[layer].view(kind.param_shape))
        narrow.model().head.weight.copy_(wide_model.head.weight[:, :32])
        narrow.model().head.bias.copy_(wide_model.head.bias)
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(wide(x, width=32), narrow(x), rtol=1e-5, atol=1e-5)
    wide(x, width=32).sum().backward()  # the narrow run trains the wide model's shared tensors
    assert wide.templates["G"].grad is not None and wide.model().head.weight.grad[:, 32:].abs().sum() == 0


def test_width_sampling_draws_and_errors():
    uniform = SizeSampling.parse("32:96:32")
    assert uniform.widths == (32, 64, 96)
    sandwich = SizeSampling.parse("32,64,96", "sandwich")
    drawn = [sandwich.draw(step, torch.Generator().manual_seed(step))[0] for step in range(6)]
    assert drawn[0] == drawn[3] == 96 and drawn[1] == drawn[4] == 32
    for bad in ("32:16:8", "a,b"):
        with pytest.raises(SizelessError, match="bad width sampling"):
            SizeSampling.parse(bad)
    with pytest.raises(SizelessError, match="unknown width distribution"):
        SizeSampling.parse("32", "zipf")
    data = load_data("digits")
    config = TrainConfig(epochs=1, batch_size=64, seed=0)
    with pytest.raises(SizelessError, match="multiples of 32"):
        pretrain(data, ["64x1"], constraint="tucker", constraint_config={"ranks": [4, 4, 4]},
                 size_sampling=SizeSampling((48, 64)), config=config)
    with pytest.raises(SizelessError, match="widths up to 64"):  # Tucker would draw new rows at random
        pretrain(data, ["64x1"], constraint="tucker", constraint_config={"ranks": [4, 4, 4]},
                 size_sampling=SizeSampling((64, 96)), config=config)


def test_tucker_bank_serves_any_width_kronecker_refuses(tmp_path):
    data = load_data("digits")
    config = TrainConfig(epochs=2, batch_size=64, seed=0, lr=2e-3)
    bank = pretrain(data, ["64x2"], constraint="tucker", constraint_config={"ranks": [12, 16, 16]},
                    size_sampling=SizeSampling((32, 64), "sandwich"), config=config, out=tmp_path / "bank")
    assert set(bank.config["val_acc"]) == {"64x2h2", "64x2h2@32"}
    loaded = TemplateBank.load(tmp_path / "bank")
    for size in ("48x3h2", "80x1h2", "96x2h3"):  # narrower, between, wider than pre-training; any depth
        net = loaded.build_net(size, 10, seed=0)
        x = torch.randn(2, 1, 8, 8)
        torch.testing.assert_close(net(x), net.export()(x), rtol=1e-5, atol=1e-5)
    narrow = loaded.build_net("32x2h1", 10)
    assert torch.equal(narrow.scaler_tensors()["U"], loaded.tensors["scaler/64x2h2/U"][:32])

    fit = TrainConfig(steps=5, batch_size=64, lr=3e-3)
    result = initialize_full("80x3h2", data, bank=loaded, fit=fit, seed=0)
    assert result.meta["size"] == "80x3h2" and result.model.embed_dim == 80

    kron = pretrain(data, ["64x1"], constraint_config={"template_width": 32, "num_templates": 2},
                    config=TrainConfig(epochs=1, batch_size=64))
    with pytest.raises(UnsupportedSize, match="not a multiple of the template width 32"):
        initialize_full("80x1", data, bank=kron, fit=fit)

    with pytest.raises(SizelessError, match="heads do not divide width 80"):
        initialize_full("80x1h3", data, bank=loaded, fit=fit)
    with pytest.raises(UnsupportedSize, match="MLP ratio 4"):
        loaded.build_net("64x2m2", 10)


def test_tucker_cli_end_to_end(tmp_path, run_cli):
    bank = tmp_path / "bank"
    code, _, err = run_cli("pretrain", "--data", "digits", "--out", str(bank), "--size", "64x2", "--constraint",
                        "tucker", "--ranks", "12,16,16", "--width-sampling", "32:64:32", "--epochs", "1",
                        "--batch-size", "64")
    assert code == 0, err
    config = json.loads((bank / "config.json").read_text())
    assert config["constraint"] == "tucker" and config["size_sampling"]["widths"] == [32, 64]
    code, _, err = run_cli("init", "--data", "digits", "--bank", str(bank), "--size", "48x2h2", "--out",
                        str(tmp_path / "m"), "--fit-steps", "3")
    assert code == 0, err
    assert (tmp_path / "m" / "model.safetensors").exists()
    code, _, err = run_cli("pretrain", "--data", "digits", "--out", str(tmp_path / "b2"), "--size", "64x2",
                        "--constraint", "tucker", "--ranks", "12,x,16")
    assert code == 2 and "bad --ranks" in err


def test_image_spec_is_shared():
    assert image_spec(load_data("digits")) == IMAGE
