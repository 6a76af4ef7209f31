"""Where TRACE's margin comes from: the exact optimum against attribution rankings of the same set function.

An attribution method gives one score per feature; sorted ascending it is a trajectory (least important
first, ``rankings.scores_to_trajectory``). On a set function D given by its complete 2^t table (bit i
of the index = feature i deleted) the classical attributions of a set function are exact and cheap,
so the best an attribution ranking can do is measurable against the exact optimum of each objective
(``solvers.complete.exact_optimum``). With ``v(K) = D(all \\ K)`` the value of keeping the set K:

``shapley``
    the Shapley value of keeping i: ``sum_{K not containing i} |K|! (t-|K|-1)! / t! * (v(K + i) - v(K))``.
``banzhaf``
    the Banzhaf value: the same marginal contributions, uniformly weighted (``2^-(t-1)``). Over the
    uniform distribution on sets this is also the first-order least-squares fit of D (the coefficient
    of "i kept"; ``difficulty.additivity`` gives it with the opposite sign), so no separate "linear
    fit" ranking is needed: it is this one.
``occlusion``
    leave-one-out: ``D({}) - D({i})``, the drop when i alone is deleted (Occlusion / Feature Ablation
    with one feature per patch).
``leave-one-in``
    ``D(all \\ {i}) - D(all)``, the value of keeping i alone (deletion of everything else).

On an additive D (``D(S) = a - sum_{i in S} w_i``) all four equal ``w_i`` and the ascending order is
optimal for every objective; the interactions of D are what separates them from the optimum.

``margin(table)`` scores each ranking for ``le``, ``mo`` and ``le-mo`` (maximised chain sums, as the
solvers define them) and reports, per objective, the exact optimum, the exact mean of a random
trajectory, the best ranking, and

``ratio`` = ``(optimum - random) / (best - random)``
    for ``le-mo`` the random mean is exactly 0 (a random prefix and its complement are uniform sets of
    complementary sizes), so this is the paper's plain ratio of (Le-Mo) AUCs (its Table 2: TRACE-y
    641.99 / IBA 355.72 = 1.80); for ``le`` and ``mo`` it is the same ratio measured above a random
    order, which makes it independent of D's offset. ``inf`` when the best ranking is no better than
    random while the optimum is.
``normalised_gap`` = ``(optimum - best) / (optimum - random)``
    0 = a ranking is optimal, 1 = no better than a random order (``solvers.complete.gap_report``'s
    definition).

``bench/margin.py`` sweeps the interaction knob of ``instance_families.LogicSetFunction`` with this.
"""

from __future__ import annotations

import math

import numpy as np

from solvers.complete import cs_bounds, exact_optimum, is_optimal, normalised_gap, objective_table, table_scores
from trace_opt.benchmarks.difficulty import additivity
from trace_opt.core.objective import OBJECTIVES
from trace_opt.core.table import check_table
from trace_opt.explanation.rankings import scores_to_trajectory

#: the set-function attributions of ``set_function_attributions``, in report order
ATTRIBUTIONS = ("shapley", "banzhaf", "occlusion", "leave-one-in")


def _popcounts(t: int) -> np.ndarray:
    idx = np.arange(1 << t, dtype=np.int64)
    out = np.zeros(1 << t, dtype=np.int64)
    for i in range(t):
        out += (idx >> i) & 1
    return out


def set_function_attributions(table) -> dict:
    """Exact per-feature attributions of a set function given by its 2^t table (module docstring).

    Returns ``{name: float64 array of t scores}`` for every name in ``ATTRIBUTIONS``; larger = more
    important to keep. O(t 2^t) time.
    """
    d, t = check_table(table, "table")
    full = (1 << t) - 1
    sizes = _popcounts(t)
    # Shapley weight by the number of features kept besides i: s! (t - s - 1)! / t!
    weight = np.array([math.factorial(s) * math.factorial(t - s - 1) / math.factorial(t) for s in range(t)])
    shapley, banzhaf = np.empty(t), np.empty(t)
    for i in range(t):
        pairs = d.reshape(-1, 2, 1 << i)  # [:, 0]: sets S without i (i kept), [:, 1]: S + i (i deleted)
        gain = (pairs[:, 0, :] - pairs[:, 1, :]).ravel()  # v(K + i) - v(K), K = all \ (S + i)
        deleted_besides_i = sizes.reshape(-1, 2, 1 << i)[:, 0, :].ravel()
        kept_besides_i = t - 1 - deleted_besides_i
        shapley[i] = float(np.sum(weight[kept_besides_i] * gain))
        banzhaf[i] = float(gain.mean())
    bits = 1 << np.arange(t)
    occlusion = d[0] - d[bits]
    leave_one_in = d[full ^ bits] - d[full]
    return {"shapley": shapley, "banzhaf": banzhaf, "occlusion": occlusion, "leave-one-in": leave_one_in}


def margin(table, objectives=OBJECTIVES, extra_trajectories: dict | None = None) -> dict:
    """The exact optimum against the set-function attribution rankings, per objective.

    ``extra_trajectories``: ``{name: sigma}`` scored and reported beside the rankings but never counted
    as the best ranking (e.g. the greedy solver's order, a TRACE heuristic). Returns
    ``{"t", "r2" (additivity R^2 of D), "attributions": {name: scores}, "objectives": {objective: {...}}}``
    where each objective holds ``optimum``, ``random_mean``, ``scores`` ({ranking: score}),
    ``extra_scores``, ``best`` (name), ``best_score``, ``ratio``, ``normalised_gap``, ``optimal``
    ({ranking: whether it reaches the optimum within 1e-9 relative}) and ``r2_objective`` (the
    additivity R^2 of the objective's c(S)).
    """
    d, t = check_table(table, "table")
    atts = set_function_attributions(d)
    trajectories = {name: scores_to_trajectory(s) for name, s in atts.items()}
    out = {
        "t": t,
        "r2": float(additivity(d)["r2"]),
        "attributions": {k: v.tolist() for k, v in atts.items()},
        "trajectories": {k: v.tolist() for k, v in trajectories.items()},
        "objectives": {},
    }
    for objective in objectives:
        _, opt = exact_optimum(d, objective)
        rnd = float(cs_bounds(d, objective)["random_mean"])
        scores = {name: float(table_scores(d, objective, sigma)) for name, sigma in trajectories.items()}
        extra = {
            name: float(table_scores(d, objective, np.asarray(sigma)))
            for name, sigma in (extra_trajectories or {}).items()
        }
        best = max(scores, key=lambda k: (scores[k], -ATTRIBUTIONS.index(k)))
        out["objectives"][objective] = {
            "optimum": float(opt),
            "random_mean": rnd,
            "scores": scores,
            "extra_scores": extra,
            "best": best,
            "best_score": scores[best],
            "ratio": improvement_ratio(opt, scores[best], rnd),
            "normalised_gap": normalised_gap(opt, scores[best], rnd, rtol=1e-12),
            "optimal": {k: is_optimal(v, opt) for k, v in scores.items()},
            "r2_objective": float(additivity(objective_table(d, objective))["r2"]),
        }
    return out


def improvement_ratio(optimum: float, score: float, random_mean: float) -> float:
    """``(optimum - random) / (score - random)``: 1 = the score is optimal; ``inf`` when the score is no
    better than random while the optimum is; 1.0 when the optimum itself is no better than random (a
    constant D)."""
    top, bottom = optimum - random_mean, score - random_mean
    tol = 1e-12 * max(1.0, abs(optimum), abs(random_mean))
    if top <= tol:
        return 1.0
    return float(top / bottom) if bottom > tol else math.inf
