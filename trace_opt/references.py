"""References: what deletion writes into the deleted features.

``make_reference(kind, x, features, ...)`` returns a tensor of ``x``'s shape. Every random
reference is drawn once from ``seed`` so that D(S) stays a set function.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch

from ._validation import check_choice, check_positive_float
from .features import Features

REFERENCE_KINDS = ("zeros", "constant", "mean", "channel_mean", "patch_mean", "blur", "noise")


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur over the last two dims (reflect padding), any leading dims."""
    radius = max(1, int(np.ceil(3 * sigma)))
    coords = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (coords / sigma) ** 2)
    kernel = kernel / kernel.sum()
    shape = x.shape
    img = x.reshape(-1, 1, shape[-2], shape[-1])
    pad_h, pad_w = min(radius, shape[-2] - 1), min(radius, shape[-1] - 1)
    out = img
    if pad_w > 0:
        out = torch.nn.functional.pad(out, (pad_w, pad_w, 0, 0), mode="reflect")
        k = kernel[radius - pad_w: radius + pad_w + 1]
        out = torch.nn.functional.conv2d(out, (k / k.sum()).view(1, 1, 1, -1))
    if pad_h > 0:
        out = torch.nn.functional.pad(out, (0, 0, pad_h, pad_h), mode="reflect")
        k = kernel[radius - pad_h: radius + pad_h + 1]
        out = torch.nn.functional.conv2d(out, (k / k.sum()).view(1, 1, -1, 1))
    return out.reshape(shape)


def make_reference(kind, x: torch.Tensor, features: Features, *, value: float = 0.0,
                   sigma: float = 2.0, noise_std: float | None = None, seed: int = 0) -> torch.Tensor:
    """Build the reference tensor for input ``x`` (no batch dim).

    kind: ``"zeros"``; ``"constant"`` (``value``); ``"mean"`` (mean of x); ``"channel_mean"`` (mean of
    each channel, dim 0); ``"patch_mean"`` (mean of x over each feature's elements); ``"blur"``
    (Gaussian blur with std ``sigma`` pixels over the last two dims); ``"noise"`` (Gaussian noise with
    std ``noise_std``, default x's std, around x's mean, drawn once from ``seed``); or a tensor/array
    of x's shape, used as given.
    """
    if isinstance(kind, (torch.Tensor, np.ndarray)):
        ref = torch.as_tensor(kind, dtype=x.dtype, device=x.device)
        if ref.shape != x.shape:
            raise ValueError(f"reference tensor has shape {tuple(ref.shape)}; expected the input's shape {tuple(x.shape)}")
        return ref.clone()
    if isinstance(kind, numbers.Real) and not isinstance(kind, bool):
        return torch.full_like(x, float(kind))
    check_choice("reference", kind, REFERENCE_KINDS)
    if kind == "zeros":
        return torch.zeros_like(x)
    if kind == "constant":
        return torch.full_like(x, float(value))
    if kind == "mean":
        return torch.full_like(x, float(x.mean()))
    if kind == "channel_mean":
        if x.dim() < 2:
            raise ValueError("reference='channel_mean' needs an input with a channel dimension (C x ...)")
        dims = tuple(range(1, x.dim()))
        return x.mean(dim=dims, keepdim=True).expand_as(x).clone()
    if kind == "patch_mean":
        ids = torch.as_tensor(np.broadcast_to(features.ids, tuple(x.shape)).copy(), device=x.device).reshape(-1)
        flat = x.reshape(-1)
        sums = torch.zeros(features.t, dtype=x.dtype, device=x.device).index_add_(0, ids, flat)
        counts = torch.bincount(ids, minlength=features.t).to(x.dtype)
        return (sums / counts)[ids].reshape(x.shape)
    if kind == "blur":
        check_positive_float("sigma", sigma)
        if x.dim() < 2:
            raise ValueError("reference='blur' needs an input with at least 2 dimensions (H x W)")
        return _gaussian_blur(x, float(sigma))
    # noise
    std = float(x.std()) if noise_std is None else check_positive_float("noise_std", noise_std)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(dtype=x.dtype, device=x.device)
    return float(x.mean()) + std * noise
