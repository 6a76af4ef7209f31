"""Faithfulness metrics of a maintained library, Quantus (``pip install quantus``; 0.6.0 here): ROAD
(Remove And Debias, Rong et al. 2022: MoRF removal with noisy linear imputation, so removed pixels
carry no shape of the mask), Faithfulness Correlation (Bhatt et al. 2020) and Monotonicity Correlation
(Nguyen and Martinez 2020). Used through Quantus, not rewritten.

Every method (TRACE included) is scored through **one score per feature** painted on the feature's
pixels (``paint``), so all methods are ranked at the same granularity as TRACE's trajectories; a
trajectory's scores are its marginal contributions (``proportionality.marginal_scores``). Quantus sorts
pixels of equal score by ``np.argsort`` (the same for every method).

Per input (``quantus_metrics``):

- ``road``: Quantus' ROAD gives, per removal percentage p, 1 when the prediction is still the target after
  the top p % pixels are imputed; the number reported is the mean over the percentages (the area under
  ROAD's MoRF accuracy curve; **lower = more faithful**).
- ``faithfulness_correlation``: Pearson correlation over random pixel subsets between the attribution sum
  of the subset and the output drop when it is set to 0 (higher = better).
- ``monotonicity_correlation``: Spearman correlation between the attributions of pixel groups and the
  output variance their insertion causes (higher = better).

The model's softmax probability is the output where Quantus uses one (``softmax=True``).
"""

from __future__ import annotations

import numpy as np
import torch

from trace_opt.core.features import Features

#: the metrics run by default and whether larger is better
METRICS = {"road": False, "faithfulness_correlation": True, "monotonicity_correlation": True}


def paint(scores, features: Features, shape) -> np.ndarray:
    """One score per feature painted on every element of the feature, broadcast to ``shape`` (C, H, W)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (features.t,):
        raise ValueError(f"scores must hold one value per feature ({features.t}); got shape {s.shape}")
    return np.broadcast_to(s[features.ids], tuple(shape)).astype(np.float32).copy()


def _quantus():
    try:
        import quantus
    except ImportError as e:  # pragma: no cover - optional dependency
        raise ImportError("the Quantus metrics need `pip install quantus` (0.6.0 tested)") from e
    return quantus


def make_metrics(
    seed: int = 0,
    road_percentages=tuple(range(5, 100, 10)),
    fc_runs: int = 50,
    fc_subset: int = 8,
    mc_samples: int = 10,
    mc_step: int = 4,
) -> dict:
    """Quantus metric objects (settings sized for 8 x 8 inputs: 64 pixels)."""
    q = _quantus()
    common = {"disable_warnings": True, "display_progressbar": False}
    return {
        "road": q.ROAD(percentages=list(road_percentages), noise=0.01, return_aggregate=False, **common),
        "faithfulness_correlation": q.FaithfulnessCorrelation(
            nr_runs=fc_runs,
            subset_size=fc_subset,
            perturb_baseline="black",
            normalise=False,
            abs=False,
            return_aggregate=False,
            **common,
        ),
        "monotonicity_correlation": q.MonotonicityCorrelation(
            nr_samples=mc_samples,
            features_in_step=mc_step,
            perturb_baseline="black",
            normalise=False,
            abs=False,
            return_aggregate=False,
            **common,
        ),
    }


def quantus_metrics(
    model: torch.nn.Module, x: torch.Tensor, target: int, amap: np.ndarray, metrics: dict, seed: int = 0
) -> dict:
    """Each metric of ``metrics`` (``make_metrics``) on one input and one attribution map (x's shape).

    Returns ``{name: value}`` as described in the module docstring (ROAD reduced to its mean accuracy); nan
    for every metric when ``amap`` is all zeros (no order; Quantus refuses such a map)."""
    xb = x.detach().cpu().numpy()[None].astype(np.float32)
    ab = np.asarray(amap, dtype=np.float32)[None]
    if ab.shape != xb.shape:
        raise ValueError(f"amap must have x's shape {tuple(x.shape)}; got {ab.shape[1:]}")
    yb = np.array([int(target)])
    if not np.any(ab):  # an all-zero map has no order; Quantus refuses it (an assertion): undefined, nan
        return {name: float("nan") for name in metrics}
    out = {}
    for name, metric in metrics.items():
        np.random.seed(seed)  # Quantus draws its random subsets and noise from numpy's global stream
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            res = metric(
                model=model, x_batch=xb, y_batch=yb, a_batch=ab, device="cpu", softmax=True, channel_first=True
            )
        if isinstance(res, dict):  # ROAD: {percentage: accuracy}
            out[name] = float(np.mean(list(res.values())))
            out[f"{name}_curve"] = [float(v) for v in res.values()]
        else:
            out[name] = float(np.asarray(res, dtype=np.float64).reshape(-1)[0])
    return out


__all__ = ["METRICS", "paint", "make_metrics", "quantus_metrics"]
