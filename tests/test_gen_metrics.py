"""Generative metrics: the Frechet and kernel distances on known Gaussians, real FID from given weights, and the
whole `eval --feature-model` path on digits."""

import json

import pytest
import torch
from safetensors.torch import save_file

from sizeless.errors import SizelessError
from sizeless.gen_metrics import InceptionFID, frechet_distance, kernel_distance


def _gaussian(n=4000, dim=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    mix = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    return torch.randn(n, dim, generator=generator, dtype=torch.float64) @ mix


def test_frechet_distance_of_identical_sets_is_zero():
    a = _gaussian()
    assert abs(frechet_distance(a, a)) < 1e-8


def test_frechet_distance_of_shifted_and_scaled_sets_matches_the_closed_form():
    # b = c * a + delta has mean c*mu + delta and covariance c^2 S exactly (as sample statistics), so
    # FD = |(c - 1) mu + delta|^2 + tr(S) (1 + c^2 - 2c)
    a = _gaussian()
    delta, c = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0, 1.0], dtype=torch.float64), 1.7
    b = c * a + delta
    expected = ((c - 1) * a.mean(0) + delta).square().sum() + torch.cov(a.T).trace() * (1 - c) ** 2
    assert frechet_distance(a, b) == pytest.approx(float(expected), rel=1e-9)


def test_frechet_distance_between_gaussian_samples_approaches_the_population_value():
    # N(0, I) vs N(m, diag(s^2)): FD = |m|^2 + sum (1 + s^2 - 2 s)
    generator = torch.Generator().manual_seed(1)
    a = torch.randn(50_000, 4, generator=generator, dtype=torch.float64)
    s = torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=torch.float64)
    m = torch.tensor([0.5, 0.0, -1.0, 2.0], dtype=torch.float64)
    b = torch.randn(50_000, 4, generator=generator, dtype=torch.float64) * s + m
    expected = m.square().sum() + (1 + s**2 - 2 * s).sum()
    assert frechet_distance(a, b) == pytest.approx(float(expected), rel=0.02)


def test_kernel_distance_is_unbiased_near_zero_for_one_distribution_and_grows_with_a_shift():
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(1000, 6, generator=generator, dtype=torch.float64) for _ in range(2))
    same, same_spread = kernel_distance(a, b, subsets=10, subset_size=200)
    shifted, spread = kernel_distance(a, b + 1.0, subsets=10, subset_size=200)
    assert abs(same) < 3 * same_spread + 1e-3 and shifted > 10 * spread > 0 and shifted > 20 * abs(same)
    assert kernel_distance(a, b + 1.0, subsets=5, subset_size=100, seed=3) == \
        kernel_distance(a, b + 1.0, subsets=5, subset_size=100, seed=3)  # subsets from a seed: reproducible


def _inception_weights(path, monkeypatch):
    """A weights file with InceptionV3's exact structure (random values): torch-fidelity builds the network,
    here without its download, and we store its state dict."""
    import torch_fidelity.feature_extractor_inceptionv3 as fidelity

    with monkeypatch.context() as patch:
        patch.setattr(fidelity, "load_state_dict_from_url", lambda *args, **kw: None)
        patch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        torch.manual_seed(0)
        net = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def test_real_fid_runs_from_given_weights_and_refuses_the_wrong_structure(tmp_path, monkeypatch):
    weights = _inception_weights(tmp_path / "inception.safetensors", monkeypatch)
    fid = InceptionFID(weights, feature=64)  # the same weights and code path; 2048-d statistics take minutes here
    generator = torch.Generator().manual_seed(0)  # two images a side: InceptionV3 at 299 px is slow on a CPU
    real = torch.randint(0, 256, (2, 1, 8, 8), generator=generator, dtype=torch.uint8)
    fake = torch.randint(0, 256, (2, 1, 8, 8), generator=generator, dtype=torch.uint8)
    value = fid(fake, real)
    assert value == value and value > 0  # finite (NaN fails) and positive for different images
    from safetensors.torch import load_file

    wrong = load_file(str(weights))
    wrong["fc.weight"] = torch.zeros(10, 2048)  # 10 classes instead of 1008: the wrong shape
    save_file(wrong, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(SizelessError, match="not InceptionV3 weights of the expected structure"):
        InceptionFID(tmp_path / "wrong.safetensors")
    torch.save({"fc": "not a tensor"}, tmp_path / "pickled.pth")
    with pytest.raises(SizelessError, match="tensors"):
        InceptionFID(tmp_path / "pickled.pth")


def test_eval_with_a_feature_model_reports_distances_the_floor_and_the_classifier(tmp_path, digits, run_cli):
    from sizeless.api import train
    from sizeless.training import TrainConfig

    train(None, digits, TrainConfig(epochs=1, batch_size=64), size="32x1", out=tmp_path / "clf")
    train(None, digits, TrainConfig(steps=2, batch_size=32, weight_decay=0.0), size="32x1", family="dit",
          out=tmp_path / "dit")
    code, out, err = run_cli("eval", "--model", str(tmp_path / "dit"), "--data", "digits", "--feature-model",
                             str(tmp_path / "clf"), "--num-images", "20", "--steps", "2", "--json")
    assert code == 0, err
    metrics = json.loads(out.strip().splitlines()[-1])  # after the training runs' epoch lines
    assert set(metrics) >= {"fd", "kd", "kd_std", "class_consistency", "denoising_loss", "floor", "classifier"}
    assert metrics["fd"] > metrics["floor"]["fd"] > 0 and 0 <= metrics["class_consistency"] <= 1
    assert len(metrics["classifier"]["sha256"]) == 64 and metrics["classifier"]["acc_on_real"] > 0.1
    assert not any("fid" in key for key in metrics)  # no Inception weights given: nothing called FID
