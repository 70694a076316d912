"""The ``diffusion`` objective: DDPM epsilon prediction as in DiT, with label dropout for guidance.

Training draws a timestep per image from the 1000-step schedule, lets diffusers' ``DDPMScheduler``
add the noise, and regresses the noise; a tenth of the labels (by default) are replaced by the null
label so the same model also predicts unconditionally (classifier-free guidance). Noise, timesteps and
dropped labels come from the global generator, which the training loop seeds and checkpoints, so a
resumed run replays them. Validation is a held-out denoising loss at fixed timesteps and fixed noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import SizelessError

SCORE_SEED = 20240611  # validation noise: the same for every evaluation of every model
SCORE_TIMESTEPS = 10  # validation timesteps: evenly spaced over the schedule, cycled over each batch


@dataclass
class DiffusionConfig:
    """The noise schedule and label dropout (stored in banks and model folders; the schedule also as a
    diffusers ``scheduler_config.json`` beside each exported model)."""

    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    beta_schedule: str = "linear"
    label_dropout: float = 0.1  # fraction of training labels replaced by the null label

    def __post_init__(self) -> None:
        if self.num_train_timesteps < 2:
            raise SizelessError("a diffusion schedule needs at least 2 timesteps")
        if not 0 <= self.label_dropout < 1:
            raise SizelessError(f"label dropout is a fraction in [0, 1), not {self.label_dropout}")
        if not 0 < self.beta_start < self.beta_end < 1:
            raise SizelessError(f"betas must satisfy 0 < beta_start < beta_end < 1, not {self.beta_start}, "
                                f"{self.beta_end}")

    def to_dict(self) -> dict:
        return asdict(self)

    def scheduler(self):
        """diffusers' DDPM scheduler for this schedule: epsilon prediction, samples clipped to [-1, 1]."""
        from diffusers import DDPMScheduler

        return DDPMScheduler(num_train_timesteps=self.num_train_timesteps, beta_start=self.beta_start,
                             beta_end=self.beta_end, beta_schedule=self.beta_schedule, prediction_type="epsilon",
                             clip_sample=True)


class Diffusion:
    """Objective for the trainer: MSE between the added noise and the model's prediction of it.

    ``forward(noisy, timestep=t, class_labels=y, return_dict=False)[0]`` is a DiT's epsilon prediction
    (a plain diffusers model or a templated one). Label ``num_classes`` is the null label.
    """

    reports_accuracy = False
    plain_cost = True  # a step costs the model's forward and backward alone (adding noise is free): DESIGN 2.7
    default_augment = False  # random crops would teach a generator reflect-padded borders

    def __init__(self, config: DiffusionConfig, num_classes: int):
        self.config, self.num_classes = config, num_classes

    @cached_property
    def noise_scheduler(self):
        return self.config.scheduler()

    def predict(self, forward, noisy: Tensor, timesteps: Tensor, labels: Tensor) -> Tensor:
        return forward(noisy, timestep=timesteps, class_labels=labels, return_dict=False)[0]

    def __call__(self, forward, images: Tensor, labels: Tensor,
                 indices: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        n, device = len(images), images.device
        noise = torch.randn(images.shape, device=device)
        timesteps = torch.randint(0, self.config.num_train_timesteps, (n,), device=device)
        dropped = torch.rand(n, device=device) < self.config.label_dropout
        labels = torch.where(dropped, torch.full_like(labels, self.num_classes), labels)
        noisy = self.noise_scheduler.add_noise(images, noise, timesteps)
        return F.mse_loss(self.predict(forward, noisy, timesteps, labels).float(), noise), {}

    @torch.no_grad()
    def score(self, forward, images: Tensor, labels: Tensor) -> dict[str, float]:
        """Sum over the batch of the per-image denoising MSE at fixed timesteps and noise (conditional)."""
        noise, timesteps = fixed_noise(images, self.config.num_train_timesteps)
        noisy = self.noise_scheduler.add_noise(images, noise, timesteps)
        error = (self.predict(forward, noisy, timesteps, labels).float() - noise).pow(2)
        return {"loss": error.flatten(1).mean(1).sum().item()}


def fixed_noise(images: Tensor, num_train_timesteps: int) -> tuple[Tensor, Tensor]:
    """Validation noise from a fixed seed and timesteps cycling over an even grid of the schedule."""
    generator = torch.Generator().manual_seed(SCORE_SEED)
    noise = torch.randn(images.shape, generator=generator).to(images.device)
    grid = torch.linspace(0, num_train_timesteps - 1, SCORE_TIMESTEPS + 2)[1:-1].round().long()
    timesteps = grid[torch.arange(len(images)) % len(grid)].to(images.device)
    return noise, timesteps
