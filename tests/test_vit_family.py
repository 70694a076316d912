import re

import pytest
import torch

from sizeless.bank import TemplateBank
from sizeless.constraints import build_constraint
from sizeless.errors import SizelessError
from sizeless.families import ImageSpec, get_family
from sizeless.sizes import ViTSize
from sizeless.templated import TemplateNet

IMAGE = ImageSpec(8, 1, 2)


def test_size_parsing():
    assert ViTSize.parse("128x6") == ViTSize(128, 6, 4, 4.0)
    assert ViTSize.parse("96x8h2m2").key == "96x8h2m2"
    for bad in ("128", "x6", "128x6x2", "abc"):
        with pytest.raises(SizelessError, match="bad size"):
            ViTSize.parse(bad)
    with pytest.raises(SizelessError, match="valid head counts"):
        ViTSize.parse("100x4h3")


def test_width_not_multiple_of_template_lists_valid_widths():
    fam = get_family("vit")
    expected = r"width 100 is not a multiple of the template width 32; valid widths: 32, 64"
    with pytest.raises(SizelessError, match=expected):
        fam.kinds(fam.parse_size("100x4h4"), IMAGE, 32, 4.0)


def test_unknown_family():
    with pytest.raises(SizelessError, match="unknown family 'unet'"):
        get_family("unet")


@pytest.mark.parametrize("vectors", ["template", "free"])
def test_templated_model_matches_exported_plain_model(vectors):
    fam = get_family("vit")
    con = build_constraint("kronecker", {"template_width": 16, "num_templates": 3, "vectors": vectors})
    net = TemplateNet(fam, con, [fam.parse_size("32x2"), fam.parse_size("64x3m2")], IMAGE, 10).eval()
    x = torch.randn(5, 1, 8, 8)
    for key in net.sizes:
        plain = net.export(key).eval()
        assert type(plain).__name__ == "VisionTransformer"
        torch.testing.assert_close(net(x, key), plain(x))


def test_composed_weights_follow_kron_and_land_on_timm_parameters():
    fam = get_family("vit")
    con = build_constraint("kronecker", {"template_width": 16, "num_templates": 2})
    net = TemplateNet(fam, con, [fam.parse_size("32x2")], IMAGE, 10)
    composed = net.composed()
    t, s = net.template_tensors(), net.scaler_tensors()
    for layer in range(2):
        for kind, param in (("blocks.*.attn.qkv.weight", f"blocks.{layer}.attn.qkv.weight"),
                            ("blocks.*.mlp.fc2.weight", f"blocks.{layer}.mlp.fc2.weight")):
            expected = sum(torch.kron(t[kind][n], s[kind][layer, n]) for n in range(2))
            torch.testing.assert_close(composed[param], expected)
    plain = net.export()
    assert plain.blocks[1].attn.qkv.weight.shape == (96, 32)
    assert plain.blocks[1].mlp.fc1.weight.shape == (128, 32)
    # the templated parameters are gone from the plain model inside the net: no stale copies train
    names = {n for n, _ in net.model().named_parameters()}
    assert "blocks.0.attn.qkv.weight" not in names and "head.weight" in names


def test_forward_takes_its_inputs_positionally_or_as_a_dict():
    """A dict (what a Decision Transformer or a DiT batch is) is passed as keyword arguments: the same output."""
    fam = get_family("vit")
    net = TemplateNet(fam, build_constraint("kronecker", {"template_width": 16, "num_templates": 2}),
                      [fam.parse_size("32x2")], IMAGE, 10).eval()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(net({"x": x}), net(x))


def test_gradients_reach_templates_and_scalers():
    fam = get_family("vit")
    con = build_constraint("kronecker", {"template_width": 16, "num_templates": 2})
    net = TemplateNet(fam, con, [fam.parse_size("32x2")], IMAGE, 10)
    net(torch.randn(2, 1, 8, 8)).sum().backward()
    assert all(p.grad is not None for p in net.templates.parameters())
    assert all(p.grad is not None for p in net.scalers.parameters())


def test_template_net_is_seeded_without_touching_the_callers_rng():
    fam = get_family("vit")
    con = build_constraint("tucker", {"ranks": [4, 8, 8]})
    sizes = [fam.parse_size("32x2"), fam.parse_size("64x1")]
    nets = []
    for caller_seed in (1, 2):
        torch.manual_seed(caller_seed)
        state = torch.random.get_rng_state()
        nets.append(TemplateNet(fam, con, sizes, IMAGE, 10, seed=4))
        nets[-1](torch.zeros(1, 1, 8, 8), "64x1h2", width=32)  # a narrow width builds a model on first use
        assert torch.equal(torch.random.get_rng_state(), state)
    for (name, a), b in zip(nets[0].state_dict().items(), nets[1].state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # the seed alone decides, for every size (timm's init included)
    other = TemplateNet(fam, con, sizes, IMAGE, 10, seed=5)
    assert not torch.equal(other.model("64x1h2").head.weight, nets[0].model("64x1h2").head.weight)
    # sizes draw one stream in order: the second size's head is not the first size's draws again
    assert not torch.equal(nets[0].model("32x2h1").head.weight[:, :32], nets[0].model("64x1h2").head.weight[:, :32])


def test_template_net_bookkeeping():
    """Weight decay flags, default size, frozen templates, other entry points, narrow-width errors."""
    fam = get_family("vit")
    con = build_constraint("kronecker", {"template_width": 16, "num_templates": 2})
    net = TemplateNet(fam, con, [fam.parse_size("32x2"), fam.parse_size("48x1")], IMAGE, 10)
    decay = {name: net.templates[name.replace(".", "/")].no_weight_decay for name in net.template_names}
    assert decay["blocks.*.norm1.weight"] and decay["blocks.*.attn.qkv.bias"] and decay["cls_token"]
    assert not decay["blocks.*.attn.qkv.weight"] and not decay["patch_embed.proj.weight"]  # matrices keep decay
    assert net.default_size(None) == "32x2h1" and net.model() is net.model("32x2h1")
    x = torch.randn(2, 1, 8, 8)
    doubled = net.call(lambda model, images: model(images) * 2, x, size="48x1h1")
    torch.testing.assert_close(doubled, 2 * net(x, "48x1h1"))
    net.freeze_templates()
    assert not any(p.requires_grad for p in net.templates.parameters())
    assert all(p.requires_grad for p in net.scalers.parameters())
    with pytest.raises(SizelessError, match="heads keep its head dim 32"):
        net(x, "32x2h1", width=16)
    tucker = TemplateNet(fam, build_constraint("tucker", {"ranks": [4, 4, 4]}), [fam.parse_size("32x2")], IMAGE, 10)
    message = "size 32x2h1 cannot run at width 64: tucker size sampling takes leading slices, so widths up to 32"
    with pytest.raises(SizelessError, match=f"^{re.escape(message)}$"):
        tucker(x, width=64)
    assert tucker(x, width=32).shape == (2, 10)  # its own width: no narrow model
    assert not tucker._narrow


@pytest.mark.parametrize(("constraint", "config", "sizes"), [
    ("kronecker", {"template_width": 16, "num_templates": 2}, ["32x3h1", "96x1h3", "32x1h1", "64x4h2"]),
    ("kronecker", {"template_width": 16, "num_templates": 2, "vectors": "free"}, ["32x3h1", "96x1h3"]),
    ("tucker", {"ranks": [6, 8, 8]}, ["32x3h1", "32x1h1", "64x3h2"]),
])
def test_a_sub_size_run_composes_what_initializing_that_size_seeds(constraint, config, sizes):
    """Size sampling runs the bank's size at another width/depth through the seeding rule: the same
    weights and free vectors that initializing that size from the bank starts from."""
    fam = get_family("vit")
    net = TemplateNet(fam, build_constraint(constraint, config), [fam.parse_size("64x2")], IMAGE, 10, seed=0)
    bank = TemplateBank.from_net(net, {"train": {}})
    for spec in sizes:
        target = bank.build_net(spec, 10, seed=0)
        own = target.sizes[spec]
        _, sampled = net.weights(None, own.width, own.depth)
        expected = {**target.composed(), **dict(target.model().named_parameters())}
        head = {"head.weight", "head.bias"}
        assert set(sampled) == set(expected)
        for name in set(expected) - head:
            torch.testing.assert_close(sampled[name], expected[name], rtol=1e-5, atol=1e-6, msg=f"{spec} {name}")
        assert sampled["head.weight"].shape == (10, own.width)
        torch.testing.assert_close(sampled["head.weight"], net.constraint.resize_features(net.model().head.weight,
                                                                                          own.width))


def test_classifier_columns_follow_the_width_rule():
    kron = build_constraint("kronecker", {"template_width": 16, "num_templates": 2})
    weight = torch.arange(2 * 32, dtype=torch.float32).view(2, 32)  # 2 classes, width 32 = 2 replicas of 16
    wider = kron.resize_features(weight, 64)  # 4 replicas: interpolated, halved (twice as many inputs)
    torch.testing.assert_close(wider[:, 0::4] * 2, weight[:, 0::2])
    torch.testing.assert_close(wider[:, 3::4] * 2, weight[:, 1::2])
    torch.testing.assert_close(kron.resize_features(weight, 16), weight[:, 0::2] * 2)  # leading replica, doubled
    tucker = build_constraint("tucker", {"ranks": [2, 2, 2]})
    assert torch.equal(tucker.resize_features(weight, 20), weight[:, :20])
    assert torch.equal(tucker.resize_features(weight, 40), torch.cat([weight, torch.zeros(2, 8)], 1))  # unread features
    # an embedding writes the width in its rows (a policy's state embedding): replicated there, not rescaled
    rows = weight.T.contiguous()
    torch.testing.assert_close(kron.resize_features(rows, 64, dim=0, fan_in=False)[0::4], rows[0::2])
    torch.testing.assert_close(kron.resize_features(rows, 16, dim=0, fan_in=False), rows[0::2])
    torch.testing.assert_close(kron.resize_features(rows[:, 0], 16, dim=0, fan_in=False), rows[0::2, 0])  # its bias
    assert torch.equal(tucker.resize_features(rows, 40, dim=0), torch.cat([rows, torch.zeros(8, 2)]))
    assert kron.grows_deterministically and not tucker.grows_deterministically


def test_sub_sizes_of_each_size_and_what_cannot_be_resized():
    fam = get_family("vit")
    con = build_constraint("kronecker", {"template_width": 16, "num_templates": 2})
    net = TemplateNet(fam, con, [fam.parse_size("32x2"), fam.parse_size("48x1")], IMAGE, 10)
    assert net.size_at("48x1h1", depth=3).key == "48x3h1" and net.size_at(None, width=64).key == "64x2h2"
    assert net.size_at("48x1h1") is net.sizes["48x1h1"]
    model, params = net.weights("48x1h1", None, 2)
    assert len(model.blocks) == 2 and params["blocks.1.attn.qkv.weight"].shape == (144, 48)
    cnn = get_family("resnet")
    resnet = TemplateNet(cnn, build_constraint("kronecker", {"template_width": 4, "num_templates": 2}),
                         [cnn.parse_size("8x1-1-1-1")], ImageSpec(8, 1, 1), 10)
    message = "a resnet size cannot run at another width or depth: size sampling resizes Transformer sizes"
    with pytest.raises(SizelessError, match=f"^{re.escape(message)}$"):
        resnet(torch.zeros(1, 1, 8, 8), width=16)


def test_other_entry_points_run_at_a_sub_width_and_depth():
    """``call`` (an MAE encoder, forward_features) runs the size at the width and depth asked for, as forward does."""
    fam = get_family("vit")
    net = TemplateNet(fam, build_constraint("kronecker", {"template_width": 16, "num_templates": 2}),
                      [fam.parse_size("64x2")], IMAGE, 10, seed=0)
    x = torch.randn(2, 1, 8, 8)
    for width, depth in ((32, None), (None, 3), (32, 1)):
        features = net.call(lambda model, images: model.forward_features(images), x, width=width, depth=depth)
        assert features.shape == (2, 17, width or 64)  # class token + 4x4 patches
        logits = net.call(lambda model, images: model(images), x, width=width, depth=depth)
        torch.testing.assert_close(logits, net(x, width=width, depth=depth), rtol=0, atol=0)
        assert not torch.allclose(logits, net(x), atol=1e-4)  # not the size's own width and depth
        model, _ = net.weights(None, width, depth)
        assert model.num_classes == 10 and len(model.blocks) == (depth or 2)  # built for the net's classes
