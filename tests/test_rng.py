"""sizeless never changes a caller's random stream, and the same seed still gives the same weights."""

import pytest
import torch

from sizeless.api import evaluate_model, initialize, pretrain, train
from sizeless.data import DataConfig, load_data
from sizeless.initializers.base import default_fit_config
from sizeless.rng import keep_rng, reseed, seeded
from sizeless.training import TrainConfig

STEPS = TrainConfig(steps=2, batch_size=32, lr=1e-3)


@pytest.fixture(scope="module")
def small():
    return load_data(DataConfig("digits", train_subset=128, val_subset=64))


def leaves_the_stream_alone(call):
    """``call()`` runs between two draws; the second draw must be what it is without the call."""
    torch.manual_seed(1234)
    torch.rand(3)
    state = torch.random.get_rng_state()
    result = call()
    assert torch.equal(torch.random.get_rng_state(), state)
    expected = torch.Generator().manual_seed(1234)
    torch.rand(3, generator=expected)
    assert torch.equal(torch.rand(5), torch.rand(5, generator=expected))
    return result


def test_pretrain_initialize_train_evaluate_keep_the_callers_rng(tmp_path, small, bank_dir):
    leaves_the_stream_alone(lambda: pretrain(small, ["32x1"], config=STEPS, out=tmp_path / "bank",
                                             constraint_config={"template_width": 16, "num_templates": 2}))
    fit = default_fit_config()
    fit.steps, fit.batch_size = 2, 32
    leaves_the_stream_alone(lambda: initialize("48x2", small, bank=bank_dir, fit=fit, out=tmp_path / "m"))
    for method in ("scratch", "mimetic"):
        leaves_the_stream_alone(lambda m=method: initialize("32x2", small, method=m))
    leaves_the_stream_alone(lambda: initialize("32x1", small, method="weight-selection", teacher=tmp_path / "m"))
    leaves_the_stream_alone(lambda: train(None, small, STEPS, size="32x1", out=tmp_path / "t"))
    # resuming a finished run restores the checkpoint's RNG state inside the call, not in the caller
    leaves_the_stream_alone(lambda: train(None, small, STEPS, size="32x1", out=tmp_path / "t", resume=True))
    leaves_the_stream_alone(lambda: train(tmp_path / "m", small, STEPS))
    leaves_the_stream_alone(lambda: evaluate_model(tmp_path / "m", small))


def test_same_seed_same_weights_whatever_the_callers_state(small, bank_dir):
    models = []
    for caller_seed in (1, 2):
        torch.manual_seed(caller_seed)
        models.append(initialize("32x2", small, method="scratch", seed=5).state_dict())
    for name, value in models[0].items():
        assert torch.equal(value, models[1][name]), name
    torch.manual_seed(3)
    other = initialize("32x2", small, method="scratch", seed=6).state_dict()
    assert not torch.equal(other["blocks.0.attn.qkv.weight"], models[0]["blocks.0.attn.qkv.weight"])


def test_seeded_scopes_nest_inside_one_fork():
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    with keep_rng():
        with seeded(7):
            first = torch.rand(2)
        # nested: the seeded stream goes on after the inner block, as torch.manual_seed would
        after = torch.rand(2)
    assert torch.equal(torch.random.get_rng_state(), state)
    reference = torch.Generator().manual_seed(7)
    assert torch.equal(first, torch.rand(2, generator=reference))
    assert torch.equal(after, torch.rand(2, generator=reference))
    with seeded(7):  # outermost: forks and restores by itself
        assert torch.equal(torch.rand(2), first)
    assert torch.equal(torch.random.get_rng_state(), state)
    with pytest.raises(RuntimeError, match="outside keep_rng"):
        reseed(1)
