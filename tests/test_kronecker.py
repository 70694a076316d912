import pytest
import torch

from sizeless.constraints import KroneckerConfig, build_constraint, compose_kind, resize_free, resize_stack
from sizeless.errors import SizelessError
from sizeless.families import ImageSpec, get_family


def test_compose_equals_explicit_kron_sum():
    g = torch.Generator().manual_seed(0)
    templates = torch.randn(3, 4, 5, generator=g)
    scalers = torch.randn(2, 3, 2, 3, generator=g)
    composed = compose_kind(templates, scalers)
    assert composed.shape == (2, 8, 15)
    for layer in range(2):
        expected = sum(torch.kron(templates[n], scalers[layer, n]) for n in range(3))
        torch.testing.assert_close(composed[layer], expected)


def test_tleg_linear_expansion_is_a_special_case():
    """TLEG: theta_l = A + (l-1)/(L-1) * B is N=2, m=1 with scalers 1 and (l-1)/(L-1)."""
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    depth = 5
    coeff = torch.linspace(0, 1, depth)
    scalers = torch.stack([torch.ones(depth), coeff], 1).view(depth, 2, 1, 1)
    composed = compose_kind(torch.stack([a, b]), scalers)
    for layer in range(depth):
        torch.testing.assert_close(composed[layer], a + coeff[layer] * b)


def test_resize_stack_identity_and_depth_interpolation():
    stack = torch.randn(3, 2, 2, 2)
    torch.testing.assert_close(resize_stack(stack, 3, 2, 2, fan_in=True), stack)
    deeper = resize_stack(stack, 5, 2, 2, fan_in=False)
    torch.testing.assert_close(deeper[0], stack[0])
    torch.testing.assert_close(deeper[-1], stack[-1])
    torch.testing.assert_close(deeper[1], (stack[0] + stack[1]) / 2)


def test_width_resize_preserves_function_on_replicated_inputs():
    """Growing m=1 -> m=2 with the fan-in rescale maps replicated inputs to replicated outputs."""
    template = torch.randn(1, 3, 4)
    scaler = torch.randn(1, 1, 1, 1)
    small = compose_kind(template, scaler)[0]
    big = compose_kind(template, resize_stack(scaler, 1, 2, 2, fan_in=True))[0]
    x = torch.randn(4)
    x_big = x.repeat_interleave(2)  # feature d = i*m + r
    torch.testing.assert_close(big @ x_big, (small @ x).repeat_interleave(2))


def test_resize_free_replicates_features_in_kronecker_layout():
    fam = get_family("vit")
    image = ImageSpec(8, 1, 2)
    src = {k.name: k for k in fam.kinds(fam.parse_size("32x2"), image, 16, 4.0)}
    dst = {k.name: k for k in fam.kinds(fam.parse_size("64x3"), image, 16, 4.0)}
    norm = torch.randn(2, 32, 1)
    out = resize_free(norm, src["blocks.*.norm1.weight"], dst["blocks.*.norm1.weight"])
    assert out.shape == (3, 64, 1)
    # 2 replicas per template feature become 4: each source replica value is interpolated, ends kept
    view = out[0].view(16, 4)
    torch.testing.assert_close(view[:, 0], norm[0].view(16, 2)[:, 0])
    torch.testing.assert_close(view[:, -1], norm[0].view(16, 2)[:, 1])


def test_bad_config_and_unknown_constraint():
    with pytest.raises(SizelessError):
        KroneckerConfig(vectors="sometimes")
    with pytest.raises(SizelessError, match="unknown constraint 'cp'"):
        build_constraint("cp", {})
