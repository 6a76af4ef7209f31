"""Proportionality of attributions and of trajectories: TPN and TPS ("Interpreting Interpretations",
Defs. 3-6, eqs. 5-8), and a trajectory's own attribution scores.

Notation (the seed's Section 3.1, with the toolkit's deletion convention): ``D(S)`` is the model's output
with the features in S set to the reference; ``y0 = D({})`` (the input), ``y_b = D(all)`` (the baseline
input). ``pi+`` lists the features with a positive score in descending score order (ties: the higher
index first, the toolkit's rule read backwards), ``pi^+`` is its reverse, ``S`` the sum of the positive
scores and M their number.

- Necessity, eq. 5: ``N_p^k = |R_n1(pi+) - R_n2(pi^+)|`` with ``R_n(pi) = D(first n of pi deleted)``
  and n1, n2 the numbers of features of each order whose scores add up to the share ``k S``.
- Sufficiency, eq. 7: the same with ``R'_n(pi) = D(all but the first n of pi)`` (added to the baseline).
- TPN (eq. 6) = ``1 / (r y0) * int_0^1 N_p^k dk``, ``r = min(y_b / R_M(pi+), 1)``;
  TPS (eq. 8) = ``1 / (r' y0) * int_0^1 S_p^k dk``, ``r' = min(R'_M(pi+) / y0, 1)``.
  Smaller = more proportional; 0 is optimal.

What the seed leaves open, and the reading taken here:

- The share ``k S`` is reached exactly only at the cumulative shares of each order (``c_n`` = share of
  the first n). Each curve is the polyline through its points ``(c_n, R_n)``, n = 0..M (``c_0 = 0``,
  ``c_M = 1``), and the area between the two polylines is integrated exactly. This keeps the seed's
  Proposition 4: scores that satisfy sensitivity-n (an additive model's weights) give 0. (Steps, i.e.
  "the features whose share is <= k", would not: two orders remove different shares between their points.)
- Footnote 2 ("we clip the scores below 0 and add a small positive number to the denominator"): outputs
  entering r and r' are clipped at 0 and both numerator and denominator get ``eps``, so that r = 1 when
  removing all of ``pi+`` reaches the baseline exactly (also when ``y_b = 0``), and ``r y0`` is floored
  at ``eps``. The measure needs positive outputs: use probabilities (``y0 <= 0`` is refused).
- No positive score (M = 0): both curves are the constant y0 and the measures are undefined (nan).

A **trajectory** has no scores of its own; ``marginal_scores`` gives it the marginal contributions along
its deletion order: for the LeRF chain ``phi[sigma[k]] = D(P_k) - D(P_{k+1})`` (``P_k`` = the k least
important deleted), for the MoRF chain the drops along the most-important-first deletion. Either set
sums to ``D({}) - D(all) = y0 - y_b`` (completeness); on an additive model both equal the weights. The
scores need not be monotone along sigma, so the order TPN/TPS sorts them into can differ from sigma.
"""

from __future__ import annotations

import numpy as np

from trace_opt.core.validation import check_choice
from trace_opt.explanation.rankings import marginal_drops

CHAINS = ("lerf", "morf")


def _evaluator(d):
    """A function from a bool matrix (B, t) of deleted sets to D values (B,), and t (None = unknown):
    ``d`` is a complete table (2^t values, bit i of the index = feature i deleted), an oracle with
    ``evaluate`` (cached, counted) or a callable on bool matrices."""
    if isinstance(d, np.ndarray) or isinstance(d, (list, tuple)):
        table = np.asarray(d, dtype=np.float64)
        t = int(round(np.log2(table.size)))
        if table.ndim != 1 or table.size != 1 << t:
            raise ValueError(f"d: a table must hold 2^t values; got shape {table.shape}")
        weights = 1 << np.arange(t, dtype=np.int64)
        return (lambda m: table[(np.asarray(m, dtype=bool).astype(np.int64) * weights).sum(axis=1)]), t
    if hasattr(d, "evaluate"):
        return (lambda m: np.asarray(d.evaluate(np.asarray(m, dtype=bool)), dtype=np.float64)), getattr(d, "t", None)
    if callable(d):
        return (lambda m: np.asarray(d(np.asarray(m, dtype=bool)), dtype=np.float64)), None
    raise ValueError(
        f"d must be a table of 2^t values, an oracle with evaluate() or a callable; got {type(d).__name__}"
    )


def _check_scores(scores, t) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or (t is not None and s.size != t):
        raise ValueError(f"scores must be one value per feature ({t if t is not None else 't'}); got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    return s


def marginal_scores(sigma, d, chain: str = "lerf") -> np.ndarray:
    """A trajectory's attribution scores: the marginal drop of D when each feature is deleted along
    ``chain`` (``"lerf"``: sigma[0] first; ``"morf"``: sigma[t-1] first). They sum to D({}) - D(all)."""
    check_choice("chain", chain, CHAINS)
    evaluate, t = _evaluator(d)
    sigma = np.asarray(sigma, dtype=np.int64)
    t = t if t is not None else len(sigma)
    if sorted(sigma.tolist()) != list(range(t)):
        raise ValueError(f"sigma must be a permutation of 0..{t - 1}")
    order = sigma if chain == "lerf" else sigma[::-1]
    masks = np.zeros((t + 1, t), dtype=bool)
    for k in range(t):
        masks[k + 1 :, order[k]] = True
    return marginal_drops(order, evaluate(masks))


def _descending(s: np.ndarray) -> np.ndarray:
    """pi+: the positively scored features, highest score first (ties: higher index first)."""
    idx = np.lexsort((-np.arange(len(s)), -s))
    return idx[s[idx] > 0]


def _polyline_distance(c1: np.ndarray, v1: np.ndarray, c2: np.ndarray, v2: np.ndarray) -> float:
    """int_0^1 |p1(k) - p2(k)| dk, p = the polyline through the points (c[n], v[n]) (c increasing from 0
    to 1); exact: on each piece between the joint breakpoints the difference is linear."""
    edges = np.unique(np.concatenate([c1, c2]))
    f = np.interp(edges, c1, v1) - np.interp(edges, c2, v2)
    a, b = f[:-1], f[1:]
    w = np.diff(edges)
    same = a * b >= 0
    area = np.where(
        same, 0.5 * w * (np.abs(a) + np.abs(b)), 0.5 * w * (a * a + b * b) / np.where(same, 1.0, np.abs(a) + np.abs(b))
    )
    return float(area.sum())


def proportionality(scores, d, eps: float = 1e-12) -> dict:
    """TPN and TPS of one attribution (one score per feature) against the set function ``d`` (see the
    module docstring). Returns ``tpn``, ``tps``, the unnormalised areas ``area_n`` / ``area_s``,
    ``r``, ``r_prime``, ``y0``, ``y_b``, ``m`` (positive features) and ``sets`` (distinct sets evaluated)."""
    evaluate, t = _evaluator(d)
    s = _check_scores(scores, t)
    t = s.size
    pos = _descending(s)
    m = len(pos)
    rev = pos[::-1]
    masks = [np.zeros(t, dtype=bool), np.ones(t, dtype=bool)]
    for order in (pos, rev):
        for n in range(1, m + 1):
            dele = np.zeros(t, dtype=bool)
            dele[order[:n]] = True
            masks += [dele, ~dele]  # necessity: deleted; sufficiency: only these kept (added to the baseline)
    masks = np.array(masks)
    vals = evaluate(masks)
    y0, yb = float(vals[0]), float(vals[1])
    out = {"y0": y0, "y_b": yb, "m": m, "sets": int(len(np.unique(masks, axis=0)))}
    if y0 <= 0:
        raise ValueError(f"d: TPN / TPS need a positive output at the input (a probability); D({{}}) = {y0}")
    if m == 0:
        return {
            **out,
            "tpn": float("nan"),
            "tps": float("nan"),
            "area_n": float("nan"),
            "area_s": float("nan"),
            "r": float("nan"),
            "r_prime": float("nan"),
        }
    rest = vals[2:].reshape(2, m, 2)  # order, n - 1, (necessity, sufficiency)
    nec = {o: np.concatenate([[y0], rest[i, :, 0]]) for i, o in enumerate(("top", "bottom"))}
    suf = {o: np.concatenate([[yb], rest[i, :, 1]]) for i, o in enumerate(("top", "bottom"))}
    total = s[pos].sum()
    c_top = np.concatenate([[0.0], np.cumsum(s[pos]) / total])
    c_bot = np.concatenate([[0.0], np.cumsum(s[rev]) / total])
    c_top[-1] = c_bot[-1] = 1.0
    area_n = _polyline_distance(c_top, nec["top"], c_bot, nec["bottom"])
    area_s = _polyline_distance(c_top, suf["top"], c_bot, suf["bottom"])
    r_m, r_m_prime = nec["top"][-1], suf["top"][-1]
    r = min((max(yb, 0.0) + eps) / (max(r_m, 0.0) + eps), 1.0)
    r_prime = min((max(r_m_prime, 0.0) + eps) / (y0 + eps), 1.0)
    return {
        **out,
        "tpn": area_n / max(r * y0, eps),
        "tps": area_s / max(r_prime * y0, eps),
        "area_n": area_n,
        "area_s": area_s,
        "r": r,
        "r_prime": r_prime,
    }


def trajectory_proportionality(sigma, d, chain: str = "lerf", eps: float = 1e-12) -> dict:
    """TPN / TPS of a trajectory through its marginal scores along ``chain`` (``marginal_scores``);
    the scores are returned too."""
    phi = marginal_scores(sigma, d, chain)
    return {**proportionality(phi, d, eps), "scores": phi.tolist(), "chain": chain}


__all__ = ["CHAINS", "marginal_scores", "proportionality", "trajectory_proportionality"]
