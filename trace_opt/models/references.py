"""References: what deletion writes into the deleted features.

``make_reference(kind, x, features, ...)`` returns a tensor of ``x``'s shape. Every reference is
computed once, from ``x`` itself (every random one drawn once from ``seed``), so that D(S) stays a
set function: the value written into a deleted feature never depends on which other features are
deleted, nor in which order.

The authors' code (the TRACE paper's ``utils.masking``/``traj_masking``) has two references whose
definitions differ from ours; they are offered under their own names:

``paper_blur``
    their blur, ``torchvision.transforms.GaussianBlur(kernel_size=31, sigma=56)`` on 224 x 224
    images, scaled to the image size: kernel ``max(3, nearest odd of 31 * n / 224)`` and sigma
    ``56 * n / 224`` along a dim of n pixels (28 px: kernel 3, sigma 7; 8 px: kernel 3 (the scaled
    kernel would be 1, no blur), sigma 2). The kernel is truncated to that size and renormalised with
    reflect padding, as torchvision does; with sigma much larger than the kernel it is nearly a box
    filter. Ours, ``blur``, is a Gaussian of std ``sigma`` (default 2 px) truncated at 3 sigma.
``paper_patch_mean``
    their patch mean: one value per feature, the mean over all its elements *and channels*. Ours,
    ``patch_mean``, keeps one value per channel when the feature map covers only the trailing
    (spatial) dims.

What stays different: the authors recompute the reference from the partly deleted image at every
deletion step (``masking(masked, ...)`` on the image as deleted so far), we compute it once from
``x``. For ``paper_patch_mean`` this changes nothing (a patch's mean reads only its own pixels, still
intact until it is deleted), so their D is ours. For ``paper_blur`` it does: near a patch border
their blurred values mix in neighbouring patches as already deleted, so their D depends on the
deletion order and is not a set function (the exact DP, the cache and the CS bounds all assume one);
ours blurs the intact ``x``. Their ``mean`` (the mean of the partly deleted image) likewise depends on
the order; our ``mean`` is the mean of ``x``.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from trace_opt.core.features import Features
from trace_opt.core.validation import (
    check_choice,
    check_finite_array,
    check_keywords,
    check_positive_float,
    check_positive_int,
)

REFERENCE_KINDS = (
    "zeros",
    "constant",
    "mean",
    "channel_mean",
    "patch_mean",
    "blur",
    "noise",
    "paper_blur",
    "paper_patch_mean",
)
#: what deletion writes: a kind of ``REFERENCE_KINDS``, a number, or a tensor / array of the input's shape
ReferenceSpec = str | float | torch.Tensor | np.ndarray
#: the authors' blur at 224 px (``transforms.GaussianBlur(kernel_size=31, sigma=56)``), scaled by ``paper_blur``
PAPER_BLUR_KERNEL, PAPER_BLUR_SIGMA, PAPER_IMAGE_SIZE = 31, 56.0, 224


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
        k = kernel[radius - pad_w : radius + pad_w + 1]
        out = torch.nn.functional.conv2d(out, (k / k.sum()).view(1, 1, 1, -1))
    if pad_h > 0:
        out = torch.nn.functional.pad(out, (0, 0, pad_h, pad_h), mode="reflect")
        k = kernel[radius - pad_h : radius + pad_h + 1]
        out = torch.nn.functional.conv2d(out, (k / k.sum()).view(1, 1, -1, 1))
    return out.reshape(shape)


def paper_blur_parameters(n: int) -> tuple[int, float]:
    """``(kernel size, sigma)`` of ``paper_blur`` along a dim of ``n`` pixels: the authors' 31 / 56 at 224 px,
    scaled by ``n / 224``; the kernel is the nearest odd size, at least 3 (ties to the smaller)."""
    n = check_positive_int("n", n)
    scaled = PAPER_BLUR_KERNEL * n / PAPER_IMAGE_SIZE
    kernel = max(3, 2 * int(np.ceil((scaled - 1) / 2 - 0.5)) + 1)
    return kernel, PAPER_BLUR_SIGMA * n / PAPER_IMAGE_SIZE


def _kernel_blur(x: torch.Tensor, kernel_size: tuple, sigma: tuple) -> torch.Tensor:
    """torchvision's ``gaussian_blur``: a Gaussian of ``sigma`` sampled on ``kernel_size`` points (odd) and
    renormalised, reflect padding of ``kernel_size // 2``, separable over the last two dims."""
    shape = x.shape
    out = x.reshape(-1, 1, shape[-2], shape[-1])
    for dim, (k, s) in enumerate(zip(kernel_size, sigma)):
        half = (k - 1) / 2
        coords = torch.linspace(-half, half, k, dtype=x.dtype, device=x.device)
        w = torch.exp(-0.5 * (coords / s) ** 2)
        w = w / w.sum()
        pad = k // 2
        if pad >= shape[-2 + dim]:
            raise ValueError(
                f"reference='paper_blur' needs at least {pad + 1} pixels along dim {x.dim() - 2 + dim}; "
                f"the input has {shape[-2 + dim]}"
            )
        if dim == 0:  # rows (H)
            out = torch.nn.functional.conv2d(
                torch.nn.functional.pad(out, (0, 0, pad, pad), mode="reflect"), w.view(1, 1, -1, 1)
            )
        else:  # columns (W)
            out = torch.nn.functional.conv2d(
                torch.nn.functional.pad(out, (pad, pad, 0, 0), mode="reflect"), w.view(1, 1, 1, -1)
            )
    return out.reshape(shape)


#: the reference options of ``make_reference`` and the kind that uses each (``seed`` is always accepted)
REFERENCE_OPTIONS = {"value": "constant", "sigma": "blur", "noise_std": "noise"}


def check_reference_options(kind: ReferenceSpec, options: dict) -> None:
    """Refuse unknown reference options and options (not None) that the reference ``kind`` does not use."""
    check_keywords("reference options", options, REFERENCE_OPTIONS)
    for name, value in options.items():
        used_by = REFERENCE_OPTIONS[name]
        if value is not None and not (isinstance(kind, str) and kind == used_by):
            shown = repr(kind) if isinstance(kind, (str, numbers.Real)) else "a tensor"
            raise ValueError(
                f"{name}={value!r} is only used by reference={used_by!r}; reference={shown} "
                f"ignores it (remove {name}, or choose reference={used_by!r})"
            )


def make_reference(
    kind: ReferenceSpec,
    x: torch.Tensor,
    features: Features,
    *,
    value: float | None = None,
    sigma: float | None = None,
    noise_std: float | None = None,
    seed: int | None = 0,
) -> torch.Tensor:
    """Build the reference tensor for input ``x`` (no batch dim).

    kind: ``"zeros"``; ``"constant"`` (``value``, default 0); ``"mean"`` (mean of x); ``"channel_mean"``
    (mean of each channel, dim 0, for inputs with 3 or more dims; the global mean for an ``H x W``
    input, a single channel); ``"patch_mean"`` (mean of x over each feature's elements, per channel when
    the feature map covers only the trailing dims); ``"blur"`` (Gaussian blur with std ``sigma``,
    default 2, pixels over the last two dims); ``"noise"`` (Gaussian noise with std ``noise_std``,
    default x's std, around x's mean, drawn once from ``seed``; None draws a fresh seed); the authors'
    ``"paper_blur"`` (their kernel 31 / sigma 56 at 224 px scaled to x's size, ``paper_blur_parameters``)
    and ``"paper_patch_mean"`` (one mean per feature over its elements and all channels), both computed
    once from x (the module docstring says how the authors' differ); a finite
    number; or a finite tensor/array of x's shape, used as given. An option the kind does not use is
    refused (``check_reference_options``).
    """
    check_reference_options(kind, {"value": value, "sigma": sigma, "noise_std": noise_std})
    if isinstance(kind, (torch.Tensor, np.ndarray)):
        ref = torch.as_tensor(kind, dtype=x.dtype, device=x.device)
        if ref.shape != x.shape:
            raise ValueError(
                f"reference tensor has shape {tuple(ref.shape)}; expected the input's shape {tuple(x.shape)}"
            )
        check_finite_array("reference", kind)
        return ref.clone()
    if isinstance(kind, numbers.Real) and not isinstance(kind, bool):
        check_finite_array("reference", kind)
        return torch.full_like(x, float(kind))
    check_choice("reference", kind, REFERENCE_KINDS)
    options = {"value": value, "sigma": sigma, "noise_std": noise_std, "seed": seed}
    return _BUILDERS[str(kind)](x, features, options)


# One builder per named kind: ``(x, features, options) -> reference`` (``options``: value, sigma, noise_std, seed).
def _zeros(x: torch.Tensor, features: Features, options: dict) -> torch.Tensor:
    return torch.zeros_like(x)


def _constant(x: torch.Tensor, features: Features, options: dict) -> torch.Tensor:
    value = options["value"]
    if value is None:
        return torch.zeros_like(x)
    check_finite_array("value", value)
    return torch.full_like(x, float(value))


def _mean(x: torch.Tensor, features: Features, options: dict) -> torch.Tensor:
    return torch.full_like(x, float(x.mean()))


def _channel_mean(x: torch.Tensor, features: Features, options: dict) -> torch.Tensor:
    if x.dim() < 2:
        raise ValueError("reference='channel_mean' needs an input with at least 2 dimensions (H x W or C x ...)")
    if x.dim() == 2:  # H x W: one channel
        return torch.full_like(x, float(x.mean()))
    dims = tuple(range(1, x.dim()))
    return x.mean(dim=dims, keepdim=True).expand_as(x).clone()


def _patch_mean(x: torch.Tensor, features: Features, options: dict) -> torch.Tensor:
    # rows: one per leading index (channel) the feature map broadcasts over; columns: its elements
    features.check_covers(tuple(x.shape))
    ids = torch.as_tensor(features.ids, device=x.device).reshape(-1)
    rows = x.reshape(-1, ids.numel())
    sums = torch.zeros(rows.shape[0], features.t, dtype=x.dtype, device=x.device).index_add_(1, ids, rows)
    counts = torch.bincount(ids, minlength=features.t).to(x.dtype)
    return (sums / counts)[:, ids].reshape(x.shape)


def _paper_patch_mean(x: torch.Tensor, features: Features, options: dict) -> torch.Tensor:
    features.check_covers(tuple(x.shape))
    ids = torch.as_tensor(features.ids, device=x.device).reshape(-1)
    rows = x.reshape(-1, ids.numel())  # every channel's copy of the feature map pooled into one mean
    sums = torch.zeros(features.t, dtype=x.dtype, device=x.device).index_add_(0, ids, rows.sum(dim=0))
    counts = torch.bincount(ids, minlength=features.t).to(x.dtype) * rows.shape[0]
    return (sums / counts)[ids].expand(rows.shape).reshape(x.shape).clone()


def _paper_blur(x: torch.Tensor, features: Features, options: dict) -> torch.Tensor:
    if x.dim() < 2:
        raise ValueError("reference='paper_blur' needs an input with at least 2 dimensions (H x W)")
    (kh, sh), (kw, sw) = paper_blur_parameters(x.shape[-2]), paper_blur_parameters(x.shape[-1])
    return _kernel_blur(x, (kh, kw), (sh, sw))


def _blur(x: torch.Tensor, features: Features, options: dict) -> torch.Tensor:
    sigma = 2.0 if options["sigma"] is None else check_positive_float("sigma", options["sigma"])
    if x.dim() < 2:
        raise ValueError("reference='blur' needs an input with at least 2 dimensions (H x W)")
    return _gaussian_blur(x, sigma)


def _noise(x: torch.Tensor, features: Features, options: dict) -> torch.Tensor:
    noise_std, seed = options["noise_std"], options["seed"]
    std = float(x.std()) if noise_std is None else check_positive_float("noise_std", noise_std)
    check_positive_int("seed", seed, minimum=0, allow_none=True)
    gen = torch.Generator(device="cpu")
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(dtype=x.dtype, device=x.device)
    return float(x.mean()) + std * noise


_BUILDERS = {
    "zeros": _zeros,
    "constant": _constant,
    "mean": _mean,
    "channel_mean": _channel_mean,
    "patch_mean": _patch_mean,
    "blur": _blur,
    "noise": _noise,
    "paper_blur": _paper_blur,
    "paper_patch_mean": _paper_patch_mean,
}
