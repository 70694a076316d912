"""`sizeless bench generate`: DiT initializers compared by their samples, end to end on digits."""

from __future__ import annotations

import json

import pytest

from sizeless.bench.generate import GenerateBenchConfig, run_generate_bench
from sizeless.errors import SizelessError

# a bench in seconds: 8x8 digits, a 32x2 bank (template width 16), a 48x3 teacher, a ViT metric classifier
TINY = dict(data="digits", sizes=["32x3", "48x2"], bank_size="32x2", template_width=16, num_templates=2,
            methods=["templates", "scratch", "weight-selection", "linear-expansion", "direct"],
            teacher_size="48x3", batch_size=32, pretrain_steps=12, pretrain_lrs=[1e-3, 3e-3], steps=10, fit_steps=4,
            lrs=[1e-3],
            sweep_size="32x3", sweep_steps=5, val_images=200, test_images=100, num_images=40, sample_steps=2,
            grid_steps=2, curve_points=2, seeds=2, classifier_size="32x1", classifier_family="vit", classifier_epochs=1)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "bench"
    table = run_generate_bench(GenerateBenchConfig(out=out, **TINY))
    return out, table


def test_every_method_is_judged_at_every_size_with_the_floor_and_pictures(finished):
    out, table = finished
    ok = {(r["size"], r["method"]) for r in table if r["status"] == "ok"}
    methods = {"templates", "scratch", "weight-selection", "direct"}
    assert ok == {(s, m) for s in ("32x3", "48x2") for m in methods} | {("32x3", "linear-expansion")}
    # TLEG keeps its learngene's width: the new width is n/a, not an error
    assert next(r for r in table if r["method"] == "linear-expansion" and r["size"] == "48x2")["status"].startswith(
        "n/a")
    report = (out / "report.md").read_text()
    assert "Real-vs-real floor" in report and "## 48x2" in report and "| templates |" in report
    for name in ("curves.png", "samples-32x3.png", "samples-48x2.png", "results.csv", "summary.json"):
        assert (out / name).stat().st_size > 0
    rows = json.loads((out / "results.json").read_text())["rows"]
    # one-seed methods ran seed 0 only; the others every seed; FD at init and at the end of the budget
    assert {r["seed"] for r in rows if r["method"] == "direct"} == {0}
    assert {r["seed"] for r in rows if r["method"] == "templates"} == {0, 1}
    fitted = [r for r in rows if r["method"] == "templates" and r["size"] == "32x3" and r["seed"] == 0 and "fd" in r]
    assert [r["target_steps"] for r in fitted] == [4, 10]  # the fit counts inside the 10-step budget


def test_every_pretrained_input_keeps_the_lr_of_its_own_lowest_validation_loss(finished):
    out, _ = finished
    meta = json.loads((out / "results.json").read_text())["meta"]
    scores = meta["pretrain_lrs"]
    assert set(scores) == {"ramp-bank", "learngene", "teacher", "direct-32x3", "direct-48x2"}  # the default bank
    for name, by_lr in scores.items():
        assert set(by_lr) == {"0.001", "0.003"}
        chosen = min(by_lr, key=by_lr.get)
        described = meta["inputs"][name]
        assert described.endswith(f"LR {float(chosen):g}"), (name, described)
        assert (out / "work" / f"{name}-lr{float(chosen):g}").is_dir()
    assert "## Pre-training LRs" in (out / "report.md").read_text()


def test_direct_pretraining_is_counted_once_and_needs_no_bank(tmp_path, monkeypatch):
    """The runs that start from a direct pre-training load it: their init stage must not hold its cost again."""
    import itertools
    import time
    import types

    from sizeless.bench import generate

    ticks = itertools.count()  # a clock that moves one second per reading of the bench's own ledger
    monkeypatch.setattr(generate, "time", types.SimpleNamespace(process_time=lambda: float(next(ticks)),
                                                                perf_counter=time.perf_counter))
    out = tmp_path / "bench"
    run_generate_bench(GenerateBenchConfig(out=out, **{**TINY, "sizes": ["32x3"], "methods": ["direct"]}))
    ledger = json.loads((out / "work" / "ledger.json").read_text())
    assert ledger["direct-32x3-lr0.001"]["cpu_s"] == 1.0 and ledger["direct-32x3-lr0.003"]["cpu_s"] == 1.0
    inits = [v["cpu_s"] for k, v in ledger.items() if k.endswith("/init")]
    assert inits and all(v == 1.0 for v in inits)  # nothing nested: the pre-training is in its own stages only
    assert not any("bank" in k for k in ledger)  # no method here starts from a bank: none is pre-trained


def test_a_second_run_resumes_from_the_cache_and_trains_nothing(finished):
    out, table = finished
    ledger = json.loads((out / "work" / "ledger.json").read_text())
    again = run_generate_bench(GenerateBenchConfig(out=out, **TINY))
    assert json.loads((out / "work" / "ledger.json").read_text()) == ledger
    assert again == table


def test_runs_are_redone_when_a_resumed_bench_chooses_another_pretrained_input(finished, tmp_path):
    """--pretrain-lrs may change on resume; the runs made from the input it no longer chooses must not be reused."""
    import shutil

    out, _ = finished
    copy = tmp_path / "bench"
    shutil.copytree(out, copy)
    scores = json.loads((copy / "work" / "pretrain_lrs.json").read_text())["ramp-bank"]
    other = max(scores, key=scores.get)  # the bank LR the finished bench did not choose
    settings = {**TINY, "methods": ["templates", "scratch"], "pretrain_lrs": [float(other)], "seeds": 1}
    run_generate_bench(GenerateBenchConfig(out=copy, **settings))
    ledger = json.loads((copy / "work" / "ledger.json").read_text())
    runs = {p.name for p in (copy / "work" / "runs").iterdir()}
    for chosen in (min(scores, key=scores.get), other):  # both inputs' runs exist, each under its own name
        assert f"templates-32x3-seed0-lr0.001-from-ramp-bank-lr{float(chosen):g}" in runs
    assert f"templates-48x2-seed0-lr0.001-from-ramp-bank-lr{float(other):g}/init" in ledger  # trained anew
    assert not any(k.startswith("scratch") for k in set(ledger) - set(json.loads(
        (out / "work" / "ledger.json").read_text())))  # a method without a pre-trained input is reused


@pytest.mark.parametrize("change", [{"bank_scalers": "learned"}, {"num_templates": 3}, {"steps": 12},
                                    {"constraint": "tucker"}])
def test_a_work_folder_filled_under_other_settings_is_refused(finished, change):
    out, _ = finished
    ledger = (out / "work" / "ledger.json").read_text()
    name = next(iter(change))
    with pytest.raises(SizelessError, match=f"holds inputs and runs made under other settings: {name} "):
        run_generate_bench(GenerateBenchConfig(out=out, **{**TINY, **change}))
    assert (out / "work" / "ledger.json").read_text() == ledger  # nothing ran


def test_a_bank_variant_is_reported_beside_another_benchs_methods(finished, tmp_path):
    out, _ = finished
    # the same FLOPs from a shallower bank: 24 steps at 32x1 = 12 steps at the 32x2 budget size
    variant = tmp_path / "variant"
    settings = {**TINY, "bank_size": "32x1", "budget_size": "32x2", "methods": ["templates"], "seeds": 1}
    table = run_generate_bench(GenerateBenchConfig(out=variant, **settings, compare_with=out))
    assert {r["method"] for r in table} == set(TINY["methods"])
    assert "come from" in (variant / "report.md").read_text()
    saved = json.loads((variant / "results.json").read_text())
    assert {r["method"] for r in saved["rows"]} == {"templates"}  # the compared runs stay in their own bench
    assert "24 steps" in saved["meta"]["inputs"]["ramp-bank"]


def test_a_given_metric_classifier_is_used_as_is_and_pinned_to_the_work_folder(finished, tmp_path):
    """--feature-model: no classifier trains; the runs are measured with the given one (its hash in the record, so
    --compare-with accepts a bench that trained the same weights); another classifier on resume is refused."""
    import shutil

    out, _ = finished
    given = tmp_path / "clf"
    shutil.copytree(out / "work" / "classifier", given)
    bench = tmp_path / "bench"
    settings = {**TINY, "sizes": ["32x3"], "methods": ["scratch"], "seeds": 1}
    run_generate_bench(GenerateBenchConfig(out=bench, **settings, feature_model=given, compare_with=out))
    ledger = json.loads((bench / "work" / "ledger.json").read_text())
    assert "classifier" not in ledger and not (bench / "work" / "classifier").exists()
    meta = json.loads((bench / "results.json").read_text())["meta"]
    finished_meta = json.loads((out / "results.json").read_text())["meta"]
    assert meta["classifier"]["sha256"] == finished_meta["classifier"]["sha256"]
    assert meta["floor"] == finished_meta["floor"]
    report = (bench / "report.md").read_text()
    assert f"given (`--feature-model {given}`)" in report and "the given classifier not counted" in report
    with (given / "model.safetensors").open("r+b") as f:  # other weights under the same path
        f.seek(-4, 2)
        f.write(b"\x00\x00\x80\x3f")
    with pytest.raises(SizelessError, match="holds runs measured with the metric classifier"):
        run_generate_bench(GenerateBenchConfig(out=bench, **settings, feature_model=given))


@pytest.mark.parametrize("case", ["missing", "not a classifier", "other classes"])
def test_a_bad_feature_model_is_refused_before_anything_trains(finished, tmp_path, case):
    from sizeless.api import train
    from sizeless.data import DataConfig
    from sizeless.training import TrainConfig

    out, _ = finished
    path, match = {"missing": (tmp_path / "none", "not found"),
                   "not a classifier": (out / "work" / "ramp-bank-lr0.001", "is a template bank, not a classifier"),
                   "other classes": (tmp_path / "five", "has 5 classes, the data 10")}[case]
    if case == "other classes":
        train(None, DataConfig("digits", classes=[0, 1, 2, 3, 4]), TrainConfig(steps=1, batch_size=8), size="32x1",
              family="vit", out=path)
    bench = tmp_path / "bench"
    with pytest.raises(SizelessError, match=match):
        run_generate_bench(GenerateBenchConfig(out=bench, **{**TINY, "methods": ["scratch"]}, feature_model=path))
    assert not (bench / "work" / "ledger.json").exists()


def test_a_tucker_bank_is_benched_beside_the_kronecker_benchs_methods(finished, tmp_path):
    """SWEET's constraint in the DiT bench: a Tucker bank under the same FLOPs, named as its own input."""
    from sizeless.bank import TemplateBank

    out, _ = finished
    variant = tmp_path / "tucker"
    settings = {**TINY, "constraint": "tucker", "ranks": [4, 8, 8], "methods": ["templates"], "seeds": 1}
    table = run_generate_bench(GenerateBenchConfig(out=variant, **settings, compare_with=out))
    assert {r["status"] for r in table if r["method"] == "templates"} == {"ok"}  # 48x2: wider than the bank, served
    inputs = json.loads((variant / "results.json").read_text())["meta"]["inputs"]
    # its own input (a ramp, --bank-scalers' default); the others' from the compared bench
    assert "tucker-ramp-bank" in inputs and "ramp-bank" not in inputs
    bank = TemplateBank.load(next((variant / "work").glob("tucker-ramp-bank-lr*")))
    assert bank.constraint.name == "tucker" and bank.constraint.config.ranks == (4, 8, 8)
    assert bank.constraint.config.scalers == "ramp"
    assert "Tucker, core ranks 4x8x8, ramp depth scalers" in (variant / "report.md").read_text()


def test_a_work_folder_from_before_a_setting_existed_counts_as_its_default(finished, tmp_path):
    """Settings added after a folder was filled (here the bank's constraint) held their defaults then."""
    import shutil

    out, _ = finished
    copy = tmp_path / "bench"
    shutil.copytree(out, copy)
    path = copy / "work" / "settings.json"
    settings = json.loads(path.read_text())
    del settings["constraint"], settings["ranks"]
    path.write_text(json.dumps(settings))
    ledger = (copy / "work" / "ledger.json").read_text()
    run_generate_bench(GenerateBenchConfig(out=copy, **TINY))
    assert (copy / "work" / "ledger.json").read_text() == ledger  # resumed: nothing trained again


def test_a_size_sampled_bank_spends_the_budgets_flops_in_drawn_steps(tmp_path):
    """SWEET's stochastic size scaling as a bench option: the bank draws a width and depth per step and gets as many
    steps as spend the FLOPs every other input gets (DESIGN 2.7); its folder and the report say it was sampled."""
    from sizeless.api import image_spec
    from sizeless.bank import TemplateBank
    from sizeless.data import load_data
    from sizeless.families import get_family
    from sizeless.sizing import params_and_macs

    out = tmp_path / "sampled"
    settings = {**TINY, "methods": ["templates"], "seeds": 1, "sizes": ["32x3"], "pretrain_lrs": [1e-3],
                "bank_widths": [32, 64], "bank_depths": [1, 2, 3]}
    run_generate_bench(GenerateBenchConfig(out=out, **settings))
    bank = TemplateBank.load(out / "work" / "sampled-ramp-bank-lr0.001")
    family, image = get_family("dit"), image_spec(load_data("digits"), family="dit")
    per_step = {s: 6 * 32 * params_and_macs(family, family.parse_size(s), image, 10)[1] for s in ("32x2", "64x3")}
    goal = 12 * per_step["32x2"]  # --pretrain-steps at the bank's own size
    assert goal <= bank.config["train_flops"] < goal + per_step["64x3"]  # the last drawn step crosses it
    assert bank.config["size_sampling"]["depths"] == [1, 2, 3] and bank.config["steps"] != 12
    meta = json.loads((out / "results.json").read_text())["meta"]
    assert meta["inputs"]["sampled-ramp-bank"].startswith(f"32x2, {bank.config['steps']} steps drawn")
    assert "size sampling, each step at a width of 32, 64 and depth of 1, 2, 3" in (out / "report.md").read_text()


@pytest.mark.parametrize("change, what", [({"steps": 12}, "steps"), ({"pretrain_steps": 11}, "FLOPs")])
def test_a_comparison_under_another_protocol_is_refused_before_any_training(finished, tmp_path, change, what):
    out, _ = finished
    variant = tmp_path / "variant"
    with pytest.raises(SizelessError, match=what):
        run_generate_bench(GenerateBenchConfig(out=variant, **{**TINY, "methods": ["templates"], **change},
                                               compare_with=out))
    assert not (variant / "work" / "ramp-bank-lr0.001").exists()


@pytest.mark.parametrize("args, message", [
    (["--methods", "templates,magic"], "unknown methods ['magic']"),
    (["--sizes", "64x6,96xq"], "bad size '96xq'"),
    (["--fit-steps", "10", "--steps", "10"], "counts inside the budget"),
    (["--lrs", "1e-3,-1"], "--lrs must be positive"),
    (["--pretrain-lrs", "0"], "--pretrain-lrs must be positive"),
    (["--fd-points", "0,2"], "fractions of the budget"),
    (["--val-images", "5000"], "--val-images 5000 must be between"),
    (["--compare-with", "{tmp}/nothing"], "not found"),
    (["--feature-model", "{tmp}/nothing"], "--feature-model"),
    (["--bank-scalers", "linear"], "--bank-scalers must be learned or ramp"),
    (["--bank-depths", "2,6", "--bank-distribution", "paired"], "a DiT has none of"),
    (["--bank-widths", "64,80"], "sampled widths must be multiples of 32"),
])
def test_bad_bench_generate_input_is_one_line(args, message, tmp_path, run_cli):
    code, _, err = run_cli("bench", "generate", "--data", "digits", "--out", str(tmp_path / "b"), "--num-images", "40",
                           "--test-images", "100", "--val-images", "200", "--classifier-size", "32x1",
                           "--classifier-family", "vit", "--classifier-epochs", "1",
                           *[a.format(tmp=tmp_path) for a in args])
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0], err


def test_bench_init_points_a_generator_to_bench_generate(tmp_path, run_cli):
    code, _, err = run_cli("bench", "init", "--family", "dit", "--data", "digits", "--sizes", "32x3", "--out",
                           str(tmp_path / "b"))
    assert code == 2 and "sizeless bench generate" in err


def test_the_command_lines_defaults_are_the_configs():
    """`bench generate`'s flags spell the config's defaults: the two cannot drift apart."""
    import dataclasses
    import inspect

    from sizeless.cli import bench_generate

    fields = {f.name: f for f in dataclasses.fields(GenerateBenchConfig)}
    checked = 0
    for name, param in inspect.signature(bench_generate).parameters.items():
        if param.default in (None, inspect.Parameter.empty):
            continue  # required, or defaulted by the config itself
        field = fields[name]
        expected = field.default_factory() if field.default is dataclasses.MISSING else field.default
        given = param.default
        if isinstance(expected, list):
            given = [type(expected[0])(v) for v in given.split(",")]
        assert given == expected, name
        checked += 1
    assert checked >= 25


def test_a_pretraining_lr_that_diverges_is_recorded_and_all_diverging_is_one_line(tmp_path, monkeypatch):
    from sizeless.bench import generate
    from sizeless.errors import Diverged

    real_pretrain = generate.pretrain

    def pretrain(data, sizes, config, **kwargs):
        if config.lr >= limit:
            raise Diverged("loss became nan (non-finite gradients) at step 1")
        return real_pretrain(data, sizes, config=config, **kwargs)

    monkeypatch.setattr(generate, "pretrain", pretrain)
    limit, out = 3e-3, tmp_path / "bench"
    settings = {**TINY, "sizes": ["32x3"], "methods": ["templates"], "seeds": 1}
    run_generate_bench(GenerateBenchConfig(out=out, **settings))
    assert json.loads((out / "results.json").read_text())["meta"]["pretrain_lrs"]["ramp-bank"]["0.003"] is None
    assert "| ramp-bank | 0.003 | diverged |" in (out / "report.md").read_text()
    limit = 0.0
    with pytest.raises(SizelessError, match="bank: pre-training diverged at every --pretrain-lrs"):
        run_generate_bench(GenerateBenchConfig(out=tmp_path / "again", **settings))


def test_a_learning_rate_that_diverges_in_the_sweep_is_recorded_not_fatal(tmp_path, monkeypatch):
    """A sweep LR whose training hits a non-finite loss is that LR's result (too high); the others decide."""
    from sizeless.bench import generate
    from sizeless.errors import Diverged

    real_train = generate.train

    def train(init, data, config, **kwargs):
        if config.lr == 5e-2:
            raise Diverged("loss became nan (non-finite gradients) at step 1")
        return real_train(init, data, config, **kwargs)

    monkeypatch.setattr(generate, "train", train)
    out = tmp_path / "bench"
    settings = {**TINY, "sizes": ["32x3"], "methods": ["scratch"], "lrs": [5e-2, 1e-3], "seeds": 1}
    run_generate_bench(GenerateBenchConfig(out=out, **settings))
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert rows and {(r["lr"], r["status"]) for r in rows} == {(1e-3, "ok")}
    assert "| scratch | 0.05 | diverged |" in (out / "report.md").read_text()
