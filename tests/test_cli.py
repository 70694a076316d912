"""The command line end to end, and the one-line errors a user sees."""

import json
import subprocess
import sys

import pytest


def test_pretrain_init_train_eval(tmp_path, run_cli):
    bank, model, run = tmp_path / "bank", tmp_path / "model", tmp_path / "run"
    code, _, err = run_cli("pretrain", "--data", "digits", "--size", "32x2", "--size", "32x3",
                           "--template-width", "16", "--num-templates", "2", "--epochs", "1", "--batch-size", "64",
                           "--out", str(bank))
    assert code == 0, err
    assert json.loads((bank / "config.json").read_text())["sizes"] == ["32x2h1", "32x3h1"]
    code, _, err = run_cli("init", "--bank", str(bank), "--size", "48x4", "--num-classes", "10",
                           "--data", "digits", "--fit-steps", "5", "--out", str(model))
    assert code == 0, err
    code, _, err = run_cli("train", "--model", str(model), "--data", "digits", "--epochs", "1",
                           "--train-subset", "200", "--out", str(run))
    assert code == 0, err
    assert {"metrics.csv", "curve.png", "config.json", "model.safetensors"} <= {p.name for p in run.iterdir()}
    code, out, err = run_cli("eval", "--model", str(run), "--data", "digits", "--json")
    assert code == 0, err
    # eval measures the saved weights on the validation split training reported on: the same numbers
    recorded = json.loads((run / "config.json").read_text())["sizeless"]
    metrics = json.loads(out)
    assert metrics["acc"] == pytest.approx(recorded["val_acc"], abs=1e-9)
    assert metrics["loss"] == pytest.approx(recorded["val_loss"], rel=1e-5)


@pytest.mark.parametrize("args, templates", [
    (["--size", "32x1", "--template-width", "16"], 8),  # ViT: the profile's measured N
    (["--size", "32x2", "--template-width", "32", "--linear-scalers"], 2),  # TLEG's learngene has two
    (["--family", "resnet", "--size", "8x1-1-1-1", "--template-width", "4"], 4),
])
def test_pretrain_takes_the_familys_number_of_templates(tmp_path, run_cli, args, templates):
    code, _, err = run_cli("pretrain", "--data", "digits", *args, "--epochs", "1", "--train-subset", "128",
                           "--batch-size", "64", "--out", str(tmp_path / "bank"))
    assert code == 0, err
    config = json.loads((tmp_path / "bank" / "config.json").read_text())
    assert config["constraint_config"]["num_templates"] == templates


@pytest.mark.parametrize("other", [["--ramp-scalers"], ["--constraint", "tucker"]])
def test_linear_scalers_exclude_ramp_scalers_and_tucker(tmp_path, run_cli, other):
    code, _, err = run_cli("pretrain", "--data", "digits", "--size", "32x3", "--linear-scalers", *other,
                           "--out", str(tmp_path / "bank"))
    assert code == 2 and "excludes --ramp-scalers and --constraint tucker" in err and not (tmp_path / "bank").exists()


@pytest.mark.parametrize("args, message", [
    (["init", "--bank", "{bank}", "--size", "40x2", "--data", "digits", "--out", "{tmp}/m"],
     "width 40 is not a multiple of the template width 16"),
    (["train", "--size", "32x2", "--data", "{tmp}/no-such-dir", "--out", "{tmp}/r"], "does not exist"),
    (["init", "--bank", "{tmp}/no-bank", "--size", "32x2", "--data", "digits", "--out", "{tmp}/m"],
     "template bank"),
    (["init", "--bank", "{bank}", "--size", "32x2", "--data", "digits", "--num-classes", "5", "--out", "{tmp}/m"],
     "--num-classes 5"),
    (["train", "--size", "32x2x", "--data", "digits", "--out", "{tmp}/r"], "bad size"),
])
def test_bad_input_is_one_line_and_non_zero(bank_dir, tmp_path, run_cli, args, message):
    args = [a.format(bank=bank_dir, tmp=tmp_path) for a in args]
    code, _, err = run_cli(*args)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err


def test_console_script_exit_code(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sizeless.cli", "eval", "--model", str(tmp_path / "none"),
                           "--data", "digits"], capture_output=True, text=True)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
