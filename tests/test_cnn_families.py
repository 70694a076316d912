"""ResNet and ConvNeXt families: conv Kronecker composition, kinds, export, and the end-to-end path."""

import pytest
import timm
import torch

from sizeless.api import evaluate_model, initialize_full, pretrain, train
from sizeless.bank import TemplateBank
from sizeless.constraints import build_constraint, compose_kind
from sizeless.data import DataConfig, load_data
from sizeless.errors import SizelessError, UnsupportedSize
from sizeless.families import ImageSpec, get_family
from sizeless.sizes import CNNSize
from sizeless.templated import TemplateNet
from sizeless.training import TrainConfig

DIGITS = ImageSpec(8, 1, 1)
FIT = TrainConfig(steps=20, batch_size=64, lr=3e-3, warmup=0.1, weight_decay=0.0)


def test_conv_compose_equals_kron_per_spatial_tap():
    g = torch.Generator().manual_seed(0)
    templates = torch.randn(3, 4, 5, 3, 3, generator=g)  # N x a x b x k x k
    scalers = torch.randn(2, 3, 2, 3, generator=g)  # L x N x m1 x m2
    composed = compose_kind(templates, scalers)
    assert composed.shape == (2, 8, 15, 3, 3)
    for layer in range(2):
        for i in range(3):
            for j in range(3):
                expected = sum(torch.kron(templates[n, :, :, i, j], scalers[layer, n]) for n in range(3))
                torch.testing.assert_close(composed[layer, :, :, i, j], expected)


def test_cnn_size_syntax():
    size = CNNSize.parse("32x2-3-2-2")
    assert (size.width, size.depths, size.channels, size.depth, size.key) == (
        32, (2, 3, 2, 2), (32, 64, 128, 256), 9, "32x2-3-2-2")
    assert CNNSize.parse("16x1-1-1-1b").bottleneck
    with pytest.raises(SizelessError, match="WIDTHxBLOCKS-PER-STAGE"):
        CNNSize.parse("32x2h1")
    with pytest.raises(SizelessError, match="exactly 4 stages"):
        get_family("resnet").build(CNNSize.parse("16x2-2"), DIGITS, 10)


CASES = [("resnet", "8x2-1-2-1", DIGITS, True), ("resnet", "8x1-2-1-2b", DIGITS, False),
         ("resnet", "8x1-1-2-1", ImageSpec(32, 3, 4), True), ("convnext", "8x1-2-1-1", DIGITS, True),
         ("convnext", "8x2-1-1-1", ImageSpec(32, 3, 4), False)]


@pytest.mark.parametrize(("name", "spec", "image", "share"), CASES)
def test_kinds_cover_every_parameter_but_the_classifier(name, spec, image, share):
    family = get_family(name, {"share_stages": share})
    size = family.parse_size(spec)
    model = family.build(size, image, 10)
    params = dict(model.named_parameters())
    covered = set()
    for kind in family.kinds(size, image, 4, 4.0):
        for p in kind.params:
            assert tuple(params[p].shape) == kind.param_shape, p
        covered.update(kind.params)
    head = {id(p) for p in model.get_classifier().parameters()}
    assert [n for n, p in params.items() if n not in covered and id(p) not in head] == []


def test_tucker_refuses_convolutions_in_one_line(digits):
    with pytest.raises(UnsupportedSize, match="need --constraint kronecker"):
        pretrain(digits, ["8x1-1-1-1"], family="resnet", constraint="tucker", config=TrainConfig(epochs=1))


def test_widths_that_do_not_divide_are_refused_with_the_valid_ones():
    for name in ("resnet", "convnext"):
        family = get_family(name)
        with pytest.raises(UnsupportedSize, match="valid widths: 16, 32, 48"):
            family.kinds(family.parse_size("24x1-1-1-1"), DIGITS, 16, 4.0)


def _net(name: str, spec: str, share: bool = True) -> TemplateNet:
    family = get_family(name, {"share_stages": share})
    constraint = build_constraint("kronecker", {"template_width": 4, "num_templates": 2})
    return TemplateNet(family, constraint, [family.parse_size(spec)], DIGITS, 10, seed=0)


@pytest.mark.parametrize(("name", "spec"),
                         [("resnet", "8x2-1-1-1"), ("resnet", "8x1-1-1-1b"), ("convnext", "8x1-2-1-1")])
def test_exported_model_equals_the_templated_model(name, spec):
    net = _net(name, spec)
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    net.train()
    net(x)  # BatchNorm running statistics move away from their defaults
    net.eval()
    plain = net.export().eval()
    torch.testing.assert_close(plain(x), net(x))


def test_shared_stages_use_one_template_set_for_all_stages():
    shared, per_stage = _net("resnet", "8x2-2-2-2", True), _net("resnet", "8x2-2-2-2", False)
    count = lambda net: sum(p.numel() for p in net.templates.parameters())  # noqa: E731
    assert count(shared) * 4 > count(per_stage) > count(shared)
    assert "layer*.conv2.weight" in shared.template_tensors()
    assert {"layer1.conv2.weight", "layer4.conv2.weight"} <= set(per_stage.template_tensors())
    # a stage twice as wide as the last uses the same template with twice the scaler factors
    kinds = {k.name: k for k in shared.templated_kinds["8x2-2-2-2"]}
    assert kinds["layer2.*.conv2.weight"].factors == (4, 4) and kinds["layer3.*.conv2.weight"].factors == (8, 8)


@pytest.mark.parametrize(("name", "spec", "patch"), [("resnet", "8x1-1-1-1", 1), ("resnet", "8x1-1-1-1b", 4),
                                                     ("convnext", "8x1-1-1-1", 4)])
def test_local_dir_round_trip(tmp_path, digits, name, spec, patch):
    data = digits if patch == 1 else None
    if data is None:
        from sizeless.data import DataConfig, load_data
        data = load_data(DataConfig("digits", image_size=32))
    init = initialize_full(spec, data, method="scratch", family=name, patch_size=patch, out=tmp_path / "m")
    loaded = timm.create_model(f"local-dir:{tmp_path / 'm'}", pretrained=True).eval()
    x = torch.randn(2, 1, data.img_size, data.img_size)
    torch.testing.assert_close(loaded(x), init.model.eval()(x))
    expected_arch = {("resnet", 1): "sizeless_resnet", ("resnet", 4): "resnet50", ("convnext", 4): "convnext_atto"}
    assert init.architecture == expected_arch[(name, patch)]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet", "convnext"])
def test_pretrain_init_train_end_to_end(tmp_path, digits, cnn_banks, name):
    bank = TemplateBank.load(cnn_banks[name])
    assert bank.config["family"] == name and bank.config["family_config"] == {"share_stages": False}
    # a new width (what the bank knows at new sizes, against an untrained bank: tests/test_knowledge.py)
    init = initialize_full("16x1-2-1-1", digits, bank=bank, fit=FIT, out=tmp_path / "init")
    at_init = evaluate_model(tmp_path / "init", digits)["acc"]
    model, result = train(tmp_path / "init", digits, TrainConfig(epochs=1, batch_size=64, lr=1e-3),
                          out=tmp_path / "trained")
    assert result.history[-1]["val_acc"] >= at_init - 0.02  # training goes on from the init (random: 13% ResNet)
    assert type(timm.create_model(f"local-dir:{tmp_path / 'trained'}", pretrained=True)) is type(model)
    if name == "convnext":  # the layer scales are carried over, not left at timm's 1e-6
        gammas = torch.cat([b.gamma for s in init.model.stages for b in s.blocks])
        assert gammas.abs().mean() > 1e-3


@pytest.mark.slow
def test_same_seed_same_weights(digits, cnn_banks):
    a, b = (initialize_full("16x1-1-1-1", digits, bank=cnn_banks["resnet"], fit=FIT, seed=3).model for _ in range(2))
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


@pytest.mark.slow
def test_batchnorm_statistics_are_reestimated_after_composition(digits, cnn_banks):
    init = initialize_full("8x1-1-1-1", digits, bank=cnn_banks["resnet"], fit=TrainConfig(steps=1, batch_size=8))
    stats = init.model.layer1[0].bn1
    assert stats.num_batches_tracked > 1 and not torch.allclose(stats.running_var, torch.ones_like(stats.running_var))


@pytest.mark.slow
def test_baselines_for_cnns(tmp_path, digits, cnn_banks):
    teacher, _ = train(None, digits, TrainConfig(epochs=1, batch_size=64), size="16x2-2-2-2", family="convnext",
                       out=tmp_path / "teacher")
    selected = initialize_full("8x1-2-1-1", digits, method="weight-selection", teacher=tmp_path / "teacher")
    assert selected.meta["family"] == "convnext" and selected.meta["teacher_size"] == "16x2-2-2-2"
    torch.testing.assert_close(selected.model.stages[1].blocks[1].mlp.fc1.weight,
                               teacher.stages[1].blocks[1].mlp.fc1.weight[::2, ::2])
    torch.testing.assert_close(selected.model.head.norm.weight, teacher.head.norm.weight[::2])  # same classes
    other = load_data(DataConfig("digits", classes=[0, 1, 2, 3, 4]))
    norm = initialize_full("8x1-2-1-1", other, method="weight-selection", teacher=tmp_path / "teacher").model.head.norm
    assert torch.equal(norm.weight, torch.ones_like(norm.weight))  # a new head: head.* at init, as the reference
    assert torch.equal(norm.bias, torch.zeros_like(norm.bias))
    with pytest.raises(UnsupportedSize, match="at least as wide and deep"):
        initialize_full("8x3-1-1-1", digits, method="weight-selection", teacher=tmp_path / "teacher")
    with pytest.raises(UnsupportedSize, match="no attention"):
        initialize_full("8x1-1-1-1", digits, method="mimetic", family="resnet")
    with pytest.raises(UnsupportedSize, match="n/a for resnet"):
        initialize_full("8x1-1-1-1", digits, method="linear-expansion", bank=cnn_banks["resnet"])


@pytest.mark.slow
def test_cli_with_family_flags(tmp_path, run_cli):
    run = run_cli
    code, _, err = run("pretrain", "--data", "digits", "--family", "resnet", "--share-stages", "--size",
                       "8x1-1-1-1", "--template-width", "4", "--num-templates", "2", "--epochs", "1", "--out",
                       str(tmp_path / "bank"))
    assert code == 0, err
    code, _, err = run("init", "--bank", str(tmp_path / "bank"), "--data", "digits", "--size", "16x2-1-1-1",
                       "--fit-steps", "5", "--out", str(tmp_path / "init"))
    assert code == 0, err
    code, _, err = run("train", "--data", "digits", "--family", "resnet", "--size", "8x1-1-1-1", "--epochs", "1",
                       "--out", str(tmp_path / "r"))
    assert code == 0, err
    code, out, _ = run("eval", "--model", str(tmp_path / "init"), "--data", "digits", "--json")
    assert code == 0 and '"acc"' in out
    code, _, err = run("train", "--data", "digits", "--family", "convnext", "--size", "8x1-1-1", "--out",
                       str(tmp_path / "c"))
    assert code == 2 and "exactly 4 stages" in err


def test_weight_selection_keeps_a_convnext_heads_norm_only_for_the_teachers_own_classes(tmp_path, digits):
    """Other classes: the head is new, and so is everything under ``head`` (ConvNeXt's head.norm), as in the
    reference code; the teacher's own classes: head.norm is selected like any tensor."""
    from safetensors.torch import load_file, save_file

    initialize_full("16x1-1-1-1", digits, method="scratch", family="convnext", out=tmp_path / "teacher")
    weights = tmp_path / "teacher" / "model.safetensors"
    state = load_file(str(weights))
    state["head.norm.weight"] = torch.linspace(1.0, 2.0, state["head.norm.weight"].numel())  # not timm's init
    save_file(state, str(weights), metadata={"format": "pt"})
    same = initialize_full("8x1-1-1-1", digits, method="weight-selection", teacher=tmp_path / "teacher").model
    torch.testing.assert_close(same.head.norm.weight, state["head.norm.weight"][::2])
    other = load_data(DataConfig("digits", classes=[0, 1, 2, 3, 4]))
    new = initialize_full("8x1-1-1-1", other, method="weight-selection", teacher=tmp_path / "teacher").model
    assert torch.equal(new.head.norm.weight, torch.ones_like(new.head.norm.weight))
