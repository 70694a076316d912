"""Tucker constraint (SWEET): composition, slice layout, stochastic width, arbitrary-width init."""

import json

import pytest
import torch

from sizeless.api import evaluate_model, image_spec, initialize_full, pretrain
from sizeless.bank import TemplateBank
from sizeless.constraints import TuckerConfig, build_constraint, tucker_product
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


def _random_tucker_bank(size: str = "64x2h2") -> TemplateBank:
    """A Tucker bank straight from a seeded TemplateNet: exact seeding needs no training."""
    con = build_constraint("tucker", {"ranks": [6, 8, 8]})
    net = TemplateNet(VIT, con, [VIT.parse_size(size)], IMAGE, 10, seed=3)
    bank = TemplateBank.from_net(net, {"train": {}})
    noise = torch.Generator().manual_seed(4)  # free vectors as a trained bank has them, not timm's constant init
    for name, tensor in bank.tensors.items():
        if name.startswith("free/"):
            tensor += torch.randn(tensor.shape, generator=noise) * 0.1
    return bank


def test_tucker_seeding_reproduces_the_bank_at_its_size():
    bank = _random_tucker_bank()
    net = bank.build_net("64x2h2", 10)
    for name in ("X", "U", "V"):
        assert torch.equal(net.scaler_tensors()[name], bank.tensors[f"scaler/64x2h2/{name}"]), name
    source = TemplateNet(VIT, bank.constraint, [VIT.parse_size("64x2h2")], IMAGE, 10, seed=3)
    for name, weight in source.composed().items():
        assert torch.equal(net.composed()[name], weight), name


def test_tucker_depth_seeding_interpolates_each_slice_between_layers():
    """X's rows are (layer, slice): a new depth mixes the same slice of the two nearest layers."""
    bank = _random_tucker_bank()
    x = bank.tensors["scaler/64x2h2/X"].view(2, 12, 6)  # 2 layers x 12 slices x rank 6
    for depth, positions in ((3, (0.0, 0.5, 1.0)), (5, (0.0, 0.25, 0.5, 0.75, 1.0))):
        seeded = bank.build_net(f"64x{depth}h2", 10).scaler_tensors()["X"].view(depth, 12, 6)
        for layer, t in enumerate(positions):  # computed in float64, rounded once: exact at quarter positions
            assert torch.equal(seeded[layer], ((1 - t) * x[0].double() + t * x[1].double()).float())
    shallower = bank.build_net("64x1h2", 10).scaler_tensors()["X"]
    torch.testing.assert_close(shallower, x[0])  # one layer: the first (l/(L-1) with L = 1 is 0)


def test_a_shallower_tucker_size_keeps_the_leading_layers():
    """Depth rows and free parameters of a shallower size are the source's first layers, not a blend."""
    con = build_constraint("tucker", {"ranks": [4, 4, 4]})
    deep, shallow = (VIT.kinds(VIT.parse_size(s), IMAGE, 1, 4.0) for s in ("32x4h1", "32x2h1"))
    source = con.init_scalers(con.templated(deep), torch.Generator().manual_seed(0))
    seeded = con.seed_scalers(source, con.templated(shallow), torch.Generator())
    rows = len(source["X"]) // 4
    assert torch.equal(seeded["X"], source["X"][:2 * rows])
    src, dst = ({k.name: k for k in kinds}["blocks.*.norm1.weight"] for kinds in (deep, shallow))
    stack = torch.randn(4, *src.shape)
    assert torch.equal(con.seed_free(stack, src, dst, torch.Generator()), stack[:2])


@pytest.mark.slow
def test_a_tucker_bank_keeps_its_accuracy_at_a_new_depth(digits, tucker_bank_dir):
    """One layer deeper than the bank, a short fit (new head, scalers) gets most of the bank's own accuracy
    back (measured: 38.7% against the bank's 47.1%; a transposed depth seeding gives 17-21%)."""
    bank = TemplateBank.load(tucker_bank_dir)
    fit = TrainConfig(steps=20, batch_size=64, lr=3e-3, warmup=0.1, weight_decay=0.0)
    deeper = evaluate_model(initialize_full("64x3h2", digits, bank=bank, fit=fit).model, digits)["acc"]
    assert deeper > 0.7 * bank.config["val_acc"]["64x2h2"], (deeper, bank.config["val_acc"])


def test_tucker_config_bounds_and_round_trip():
    config = TuckerConfig(ranks=[1, 1, 1], mlp_ratio=1)
    assert config.to_dict() == {"ranks": [1, 1, 1], "mlp_ratio": 1, "scalers": "learned"}
    assert (config.template_width, config.template_mlp_ratio) == (1, 1.0)
    assert TuckerConfig(**config.to_dict()).ranks == (1, 1, 1)
    whole = "Tucker slices the MLP into D x D blocks: its MLP ratio must be a whole number, not "
    for bad, message in (({"ranks": [1, 0, 1]}, "Tucker needs three positive ranks R1,R2,R3, not (1, 0, 1)"),
                         ({"ranks": [2, 2]}, "Tucker needs three positive ranks R1,R2,R3, not (2, 2)"),
                         ({"mlp_ratio": 2.5}, whole + "2.5"), ({"mlp_ratio": 0}, whole + "0"),
                         ({"scalers": "linear"}, "Tucker scalers must be 'learned' or 'ramp', not 'linear'")):
        with pytest.raises(SizelessError) as error:
            TuckerConfig(**bad)
        assert str(error.value) == message  # the whole line a user reads


def test_tucker_initial_factors_are_semi_orthogonal_with_variance_one_over_rank():
    con = build_constraint("tucker", {"ranks": [6, 8, 8]})
    kinds = con.templated(VIT.kinds(VIT.parse_size("64x2h2"), IMAGE, 1, 4.0))
    g = torch.Generator().manual_seed(0)
    scalers, core = con.init_scalers(kinds, g), con.init_templates(kinds, g)["G"]
    assert {k: tuple(v.shape) for k, v in scalers.items()} == {"X": (24, 6), "U": (64, 8), "V": (64, 8)}
    for factor in scalers.values():
        rows, rank = factor.shape
        torch.testing.assert_close(factor.T @ factor, torch.eye(rank) * rows / rank, rtol=0, atol=1e-4)
    assert core.shape == (6, 8, 8) and abs(core.std().item() - 0.02) < 0.003
    weights = con.compose({"G": core}, scalers, kinds)["blocks.*.attn.qkv.weight"]
    assert abs(weights.std().item() - 0.02) < 0.004  # timm's weight std
    wide = con.init_scalers(con.templated(VIT.kinds(VIT.parse_size("4x1h1"), IMAGE, 1, 4.0)), g)["U"]
    torch.testing.assert_close(wide @ wide.T, torch.eye(4), rtol=0, atol=1e-5)  # more ranks than rows: gain 1


def test_tucker_refuses_what_it_cannot_slice():
    con = build_constraint("tucker", {"ranks": [4, 4, 4]})
    cnn = get_family("convnext")
    kinds = con.templated(VIT.kinds(VIT.parse_size("32x2"), IMAGE, 1, 4.0))
    refusals = [
        (lambda: con.templated(cnn.kinds(cnn.parse_size("8x1-1-1-1"), IMAGE, 1, 4.0)),
         "the Tucker constraint composes a Transformer's square weight slices (vit); convolutions such as "
         "stem.0.weight need --constraint kronecker"),
        (lambda: con.templated(VIT.kinds(VIT.parse_size("32x2m2"), IMAGE, 1, 4.0)),
         "blocks.*.mlp.fc1.weight of shape (64, 32) is not a grid of 32x32 slices; a Tucker bank needs every "
         "size at MLP ratio 4 (spell sizes without an m suffix)"),
        (lambda: con.templated([k for k in VIT.kinds(VIT.parse_size("32x2"), IMAGE, 1, 4.0) if k.vector]),
         "the Tucker constraint needs a family with square weight slices (vit)"),
        (lambda: con.seed_scalers({"X": torch.zeros(25, 4), "U": torch.zeros(32, 4), "V": torch.zeros(32, 4)},
                                  kinds, torch.Generator()),
         "the bank's depth scaler has 25 rows, not a multiple of 12 slices per layer: it was pre-trained at "
         "another MLP ratio"),
    ]
    for i, (call, message) in enumerate(refusals):
        with pytest.raises(SizelessError) as error:
            call()
        assert str(error.value) == message  # the whole line a user reads
        assert isinstance(error.value, UnsupportedSize) == (i < 3)  # sizes a bench reports as n/a


def test_tucker_width_seeding_keeps_leading_rows_and_extends_with_their_spread():
    bank = _random_tucker_bank()
    source = {name: bank.tensors[f"scaler/64x2h2/{name}"] for name in "UV"}
    narrow, wide = bank.build_net("32x2h1", 10).scaler_tensors(), bank.build_net("96x2h3", 10).scaler_tensors()
    for name, factor in source.items():
        assert torch.equal(narrow[name], factor[:32]) and torch.equal(wide[name][:64], factor)
        ratio = wide[name][64:].std(0) / factor.std(0)
        assert ratio.min() > 0.4 and ratio.max() < 2.0, ratio  # new rows drawn at each column's spread


def test_tucker_free_parameters_follow_depth_and_width():
    """Free vectors: interpolated over depth, sliced to a narrower width, extended with the family's init."""
    bank = _random_tucker_bank()
    norm = torch.stack([bank.tensors[f"free/64x2h2/blocks.{i}.norm1.weight"] for i in range(2)])
    bias = torch.stack([bank.tensors[f"free/64x2h2/blocks.{i}.attn.qkv.bias"] for i in range(2)])
    deeper = bank.build_net("64x3h2", 10).model()
    torch.testing.assert_close(deeper.blocks[1].norm1.weight, norm.mean(0))
    narrow = bank.build_net("32x2h1", 10).model()
    assert torch.equal(narrow.blocks[1].norm1.weight, norm[1, :32])
    assert torch.equal(narrow.blocks[0].attn.qkv.bias, bias[0].view(3, 64)[:, :32].reshape(-1))  # q, k, v each
    wide = bank.build_net("96x2h3", 10).model()
    assert torch.equal(wide.blocks[0].norm1.weight[:64], norm[0]) and torch.equal(
        wide.blocks[0].norm1.weight[64:], torch.ones(32))  # a norm's new features start at 1
    qkv_bias = wide.blocks[0].attn.qkv.bias.view(3, 96)
    assert torch.equal(qkv_bias[:, :64], bias[0].view(3, 64)) and torch.equal(qkv_bias[:, 64:], torch.zeros(3, 32))
    pos = bank.tensors["free/64x2h2/pos_embed"]
    new_pos = wide.pos_embed[..., 64:]
    assert torch.equal(wide.pos_embed[..., :64], pos) and 0.01 < new_pos.std().item() < 0.03  # N(0, 0.02^2)


def test_slice_or_extend_draws_new_rows_per_column_spread_from_the_generator():
    from sizeless.constraints.tucker import slice_or_extend

    factor = torch.randn(64, 4, generator=torch.Generator().manual_seed(0)) * torch.tensor([0.01, 0.1, 1.0, 10.0])
    assert torch.equal(slice_or_extend(factor, 64, torch.Generator()), factor)
    wide = slice_or_extend(factor, 576, torch.Generator().manual_seed(1))
    assert torch.equal(wide[:64], factor) and wide.shape == (576, 4)
    torch.testing.assert_close(wide[64:].std(0), factor.std(0), rtol=0.15, atol=0)  # each column its own spread
    state = torch.random.get_rng_state()
    again = slice_or_extend(factor, 576, torch.Generator().manual_seed(1))
    assert torch.equal(again, wide) and torch.equal(torch.random.get_rng_state(), state)
    assert not torch.equal(slice_or_extend(factor, 576, torch.Generator().manual_seed(2)), wide)
    half = slice_or_extend(factor.bfloat16(), 80, torch.Generator().manual_seed(1))
    assert half.dtype == torch.bfloat16 and torch.equal(half[:64], factor.bfloat16())  # new rows in the bank's dtype


def test_tucker_free_parameters_interpolate_over_depth_with_the_ends_kept():
    bank = _random_tucker_bank()
    norm = torch.stack([bank.tensors[f"free/64x2h2/blocks.{i}.norm1.weight"] for i in range(2)])
    deeper = bank.build_net("64x5h2", 10).model()
    for layer, t in enumerate((0.0, 0.25, 0.5, 0.75, 1.0)):  # in float64, rounded once
        expected = ((1 - t) * norm[0].double() + t * norm[1].double()).float()
        assert torch.equal(deeper.blocks[layer].norm1.weight, expected)


def test_tucker_seeding_is_a_function_of_the_seed_alone():
    """New width rows and new free features come from the seed's generator, never the global one."""
    bank = _random_tucker_bank()
    built = []
    for caller_seed in (1, 2):
        torch.manual_seed(caller_seed)
        state = torch.random.get_rng_state()
        built.append(bank.build_net("96x2h3", 10, seed=5))
        assert torch.equal(torch.random.get_rng_state(), state)
    for (name, a), b in zip(built[0].state_dict().items(), built[1].state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    other = bank.build_net("96x2h3", 10, seed=6)
    assert not torch.equal(other.scaler_tensors()["U"][64:], built[0].scaler_tensors()["U"][64:])
    assert not torch.equal(other.model().pos_embed[..., 64:], built[0].model().pos_embed[..., 64:])


def test_tucker_free_seeding_keeps_the_banks_dtype():
    con = build_constraint("tucker", {"ranks": [4, 4, 4]})
    source = {k.name: k for k in VIT.kinds(VIT.parse_size("32x2h1"), IMAGE, 1, 4.0)}
    target = {k.name: k for k in VIT.kinds(VIT.parse_size("48x3h1"), IMAGE, 1, 4.0)}
    for name, init in (("blocks.*.norm1.weight", 1.0), ("blocks.*.norm1.bias", 0.0), ("blocks.*.attn.qkv.bias", 0.0),
                       ("pos_embed", None)):
        src, dst = source[name], target[name]
        stack = torch.randn(src.layers, *src.shape, dtype=torch.float64)
        out = con.seed_free(stack, src, dst, torch.Generator().manual_seed(0))
        assert out.dtype == torch.float64 and out.shape == (dst.layers, *dst.shape), name
        if init is not None:  # the new features of a norm or bias start at its init, exactly
            blocks = out.view(dst.layers, -1, 48)[..., 32:]
            assert torch.equal(blocks, torch.full_like(blocks, init)), name


def test_one_square_matrix_per_block_composes_as_a_tucker_product():
    """Nothing assumes several matrices per block: the projections alone are G x1 X x2 U x3 V, one slice a layer."""
    con = build_constraint("tucker", {"ranks": [3, 4, 5]})
    proj = [k for k in VIT.kinds(VIT.parse_size("16x2h1"), IMAGE, 1, 4.0) if k.name == "blocks.*.attn.proj.weight"]
    assert con.templated(proj) == proj and con.geometry(proj) == (2, 16, 1)
    g = torch.Generator().manual_seed(0)
    scalers, core = con.init_scalers(proj, g), torch.randn(3, 4, 5, generator=g)
    assert {k: tuple(v.shape) for k, v in scalers.items()} == {"X": (2, 3), "U": (16, 4), "V": (16, 5)}
    reference = mode_product(mode_product(mode_product(core, scalers["X"], 0), scalers["U"], 1), scalers["V"], 2)
    torch.testing.assert_close(con.compose({"G": core}, scalers, proj)["blocks.*.attn.proj.weight"], reference)


def test_describe_and_serves_state_the_config_in_full():
    """`sizeless info` shows these lines: the ranks and the MLP ratio, word for word."""
    tucker = build_constraint("tucker", {"ranks": [8, 24, 32], "mlp_ratio": 2})
    assert tucker.describe() == "Tucker, core ranks 8x24x32, MLP ratio 2"
    assert tucker.serves() == "any width the heads divide (at MLP ratio 2), any depth"


def test_a_zero_initialized_kind_gets_exactly_its_own_depth_rows_zeroed():
    """adaLN-Zero under Tucker: the depth scaler rows of a zero-started kind are 0 (so its slices compose to 0),
    every other row keeps its orthogonal init; rows are layer-major, kinds in order, unit[0] * unit[1] each."""
    from sizeless.families import Kind

    width, layers = 8, 3

    def kind(name: str, unit: tuple[int, int], init) -> Kind:
        shape = (unit[0] * width, unit[1] * width)
        return Kind(name, tuple(f"{name}.{i}" for i in range(layers)), shape, shape, unit, init, True, False)

    kinds = [kind("q", (1, 1), 0.02), kind("fc", (2, 2), 0.02), kind("mod", (3, 1), "zeros")]
    tucker = build_constraint("tucker", {"ranks": [4, 4, 4]})
    depth = tucker.init_scalers(kinds, torch.Generator().manual_seed(0))["X"]
    assert depth.shape == (layers * (1 + 3 + 4), 4)
    per_layer = depth.view(layers, 8, 4)
    zero = torch.zeros(8, dtype=torch.bool)
    zero[5:] = True  # after q's one slice and fc's four: mod's three
    assert torch.count_nonzero(per_layer[:, zero]) == 0
    assert (per_layer[:, ~zero].abs().sum(-1) > 0).all()


def test_tucker_ramp_starts_as_a_learngene_and_stays_on_its_depth_line():
    """Ramp depth scalers: per slice a base and a growth, all 2S directions orthonormal (TLEG's start, T_base +
    t T_growth with independent slices); a bent X goes back to its least-squares line; a deeper size continues it."""
    con = build_constraint("tucker", {"ranks": [24, 8, 8], "scalers": "ramp"})
    assert "held linear in depth" in con.describe()
    kinds = con.templated(VIT.kinds(VIT.parse_size("64x4h2"), IMAGE, 1, 4.0))  # 12 slices per layer: 2S = 24 = r1
    x = con.init_scalers(kinds, torch.Generator().manual_seed(0))["X"]
    rows = x.view(4, 12, 24)
    base, growth = rows[0], rows[-1] - rows[0]
    directions = torch.cat([base, growth])
    torch.testing.assert_close(directions @ directions.T, torch.eye(24), rtol=0, atol=1e-5)
    torch.testing.assert_close(rows[1:3], torch.stack([base + t * growth for t in (1 / 3, 2 / 3)]))
    bent = {"X": x + torch.randn(x.shape, generator=torch.Generator().manual_seed(1))}
    before = bent["X"].clone()
    con.after_step(bent, kinds)
    residual = (before - bent["X"]).view(4, -1)
    t = torch.linspace(0, 1, 4)[:, None]
    # least squares over depth: the residual is orthogonal to both columns of the design (1, l/(L-1))
    torch.testing.assert_close(residual.sum(0), torch.zeros(12 * 24), atol=1e-5, rtol=0)
    torch.testing.assert_close((t * residual).sum(0), torch.zeros(12 * 24), atol=1e-5, rtol=0)
    deeper_kinds = con.templated(VIT.kinds(VIT.parse_size("64x7h2"), IMAGE, 1, 4.0))
    deeper = con.seed_scalers({**con.init_scalers(kinds, torch.Generator()), **bent}, deeper_kinds,
                              torch.Generator())["X"].view(7, 12, 24)
    line = bent["X"].view(4, 12, 24)
    expected = torch.stack([line[0] + k / 6 * (line[-1] - line[0]) for k in range(7)])
    torch.testing.assert_close(deeper, expected, rtol=0, atol=1e-5)
    learned = build_constraint("tucker", {"ranks": [24, 8, 8]})
    untouched = {"X": before.clone()}
    learned.after_step(untouched, kinds)
    assert torch.equal(untouched["X"], before)


def test_a_tucker_ramp_bank_pretrains_on_its_line(digits, tmp_path):
    pretrain(digits, ["32x3h1"], constraint="tucker", constraint_config={"ranks": [8, 16, 16], "scalers": "ramp"},
             config=TrainConfig(steps=3, batch_size=32, lr=1e-2), out=tmp_path / "b")
    x = TemplateBank.load(tmp_path / "b").tensors["scaler/32x3h1/X"].view(3, -1)
    assert x[1].sub(x[0]).abs().max() > 1e-3  # the steps moved it ...
    torch.testing.assert_close(x[1], (x[0] + x[2]) / 2, rtol=0, atol=1e-6)  # ... and it stayed a line
