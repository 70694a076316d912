"""Every numeric option of every command refuses nonsense in one line, before reading data or training."""

import inspect
import json
import shutil
import typing

import pytest
import typer
from typer.models import OptionInfo

from sizeless.cli import app

ZERO_IS_FINE = {"--seed", "--fit-steps", "--warmup", "--weight-decay", "--kd-weight", "--ce-weight",
                "--target-return", "--label-dropout", "--guidance", "--paired-weight"}
# dit: no label dropout; unconditional sampling; paired: weight 0 is the control that trains the own size alone
NEGATIVE_IS_FINE = {"--target-return"}  # a return-to-go: some tasks' returns are negative
DUMMIES = {"--data": "{tmp}/no-data", "--out": "{tmp}/out", "--size": "32x2", "--sizes": "32x2",
           "--bank": "{tmp}/no-bank", "--model": "{tmp}/no-model"}


def commands(typer_app: typer.Typer = app, prefix: str = ""):
    """(command path, its function) for every command of the CLI, sub-commands included."""
    for info in typer_app.registered_commands:
        yield prefix + (info.name or info.callback.__name__.replace("_", "-")), info.callback
    for group in typer_app.registered_groups:
        yield from commands(group.typer_instance, f"{prefix}{group.name} ")


def options(function):
    """(flag, value type, required) of every option of a command function, read from its annotations."""
    for name, hint in typing.get_type_hints(function, include_extras=True).items():
        base, info = typing.get_args(hint)[:2] if typing.get_origin(hint) is typing.Annotated else (hint, None)
        if not isinstance(info, OptionInfo):
            continue
        base = next((t for t in typing.get_args(base) if t is not type(None)), base)  # X | None -> X
        flag = next(iter(info.param_decls), "--" + name.replace("_", "-"))
        default = inspect.signature(function).parameters[name].default
        yield flag, base, default is inspect.Parameter.empty


def numeric_options() -> list[tuple[str, str, str]]:
    """(command path, flag, bad value) for every int/float option of the CLI, found by walking it."""
    cases = []
    for path, function in commands():
        for flag, kind, _ in options(function):
            if kind not in (int, float):
                continue
            zero_ok = flag in ZERO_IS_FINE
            bad = ["nan", "inf"] + ([] if flag in NEGATIVE_IS_FINE else ["-1"]) + ([] if zero_ok else ["0"])
            cases += [(path, flag, value) for value in bad]
    return cases


CASES = numeric_options()


def test_the_sweep_covers_every_command():
    commands = {path for path, _, _ in CASES}
    assert {"pretrain", "init", "train", "eval", "demo", "sizes", "bench init"} <= commands
    assert ("train", "--lr", "-1") in CASES and ("init", "--max-latency-ms", "nan") in CASES and len(CASES) > 200


def required_args(path: str, tmp) -> list[str]:
    function = dict(commands())[path]
    return [arg for flag, _, required in options(function) if required
            for arg in (flag, DUMMIES[flag].format(tmp=tmp))]


@pytest.mark.parametrize("path, flag, value", CASES)
def test_numeric_option_sweep(tmp_path, run_cli, path, flag, value):
    code, out, err = run_cli(*path.split(), *required_args(path, tmp_path), flag, value)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and flag in lines[0], err
    assert "Traceback" not in err and not out
    assert not (tmp_path / "out").exists()  # nothing written half-way


def test_train_lr_minus_one_is_one_line(tmp_path, run_cli):
    code, _, err = run_cli("train", "--size", "32x2", "--data", "digits", "--lr", "-1", "--out", str(tmp_path / "r"))
    assert code == 2 and err.strip() == "error: --lr must be a positive number, not -1.0"


@pytest.mark.parametrize("args, message", [
    (["pretrain", "--constraint", "tucker", "--ranks", "16,0,64"], "bad --ranks '16,0,64'"),
    (["pretrain", "--ranks", "16,64"], "bad --ranks"),
    (["pretrain", "--classes", "-1,2"], "bad class list '-1,2'"),
    (["pretrain", "--width-sampling", "0:96:32"], "--width-sampling: bad width sampling '0:96:32': widths must be"),
    (["pretrain", "--width-sampling", "64:32:8"], "bad width sampling '64:32:8'"),
    (["pretrain", "--depth-sampling", "0,2"], "--depth-sampling: bad depth sampling '0,2'"),
    (["bench", "init", "--bank-widths", "32,-64"], "--bank-widths: bad list '32,-64'"),
    (["bench", "init", "--lrs", "1e-3,nan"], "--lrs: bad learning rates '1e-3,nan'"),
    (["sizes", "--widths", "0:64"], "bad --widths"),
    (["sizes", "--depths", "6:2"], "bad --depths"),
    (["train", "--epochs", "1.5"], "'--epochs'"),
    (["train", "--nonsense", "3"], "No such option: --nonsense"),
])
def test_numeric_lists_and_click_errors_are_one_line(tmp_path, run_cli, args, message):
    path = " ".join(args[:2]) if args[0] == "bench" else args[0]
    code, _, err = run_cli(*args, *required_args(path, tmp_path))
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0], err


def test_missing_option_is_one_line(run_cli):
    code, _, err = run_cli("train", "--size", "32x2")
    assert code == 2 and err.strip().startswith("error: Missing option '--data'") and len(err.strip().splitlines()) == 1


def test_fit_steps_zero_composes_without_fitting(tmp_path, bank_dir, run_cli):
    code, _, err = run_cli("init", "--bank", str(bank_dir), "--size", "48x2", "--data", "digits", "--fit-steps", "0",
                           "--out", str(tmp_path / "m"))
    assert code == 0, err
    assert json.loads((tmp_path / "m" / "config.json").read_text())["sizeless"]["fit_steps"] == 0


def test_a_bank_naming_another_family_is_inconsistent(tmp_path, bank_dir, run_cli):
    bank = tmp_path / "bank"
    shutil.copytree(bank_dir, bank)
    config = json.loads((bank / "config.json").read_text())
    (bank / "config.json").write_text(json.dumps({**config, "family": "resnet", "family_config": {}}))
    message = "the bank's config is inconsistent: family resnet but pre-trained size '32x2h1' is not a ResNet size"
    for args in (["sizes", "--bank", str(bank)], ["info", str(bank)],
                 ["init", "--bank", str(bank), "--size", "32x2", "--data", "digits", "--out", str(tmp_path / "m")]):
        code, _, err = run_cli(*args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_train_uses_the_models_recommended_lr_unless_given(tmp_path, bank_dir, run_cli):
    model = tmp_path / "m"
    code, _, err = run_cli("init", "--bank", str(bank_dir), "--size", "32x2", "--data", "digits", "--fit-steps", "0",
                           "--out", str(model))
    assert code == 0, err
    for args, lr, warmup in (([], 2.5e-4, 0.02), (["--lr", "1e-3"], 1e-3, 0.02), (["--warmup", "0"], 2.5e-4, 0.0)):
        out = tmp_path / f"run-{len(args)}-{lr}-{warmup}"
        code, _, err = run_cli("train", "--model", str(model), "--data", "digits", "--train-subset", "64",
                               "--epochs", "1", *args, "--out", str(out))
        assert code == 0, err
        recorded = json.loads((out / "config.json").read_text())["sizeless"]["train"]
        assert (recorded["lr"], recorded["warmup"]) == (lr, warmup)
