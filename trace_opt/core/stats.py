"""The statistics of the reports, from ``scipy.stats`` (no hand-written quantiles).

The unit of every statistic is the instance or input (a photo, a table), never a seed. For paired values
``a[i]``, ``b[i]`` of two methods on the same n inputs:

* ``t_interval(values, level)``: the mean and its two-sided Student-t interval (n - 1 degrees of freedom).
* ``paired_difference(a, b, level)``: the mean of ``a - b`` with its t interval, and the tests that hold for
  ties and heavy tails: Wilcoxon's signed-rank test (``zero_method="zsplit"``: ties count half each way)
  and the exact sign test (binomial, ties dropped); wins / losses / ties.
* ``ratio_of_means(a, b, level, n_resamples, seed)``: ``mean(a) / mean(b)`` with a paired bootstrap interval
  (BCa, the inputs resampled together) and the per-input ratios' median.
* ``holm(p_values)``: Holm's step-down adjustment across a report's comparisons (controls the family-wise
  error; adjusted p-values, monotone, capped at 1).

A result of n <= 4 inputs is an indication only: no two-sided test at 0.05 can reach significance with a
sign test below n = 6 (``min_sign_test_n``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile ``P(T <= q) = p`` with ``df`` degrees of freedom (``scipy.stats.t.ppf``)."""
    return float(stats.t.ppf(p, df))


def standard_error(values, single: float = float("nan")) -> float:
    """Standard error of the mean of ``values`` (sample standard deviation, ddof 1, over sqrt(n));
    ``single`` for fewer than two values."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else single


def t_interval(values, level: float = 0.95) -> dict:
    """``{"n", "mean", "low", "high", "half_width"}``: the mean of ``values`` and its two-sided ``level``
    Student-t interval (nan bounds for fewer than two values)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    n = len(v)
    mean = float(v.mean()) if n else float("nan")
    half = t_quantile(0.5 + level / 2, n - 1) * standard_error(v) if n > 1 else float("nan")
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half, "half_width": half}


def paired_difference(a, b, level: float = 0.95, tie: float = 0.0) -> dict:
    """The paired comparison of ``a`` and ``b`` (one value each per input; see the module docstring).

    Returns ``n``, ``mean_diff`` (a - b), ``low``, ``high`` (t interval), ``wins`` (a > b + tie), ``losses``,
    ``ties``, ``p_wilcoxon`` (two-sided signed-rank, ties split) and ``p_sign`` (two-sided exact binomial
    on wins vs losses); p-values are nan where undefined (n < 2, or all differences tied)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values must have the same length; got {len(a)} and {len(b)}")
    d = a - b
    ci = t_interval(d, level)
    wins, losses = int(np.sum(d > tie)), int(np.sum(d < -tie))
    ties = len(d) - wins - losses
    p_wilcoxon = float("nan")
    if len(d) >= 2 and np.any(np.abs(d) > tie):
        p_wilcoxon = float(stats.wilcoxon(np.where(np.abs(d) > tie, d, 0.0), zero_method="zsplit").pvalue)
    p_sign = float(stats.binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else float("nan")
    return {
        "n": ci["n"],
        "mean_diff": ci["mean"],
        "low": ci["low"],
        "high": ci["high"],
        "level": level,
        "wins": wins,
        "losses": losses,
        "ties": ties,
        "p_wilcoxon": p_wilcoxon,
        "p_sign": p_sign,
    }


def ratio_of_means(a, b, level: float = 0.95, n_resamples: int = 9999, seed: int = 0) -> dict:
    """``mean(a) / mean(b)`` over paired inputs, with a paired bootstrap ``level`` interval (BCa; percentile
    when BCa is undefined) and the median of the per-input ratios ``a[i] / b[i]`` (inputs with b[i] = 0
    left out of that median). ``seed`` seeds the resampling."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"ratio_of_means needs two paired samples of length >= 2; got {len(a)} and {len(b)}")
    ratio = float(a.mean() / b.mean()) if b.mean() != 0 else float("nan")

    def statistic(x, y, axis=-1):
        return np.mean(x, axis=axis) / np.mean(y, axis=axis)

    low = high = float("nan")
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():  # a degenerate BCa (e.g. a constant ratio) falls back to percentile
            warnings.simplefilter("ignore")
            res = stats.bootstrap(
                (a, b), statistic, paired=True, vectorized=True, confidence_level=level, n_resamples=n_resamples,
                method=method, rng=np.random.default_rng(seed),
            )  # fmt: skip
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            break
    per_input = a[b != 0] / b[b != 0]
    return {
        "n": len(a),
        "ratio": ratio,
        "low": low,
        "high": high,
        "level": level,
        "median_per_input": float(np.median(per_input)) if len(per_input) else float("nan"),
    }


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input's order (nan entries stay nan and do not count)."""
    p = np.asarray(p_values, dtype=np.float64).ravel()
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def min_sign_test_n(alpha: float = 0.05) -> int:
    """The fewest inputs at which a two-sided exact sign test can reach ``p < alpha`` (all wins)."""
    n = 1
    while 2 * 0.5**n >= alpha:
        n += 1
    return n


__all__ = [
    "standard_error",
    "holm",
    "min_sign_test_n",
    "paired_difference",
    "ratio_of_means",
    "t_interval",
    "t_quantile",
]
