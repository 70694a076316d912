"""Shared fixtures: digits data, a tiny digits bank pre-trained once per session, the CLI runner."""

from __future__ import annotations

import pytest

from sizeless.api import pretrain
from sizeless.cli import main
from sizeless.data import load_data
from sizeless.training import TrainConfig


@pytest.fixture(scope="session")
def digits():
    return load_data("digits")


@pytest.fixture(scope="session")
def bank_dir(tmp_path_factory, digits):
    """A Kronecker bank (template width 16) pre-trained for 2 epochs at width 32, depth 2."""
    out = tmp_path_factory.mktemp("bank")
    pretrain(digits, ["32x2"], constraint_config={"template_width": 16, "num_templates": 2},
             config=TrainConfig(epochs=2, batch_size=64, lr=2e-3), out=out)
    return out


@pytest.fixture
def run_cli(capsys):
    """``run_cli(*args) -> (exit code, stdout, stderr)`` of the ``sizeless`` command line."""

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        out, err = capsys.readouterr()
        return exit_info.value.code or 0, out, err

    return run
