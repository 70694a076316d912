import pytest
import torch

from sizeless.bank import TemplateBank
from sizeless.constraints import (
    KroneckerConfig,
    KroneckerConstraint,
    build_constraint,
    compose_kind,
    resize_free,
    resize_stack,
)
from sizeless.errors import SizelessError, UnsupportedSize
from sizeless.families import ImageSpec, Kind, get_family
from sizeless.templated import TemplateNet


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
    quarters = resize_stack(stack[:2], 5, 2, 2, fan_in=False)  # interpolated in float64, rounded once
    for layer, t in enumerate((0.0, 0.25, 0.5, 0.75, 1.0)):
        assert torch.equal(quarters[layer], ((1 - t) * stack[0].double() + t * stack[1].double()).float())


def test_a_shallower_size_keeps_the_leading_layers_and_a_tleg_ramp_interpolates():
    """A prefix of a trained network is a network; an l/(L-1) blend of its layers is not (benchmarks/NOTES.md)."""
    stack = torch.randn(5, 2, 2, 2)
    assert torch.equal(resize_stack(stack, 3, 2, 2, fan_in=False), stack[:3])
    assert torch.equal(resize_stack(stack, 2, 1, 1, fan_in=True), stack[:2, :, :1, :1] * 2)  # and narrower
    ramp = resize_stack(stack, 3, 2, 2, fan_in=False, ramp=True)
    assert torch.equal(ramp[0], stack[0]) and torch.equal(ramp[1], stack[2]) and torch.equal(ramp[2], stack[4])
    src = _kind("w", (2, 3), (1, 1), 0.02, layers=4, vector=True)
    free = torch.randn(4, 2, 3)
    assert torch.equal(resize_free(free, src, _kind("w", (2, 3), (1, 1), 0.02, layers=2, vector=True)), free[:2])
    tleg = KroneckerConstraint(KroneckerConfig(template_width=2, num_templates=2, scalers="linear"))
    kept = tleg.seed_free(free, src, _kind("w", (2, 3), (1, 1), 0.02, layers=2, vector=True), None)
    assert torch.equal(kept, free[[0, 3]])  # the learngene's free parameters keep their ends, as its ramps do


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


def _kind(name: str, unit, factors, init, template=None, fill=1.0, layers=2, vector=False) -> Kind:
    shape = (unit[0] * factors[0], unit[1] * factors[1])
    params = tuple(f"{name}.{i}" for i in range(layers))
    return Kind(name, params, shape, shape, unit, init, not vector, vector, template=template, fill=fill)


def test_config_bounds_and_round_trip():
    smallest = KroneckerConfig(template_width=1, num_templates=1)
    assert smallest.to_dict() == {"template_width": 1, "num_templates": 1, "template_mlp_ratio": 4.0,
                                  "vectors": "template", "scalers": "learned"}
    assert KroneckerConfig(**smallest.to_dict()) == smallest
    positive = "template width and number of templates must be positive"
    for bad, message in (({"template_width": 0}, positive), ({"num_templates": 0}, positive),
                         ({"scalers": "fixed"}, "scalers must be 'learned', 'ramp' or 'linear', not 'fixed'"),
                         ({"scalers": "linear", "num_templates": 3},
                          "linear scalers (TLEG's learngene) need exactly 2 templates: --num-templates 2"),
                         ({"vectors": "sometimes"}, "vectors must be 'template' or 'free', not 'sometimes'")):
        with pytest.raises(SizelessError) as error:
            KroneckerConfig(**bad)
        assert str(error.value) == message  # the whole line a user reads
    KroneckerConfig(scalers="linear", num_templates=2)  # TLEG's learngene is valid


def test_initial_templates_and_scalers_compose_timm_like_weights():
    """Matrices at std 0.02 (scalers of variance 1/N keep the template's), norms exactly 1 (or a layer
    scale's fill), biases exactly 0."""
    con = KroneckerConstraint(KroneckerConfig(template_width=32, num_templates=4))
    kinds = [_kind("w", (32, 32), (4, 4), 0.02), _kind("norm", (32, 1), (4, 1), "ones", vector=True),
             _kind("gamma", (32, 1), (4, 1), "ones", fill=1e-6, vector=True),
             _kind("bias", (32, 1), (4, 1), "zeros", vector=True)]
    g = torch.Generator().manual_seed(0)
    templates, scalers = con.init_templates(kinds, g), con.init_scalers(kinds, g)
    assert templates["w"].shape == (4, 32, 32) and scalers["w"].shape == (2, 4, 4, 4)
    composed = con.compose(templates, scalers, kinds)
    assert abs(composed["w"].std().item() - 0.02) < 0.004
    assert torch.equal(composed["norm"], torch.ones(2, 128, 1))
    torch.testing.assert_close(composed["gamma"], torch.full((2, 128, 1), 1e-6))
    assert torch.equal(composed["bias"], torch.zeros(2, 128, 1))
    assert abs(scalers["w"].var().item() - 1 / 4) < 0.05
    assert con.template_shapes(kinds) == {k.name: (4, *k.unit) for k in kinds}
    assert con.scaler_shapes(kinds)["w"] == (2, 4, 4, 4)


def test_initial_templates_come_from_the_generator_alone():
    """The same generator seed gives the same templates whatever the global RNG holds, and the global RNG is
    left as it was: library code never draws from (or reseeds) the caller's stream."""
    con = KroneckerConstraint(KroneckerConfig(template_width=8, num_templates=2))
    kinds = [_kind("w", (8, 8), (2, 2), 0.02)]
    torch.manual_seed(1)
    first = con.init_templates(kinds, torch.Generator().manual_seed(5))["w"]
    torch.manual_seed(2)
    state = torch.random.get_rng_state()
    again = con.init_templates(kinds, torch.Generator().manual_seed(5))["w"]
    assert torch.equal(first, again)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_kinds_sharing_a_template_set_must_share_its_shape():
    con = KroneckerConstraint(KroneckerConfig(template_width=4, num_templates=2))
    same = [_kind("a", (4, 4), (1, 1), 0.02, template="set"), _kind("b", (4, 4), (2, 2), 0.02, template="set")]
    assert list(con.template_shapes(same)) == ["set"]  # one set, two factor sizes
    with pytest.raises(SizelessError) as error:
        con.template_shapes([same[0], _kind("c", (8, 4), (1, 1), 0.02, template="set")])
    assert str(error.value) == "c and a share template 'set' but need shapes (2, 8, 4) and (2, 4, 4)"


def test_free_vectors_stay_out_of_the_templates():
    kinds = [_kind("w", (4, 4), (1, 1), 0.02), _kind("norm", (4, 1), (1, 1), "ones", vector=True)]
    assert KroneckerConstraint(KroneckerConfig(vectors="free")).templated(kinds) == kinds[:1]
    assert KroneckerConstraint(KroneckerConfig(vectors="template")).templated(kinds) == kinds


def test_linear_scalers_are_tleg_ramps_and_fixed():
    con = KroneckerConstraint(KroneckerConfig(template_width=4, num_templates=2, scalers="linear"))
    assert con.scalers_trainable is False
    assert KroneckerConstraint(KroneckerConfig()).scalers_trainable is True
    ramp = con.init_scalers([_kind("w", (4, 4), (1, 1), 0.02, layers=5)], torch.Generator())["w"]
    assert ramp.view(5, 2).tolist() == [[1.0, 0.0], [1.0, 0.25], [1.0, 0.5], [1.0, 0.75], [1.0, 1.0]]
    single = con.init_scalers([_kind("w", (4, 4), (1, 1), 0.02, layers=1)], torch.Generator())["w"]
    assert single.view(2).tolist() == [1.0, 0.0]
    seeded = con.seed_scalers({"w": ramp}, [_kind("w", (4, 4), (1, 1), 0.02, layers=3)], torch.Generator())
    torch.testing.assert_close(seeded["w"].view(3, 2), torch.tensor([[1.0, 0.0], [1.0, 0.5], [1.0, 1.0]]))
    for bad in ("init_scalers", "seed_scalers"):
        with pytest.raises(UnsupportedSize) as error:
            args = ({"w": ramp},) if bad == "seed_scalers" else ()
            getattr(con, bad)(*args, [_kind("w", (4, 4), (2, 2), 0.02, layers=3)], torch.Generator())
        assert str(error.value) == ("linear expansion (TLEG) keeps the learngene's width 4: it changes depth only, "
                                    "so w of shape (8, 8) cannot be served")


def test_ramp_scalers_start_and_stay_on_their_depth_line():
    con = KroneckerConstraint(KroneckerConfig(template_width=4, num_templates=2, scalers="ramp"))
    assert con.scalers_trainable is True and "held linear in depth" in con.describe()
    kinds = [_kind("w", (4, 4), (2, 1), 0.02, layers=5), _kind("one", (4, 4), (1, 1), 0.02, layers=1)]
    scalers = con.init_scalers(kinds, torch.Generator().manual_seed(0))
    steps = scalers["w"].diff(dim=0)
    torch.testing.assert_close(steps, steps[:1].expand_as(steps))  # equal steps: A + l/4 B
    bent = {name: stack + torch.randn(stack.shape, generator=torch.Generator().manual_seed(1))
            for name, stack in scalers.items()}
    before = {name: stack.clone() for name, stack in bent.items()}
    con.after_step(bent, kinds)
    residual = (before["w"] - bent["w"]).reshape(5, -1)
    t = torch.linspace(0, 1, 5)[:, None]
    # least squares: the residual is orthogonal to both columns of the design (1, l/(L-1))
    torch.testing.assert_close(residual.sum(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close((t * residual).sum(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(bent["one"], before["one"])  # one layer is a line already
    # a deeper size continues the line exactly; a free (learned) bank is left as the optimizer put it
    deeper = con.seed_scalers({"w": bent["w"]}, [_kind("w", (4, 4), (2, 1), 0.02, layers=9)], None)["w"]
    a, b = bent["w"][0], bent["w"][-1] - bent["w"][0]
    torch.testing.assert_close(deeper, torch.stack([a + layer / 8 * b for layer in range(9)]))
    free = {"w": before["w"].clone()}
    KroneckerConstraint(KroneckerConfig(template_width=4, num_templates=2)).after_step(free, kinds[:1])
    assert torch.equal(free["w"], before["w"])


def test_seeding_kronecker_scalers_at_new_sizes():
    """Kinds the source lacks keep their fresh init; the others are resized (depth, width, fan-in)."""
    con = KroneckerConstraint(KroneckerConfig(template_width=4, num_templates=2))
    source = {"w": torch.randn(2, 2, 1, 1, generator=torch.Generator().manual_seed(0))}
    target = [_kind("w", (4, 4), (2, 2), 0.02, layers=3), _kind("new", (4, 4), (1, 1), 0.02)]
    seeded = con.seed_scalers(source, target, torch.Generator())
    assert set(seeded) == {"w"} and seeded["w"].shape == (3, 2, 2, 2)
    middle = (source["w"][0] + source["w"][1]) / 2
    torch.testing.assert_close(seeded["w"][1], middle.expand(2, 2, 2) / 2)  # two input replicas: halved
    torch.testing.assert_close(seeded["w"][0], source["w"][0].expand(2, 2, 2) / 2)


def test_resize_free_rescales_input_replicas_of_a_fan_in_kind():
    source, target = _kind("w", (2, 3), (1, 1), 0.02, layers=1), _kind("w", (2, 3), (1, 2), 0.02, layers=1)
    stack = torch.arange(6.0).view(1, 2, 3)
    wider = resize_free(stack, source, target)  # each input feature is now two replicas: half the weight each
    torch.testing.assert_close(wider, stack.repeat_interleave(2, dim=2) / 2)
    plain = _kind("w", (2, 3), (1, 2), 0.02, layers=1, vector=True)  # not fan-in: values kept
    torch.testing.assert_close(resize_free(stack, _kind("w", (2, 3), (1, 1), 0.02, layers=1, vector=True), plain),
                               stack.repeat_interleave(2, dim=2))


def test_a_bank_with_free_vectors_seeds_them_at_new_sizes():
    fam = get_family("vit")
    con = build_constraint("kronecker", {"template_width": 16, "num_templates": 2, "vectors": "free"})
    net = TemplateNet(fam, con, [fam.parse_size("32x2")], ImageSpec(8, 1, 2), 10, seed=0)
    bank = TemplateBank.from_net(net, {"train": {}})
    source = {k.name: k for k in fam.kinds(fam.parse_size("32x2"), ImageSpec(8, 1, 2), 16, 4.0)}
    target = {k.name: k for k in fam.kinds(fam.parse_size("64x3"), ImageSpec(8, 1, 2), 16, 4.0)}
    name = "blocks.*.norm1.weight"
    stack = torch.stack([bank.tensors[f"free/32x2h1/blocks.{i}.norm1.weight"] for i in range(2)]).view(2, 32, 1)
    expected = resize_free(stack, source[name], target[name])
    seeded = bank.build_net("64x3", 10).model()
    for layer in range(3):
        torch.testing.assert_close(seeded.blocks[layer].norm1.weight, expected[layer].view(64))


def test_describe_and_serves_state_the_config_in_full():
    """`sizeless info` shows these lines: every number and choice of the config, word for word."""
    plain = KroneckerConstraint(KroneckerConfig(template_width=24, num_templates=3, template_mlp_ratio=2.0,
                                                vectors="free"))
    assert plain.describe() == "Kronecker, template width 24, 3 templates per kind, free vectors"
    assert plain.serves() == ("widths that are multiples of the template width 24 (MLPs: hidden sizes that are "
                              "multiples of 48), any depth")
    learngene = KroneckerConstraint(KroneckerConfig(template_width=16, num_templates=2, scalers="linear"))
    assert learngene.describe() == ("Kronecker, template width 16, 2 templates per kind, template vectors, "
                                    "fixed linear scalers (a TLEG learngene)")
    assert learngene.serves() == "width 16 only (a learngene changes depth), any depth"


def test_initial_scalers_come_from_the_generator_alone():
    """As for templates: the same generator seed gives the same scalers whatever the global RNG holds, which is
    left untouched."""
    con = KroneckerConstraint(KroneckerConfig(template_width=8, num_templates=2))
    kinds = [_kind("w", (8, 8), (2, 3), 0.02, layers=3)]
    torch.manual_seed(1)
    first = con.init_scalers(kinds, torch.Generator().manual_seed(5))["w"]
    torch.manual_seed(2)
    state = torch.random.get_rng_state()
    again = con.init_scalers(kinds, torch.Generator().manual_seed(5))["w"]
    assert first.shape == (3, 2, 2, 3) and torch.equal(first, again)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_learngene_scalers_are_tlegs_fixed_ramp_for_every_kind_and_depth():
    """TLEG: layer l of L composes T[0] + l/(L-1) T[1] (L = 1: T[0] alone), for each kind, not just the first."""
    con = KroneckerConstraint(KroneckerConfig(template_width=8, num_templates=2, scalers="linear"))
    kinds = [_kind("one", (8, 8), (1, 1), 0.02, layers=1), _kind("two", (8, 8), (1, 1), 0.02, layers=2),
             _kind("three", (8, 8), (1, 1), 0.02, layers=3)]
    scalers = con.init_scalers(kinds, torch.Generator().manual_seed(0))
    expected = {"one": [[1.0, 0.0]], "two": [[1.0, 0.0], [1.0, 1.0]], "three": [[1.0, 0.0], [1.0, 0.5], [1.0, 1.0]]}
    assert set(scalers) == set(expected)
    for name, ramp in expected.items():
        assert torch.equal(scalers[name], torch.tensor(ramp).view(len(ramp), 2, 1, 1)), name


def test_a_learngene_serves_its_own_width_only():
    con = KroneckerConstraint(KroneckerConfig(template_width=8, num_templates=2, scalers="linear"))
    own = [_kind("attn.qkv", (24, 8), (1, 1), 0.02, layers=5)]
    assert con.check_serves(own) == own  # any depth
    with pytest.raises(UnsupportedSize, match=r"keeps the learngene's width 8: .* attn.qkv of shape \(48, 16\)"):
        con.check_serves([_kind("attn.qkv", (24, 8), (2, 2), 0.02)])


def test_a_learngenes_scalers_stay_fixed_and_its_templates_train():
    fam = get_family("vit")
    con = build_constraint("kronecker", {"template_width": 32, "num_templates": 2, "scalers": "linear"})
    net = TemplateNet(fam, con, [fam.parse_size("32x3")], ImageSpec(8, 1, 2), 10)
    assert not any(p.requires_grad for p in net.scalers.parameters())  # TLEG: 1 and l/(L-1), never trained
    assert all(p.requires_grad for p in net.templates.parameters())
    learned = TemplateNet(fam, build_constraint("kronecker", {"template_width": 32, "num_templates": 2}),
                          [fam.parse_size("32x3")], ImageSpec(8, 1, 2), 10)
    assert all(p.requires_grad for p in learned.scalers.parameters())


def test_the_default_seed_is_zero():
    """TemplateNet's default seed is the command line's default (--seed 0): the same net either way."""
    fam = get_family("vit")
    con = build_constraint("kronecker", {"template_width": 16, "num_templates": 2})
    size, image = [fam.parse_size("32x2")], ImageSpec(8, 1, 2)
    default, zero = TemplateNet(fam, con, size, image, 10), TemplateNet(fam, con, size, image, 10, seed=0)
    one = TemplateNet(fam, con, size, image, 10, seed=1)
    def same(a: TemplateNet, b: TemplateNet) -> bool:
        return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))

    assert same(default, zero) and not same(default, one)


def test_a_narrower_run_of_a_second_size_is_seeded_from_that_sizes_scalers():
    """Multi-size nets: size sampling narrows the size asked for, not the first one."""
    fam = get_family("vit")
    con = build_constraint("kronecker", {"template_width": 16, "num_templates": 2})
    net = TemplateNet(fam, con, [fam.parse_size("32x2"), fam.parse_size("64x2h2")], ImageSpec(8, 1, 2), 10)
    _, narrowed = net.weights("64x2h2", width=32)
    kinds = con.templated(fam.kinds(fam.parse_size("32x2h1"), ImageSpec(8, 1, 2), 16, 4.0))
    expected = con.compose(net.template_tensors(), con.seed_scalers(net.scaler_tensors("64x2h2"), kinds, None), kinds)
    name = "blocks.*.attn.qkv.weight"
    torch.testing.assert_close(narrowed["blocks.0.attn.qkv.weight"], expected[name][0])
    assert not torch.allclose(narrowed["blocks.0.attn.qkv.weight"], net.composed("32x2h1")["blocks.0.attn.qkv.weight"])
