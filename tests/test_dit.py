"""The DiT family: composition against diffusers' own model, the folder format, diffusion, sampling, metrics."""

import json

import pytest
import torch
from diffusers import DDPMScheduler, DiTTransformer2DModel

from sizeless.api import generate, initialize_full, pretrain, train
from sizeless.bank import TemplateBank
from sizeless.constraints import build_constraint
from sizeless.data import ImageData, Split
from sizeless.diffusion import Diffusion, DiffusionConfig
from sizeless.errors import SizelessError, UnsupportedSize
from sizeless.families import ImageSpec, get_family
from sizeless.generation import SampleConfig
from sizeless.models import load_model
from sizeless.templated import TemplateNet
from sizeless.training import TrainConfig, evaluate

DIGITS = ImageSpec(8, 1, 2)
CONSTRAINTS = {"kronecker": {"template_width": 16, "num_templates": 2}, "tucker": {"ranks": [8, 16, 16]}}


def _inputs(n=3):
    generator = torch.Generator().manual_seed(0)
    return (torch.randn(n, 1, 8, 8, generator=generator), torch.tensor([0, 500, 999])[:n],
            torch.tensor([0, 3, 10])[:n])  # label 10: the null label


def _perturbed_net(constraint, embeddings, sizes=("32x2",)):
    family = get_family("dit", {"embeddings": embeddings})
    net = TemplateNet(family, build_constraint(constraint, CONSTRAINTS[constraint]),
                      [family.parse_size(s) for s in sizes], DIGITS, 10, seed=0).eval()
    with torch.no_grad():  # DiT starts at zero output (adaLN-Zero); move every parameter so outputs carry signal
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.05)
    return net


@pytest.mark.parametrize("constraint", ["kronecker", "tucker"])
@pytest.mark.parametrize("embeddings", ["shared", "templated", "free"])
def test_templated_dit_equals_its_exported_diffusers_model(constraint, embeddings, tmp_path):
    net = _perturbed_net(constraint, embeddings)
    x, t, y = _inputs()
    with torch.no_grad():
        expected = net(x, timestep=t, class_labels=y, return_dict=False)[0]
        plain = net.export().eval()
        assert type(plain) is DiTTransformer2DModel
        torch.testing.assert_close(plain(x, timestep=t, class_labels=y).sample, expected)
        assert expected.abs().mean() > 1e-3  # not a trivial all-zero comparison
    if embeddings == "shared":  # exported blocks hold copies of the one embedder: diffusers' own layout
        emb = [b.norm1.emb.timestep_embedder.linear_1.weight for b in plain.transformer_blocks]
        assert emb[0].data_ptr() != emb[1].data_ptr() and torch.equal(emb[0], emb[1])


def test_which_parameters_each_constraint_templates():
    family = get_family("dit")
    kinds = family.kinds(family.parse_size("64x2"), DIGITS, 32, 4.0)
    kron = {k.name for k in build_constraint("kronecker", CONSTRAINTS["kronecker"]).templated(kinds)}
    tucker = {k.name for k in build_constraint("tucker", CONSTRAINTS["tucker"]).templated(kinds)}
    leaves = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "ff.net.0.proj", "ff.net.2", "norm1.linear")
    matrices = {f"transformer_blocks.*.{leaf}.weight" for leaf in leaves}
    assert tucker == matrices  # attention, MLP and the 6D x D adaLN modulation of every block
    assert matrices < kron and "proj_out_1.weight" in kron  # Kronecker also composes vectors and the output layers
    assert not any("norm1.emb" in name for name in kron | tucker)  # free embedders (the default)
    templated = get_family("dit", {"embeddings": "templated"})
    kinds = templated.kinds(templated.parse_size("64x2"), DIGITS, 32, 4.0)
    assert "transformer_blocks.*.norm1.emb.timestep_embedder.linear_2.weight" in {
        k.name for k in build_constraint("tucker", CONSTRAINTS["tucker"]).templated(kinds)}


@pytest.mark.parametrize("constraint", ["kronecker", "tucker"])
def test_adaln_modulation_starts_at_zero(constraint):
    family = get_family("dit")
    net = TemplateNet(family, build_constraint(constraint, CONSTRAINTS[constraint]), [family.parse_size("32x2")],
                      DIGITS, 10, seed=0)
    composed = net.composed()
    for layer in range(2):
        assert torch.count_nonzero(composed[f"transformer_blocks.{layer}.norm1.linear.weight"]) == 0
        assert composed[f"transformer_blocks.{layer}.attn1.to_q.weight"].std() > 0
    torch.manual_seed(0)  # the objective draws noise, timesteps and dropped labels from the global generator
    objective, optimizer = Diffusion(DiffusionConfig(), 10), torch.optim.Adam(net.parameters(), lr=1e-2)
    images, labels = torch.rand(8, 1, 8, 8) * 2 - 1, torch.arange(8)
    for _ in range(3):  # the output layer moves first, then the zero-started modulation gets its gradient
        loss, _ = objective(net, images, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.count_nonzero(net.composed()["transformer_blocks.0.norm1.linear.weight"]) > 0


def test_save_pretrained_round_trip_with_scheduler(tmp_path, digits):
    net = _perturbed_net("kronecker", "shared")
    model = net.export()
    init = get_family("dit").model_args(get_family("dit").parse_size("32x2"), DIGITS, 10)
    from sizeless.models import save_model

    save_model(model, tmp_path / "m", *init, digits, {"family": "dit", "size": "32x2h1"})
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert files == {"config.json", "diffusion_pytorch_model.safetensors", "scheduler_config.json", "README.md"}
    again = DiTTransformer2DModel.from_pretrained(tmp_path / "m").eval()
    scheduler = DDPMScheduler.from_pretrained(tmp_path / "m")
    assert scheduler.config.num_train_timesteps == 1000 and scheduler.config.beta_schedule == "linear"
    x, t, y = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(again(x, timestep=t, class_labels=y).sample,
                                   model.eval()(x, timestep=t, class_labels=y).sample)
    loaded, config = load_model(tmp_path / "m")
    assert config["sizeless"]["family"] == "dit" and config["sizeless"]["label_names"] == [str(i) for i in range(10)]
    assert loaded.transformer_blocks[0].norm1.emb.class_embedder.dropout_prob == 0.0  # the objective drops labels


@pytest.fixture(scope="module")
def dit_bank(tmp_path_factory, digits):
    out = tmp_path_factory.mktemp("dit-bank")
    return pretrain(digits, ["32x2"], family="dit", constraint_config=CONSTRAINTS["kronecker"],
                    config=TrainConfig(epochs=1, batch_size=64, lr=2e-3, weight_decay=0.0), out=out), out


def test_pretrain_records_the_diffusion_objective(dit_bank):
    bank, _ = dit_bank
    assert bank.config["objective"] == "diffusion" and bank.config["diffusion"]["num_train_timesteps"] == 1000
    assert "val_loss" in bank.config and bank.config["val_loss"]["32x2h1"] < 1.0
    tables = [k for k in bank.tensors if "class_embedder" in k]  # task-specific: stored apart, like a head
    assert tables and all(k.startswith("head/32x2h1/transformer_blocks.") for k in tables)


def test_a_few_diffusion_steps_on_digits_lower_the_loss(digits):
    objective = Diffusion(DiffusionConfig(), digits.num_classes)
    torch.manual_seed(0)
    family = get_family("dit")
    model = family.build(family.parse_size("32x2"), DIGITS, 10)
    from sizeless.training import fit

    before = evaluate(model, model, digits, objective=objective)["loss"]
    fit(model, digits, TrainConfig(steps=30, batch_size=64, lr=3e-3, warmup=0.1, weight_decay=0.0),
        objective=objective)
    after = evaluate(model, model, digits, objective=objective)["loss"]
    assert before > 0.9 and after < 0.8 * before, (before, after)
    assert evaluate(model, model, digits, objective=objective)["loss"] == after  # fixed noise and timesteps


def test_init_transfers_to_new_classes_and_trains(dit_bank, digits, tmp_path):
    bank, _ = dit_bank
    five = ImageData("five", Split(digits.train.images[digits.train.labels < 5], digits.train.labels[
        digits.train.labels < 5]), Split(digits.val.images[digits.val.labels < 5], digits.val.labels[
            digits.val.labels < 5]), 5, [str(i) for i in range(5)], augment=False, mean=(0.5,), std=(0.5,))
    init = initialize_full("64x3", five, bank=bank, fit=TrainConfig(steps=5, batch_size=32, lr=3e-3, weight_decay=0.0),
                           out=tmp_path / "m")
    assert init.meta["fit_val_loss"] is not None and init.meta["diffusion"]["beta_end"] == 0.02
    model, _ = load_model(tmp_path / "m")
    assert get_family("dit").num_classes(model) == 5 and model.transformer_blocks[0].norm1.emb.class_embedder \
        .embedding_table.weight.shape == (6, 64)
    model, result = train(tmp_path / "m", digits, TrainConfig(steps=3, batch_size=32, weight_decay=0.0),
                          out=tmp_path / "t")
    assert get_family("dit").num_classes(model) == 10 and "val_loss" in result.history[-1]
    assert json.loads((tmp_path / "t" / "config.json").read_text())["num_embeds_ada_norm"] == 10


def test_label_tables_carry_to_the_bank_classes_and_a_deeper_block_takes_the_nearest(dit_bank, digits):
    """The label tables are the task-specific part, carried like a classifier's head: for the bank's own classes each
    block starts with the bank's table (resized to the width; a block deeper than the bank's, the nearest one's), for
    other classes with a new one."""
    bank, _ = dit_bank
    init = initialize_full("64x3", digits, bank=bank, fit=TrainConfig(steps=0, batch_size=32))
    assert init.meta["head"] == "the bank's"
    table = "transformer_blocks.{}.norm1.emb.class_embedder.embedding_table.weight"
    for block, source in ((0, 0), (1, 0), (2, 1)):  # l * 1/2 rounded half to even: 0.5 -> 0, 1.0 -> 1
        stored = bank.tensors[f"head/32x2h1/{table.format(source)}"]
        torch.testing.assert_close(init.model.get_parameter(table.format(block)),
                                   bank.constraint.resize_features(stored, 64, 1, False))
    other = ImageData("other", digits.train, digits.val, 10, [f"c{i}" for i in range(10)], augment=False,
                      mean=(0.5,), std=(0.5,))  # ten classes, but not the bank's
    assert initialize_full("32x2", other, bank=bank, fit=TrainConfig(steps=0, batch_size=32)).meta["head"] == "new"
    older = TemplateBank(bank.config, {k: v for k, v in bank.tensors.items() if not k.startswith("head/")})
    assert initialize_full("32x2", digits, bank=older, fit=TrainConfig(steps=0, batch_size=32)).meta["head"] == "new"


@pytest.mark.parametrize("method", ["scratch", "mimetic", "weight-selection", "linear-expansion", "direct"])
def test_every_baseline_builds_a_dit(method, dit_bank, digits, tmp_path):
    bank, _ = dit_bank
    kw = {"family": "dit", "seed": 1}
    if method == "weight-selection":
        initialize_full("64x3", digits, method="scratch", family="dit", out=tmp_path / "teacher")
        kw["teacher"] = tmp_path / "teacher"
    if method == "linear-expansion":
        kw["bank"] = pretrain(digits, ["32x2"], family="dit", constraint_config={
            "template_width": 32, "num_templates": 2, "scalers": "linear"}, config=TrainConfig(steps=2, batch_size=32))
    if method == "direct":
        kw["bank"] = bank
        kw["pretrain_config"] = TrainConfig(steps=2, batch_size=32, weight_decay=0.0)
    size = "32x4" if method == "linear-expansion" else "32x2"
    init = initialize_full(size, digits, method=method, fit=TrainConfig(steps=2, batch_size=32), **kw)
    assert type(init.model) is DiTTransformer2DModel and init.model.config.num_layers == int(size[-1])
    if method == "weight-selection":  # adaLN chunks keep the same channels: chunk c of the student from chunk c
        student = init.model.transformer_blocks[0].norm1.linear.weight
        teacher, _ = load_model(tmp_path / "teacher")
        chunks = teacher.transformer_blocks[0].norm1.linear.weight.view(6, 64, 64)[:, ::2, ::2]
        torch.testing.assert_close(student.view(6, 32, 32), chunks)


def _tiny_model(tmp_path, digits):
    family = get_family("dit")
    torch.manual_seed(0)
    model = family.build(family.parse_size("32x1"), DIGITS, 10)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    from sizeless.models import save_model

    save_model(model, tmp_path / "dit", *family.model_args(family.parse_size("32x1"), DIGITS, 10), digits,
               {"family": "dit", "size": "32x1h1"})
    return tmp_path / "dit"


@pytest.mark.parametrize("scheduler", ["ddim", "dpm"])
def test_sampling_shape_and_determinism_by_seed(tmp_path, digits, scheduler):
    path = _tiny_model(tmp_path, digits)
    config = SampleConfig(num_images=5, classes=[3, 5], steps=3, guidance=1.5, seed=7, scheduler=scheduler)
    images, labels = generate(path, config, progress=False)
    assert images.shape == (5, 1, 8, 8) and images.dtype == torch.uint8 and labels.tolist() == [3, 5, 3, 5, 3]
    again, _ = generate(path, SampleConfig(**{**config.__dict__, "batch_size": 2}), progress=False)
    assert torch.equal(images, again)  # the batch size does not change the result
    other, _ = generate(path, SampleConfig(**{**config.__dict__, "seed": 8}), progress=False)
    assert not torch.equal(images, other)


def test_sample_writes_a_grid_and_a_parquet_that_load_data_reads(tmp_path, digits, run_cli):
    path = _tiny_model(tmp_path, digits)
    code, _, err = run_cli("sample", "--model", str(path), "--num-images", "6", "--steps", "2", "--format", "parquet",
                           "--out", str(tmp_path / "s"))
    assert code == 0, err
    assert {p.name for p in (tmp_path / "s").iterdir()} == {"grid.png", "train.parquet", "samples.json"}
    from sizeless.data import load_data

    data = load_data(str(tmp_path / "s"))
    assert data.num_classes == 10 and len(data.train) + len(data.val) == 6 and data.img_size == 8
    code, _, err = run_cli("sample", "--model", str(path), "--num-images", "3", "--steps", "1", "--out",
                           str(tmp_path / "p"))
    assert code == 0, err
    assert len(list((tmp_path / "p" / "images").rglob("*.png"))) == 3


@pytest.mark.parametrize("args, message", [
    (["sample", "--model", "{clf}", "--out", "{tmp}/s"], "vit model, not a generator"),
    (["sample", "--model", "{dit}", "--classes", "3,12", "--out", "{tmp}/s"], "unknown class 12"),
    (["sample", "--model", "{dit}", "--guidance", "-1", "--out", "{tmp}/s"], "--guidance must be a finite number >= 0"),
    (["sample", "--model", "{dit}", "--steps", "0", "--out", "{tmp}/s"], "--steps must be a whole number >= 1"),
    (["sample", "--model", "{dit}", "--scheduler", "euler", "--out", "{tmp}/s"], "--scheduler must be one of"),
    (["eval", "--model", "{dit}", "--data", "digits", "--feature-model", "{clf}", "--inception-weights",
      "{tmp}/bad.safetensors", "--num-images", "4"], "not InceptionV3 weights"),
    (["eval", "--model", "{dit}", "--data", "digits", "--feature-model", "{dit}", "--num-images", "4"],
     "not a classifier"),
    (["init", "--bank", "{bank}", "--family", "vit", "--size", "32x2", "--data", "digits", "--out", "{tmp}/s"],
     "--family vit but the bank holds dit templates"),
    (["train", "--model", "{dit}", "--family", "vit", "--data", "digits", "--out", "{tmp}/s"],
     "--family vit but"),
    (["pretrain", "--family", "dit", "--objective", "supervised", "--size", "32x2", "--data", "digits", "--out",
      "{tmp}/s"], "--objective supervised is not available for the dit family"),
    (["train", "--size", "32x2", "--objective", "diffusion", "--data", "digits", "--out", "{tmp}/s"],
     "--objective diffusion is not available for the vit family"),
    (["train", "--size", "32x2m2", "--family", "dit", "--data", "digits", "--out", "{tmp}/s"],
     "fixes the MLP ratio at 4"),
])
def test_bad_generator_input_is_one_line_and_writes_nothing(args, message, tmp_path, digits, dit_bank, run_cli):
    from safetensors.torch import save_file

    from sizeless.models import save_model

    dit = _tiny_model(tmp_path, digits)
    clf = tmp_path / "clf"
    vit = get_family("vit")
    save_model(vit.build(vit.parse_size("32x1"), DIGITS, 10), clf, *vit.model_args(vit.parse_size("32x1"), DIGITS, 10),
               digits, {"family": "vit", "size": "32x1h1"})
    save_file({"fc.weight": torch.zeros(3, 3)}, str(tmp_path / "bad.safetensors"))
    code, _, err = run_cli(*[a.format(dit=dit, clf=clf, bank=dit_bank[1], tmp=tmp_path) for a in args])
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    assert not (tmp_path / "s").exists()


def test_sample_refuses_a_folder_that_is_not_empty(tmp_path, digits):
    path = _tiny_model(tmp_path, digits)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "keep.txt").write_text("mine")
    with pytest.raises(SizelessError, match="not empty"):
        generate(path, SampleConfig(num_images=2, steps=1), out=tmp_path / "s", progress=False)
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["keep.txt"]


def test_tucker_dit_runs_at_narrower_widths_for_stochastic_width():
    family = get_family("dit")
    net = TemplateNet(family, build_constraint("tucker", CONSTRAINTS["tucker"]), [family.parse_size("64x2")], DIGITS,
                      10, seed=0)
    x, t, y = _inputs(2)
    out = net(x, None, 32, timestep=t, class_labels=y, return_dict=False)[0]  # leading slices of the 64-wide size
    assert out.shape == x.shape
    out.sum().backward()
    assert net.templates["G"].grad is not None
    # and at a smaller depth: the deeper block's label table stays out of the shallower model
    assert net(x, None, 32, 1, timestep=t, class_labels=y, return_dict=False)[0].shape == x.shape


def test_info_reads_the_record_diffusers_keeps_under_its_private_key(tmp_path, digits):
    from sizeless.describe import describe_path

    facts = dict(describe_path(_tiny_model(tmp_path, digits)))
    assert "DiTTransformer2DModel" in facts["model"] and facts["size"].startswith("32x1h1")
    assert "DiTTransformer2DModel.from_pretrained" in facts["load"]


@pytest.mark.parametrize("embeddings", ["free", "shared"])
def test_a_shallower_narrower_sub_size_runs_with_its_own_embedders_and_label_tables(embeddings):
    """Size sampling: a sub-size is a plain DiT fed resized tensors; with shared embedders its blocks are tied as
    the size's are, and the deeper blocks' label tables (task parameters) have no place in it."""
    net = _perturbed_net("kronecker", embeddings, sizes=("64x4h2",))
    if embeddings == "shared":  # one embedder module for all blocks: its parameters are block 0's, held once
        names = [n for n, _ in net.named_parameters() if ".norm1.emb." in n]
        assert names and all(".transformer_blocks.0." in n for n in names)
    x, t, y = _inputs()
    with torch.no_grad():
        out = net(x, timestep=t, class_labels=y, depth=2, width=32).sample
        full = net(x, timestep=t, class_labels=y).sample
    assert out.shape == full.shape == x.shape and torch.isfinite(out).all()
    assert not torch.allclose(out, full)  # another model, not the size's own


def test_weight_selection_takes_a_dit_teachers_patch_size(digits, tmp_path):
    """A DiT's patch size lives in its folder's model_args: the student is built at the teacher's patch, not at
    the default one (a larger patch would be selected down without an error, silently changing the model)."""
    initialize_full("64x2", digits, method="scratch", family="dit", patch_size=4, out=tmp_path / "teacher")
    init = initialize_full("32x1", digits, method="weight-selection", family="dit", teacher=tmp_path / "teacher")
    assert init.model.config.patch_size == 4 and init.model_args["patch_size"] == 4
    assert init.model.config.sample_size == 8 and init.model.config.in_channels == 1


def test_a_dit_narrower_than_a_patchs_values_is_refused():
    # a 32-wide token cannot carry the 48 noise values of a 4x4 RGB patch: such a model's loss stays above 1/3
    family, cifar = get_family("dit"), ImageSpec(32, 3, 4)
    with pytest.raises(UnsupportedSize, match="below the 48 values of a 4x4 patch of 3 channels"):
        family.build(family.parse_size("32x2"), cifar, 10)
    assert family.build(family.parse_size("48x1"), cifar, 10)(
        torch.randn(1, 3, 32, 32), timestep=torch.tensor([5]), class_labels=torch.tensor([1]),
        return_dict=False)[0].shape == (1, 3, 32, 32)


def test_a_deeper_sub_size_takes_each_blocks_label_table_from_the_nearest_block():
    """Size sampling at a depth beyond the size's: each block's label table (the deeper ones are task parameters the
    size does not hold) is that of the block at the nearest relative depth, which a step then trains; a narrower
    width keeps the leading replicas of a table's columns, unscaled (a table writes the width, it does not sum over
    it)."""
    net = _perturbed_net("kronecker", "free", sizes=("64x4h2",))
    table = "transformer_blocks.{}.norm1.emb.class_embedder.embedding_table.weight"
    base = dict(net.model().named_parameters())
    _, params = net.weights(None, None, 6)
    for block, source in ((0, 0), (1, 1), (2, 1), (3, 2), (4, 2), (5, 3)):  # l * 3/5 rounded
        assert torch.equal(params[table.format(block)], base[table.format(source)]), block
    _, narrow = net.weights(None, 32, None)  # template width 16: four replicas per column, the leading two kept
    leading = base[table.format(0)].view(11, 16, 4)[:, :, :2].reshape(11, 32)
    assert torch.equal(narrow[table.format(0)], leading)
    x, t, y = _inputs()
    net(x, None, None, 6, timestep=t, class_labels=y).sample.sum().backward()
    assert base[table.format(2)].grad.abs().sum() > 0  # block 4 is block 2's table


def test_nearest_block_maps_only_the_familys_blocks():
    """A deeper model's block ``l`` reads block ``round(l (L_own - 1) / (L - 1))``; names outside the family's
    blocks (an indexed head such as a policy's ``predict_action.0``) and families that name no blocks map to
    themselves, as does every name at a depth the source has."""
    from sizeless.families import nearest_block

    dit, table = get_family("dit"), "transformer_blocks.{}.norm1.emb.class_embedder.embedding_table.weight"
    deeper = [nearest_block(dit, table.format(b), 6, 4) for b in range(6)]
    assert deeper == [table.format(b) for b in (0, 1, 1, 2, 2, 3)]
    assert nearest_block(dit, table.format(3), 4, 6) == table.format(3)
    assert nearest_block(dit, "head.3.weight", 6, 2) == "head.3.weight"  # an index, but not a block's
    policy = get_family("decision-transformer")
    assert nearest_block(policy, "predict_action.3.weight", 6, 2) == "predict_action.3.weight"


def test_a_size_sampled_dit_bank_counts_the_flops_its_draws_cost(digits):
    from sizeless.families import example_macs
    from sizeless.sampling import SizeSampling, size_draws, sub_size

    family = get_family("dit")
    sampling = SizeSampling((32, 64), depths=(1, 2, 3))
    bank = pretrain(digits, ["64x2h4"], family="dit", size_sampling=sampling, constraint_config=CONSTRAINTS["kronecker"]
                    | {"scalers": "ramp"}, config=TrainConfig(steps=3, batch_size=8, lr=1e-3))
    draw = size_draws(["64x2h4"], sampling, 0)
    drawn = [family.build(sub_size(family.parse_size("64x2h4"), *draw(step)[1:]), DIGITS, 10) for step in range(3)]
    assert bank.config["train_flops"] == sum(6 * 8 * example_macs(family, m, DIGITS) for m in drawn)
    assert set(bank.config["val_loss"]) == {"64x2h4", "64x2h4@32", "64x2h4@d1", "64x2h4@d3"}
