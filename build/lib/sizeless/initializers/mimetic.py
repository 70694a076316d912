"""Mimetic init (Trockman & Kolter, "Mimetic Initialization of Self-Attention Layers", ICML 2023).

No pre-trained model: each head's W_q^T W_k is set to the best rank-head_dim approximation of
a1*Z/sqrt(D) + b1*I, and W_v^T W_proj^T to a2*Z/sqrt(D) - b2*I, via an SVD split A = L R.
Everything else keeps timm's default init.
"""

from __future__ import annotations

import torch

from ..data import ImageData
from ..errors import UnsupportedSize
from ..families import TRANSFORMERS, get_family
from .base import Initialized, InitOptions
from .scratch import scratch

ALPHA_QK, BETA_QK = 0.7, 0.7  # the paper's CIFAR ViT-Tiny settings
ALPHA_VO, BETA_VO = 0.4, 0.4


def identity_like(dim: int, alpha: float, beta: float, sign: float, generator: torch.Generator):
    """Factors L, R with L @ R = alpha * Z / sqrt(dim) + sign * beta * I."""
    a = alpha * torch.randn(dim, dim, generator=generator) / dim**0.5 + sign * beta * torch.eye(dim)
    u, s, vh = torch.linalg.svd(a)
    root = s.sqrt()
    return u * root, root[:, None] * vh


def timm_attention(model: torch.nn.Module):
    """Per block of a timm ViT: ``(W_q, W_k, W_v, W_proj, heads)`` as views into the fused qkv weight."""
    out = []
    for block in model.blocks:
        dim = block.attn.qkv.in_features
        q, k, v = block.attn.qkv.weight.view(3, dim, dim)
        out.append((q, k, v, block.attn.proj.weight, block.attn.num_heads))
    return out


@torch.no_grad()
def apply_mimetic(model: torch.nn.Module, generator: torch.Generator, attention=timm_attention) -> None:
    """``attention(model)`` lists each block's ``(W_q, W_k, W_v, W_proj, heads)`` as writable ``(out, in)`` views
    (a family hook: fused or separate projections, GPT-2's in-by-out storage seen transposed)."""
    for q, k, v, proj, heads in attention(model):
        dim = q.shape[1]
        head_dim = dim // heads
        for h in range(heads):
            left, right = identity_like(dim, ALPHA_QK, BETA_QK, 1.0, generator)
            rows = slice(h * head_dim, (h + 1) * head_dim)
            q[rows] = left[:, :head_dim].T  # W_q^h, so that W_q^h^T W_k^h ~ L R
            k[rows] = right[:head_dim]
        left, right = identity_like(dim, ALPHA_VO, BETA_VO, -1.0, generator)
        v.copy_(left.T)  # W_v^T W_proj^T = L R
        proj.copy_(right.T)


def mimetic(size, data: ImageData, options: InitOptions) -> Initialized:
    family = options.bank.config["family"] if options.bank else options.family or "vit"
    if family not in TRANSFORMERS:
        raise UnsupportedSize(f"mimetic init shapes self-attention weights; {family} has no attention (n/a for CNNs)")
    init = scratch(size, data, options)
    hook = getattr(get_family(family), "attention", timm_attention)
    apply_mimetic(init.model, torch.Generator().manual_seed(options.seed), hook)
    init.meta["method"] = "mimetic"
    return init
