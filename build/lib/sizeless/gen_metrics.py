"""Metrics for generated images, each named for what it measures.

No Inception weights can be downloaded here, so the default distances live in the feature space of
a classifier that sizeless trained on the same data (its penultimate features): the Frechet distance
(``fd``: FID's formula, not FID) and the kernel distance (``kd``: KID's unbiased polynomial-kernel
MMD^2 over subsets, not KID), always reported with the classifier (path, accuracy, weights' SHA-256)
and the real-vs-real floor at the same sample count. Class consistency is that classifier's accuracy
on generated images against their conditioning labels. Real FID (``fid_inception``, torchmetrics) is
computed only from InceptionV3 weights the user supplies.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import SizelessError
from .files import load_tensors, sha256

KD_SUBSETS, KD_SUBSET_SIZE = 100, 1000  # KID's usual estimator settings (subsets shrink to the sample count)


def frechet_distance(a: Tensor, b: Tensor) -> float:
    """``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` between Gaussians fitted to two feature sets.

    The trace of the matrix root is taken as the sum of root eigenvalues of the symmetric
    ``S_a^(1/2) S_b S_a^(1/2)`` (float64), which stays real and stable for rank-deficient covariances.
    """
    if len(a) < 2 or len(b) < 2:
        raise SizelessError("a Frechet distance needs at least 2 samples on each side")
    a, b = a.double(), b.double()
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    mean = (a.mean(0) - b.mean(0)).square().sum()
    return float(mean + cov_a.trace() + cov_b.trace() - 2 * cross)


def kernel_distance(a: Tensor, b: Tensor, subsets: int = KD_SUBSETS, subset_size: int = KD_SUBSET_SIZE,
                    seed: int = 0) -> tuple[float, float]:
    """KID's estimator on any features: mean and std over ``subsets`` of the unbiased MMD^2 with the
    kernel ``(x.y / d + 1)^3`` (torchmetrics' ``poly_mmd``), subsets drawn from ``seed``."""
    from torchmetrics.image.kid import poly_mmd

    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise SizelessError("a kernel distance needs at least 2 samples on each side")
    generator = torch.Generator().manual_seed(seed)
    a, b = a.double(), b.double()
    scores = torch.stack([poly_mmd(a[torch.randperm(len(a), generator=generator)[:size]],
                                   b[torch.randperm(len(b), generator=generator)[:size]]) for _ in range(subsets)])
    return float(scores.mean()), float(scores.std(unbiased=False))


@dataclass
class FeatureModel:
    """A sizeless classifier used as a feature extractor: penultimate features and logits of uint8 images."""

    model: nn.Module
    info: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> FeatureModel:
        from .models import WEIGHTS_FILE, load_model_for

        path = Path(path)
        model, config = load_model_for(path, "supervised", "a classifier; --feature-model needs a classifier "
                                       "folder trained on the same data (sizeless train --size ... --data ...)")
        record = config.get("sizeless", {})
        family = record.get("family", "vit")
        info = {"path": str(path), "family": family, "architecture": config.get("architecture"),
                "size": record.get("size"), "params": sum(p.numel() for p in model.parameters()),
                "recorded_val_acc": record.get("val_acc"), "sha256": sha256(path / WEIGHTS_FILE)}
        return cls(model.eval(), info)

    @torch.no_grad()
    def __call__(self, images: Tensor, batch_size: int = 500) -> tuple[Tensor, Tensor]:
        """``(features, logits)`` of uint8 ``(N, C, H, W)`` images, normalized and sized as the classifier was."""
        cfg = self.model.pretrained_cfg
        chans, height, width = cfg["input_size"]
        if images.shape[1] not in (1, chans):
            raise SizelessError(f"the feature model takes {chans}-channel images, not {images.shape[1]}-channel ones")
        mean = torch.tensor(cfg["mean"][:chans]).view(1, -1, 1, 1)
        std = torch.tensor(cfg["std"][:chans]).view(1, -1, 1, 1)
        features, logits = [], []
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].float().div(255).expand(-1, chans, -1, -1)
            if x.shape[-2:] != (height, width):
                x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
            pre = self.model.forward_head(self.model.forward_features((x - mean) / std), pre_logits=True)
            features.append(pre.float())
            logits.append(self.model.get_classifier()(pre).float())
        return torch.cat(features), torch.cat(logits)


def compare(fake: tuple[Tensor, Tensor], labels: Tensor, real: tuple[Tensor, Tensor], seed: int = 0) -> dict:
    """FD and KD between generated and real features, and class consistency of the generated images."""
    kd, kd_std = kernel_distance(fake[0], real[0], seed=seed)
    return {"fd": frechet_distance(fake[0], real[0]), "kd": kd, "kd_std": kd_std,
            "class_consistency": float((fake[1].argmax(1) == labels).float().mean())}


def real_floor(train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], seed: int = 0) -> dict:
    """The same distances between two sets of real images (train vs held-out): the best a generator can do
    at this sample count (both estimators are biased or noisy at small counts)."""
    kd, kd_std = kernel_distance(train[0], test[0], seed=seed)
    return {"fd": frechet_distance(train[0], test[0]), "kd": kd, "kd_std": kd_std}


def load_inception_state(path: Path) -> dict[str, Tensor]:
    """InceptionV3 weights read without unpickling code: safetensors, or a torch file of tensors only."""
    if not path.is_file():
        raise SizelessError(f"--inception-weights {path} not found")
    if path.suffix == ".safetensors":
        return load_tensors(path, "InceptionV3 weights")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for foreign or unsafe files
        raise SizelessError(f"{path} is not a weights file sizeless can read safely (safetensors, or torch tensors "
                            f"only): {str(err).splitlines()[0]}") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise SizelessError(f"{path} does not hold a state dict of tensors (InceptionV3 weights)")
    return state


class InceptionFID:
    """Real FID (torchmetrics, InceptionV3 pool features) from user-given weights in torch-fidelity's InceptionV3
    layout (``pt_inception-2015-12-05``). Built up front, so a wrong file fails before any sampling.
    ``feature``: 2048 (FID) or one of torchmetrics' earlier taps (64, 192, 768), cheaper for tests."""

    def __init__(self, weights: str | Path, feature: int = 2048):
        from torchmetrics.image.fid import FrechetInceptionDistance

        state = load_inception_state(Path(weights))
        with tempfile.TemporaryDirectory() as tmp:
            clean = Path(tmp) / "inception.pth"  # our own file of plain tensors, for torch-fidelity's loader
            torch.save(state, clean)
            try:
                self.metric = FrechetInceptionDistance(feature=feature, feature_extractor_weights_path=str(clean))
            except (RuntimeError, KeyError, ValueError) as err:
                raise SizelessError(f"{weights} is not InceptionV3 weights of the expected structure: "
                                    f"{' '.join(str(err).split())[:200]}") from None

    @torch.no_grad()
    def __call__(self, fake: Tensor, real: Tensor, batch_size: int = 50) -> float:
        """FID between two uint8 image sets; grey images are repeated to RGB."""
        self.metric.reset()
        for images, real_side in ((real, True), (fake, False)):
            for start in range(0, len(images), batch_size):
                batch = images[start:start + batch_size].expand(-1, 3, -1, -1).contiguous()
                self.metric.update(batch, real=real_side)
        return float(self.metric.compute())
