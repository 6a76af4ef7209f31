"""Conversions between attribution maps, trajectories and heatmaps; Kendall distance."""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike

from trace_opt.core.features import Features
from trace_opt.core.kernels import kendall_distance
from trace_opt.core.problem import ranks_of
from trace_opt.core.validation import check_choice, check_positive_float, check_trajectory


def marginal_drops(order: ArrayLike, curve: ArrayLike) -> np.ndarray:
    """Per feature, the drop of D when it is deleted along ``order`` (the first deleted first), from ``curve``
    (D after deleting the first k of ``order``, k = 0..t): ``curve[k] - curve[k + 1]`` for the k-th feature.
    They sum to ``curve[0] - curve[t]``."""
    order = np.asarray(order, dtype=np.int64)
    curve = np.asarray(curve, dtype=np.float64)
    drops = np.empty(len(order))
    drops[order] = curve[:-1] - curve[1:]
    return drops


def feature_scores(
    attribution: ArrayLike | torch.Tensor, features: Features, aggregate: str = "sum", absolute: bool = False
) -> np.ndarray:
    """Aggregate an attribution map (input-shaped) to one score per feature (sum or mean)."""
    check_choice("aggregate", aggregate, ("sum", "mean"))
    a = attribution.detach().cpu().numpy() if isinstance(attribution, torch.Tensor) else np.asarray(attribution)
    a = a.astype(np.float64)
    features.check_covers(a.shape, name="features")
    if absolute:
        a = np.abs(a)
    ids = np.broadcast_to(features.ids, a.shape).ravel()
    sums: np.ndarray = np.bincount(ids, weights=a.ravel(), minlength=features.t)
    if aggregate == "mean":
        sums = sums / np.bincount(ids, minlength=features.t)
    return sums


def attribution_to_trajectory(
    attribution: ArrayLike | torch.Tensor, features: Features, aggregate: str = "sum", absolute: bool = False
) -> np.ndarray:
    """Trajectory from an attribution map: features by ascending aggregated score (least important first).

    ``absolute=True`` ranks by |attribution| (elementwise, before aggregation); ties go to the lower
    feature index first.
    """
    scores = feature_scores(attribution, features, aggregate, absolute)
    if not np.all(np.isfinite(scores)):
        raise ValueError(
            f"attribution gives {int((~np.isfinite(scores)).sum())} feature(s) a NaN or infinite "
            "score; a trajectory needs finite scores"
        )
    return np.lexsort((np.arange(features.t), scores)).astype(np.int64)


def scores_to_trajectory(scores: ArrayLike) -> np.ndarray:
    """Trajectory from one score per feature (ascending; ties by index)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    if not np.all(np.isfinite(s)):
        raise ValueError(
            f"scores contain {int((~np.isfinite(s)).sum())} NaN or infinite value(s); a trajectory needs finite scores"
        )
    return np.lexsort((np.arange(len(s)), s)).astype(np.int64)


def trajectory_heat(sigma: ArrayLike, alpha: float = 1.0) -> np.ndarray:
    """One value per feature: ``((rank_i + 1) / t) ** alpha`` in (0, 1] (1 = the most important)."""
    check_positive_float("alpha", alpha)
    order = np.asarray(sigma)
    order = check_trajectory(order, len(order))
    return ((ranks_of(order) + 1) / len(order)) ** alpha


def trajectory_to_heatmap(sigma: ArrayLike, features: Features, alpha: float = 1.0, smooth: bool = True) -> np.ndarray:
    """Heatmap over the feature map's shape: feature i gets ``((rank_i + 1) / t) ** alpha`` in (0, 1].

    For a grid of patches with ``smooth=True`` the patch values are upsampled bilinearly (as the
    paper's figures do); otherwise each feature's elements are painted with its value.
    """
    values = trajectory_heat(check_trajectory(sigma, features.t), alpha)
    if smooth and features.kind == "grid" and features.grid is not None:
        rows, cols = features.grid
        ids = features.ids
        along_h = _interpolation_matrix(ids[:, 0] // cols, rows)  # (H, rows)
        along_w = _interpolation_matrix(ids[0, :] % cols, cols)  # (W, cols)
        return along_h @ values.reshape(rows, cols) @ along_w.T
    return values[features.ids]


def _interpolation_matrix(patch_of_pixel: np.ndarray, n_patches: int) -> np.ndarray:
    """Linear interpolation weights (pixels x patches) between patch centres along one axis, constant
    beyond the first and last centres. For even splits this is ``F.interpolate(mode="bilinear",
    align_corners=False)``; for uneven splits each patch's value sits at its own centre."""
    pixels = np.arange(len(patch_of_pixel), dtype=np.float64)
    centres = np.array([pixels[patch_of_pixel == j].mean() for j in range(n_patches)])
    return np.stack([np.interp(pixels, centres, np.eye(n_patches)[j]) for j in range(n_patches)], axis=1)


def kendall_tau_distance(sigma_a: ArrayLike, sigma_b: ArrayLike, normalised: bool = False) -> float:
    """Number of feature pairs ordered differently by two trajectories (0 = same order).

    ``normalised=True`` divides by t(t-1)/2, giving a value in [0, 1]. O(t log t) (numba kernel).
    """
    a = np.asarray(sigma_a)
    t = a.shape[0] if a.ndim == 1 else -1
    if t < 2:
        raise ValueError(f"sigma_a must be a 1-D permutation of 0..t-1 with t >= 2; got shape {a.shape}")
    a = check_trajectory(a, t, "sigma_a")
    b = check_trajectory(sigma_b, t, "sigma_b")
    inv = int(kendall_distance(a, b))
    return inv / (t * (t - 1) / 2) if normalised else float(inv)
