import copy
import dataclasses
import json
import shutil

import pytest
import torch

from sizeless.api import evaluate_model, initialize_full, pretrain
from sizeless.bench import BenchConfig, run_init_bench
from sizeless.bench.init_bench import _bank_tag
from sizeless.data import DataConfig, load_data
from sizeless.errors import SizelessError, UnsupportedSize
from sizeless.families import ImageSpec, get_family
from sizeless.files import load_tensors, read_json
from sizeless.initializers import InitOptions
from sizeless.initializers.base import KEEP_FINETUNE, REBUILD_FINETUNE
from sizeless.initializers.mimetic import mimetic
from sizeless.initializers.weight_selection import even_indices, select
from sizeless.models import save_model
from sizeless.training import TrainConfig

IMAGE = ImageSpec(8, 1, 2)


@pytest.fixture(scope="module")
def small():
    return load_data(DataConfig("digits", train_subset=200, val_subset=100))


def test_uniform_element_selection_by_hand():
    assert even_indices(8, 4).tolist() == [0, 2, 4, 6]
    assert even_indices(7, 3).tolist() == [0, 3, 6]
    w = torch.arange(24.0).view(6, 4)
    assert select(w, (3, 2)).tolist() == [[0.0, 2.0], [8.0, 10.0], [16.0, 18.0]]
    qkv = torch.arange(48.0).view(12, 4)  # q rows 0-3, k rows 4-7, v rows 8-11
    picked = select(qkv, (6, 2), row_groups=3)
    assert picked[:, 0].tolist() == [0.0, 8.0, 16.0, 24.0, 32.0, 40.0]  # rows 0,2 | 4,6 | 8,10
    assert picked[0].tolist() == [0.0, 2.0]


def test_weight_selection_from_a_larger_teacher(tmp_path, small):
    fam = get_family("vit")
    teacher = fam.build(fam.parse_size("64x4"), IMAGE, 10)
    save_model(teacher, tmp_path / "teacher", *fam.model_args(fam.parse_size("64x4"), IMAGE, 10), small)
    init = initialize_full("32x2h1", small, method="weight-selection", teacher=tmp_path / "teacher")
    student = init.model.state_dict()
    ref = teacher.state_dict()
    assert torch.equal(student["blocks.1.attn.qkv.weight"], select(ref["blocks.1.attn.qkv.weight"], (96, 32), 3))
    assert torch.equal(student["blocks.0.mlp.fc2.weight"], ref["blocks.0.mlp.fc2.weight"][::2, ::2])
    assert torch.equal(student["pos_embed"], ref["pos_embed"][..., ::2])
    with pytest.raises(SizelessError, match="needs a teacher at least as wide and deep"):
        initialize_full("96x2", small, method="weight-selection", teacher=tmp_path / "teacher")


def test_mimetic_attention_has_the_identity_like_form(small):
    model = mimetic("64x2h1", small, InitOptions(image=IMAGE, seed=0)).model
    dim = 64
    for block in model.blocks:
        wq, wk, wv = block.attn.qkv.weight.detach().view(3, dim, dim)
        qk = wq.T @ wk  # one head: the full-rank product alpha*Z/sqrt(D) + beta*I
        vo = wv.T @ block.attn.proj.weight.detach().T
        eye = torch.eye(dim, dtype=torch.bool)
        assert abs(qk[eye].mean().item() - 0.7) < 0.1 and abs(vo[eye].mean().item() + 0.4) < 0.06
        assert abs(qk[~eye].std().item() - 0.7 / dim**0.5) < 0.03
        assert abs(qk[~eye].mean().item()) < 0.02


def test_mimetic_heads_each_get_an_identity_like_rank_limited_product(small):
    model = mimetic("64x2h2", small, InitOptions(image=IMAGE, seed=0)).model
    wq, wk, _ = model.blocks[0].attn.qkv.weight.detach().view(3, 64, 64)
    for head in range(2):
        rows = slice(32 * head, 32 * (head + 1))
        qk = wq[rows].T @ wk[rows]
        assert torch.linalg.matrix_rank(qk) == 32
        diagonal = qk.diagonal().mean().item()
        assert diagonal > 0.25 and diagonal > 5 * abs((qk.sum() - qk.diagonal().sum()).item() / (64 * 63))


@pytest.mark.slow
def test_linear_expansion_layers_are_the_exact_interpolation(tmp_path, small):
    learngene = pretrain(small, ["32x2"], config=TrainConfig(epochs=1, batch_size=64), out=tmp_path / "gene",
                         constraint_config={"template_width": 32, "num_templates": 2, "scalers": "linear"})
    ramp = learngene.tensors["scaler/32x2h1/blocks.*.attn.qkv.weight"].view(2, 2)
    assert ramp.tolist() == [[1.0, 0.0], [1.0, 1.0]]  # fixed TLEG scalers, untouched by pre-training
    init = initialize_full("32x5", small, bank=tmp_path / "gene", method="linear-expansion")
    a, b = learngene.tensors["template/blocks.*.attn.qkv.weight"]
    for layer, block in enumerate(init.model.blocks):
        torch.testing.assert_close(block.attn.qkv.weight, a + layer / 4 * b)
    with pytest.raises(SizelessError, match="keeps the learngene's width 32"):
        initialize_full("64x5", small, bank=tmp_path / "gene", method="linear-expansion")
    with pytest.raises(SizelessError, match="use --method linear-expansion"):
        initialize_full("32x5", small, bank=tmp_path / "gene", method="templates")


def test_a_ramp_bank_pretrains_on_its_depth_line_and_seeds_any_depth(tmp_path, small):
    bank = pretrain(small, ["32x3"], config=TrainConfig(steps=4, batch_size=32, lr=1e-2), out=tmp_path / "ramp",
                    constraint_config={"template_width": 16, "num_templates": 2, "scalers": "ramp"})
    qkv = bank.tensors["scaler/32x3h1/blocks.*.attn.qkv.weight"]
    # the optimizer steps bend the scalers; each was projected back, so the middle layer is the endpoints' mean
    torch.testing.assert_close(qkv[1], (qkv[0] + qkv[2]) / 2)
    init = initialize_full("32x5", small, bank=tmp_path / "ramp", method="templates")
    assert init.meta["bank"]["constraint_config"]["scalers"] == "ramp"
    assert len(init.model.blocks) == 5


@pytest.mark.slow
def test_direct_pretrains_the_exact_size(tmp_path, small):
    init = initialize_full("32x2", small, method="direct", pretrain_config=TrainConfig(epochs=1, batch_size=50),
                           out=tmp_path / "direct")
    assert init.meta["pretrain_images"] == 4 * 50
    assert (tmp_path / "direct" / "fit" / "metrics.csv").exists()


@pytest.mark.slow
def test_tiny_bench_writes_every_artifact_and_reuses_its_runs(tmp_path):
    cfg = BenchConfig(data="digits", out=tmp_path / "bench", sizes=["32x3", "48x2"], fit_steps=1, epochs=2,
                      batch_size=50, train_subset=150, holdout=100, pretrain_subset=150, bank_size="32x2",
                      template_width=16, num_templates=2, pretrain_epochs=1, teacher_size="48x3",
                      direct_sizes=["32x3"])
    rows = run_init_bench(cfg)
    out = tmp_path / "bench"
    for name in ("results.csv", "results.json", "report.md", "curves.png", "final_by_params.png", "bank_curve.png"):
        assert (out / name).stat().st_size > 0, name
    ok = {(r["method"], r["size"]) for r in rows if r["status"] == "ok"}
    # seven methods x two sizes, but linear expansion cannot widen its learngene and full-budget direct runs at 32x3
    assert len(ok) == 12
    served = {(r["method"], r["size"]): r["status"] for r in rows if r["status"] != "ok"}
    assert served[("linear-expansion", "48x2h1")].startswith("n/a") and served[("direct", "48x2h1")].startswith("n/a")
    # the fit counts inside the target budget: template rows start after it and end with every method
    templates = [r for r in rows if r["method"] == "templates" and r["size"] == "32x3h1" and r["seed"] == 0]
    scratch = [r for r in rows if r["method"] == "scratch" and r["size"] == "32x3h1" and r["seed"] == 0]
    assert templates[0]["step"] == 1 and templates[0]["epoch"] > 0 and scratch[0]["epoch"] == 0
    assert max(r["target_images"] for r in templates) == max(r["target_images"] for r in scratch)
    assert all("test_acc" in r for r in templates)
    # FLOPs: the teacher (48x3) gets the bank's training FLOPs to the step, amortized direct a share of them
    meta = json.loads((out / "results.json").read_text())["meta"]
    bank_flops, teacher = meta["inputs"]["templates"]["flops"], meta["inputs"]["weight-selection"]
    assert abs(teacher["flops"] - bank_flops) <= teacher["flops"] / (teacher["images"] / 50) / 2
    full = next(r for r in rows if r["method"] == "direct" and r["status"] == "ok")
    amortized = next(r for r in rows if r["method"] == "direct-amortized" and r["size"] == full["size"])
    assert full["pretrain_flops"] > amortized["pretrain_flops"] * 1.5
    # every pre-training and target run records the threads its wall time is judged against
    threads = torch.get_num_threads()
    assert {r["pretrain_threads"] for r in (full, amortized, templates[-1])} == {threads}
    assert {r["train_threads"] for r in templates[1:]} == {threads}
    report = (out / "report.md").read_text()
    for text in ("templates - best other", "Not served", "PFLOPs", "Epochs to reach"):
        assert text in report, text
    first = json.loads((out / "results.json").read_text())["rows"]
    weights = sorted((out / "runs").rglob("model.safetensors"))
    stamps = [p.stat().st_mtime_ns for p in weights if p.parent.name.startswith("train")]
    again = run_init_bench(cfg)
    assert [r.get("test_acc") for r in again] == [r.get("test_acc") for r in first]
    assert stamps and stamps == [p.stat().st_mtime_ns for p in weights if p.parent.name.startswith("train")]
    for path in (out / "runs").rglob("*.safetensors"):  # the runs' JSON records alone (what a bench commits) suffice
        path.unlink()
    assert [r.get("test_acc") for r in run_init_bench(cfg)] == [r.get("test_acc") for r in first]
    assert not list((out / "runs").rglob("*.safetensors"))  # nothing was trained again
    for name in ("templates-32x3h1", "scratch-48x2h1"):  # a run whose record is gone: its init is redone, then trained
        (record,) = (out / "runs").glob(f"{name}-seed0*/train-*/history.json")
        record.unlink()
    assert [r.get("test_acc") for r in run_init_bench(cfg)] == [r.get("test_acc") for r in first]  # deterministic
    assert len(list((out / "runs").rglob("history.json"))) == len(stamps)
    # a bench run in pieces reports what has finished and trains nothing; n/a verdicts are records too
    (record,) = (out / "runs").glob("scratch-32x3h1-seed0*/train-*/history.json")
    record.unlink()
    for path in (out / "learngene").glob("*.safetensors"):  # a committed bench keeps its inputs' records only
        path.unlink()
    partial = run_init_bench(dataclasses.replace(cfg, finished_only=True))
    assert not record.exists() and {(r["method"], r["size"]) for r in partial} == \
        {(r["method"], r["size"]) for r in first} - {("scratch", "32x3h1")}
    assert {r["status"] for r in partial if r["method"] == "linear-expansion" and r["size"] == "48x2h1"} == \
        {served[("linear-expansion", "48x2h1")]}
    # the learngene could not be loaded, yet its cost is the one the first report recorded, not "unknown"
    cost = {(r["pretrain_images"], r["pretrain_cpu_seconds"]) for r in partial
            if r["method"] == "linear-expansion" and r["status"] == "ok"}
    assert cost == {(meta["inputs"]["linear-expansion"]["images"], meta["inputs"]["linear-expansion"]["cpu_seconds"])}
    assert {r["pretrain_seconds"] for r in partial if r["method"] == "scratch"} == {0.0}


def test_bench_sweeps_learning_rates_on_the_holdout_and_reuses_the_choice_for_other_seeds(tmp_path):
    cfg = BenchConfig(data="digits", out=tmp_path / "bench", sizes=["32x3"], methods=["templates", "scratch"],
                      fit_steps=1, epochs=2, batch_size=50, train_subset=150, holdout=100, pretrain_subset=150,
                      bank_size="32x2", template_width=16, num_templates=2, pretrain_epochs=1, lrs=[1e-4, 3e-3],
                      seeds=2)
    rows = [r for r in run_init_bench(cfg) if r["method"] == "scratch"]
    seed0, seed1 = ([r for r in rows if r["seed"] == seed] for seed in (0, 1))
    assert {r["lr"] for r in seed0} == {1e-4, 3e-3} and len({r["lr"] for r in seed1}) == 1
    final = {r["lr"]: r["val_acc"] for r in seed0 if r["epoch"] == 2}
    assert seed1[0]["lr"] == max(final, key=final.get)  # chosen on validation, not on test
    assert all(r["selected"] for r in seed1) and sum(r["selected"] for r in seed0 if r["epoch"] == 2) == 1
    assert "Learning-rate sweep" in (tmp_path / "bench" / "report.md").read_text()


@pytest.mark.slow
def test_a_bench_reuses_another_benchs_pretrained_inputs_without_writing_to_them(tmp_path):
    """--pretrained-from: one pre-training serves a second bench (a dense task, more sizes): its bank, teacher and
    direct runs are read, their costs carried over, amortized over the sizes they were built for."""
    first = BenchConfig(data="digits", out=tmp_path / "first", sizes=["32x3", "48x2"], fit_steps=1, epochs=1,
                        batch_size=50, train_subset=150, holdout=100, pretrain_subset=150, bank_size="32x2",
                        template_width=16, num_templates=2, pretrain_epochs=1, teacher_size="48x3",
                        methods=["templates", "weight-selection", "direct", "direct-amortized"], direct_sizes=["32x3"])
    built = {r["method"]: r for r in run_init_bench(first) if r["size"] == "32x3h1" and r["status"] == "ok"}
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "first").rglob("*") if p.is_file()}
    second = BenchConfig(data="digits", out=tmp_path / "second", sizes=["32x3"], fit_steps=1, epochs=1, batch_size=50,
                         train_subset=150, holdout=100, pretrained_from=tmp_path / "first",
                         methods=["templates", "weight-selection", "direct", "direct-amortized"])
    assert (second.bank_size, second.teacher_size, second.pretrain_epochs) == ("32x2", "48x3", 1)
    reused = {r["method"]: r for r in run_init_bench(second) if r["status"] == "ok"}
    for method in ("weight-selection", "direct", "direct-amortized"):  # the same pre-training, the same costs
        assert reused[method]["pretrain_flops"] == built[method]["pretrain_flops"] > 0, method
        assert reused[method]["amortized_pretrain_flops"] == built[method]["amortized_pretrain_flops"], method
    assert reused["direct-amortized"]["pretrain_images"] == built["direct-amortized"]["pretrain_images"]
    assert reused["templates"]["test_acc"] == built["templates"]["test_acc"]  # same bank, seed, data
    assert not [p.name for p in (tmp_path / "second").iterdir() if p.name.startswith(("bank", "teacher", "direct"))]
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "first").rglob("*") if p.is_file()}
    meta = json.loads((tmp_path / "second" / "results.json").read_text())["meta"]
    assert meta["served_sizes"] == 2 and "reused here" in (tmp_path / "second" / "report.md").read_text()
    # a size the first bench never pre-trained directly is refused, not pre-trained into its folder
    with pytest.raises(SizelessError, match="holds no direct-amortized pre-training at 32x2h1"):
        run_init_bench(dataclasses.replace(second, sizes=["32x2"], methods=["direct-amortized"]))
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "first").rglob("*") if p.is_file()}
    with pytest.raises(SizelessError, match="drop --bank"):
        BenchConfig(data="digits", out=tmp_path / "x", sizes=["32x3"], pretrained_from=tmp_path / "first",
                    bank=tmp_path / "first")
    with pytest.raises(SizelessError, match=r"no results\.json there"):
        BenchConfig(data="digits", out=tmp_path / "x", sizes=["32x3"], pretrained_from=tmp_path)


def test_pretraining_settings_that_contradict_the_reused_bench_are_refused(tmp_path):
    """With --pretrained-from the inputs exist already: a different pre-training setting would be dropped silently."""
    first = BenchConfig(data="digits", out=tmp_path / "first", sizes=["32x3"], bank_size="32x2", patch_size=4)
    (tmp_path / "first").mkdir()
    record = {"meta": {"config": dataclasses.asdict(first)}}
    (tmp_path / "first" / "results.json").write_text(json.dumps(record, default=str))
    reuse = dict(data="digits", out=tmp_path / "second", sizes=["48x3"], pretrained_from=tmp_path / "first")
    with pytest.raises(SizelessError, match=r"drop --patch-size 8 \(that bench: 4\).*--task-patch-size"):
        BenchConfig.from_profile(None, **reuse, patch_size=8)
    with pytest.raises(SizelessError, match=r"drop --bank-size 64x4 \(that bench: 32x2\)"):
        BenchConfig.from_profile(None, **reuse, bank_size="64x4")
    agreed = BenchConfig.from_profile(None, **reuse, patch_size=4, bank_size="32x2", constraint="kronecker")
    assert (agreed.bank_size, agreed.patch_size) == ("32x2", 4)


def test_profiles_fill_what_is_not_given_and_reject_unknown_names(tmp_path):
    cfg = BenchConfig.from_profile("quick", data="digits", out=tmp_path, sizes=None, epochs=7)
    assert cfg.epochs == 7 and cfg.sizes and cfg.holdout and cfg.profile == "quick"
    assert cfg.teacher_size == cfg.bank_size  # the teacher gets the bank's size (and FLOPs) unless given
    standard = BenchConfig.from_profile("standard", data="digits", out=tmp_path, sizes=None)
    assert standard.num_templates == 8 and cfg.num_templates == 4  # the standard ViT bank: N = 8, measured best
    kept = BenchConfig.from_profile("standard", data="digits", out=tmp_path, sizes=None, num_templates=4)
    assert kept.num_templates == 4  # a folder built with N = 4 continues with --num-templates 4
    with pytest.raises(SizelessError, match="unknown profile"):
        BenchConfig.from_profile("huge", data="digits", out=tmp_path)
    with pytest.raises(SizelessError, match="name the target sizes"):
        BenchConfig.from_profile(None, data="digits", out=tmp_path, sizes=None)
    with pytest.raises(SizelessError, match="--holdout"):
        BenchConfig(data="digits", out=tmp_path, sizes=["32x2"], lrs=[1e-3, 2e-3])
    with pytest.raises(SizelessError, match="--finished-only reads the image bench's run records"):
        BenchConfig(data="digits", out=tmp_path, sizes=["32x2"], family="decision-transformer", finished_only=True)


def test_direct_resets_the_head_when_the_classes_differ(tmp_path):
    source = load_data(DataConfig("digits", classes=[0, 1, 2, 3, 4]))
    target = load_data(DataConfig("digits", classes=[5, 6, 7, 8, 9]))
    budget = TrainConfig(steps=3, batch_size=32)
    other = initialize_full("32x2", target, method="direct", source=source, pretrain_config=budget,
                            out=tmp_path / "other", seed=1)
    same = initialize_full("32x2", source, method="direct", source=source, pretrain_config=budget,
                           out=tmp_path / "same", seed=1)
    kept, reset = same.model.get_classifier().weight, other.model.get_classifier().weight
    assert (same.meta["recommended"], other.meta["recommended"]) == (KEEP_FINETUNE, REBUILD_FINETUNE)
    assert not torch.equal(kept, reset)  # 5 classes each, but not the same 5: a new head
    body = {k: v for k, v in other.model.state_dict().items() if not k.startswith("head")}
    assert all(torch.equal(v, same.model.state_dict()[k]) for k, v in body.items())  # same pre-training


@pytest.mark.slow
def test_bench_builds_a_tucker_bank_that_serves_widths_kronecker_cannot(tmp_path):
    cfg = BenchConfig(data="digits", out=tmp_path / "bench", sizes=["40x2h1"], methods=["templates", "scratch"],
                      fit_steps=3, epochs=2, batch_size=50, train_subset=150, val_subset=100,
                      pretrain_subset=150, bank_size="32x2", constraint="tucker", ranks=(4, 8, 8), pretrain_epochs=1)
    rows = run_init_bench(cfg)
    (bank,) = (tmp_path / "bench").glob("bank-*")
    assert json.loads((bank / "config.json").read_text())["constraint"] == "tucker"
    assert {r["method"] for r in rows if r["status"] == "ok" and r["size"] == "40x2h1"} == {"templates", "scratch"}


def test_qkv_selection_per_group_at_a_width_ratio_that_does_not_divide(tmp_path, small):
    """128 -> 96 keeps rows round(i * 127/95) of q, of k and of v separately; selecting over the fused
    384 rows would mix q, k and v (at a ratio of 2 both give the same rows)."""
    fam = get_family("vit")
    size = fam.parse_size("128x2h4")
    teacher = fam.build(size, IMAGE, 10)
    save_model(teacher, tmp_path / "teacher", *fam.model_args(size, IMAGE, 10), small)
    student = initialize_full("96x1h3", small, method="weight-selection", teacher=tmp_path / "teacher").model
    keep = [round(i * 127 / 95) for i in range(96)]  # evenly spaced over 128, ends included
    weight, bias = teacher.blocks[0].attn.qkv.weight.detach(), teacher.blocks[0].attn.qkv.bias.detach()
    rows = [group * 128 + i for group in range(3) for i in keep]
    assert torch.equal(student.blocks[0].attn.qkv.weight, weight[rows][:, keep])
    assert torch.equal(student.blocks[0].attn.qkv.bias, bias[rows])
    hidden = [round(i * 511 / 383) for i in range(384)]
    assert torch.equal(student.blocks[0].mlp.fc1.weight, teacher.blocks[0].mlp.fc1.weight.detach()[hidden][:, keep])


def test_weight_selection_reestimates_batchnorm_statistics(tmp_path):
    """A ResNet's selected channels sum over fewer inputs than the teacher's: its BatchNorm statistics
    are measured again on the target data, and the model normalizes with them."""
    data = load_data(DataConfig("digits", train_subset=256, val_subset=64))  # two equal re-estimation batches
    fam = get_family("resnet")
    size, image = fam.parse_size("16x1-1-1-1"), ImageSpec(8, 1, 1)
    teacher = fam.build(size, image, 10)
    for module in teacher.modules():
        if isinstance(module, torch.nn.BatchNorm2d):  # statistics no target activation has
            module.running_mean.fill_(5.0)
            module.running_var.fill_(9.0)
    save_model(teacher, tmp_path / "teacher", *fam.model_args(size, image, 10), data,
               {"family": "resnet", "size": size.key})
    init = initialize_full("8x1-1-1-1", data, method="weight-selection", teacher=tmp_path / "teacher", patch_size=1)
    assert init.meta["teacher_size"] == "16x1-1-1-1"
    student = init.model.eval()
    reseeded = initialize_full("8x1-1-1-1", data, method="weight-selection", teacher=tmp_path / "teacher",
                               patch_size=1, seed=1).model
    # the seed picks the re-estimation batches too: the same images, grouped otherwise
    torch.testing.assert_close(reseeded.bn1.running_mean, student.bn1.running_mean, rtol=1e-4, atol=1e-5)
    assert not torch.equal(reseeded.bn1.running_var, student.bn1.running_var)
    norms = [m for m in student.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(not torch.equal(m.running_mean, torch.full_like(m.running_mean, 5.0)) for m in norms)
    x = data.normalize(data.train.images)
    with torch.no_grad():
        stem = student.conv1(x)
        torch.testing.assert_close(student.bn1.running_mean, stem.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
        normalized = student.bn1(stem)  # eval mode, the model's own statistics: the data comes out standardized
        torch.testing.assert_close(normalized.mean((0, 2, 3)), student.bn1.bias, rtol=0, atol=1e-4)
        torch.testing.assert_close(normalized.std((0, 2, 3)), student.bn1.weight.abs(), rtol=0.05, atol=1e-4)
        stale = copy.deepcopy(student)
        for module in stale.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.fill_(5.0)
                module.running_var.fill_(9.0)
        assert not torch.allclose(student(x[:8]), stale(x[:8]))


def test_weight_selection_records_what_it_did_and_draws_only_the_head(tmp_path, small):
    fam = get_family("vit")
    size = fam.parse_size("64x2")
    teacher = fam.build(size, IMAGE, 10)
    save_model(teacher, tmp_path / "teacher", *fam.model_args(size, IMAGE, 10), small)
    others = load_data(DataConfig("digits", classes=[1, 0, 2, 3, 4, 5, 6, 7, 8, 9], train_subset=200))  # a new head
    first, again, other = (initialize_full("32x2h1", others, method="weight-selection", teacher=tmp_path / "teacher",
                                           seed=seed) for seed in (1, 1, 2))
    assert first.meta == {"method": "weight-selection", "family": "vit", "size": "32x2h1",
                          "teacher": str(tmp_path / "teacher"), "teacher_size": "64x2", "head": "new",
                          "recommended": {"lr": 1e-3, "warmup": 0.05}}  # narrower, new classes: rebuild
    assert (first.architecture, first.model_args["embed_dim"], first.model_args["num_classes"]) == (
        "vit_tiny_patch16_224", 32, 10)
    assert first.model.head.weight.shape == (10, 32)
    assert torch.equal(first.model.head.weight, again.model.head.weight)  # the head is new, drawn from the seed
    assert not torch.equal(first.model.head.weight, other.model.head.weight)
    assert torch.equal(first.model.blocks[0].attn.proj.weight, other.model.blocks[0].attn.proj.weight)
    assert not torch.equal(first.model.head.weight, teacher.head.weight[:, ::2])  # never selected from the teacher


def test_weight_selection_refuses_what_it_cannot_serve(tmp_path, small):
    fam = get_family("vit")
    size = fam.parse_size("64x2")
    save_model(fam.build(size, IMAGE, 10), tmp_path / "vit", *fam.model_args(size, IMAGE, 10), small)
    tiny = fam.parse_size("192x1")  # timm's default width: a config without embed_dim still loads
    save_model(fam.build(tiny, IMAGE, 10), tmp_path / "bare", *fam.model_args(tiny, IMAGE, 10), small)
    config = json.loads((tmp_path / "bare" / "config.json").read_text())
    del config["model_args"]["embed_dim"]
    (tmp_path / "bare" / "config.json").write_text(json.dumps(config))
    cnn, image = get_family("resnet"), ImageSpec(32, 1, 4)
    big = cnn.parse_size("16x1-1-1-1b")
    data = load_data(DataConfig("digits", image_size=32, train_subset=64, val_subset=32))
    save_model(cnn.build(big, image, 10), tmp_path / "resnet", *cnn.model_args(big, image, 10), data,
               {"family": "resnet", "size": big.key})
    vit, bare, resnet = (str(tmp_path / name) for name in ("vit", "bare", "resnet"))
    fit_cnn = "weight selection cannot serve {}: it needs a teacher at least as wide and deep in every stage " \
              "(teacher is 16x1-1-1-1b; {} does not fit)"
    refusals = [  # (target, data, options, the whole line a user reads, a size the bench reports as n/a)
        ("32x2", small, {}, "weight-selection needs a larger pre-trained model: pass --teacher MODEL", False),
        ("8x1-1-1-1", small, {"teacher": vit, "family": "resnet"},
         f"{vit} is a vit model; weight selection needs the same family as the target (resnet)", False),
        ("32x3", small, {"teacher": vit}, "weight selection cannot serve 32x3h1: it needs a teacher at least as wide "
                                          "and deep (teacher is 64x2, MLP 256)", True),
        ("64x2m8", small, {"teacher": vit}, "weight selection cannot serve 64x2h2m8: it needs a teacher at least as "
                                            "wide and deep (teacher is 64x2, MLP 256)", True),
        ("32x1", small, {"teacher": bare},
         f"{bare} is not a ViT model folder; weight selection needs the same family", False),
        ("8x1-1-1-1", data, {"teacher": resnet, "patch_size": 4},
         f"{resnet} is a resnet50 but 8x1-1-1-1 at this input is a resnet18 (another block type or stem: check "
         "--patch-size)", False),
        ("32x1-1-1-1b", data, {"teacher": resnet, "patch_size": 4},
         fit_cnn.format("32x1-1-1-1b", "layer1.0.conv1.weight"), True),
        ("16x2-1-1-1b", data, {"teacher": resnet, "patch_size": 4},
         fit_cnn.format("16x2-1-1-1b", "layer1.1.conv1.weight"), True),
    ]
    for target, images, options, message, not_served in refusals:
        with pytest.raises(SizelessError) as error:
            initialize_full(target, images, method="weight-selection", **options)
        assert str(error.value) == message
        assert isinstance(error.value, UnsupportedSize) == not_served, message
    shallow = cnn.parse_size("8x1-1-1-1b")  # a teacher folder that does not record its size
    save_model(cnn.build(shallow, image, 10), tmp_path / "bare-resnet", *cnn.model_args(shallow, image, 10), data,
               {"family": "resnet"})
    init = initialize_full("8x1-1-1-1b", data, method="weight-selection", teacher=tmp_path / "bare-resnet",
                           patch_size=4)
    assert init.meta["teacher_size"] == "unknown" and init.meta["family"] == "resnet"

def test_templates_reuse_the_bank_head_for_its_own_classes_and_draw_one_for_others(bank_dir):
    digits = load_data("digits")
    bank = json.loads((bank_dir / "config.json").read_text())
    exact = initialize_full("32x2", digits, bank=bank_dir, fit=TrainConfig(steps=0))
    assert exact.meta["head"] == "the bank's"
    # the bank's own size with the bank's head: no fit needed, the bank's validation accuracy exactly
    assert evaluate_model(exact.model, digits)["acc"] == pytest.approx(bank["val_acc"]["32x2h1"], abs=1e-9)
    wider = initialize_full("48x2h1", digits, bank=bank_dir, fit=TrainConfig(steps=0))
    stored = load_tensors(bank_dir / "templates.safetensors", "bank")["head/32x2h1/head.weight"]
    a, b = stored.view(10, 16, 2).unbind(-1)  # feature i*m + r: two replicas, interpolated to three
    torch.testing.assert_close(wider.model.head.weight, torch.stack([a, (a + b) / 2, b], -1).reshape(10, 48) * 2 / 3)
    others = load_data(DataConfig("digits", classes=[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]))  # same count, other order
    new = initialize_full("32x2", others, bank=bank_dir, fit=TrainConfig(steps=0))
    assert new.meta["head"] == "new" and not torch.equal(new.model.head.weight, exact.model.head.weight)


def test_the_recommended_lr_keeps_a_grown_model_and_rebuilds_a_narrower_one_or_new_classes(bank_dir, small):
    """What the standard profile's validation sweep chose after each kind of init (NOTES: the LR after init)."""
    fit = TrainConfig(steps=0)
    recipe = {size: initialize_full(size, small, bank=bank_dir, fit=fit).meta["recommended"]
              for size in ("32x2", "48x2h1", "32x4", "32x1", "16x2h1")}
    assert recipe == {"32x2": KEEP_FINETUNE, "48x2h1": KEEP_FINETUNE, "32x4": KEEP_FINETUNE, "32x1": KEEP_FINETUNE,
                      "16x2h1": REBUILD_FINETUNE}  # the bank is 32x2: only the narrower model rebuilds
    others = load_data(DataConfig("digits", classes=[0, 1, 2, 3, 4], train_subset=200))
    assert initialize_full("48x2h1", others, bank=bank_dir, fit=fit).meta["recommended"] == REBUILD_FINETUNE


def test_weight_selection_selects_the_teacher_head_only_for_the_same_classes(tmp_path, small):
    fam = get_family("vit")
    teacher = fam.build(fam.parse_size("64x2"), IMAGE, 10)
    save_model(teacher, tmp_path / "teacher", *fam.model_args(fam.parse_size("64x2"), IMAGE, 10), small)
    same = initialize_full("32x2h1", small, method="weight-selection", teacher=tmp_path / "teacher")
    assert same.meta["head"] == "the teacher's" and same.meta["recommended"] == REBUILD_FINETUNE  # narrower
    assert torch.equal(same.model.head.weight, teacher.head.weight[:, ::2])
    others = load_data(DataConfig("digits", classes=[1, 0, 2, 3, 4, 5, 6, 7, 8, 9], train_subset=200))
    new = initialize_full("32x2h1", others, method="weight-selection", teacher=tmp_path / "teacher")
    assert new.meta["head"] == "new" and not torch.equal(new.model.head.weight, teacher.head.weight[:, ::2])


def _trajectories(state_dim: int = 3, act_dim: int = 2, rows: int = 40):
    """Generated trajectories (two episodes): all a policy's weight selection reads is their task geometry."""
    from sizeless.trajectories import TrajectoryData, Windows

    g = torch.Generator().manual_seed(0)
    starts = torch.tensor([0] * (rows // 2) + [rows // 2] * (rows - rows // 2))
    return TrajectoryData("generated", Windows(torch.arange(4, rows)), Windows(torch.tensor([rows - 1])),
                          torch.randn(rows, state_dim, generator=g), torch.randn(rows, act_dim, generator=g),
                          torch.rand(rows, generator=g), torch.arange(rows) - starts, starts,
                          torch.ones(rows, act_dim), [{"id": "generated", "env": "none"}], context=4, max_ep_len=50)


def test_weight_selection_for_a_policy_reads_the_teachers_size_from_its_config(tmp_path):
    pytest.importorskip("transformers")
    from sizeless.initializers.weight_selection import weight_selection
    from sizeless.models import save_model as save

    fam, data = get_family("decision-transformer"), _trajectories()
    big = fam.parse_size("64x2h2m2")
    teacher = fam.build(big, fam.input_spec(data))
    with torch.no_grad():  # a trained embedding LayerNorm (it sits between task parts in the state dict)
        teacher.embed_ln.weight.normal_(generator=torch.Generator().manual_seed(1))
    save(teacher, tmp_path / "dt", *fam.model_args(big, fam.input_spec(data)), None, {"family": fam.name})
    options = InitOptions(teacher=tmp_path / "dt")
    init = weight_selection("32x1h1m4", data, options)  # narrower and shallower, the teacher's MLP width (128)
    assert init.meta["teacher_size"] == "64x2h2m2" and init.meta["size"] == "32x1h1"
    ref, got = teacher.state_dict(), init.model.state_dict()
    assert torch.equal(got["encoder.h.0.mlp.c_fc.weight"], ref["encoder.h.0.mlp.c_fc.weight"][::2])  # in-by-out
    assert torch.equal(got["embed_ln.weight"], ref["embed_ln.weight"][::2])  # selected, not left at its init
    odd = weight_selection("48x1h1m2", data, options).model.state_dict()["encoder.h.0.attn.c_attn.weight"]
    qkv = ref["encoder.h.0.attn.c_attn.weight"]  # in-by-out: q | k | v column groups, 64 -> 48 each (not every 2nd)
    assert torch.equal(odd, select(qkv, (48, 144), 3, 1)) and not torch.equal(odd, select(qkv, (48, 144)))
    assert init.meta["recommended"] == REBUILD_FINETUNE  # narrower than the teacher
    for same in ("64x2h2m2", "64x1h2m2", "32x2h1m4"):  # as wide, as deep, as wide an MLP as the teacher: served
        served = weight_selection(same, data, options).meta
        assert served["size"] == fam.parse_size(same).key
        # a policy's task parts are always new, which alone asks for no higher LR (none was measured)
        assert served["recommended"] == (KEEP_FINETUNE if same.startswith("64") else REBUILD_FINETUNE)
    message = "weight selection cannot serve {}: it needs a teacher at least as wide and deep (teacher is 64x2h2m2)"
    for target in ("96x1h3m1", "32x3h1m4", "32x1h1m8"):  # wider (a narrower MLP), deeper, a wider MLP
        with pytest.raises(UnsupportedSize) as error:
            weight_selection(target, data, options)
        assert str(error.value) == message.format(fam.parse_size(target).key)


def test_weight_selection_serves_the_teachers_own_width_and_reads_a_missing_mlp_ratio_as_timms_4(tmp_path, small):
    fam = get_family("vit")
    size = fam.parse_size("64x2m2")
    teacher = fam.build(size, IMAGE, 10)
    save_model(teacher, tmp_path / "m2", *fam.model_args(size, IMAGE, 10), small)
    same = initialize_full("64x1m2", small, method="weight-selection", teacher=tmp_path / "m2")  # same width, MLP
    assert torch.equal(same.model.blocks[0].mlp.fc1.weight, teacher.blocks[0].mlp.fc1.weight)
    assert same.model_args["num_classes"] == 10  # the saved config rebuilds the student's own head
    assert same.meta["recommended"] == KEEP_FINETUNE  # the teacher's width and classes: nothing to rebuild
    message = "weight selection cannot serve {}: it needs a teacher at least as wide and deep (teacher is 64x2, MLP {})"
    with pytest.raises(UnsupportedSize) as error:  # the teacher's MLP ratio (2) is read from its config
        initialize_full("64x1", small, method="weight-selection", teacher=tmp_path / "m2")
    assert str(error.value) == message.format("64x1h2", 128)
    default = fam.parse_size("64x2")
    save_model(fam.build(default, IMAGE, 10), tmp_path / "m4", *fam.model_args(default, IMAGE, 10), small)
    config = json.loads((tmp_path / "m4" / "config.json").read_text())
    del config["model_args"]["mlp_ratio"]  # timm's default, as a config written elsewhere may leave it
    (tmp_path / "m4" / "config.json").write_text(json.dumps(config))
    assert initialize_full("64x1", small, method="weight-selection", teacher=tmp_path / "m4").meta["size"] == "64x1h2"
    with pytest.raises(UnsupportedSize) as error:
        initialize_full("64x1m5", small, method="weight-selection", teacher=tmp_path / "m4")
    assert str(error.value) == message.format("64x1h2m5", 256)


def test_weight_selection_refuses_a_vit_folder_without_model_args_in_one_line(tmp_path, small):
    """A timm folder written elsewhere (no model_args: timm's vit_tiny_patch16_224 defaults) is refused, not a crash."""
    import dataclasses

    import timm

    rgb = dataclasses.replace(small, name="digits-rgb", **{split: dataclasses.replace(
        getattr(small, split), images=getattr(small, split).images.expand(-1, 3, -1, -1).contiguous())
        for split in ("train", "val")})
    save_model(timm.create_model("vit_tiny_patch16_224", num_classes=10), tmp_path / "hub", "vit_tiny_patch16_224",
               {"num_classes": 10}, rgb)
    config = json.loads((tmp_path / "hub" / "config.json").read_text())
    del config["model_args"]
    config["pretrained_cfg"]["input_size"] = [3, 224, 224]  # as on the Hub
    (tmp_path / "hub" / "config.json").write_text(json.dumps(config))
    with pytest.raises(SizelessError) as error:
        initialize_full("32x1", rgb, method="weight-selection", teacher=tmp_path / "hub")
    assert str(error.value) == f"{tmp_path / 'hub'} is not a ViT model folder; weight selection needs the same family"


def test_a_given_bank_names_its_runs_by_contents_not_by_path(bank_dir, tucker_bank_dir, tmp_path):
    """Bench run folders of a given bank keep their names when the bank moves or the repository is cloned elsewhere."""
    moved = shutil.copytree(bank_dir, tmp_path / "elsewhere" / "bank")
    tag = _bank_tag(BenchConfig(data="digits", out=tmp_path, sizes=["32x2"], bank=bank_dir))
    assert tag.startswith("given-")
    assert tag == _bank_tag(BenchConfig(data="digits", out=tmp_path, sizes=["32x2"], bank=moved))
    assert tag != _bank_tag(BenchConfig(data="digits", out=tmp_path, sizes=["32x2"], bank=tucker_bank_dir))


def test_pretrain_seeds_replicate_every_pretrained_input_and_share_the_untrained_baselines(tmp_path):
    out = tmp_path / "bench"
    cfg = BenchConfig(data="digits", out=out, sizes=["32x3"],
                      methods=["templates", "scratch", "linear-expansion", "weight-selection", "direct"], fit_steps=1,
                      epochs=1, batch_size=50, train_subset=100, holdout=100, pretrain_subset=100, bank_size="32x2",
                      teacher_size="32x3", template_width=16, num_templates=2, pretrain_epochs=1)
    first = run_init_bench(cfg)
    assert {r["pretrain_seed"] for r in first} == {0}
    records = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/*/*.json")}
    inputs = {p: p.stat().st_mtime_ns for p in out.glob("**/checkpoint.safetensors") if "runs" not in p.parts}
    assert {p.parent.name for p in inputs} >= {"teacher", "learngene", "direct-32x3h1"}
    rows = run_init_bench(dataclasses.replace(cfg, pretrain_seeds=2))
    finals = {(r["method"], r["pretrain_seed"]): r for r in rows}  # the last row of each run: its final epoch
    assert {m for m, p in finals if p == 1} == {"templates", "linear-expansion", "weight-selection", "direct"}
    # seed 0 keeps every name: nothing of it is built or run again, and scratch (nothing pre-trained) runs once
    assert records == {p: p.stat().st_mtime_ns for p in records} and inputs == {p: p.stat().st_mtime_ns for p in inputs}
    assert not list((out / "runs").glob("scratch-*-pre1*"))
    seeds = {path.parent.name: read_json(path, "")["train"]["seed"]
             for path in [*out.glob("bank-*/config.json"), out / "learngene/config.json",
                          out / "learngene-seed1/config.json"]}
    seeds |= {path.parent.name: read_json(path, "")["sizeless"]["train"]["seed"]
              for path in [out / "teacher/config.json", out / "teacher-seed1/config.json"]}
    assert sorted(seeds.values()) == [0, 0, 0, 1, 1, 1] and seeds["learngene-seed1"] == seeds["teacher-seed1"] == 1
    assert (out / "direct/direct-32x3h1-seed1/checkpoint.safetensors").exists()
    for method in ("templates", "linear-expansion", "weight-selection", "direct"):  # each seed's own input
        assert finals[(method, 1)]["test_loss"] != finals[(method, 0)]["test_loss"], method
    report = (out / "report.md").read_text()
    assert "2 pre-training seeds" in report
    # in pieces: a seed whose bank was never built is reported as absent, not built
    again = run_init_bench(dataclasses.replace(cfg, pretrain_seeds=3, finished_only=True))
    assert len(again) == len(rows) and len(list(out.glob("bank-*"))) == 2
    # an input that is gone is not rebuilt: its finished runs are reported at an unknown cost, missing ones left out
    shutil.rmtree(out / "teacher-seed1")
    again = run_init_bench(dataclasses.replace(cfg, pretrain_seeds=2, finished_only=True))
    assert {r["pretrain_flops"] for r in again if (r["method"], r["pretrain_seed"]) == ("weight-selection", 1)} == {
        None}
    shutil.rmtree(next((out / "runs").glob("weight-selection-*-pre1")))
    again = run_init_bench(dataclasses.replace(cfg, pretrain_seeds=2, finished_only=True))
    assert {(r["method"], r["pretrain_seed"]) for r in again} == set(finals) - {("weight-selection", 1)}
    assert not (out / "teacher-seed1").exists()
    assert "(1 of 2 pre-training seeds)" in (out / "report.md").read_text()
    with pytest.raises(SizelessError, match="holds no finished bank: drop --finished-only to build it"):
        run_init_bench(dataclasses.replace(cfg, out=tmp_path / "elsewhere", finished_only=True))
    assert not (tmp_path / "elsewhere").exists()
    for refused in (dict(bank=next(out.glob("bank-*"))), dict(teacher=out / "teacher")):
        with pytest.raises(SizelessError, match="--pretrain-seeds seeds the inputs the image bench builds"):
            dataclasses.replace(cfg, pretrain_seeds=2, **refused)


@pytest.mark.slow
def test_a_reused_bench_serves_each_of_its_pretraining_seeds(tmp_path):
    """--pretrained-from with --pretrain-seeds: seed k's targets start from the reused bench's seed-k bank and direct
    runs (the same numbers that bench got), and a seed it never built is refused before anything runs."""
    first = BenchConfig(data="digits", out=tmp_path / "first", sizes=["32x3"], methods=["templates", "direct"],
                        fit_steps=1, epochs=1, batch_size=50, train_subset=100, holdout=100, pretrain_subset=100,
                        bank_size="32x2", template_width=16, num_templates=2, pretrain_epochs=1, pretrain_seeds=2)
    built = {(r["method"], r["pretrain_seed"]): r for r in run_init_bench(first)}
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "first").rglob("*") if p.is_file()}
    second = BenchConfig(data="digits", out=tmp_path / "second", sizes=["32x3"], methods=["templates", "direct"],
                         fit_steps=1, epochs=1, batch_size=50, train_subset=100, holdout=100,
                         pretrained_from=tmp_path / "first", pretrain_seeds=2)
    reused = {(r["method"], r["pretrain_seed"]): r for r in run_init_bench(second)}
    assert set(reused) == set(built) == {(m, s) for m in ("templates", "direct") for s in (0, 1)}
    for key, row in built.items():  # the same inputs, seed by seed: the same target runs
        assert reused[key]["test_loss"] == row["test_loss"], key
    assert reused[("templates", 1)]["test_loss"] != reused[("templates", 0)]["test_loss"]
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "first").rglob("*") if p.is_file()}
    assert "2 pre-training seeds" in (tmp_path / "second" / "report.md").read_text()
    runs = {p.name for p in (tmp_path / "second" / "runs").iterdir()}
    with pytest.raises(SizelessError, match=r"holds no finished bank at pre-training seed 2.*--pretrain-seeds 3"):
        run_init_bench(dataclasses.replace(second, pretrain_seeds=3))
    assert runs == {p.name for p in (tmp_path / "second" / "runs").iterdir()}  # refused before any run
    partial = run_init_bench(dataclasses.replace(second, pretrain_seeds=3, finished_only=True))
    assert {r["pretrain_seed"] for r in partial} == {0, 1}


def test_a_bank_variant_is_reported_beside_another_benchs_baselines(tmp_path):
    """--compare-with: the methods a bench does not run are read from a bench judged under the same target protocol,
    so the report computes the gaps; a bench under another protocol is refused before any run."""
    settings = dict(data="digits", sizes=["32x3"], fit_steps=1, epochs=1, batch_size=50, train_subset=100,
                    holdout=100, pretrain_subset=100, bank_size="32x2", template_width=16, pretrain_epochs=1)
    baselines = BenchConfig(out=tmp_path / "base", methods=["templates", "scratch"], num_templates=2, **settings)
    run_init_bench(baselines)
    variant = BenchConfig(out=tmp_path / "variant", methods=["templates"], num_templates=1,
                          compare_with=tmp_path / "base", **settings)
    own = run_init_bench(variant)
    assert {r["method"] for r in own} == {"templates"}
    recorded = json.loads((tmp_path / "variant" / "results.json").read_text())["rows"]
    assert {r["method"] for r in recorded} == {"templates"}  # the record keeps this bench's runs only
    report = (tmp_path / "variant" / "report.md").read_text()
    assert "| size | params | templates | scratch | templates - best other |" in report
    assert f"The columns scratch are the runs of `{tmp_path / 'base'}`" in report
    assert "Mean gain of templates over scratch" in report and "vs scratch" in report
    csv_rows = (tmp_path / "variant" / "results.csv").read_text().splitlines()
    assert "bench" in csv_rows[0].split(",") and any(",scratch," in f",{line}," for line in csv_rows)
    with pytest.raises(SizelessError, match=r"another target protocol: epochs 1 \(this bench: 2\)"):
        run_init_bench(dataclasses.replace(variant, out=tmp_path / "other", epochs=2))
    assert not (tmp_path / "other").exists()
    with pytest.raises(SizelessError, match="names this bench's own folder"):
        run_init_bench(dataclasses.replace(variant, out=tmp_path / "base"))
