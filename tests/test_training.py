import csv
import json

import pytest
import torch

from sizeless.api import pretrain, train
from sizeless.data import DataConfig, load_data
from sizeless.errors import SizelessError
from sizeless.files import load_tensors_and_metadata, save_tensors
from sizeless.training import CHECKPOINT, TrainConfig, fit

CONFIG = TrainConfig(epochs=2, batch_size=32, lr=2e-3, checkpoint_every=1000)


@pytest.fixture(scope="module")
def small():
    return load_data(DataConfig("digits", train_subset=256, val_subset=128))


def _same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_interrupted_run_resumes_to_the_same_weights(small, tmp_path):
    full, _ = train(None, small, CONFIG, size="32x2", out=tmp_path / "full")
    _, part = train(None, small, CONFIG, size="32x2", out=tmp_path / "cut", stop_at_step=11)  # mid-epoch 2
    assert not part.completed and not (tmp_path / "cut" / "model.safetensors").exists()
    with pytest.raises(SizelessError, match="pass --resume"):
        train(None, small, CONFIG, size="32x2", out=tmp_path / "cut")
    resumed, result = train(None, small, CONFIG, size="32x2", out=tmp_path / "cut", resume=True)
    assert result.completed
    _same(full, resumed)
    rows = list(csv.DictReader((tmp_path / "cut" / "metrics.csv").open()))
    full_rows = list(csv.DictReader((tmp_path / "full" / "metrics.csv").open()))
    assert [r["val_acc"] for r in rows] == [r["val_acc"] for r in full_rows]
    assert [r["train_loss"] for r in rows] == [r["train_loss"] for r in full_rows]
    assert (tmp_path / "cut" / "curve.png").stat().st_size > 1000
    assert {r["threads"] for r in rows} == {str(torch.get_num_threads())}  # what its wall time is judged against


def test_resume_refuses_changed_settings(small, tmp_path):
    train(None, small, CONFIG, size="32x2", out=tmp_path / "run", stop_at_step=3)
    changed = TrainConfig(**{**CONFIG.__dict__, "lr": 1e-2})
    with pytest.raises(SizelessError, match="settings changed"):
        train(None, small, changed, size="32x2", out=tmp_path / "run", resume=True)


def test_multi_size_pretraining_resumes_exactly(small, tmp_path):
    kw = dict(constraint_config={"template_width": 16, "num_templates": 2}, config=CONFIG)
    full = pretrain(small, ["32x2", "48x3"], out=tmp_path / "full", **kw)
    pretrain(small, ["32x2", "48x3"], out=tmp_path / "cut", stop_at_step=5, **kw)
    resumed = pretrain(small, ["32x2", "48x3"], out=tmp_path / "cut", resume=True, **kw)
    assert full.tensors.keys() == resumed.tensors.keys()
    assert {k.split("/")[1] for k in full.tensors if k.startswith("scaler/")} == {"32x2h1", "48x3h1"}
    for key, value in full.tensors.items():
        assert torch.equal(value, resumed.tensors[key]), key
    made = resumed.config["created"]
    (tmp_path / "cut" / "config.json").write_text(
        (tmp_path / "cut" / "config.json").read_text().replace(made, "2000-01-01T00:00:00+00:00"))
    again = pretrain(small, ["32x2", "48x3"], out=tmp_path / "cut", resume=True, **kw)
    assert again.config["created"] == "2000-01-01T00:00:00+00:00"  # a finished bank is not re-dated
    assert again.config["threads"] == torch.get_num_threads()
    # a checkpoint whose history predates per-row threads: the bank's own record of them is kept
    checkpoint = tmp_path / "cut" / CHECKPOINT
    tensors, metadata = load_tensors_and_metadata(checkpoint, "checkpoint")
    state = json.loads(metadata["sizeless_state"])
    state["history"] = [{k: v for k, v in row.items() if k != "threads"} for row in state["history"]]
    save_tensors(checkpoint, tensors, metadata={"sizeless_state": json.dumps(state)})
    config = json.loads((tmp_path / "cut" / "config.json").read_text())
    (tmp_path / "cut" / "config.json").write_text(json.dumps({**config, "threads": 7}))
    assert pretrain(small, ["32x2", "48x3"], out=tmp_path / "cut", resume=True, **kw).config["threads"] == 7


def test_non_finite_loss_is_a_clear_error(small, tmp_path):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))

    def nan_objective(forward, images, labels, indices=None):
        return forward(images).sum() * float("nan"), {}

    with pytest.raises(SizelessError, match="non-finite"):
        fit(model, small, CONFIG, objective=nan_objective, out_dir=tmp_path / "nan")


def test_resume_refuses_other_data(small, tmp_path):
    train(None, small, CONFIG, size="32x2", out=tmp_path / "run", stop_at_step=3)
    other = load_data(DataConfig("digits", train_subset=200, val_subset=128))
    with pytest.raises(SizelessError, match="made with another data"):
        train(None, other, CONFIG, size="32x2", out=tmp_path / "run", resume=True)


@pytest.mark.parametrize("field, value", [("epochs", 0), ("batch_size", 0), ("warmup", 1.5), ("steps", -1),
                                          ("spent_steps", -1)])
def test_bad_training_settings(field, value):
    with pytest.raises(SizelessError, match="bad training settings"):
        TrainConfig(**{field: value})
