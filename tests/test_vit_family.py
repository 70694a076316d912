import pytest
import torch

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


def test_gradients_reach_templates_and_scalers():
    fam = get_family("vit")
    con = build_constraint("kronecker", {"template_width": 16, "num_templates": 2})
    net = TemplateNet(fam, con, [fam.parse_size("32x2")], IMAGE, 10)
    net(torch.randn(2, 1, 8, 8)).sum().backward()
    assert all(p.grad is not None for p in net.templates.parameters())
    assert all(p.grad is not None for p in net.scalers.parameters())
