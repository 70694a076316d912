"""Shared fixtures: digits data, tiny digits banks pre-trained once per session, the CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from sizeless.api import pretrain
from sizeless.bank import TemplateBank
from sizeless.cli import main
from sizeless.data import load_data
from sizeless.templated import TemplateNet
from sizeless.training import TrainConfig


@pytest.fixture(scope="session")
def digits():
    return load_data("digits")


@pytest.fixture(scope="session")
def bank_dir(tmp_path_factory, digits):
    """A Kronecker ViT bank (template width 16) pre-trained at 32x2 for 8 epochs: 74% on digits (chance 10%)."""
    out = tmp_path_factory.mktemp("bank")
    pretrain(digits, ["32x2"], constraint_config={"template_width": 16, "num_templates": 2},
             config=TrainConfig(epochs=8, batch_size=64, lr=5e-3), out=out)
    return out


@pytest.fixture(scope="session")
def cnn_banks(tmp_path_factory, digits):
    """A tiny bank per CNN family, pre-trained for 2 epochs on digits at 8x1-2-1-1 (template width 4): 92-95%."""
    banks = {}
    for name in ("resnet", "convnext"):
        out = tmp_path_factory.mktemp(f"bank-{name}")
        pretrain(digits, ["8x1-2-1-1"], family=name, constraint_config={"template_width": 4, "num_templates": 2},
                 config=TrainConfig(epochs=2, batch_size=64, lr=1e-2), out=out)
        banks[name] = out
    return banks


@pytest.fixture(scope="session")
def tucker_bank_dir(tmp_path_factory, digits):
    """A Tucker ViT bank (ranks 16, 32, 32) pre-trained at 64x2 for 8 epochs: 47% on digits (Tucker starts slowly)."""
    out = tmp_path_factory.mktemp("bank-tucker")
    pretrain(digits, ["64x2"], constraint="tucker", constraint_config={"ranks": [16, 32, 32]},
             config=TrainConfig(epochs=8, batch_size=64, lr=3e-3), out=out)
    return out


def untrained_bank(bank: TemplateBank | str | Path, seed: int = 1) -> TemplateBank:
    """A bank of the same family, constraint, sizes and shapes as ``bank``, at its random init (never trained)."""
    bank = bank if isinstance(bank, TemplateBank) else TemplateBank.load(bank)
    net = TemplateNet(bank.family, bank.constraint, bank.sizes, bank.image, bank.config["num_classes"], seed=seed)
    return TemplateBank.from_net(net, {"train": bank.config["train"]})


@pytest.fixture(scope="session")
def untrained():
    """``untrained(bank)``: the same bank at its random init (the control a knowledge test compares with)."""
    return untrained_bank


@pytest.fixture
def run_cli(capsys):
    """``run_cli(*args) -> (exit code, stdout, stderr)`` of the ``sizeless`` command line."""

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        out, err = capsys.readouterr()
        return exit_info.value.code or 0, out, err

    return run
