"""How hard an instance is: difficulty measures computed from its complete 2^t table of D(S).

A solver researcher needs to know whether an instance can separate algorithms at all. From the table
(bitmask-indexed, as in ``trace_opt.benchmarks.instances``) this module measures:

``additivity_r2``
    R^2 of the best first-order least-squares fit ``D(S) ~ a + sum_{i in S} b_i`` over all 2^t sets.
    Over the uniform distribution on sets the indicators are independent, so the fit is the Banzhaf
    (first-order Walsh) fit: ``b_i = mean(D | i in S) - mean(D | i not in S)`` and
    ``R^2 = sum_i (b_i / 2)^2 / Var(D)`` (1 for a constant table). 1 = additive, where sorting the
    features by ``b_i`` is optimal for every objective.
``inert_features``
    the number of features whose deletion never changes D (``instances.table_stats``). They make an
    instance smaller than its t, but do not multiply the optimal trajectories: inserting an inert
    feature into a chain repeats the c value of the set where it is inserted, so its best position is
    usually unique.
per objective (``le``, ``mo``, ``le-mo``), in score units (the maximised chain sum):
    ``objective_additivity_r2``: the same R^2 for the objective's ``c(S)``. For ``le`` and ``mo`` it
    equals ``additivity_r2``; for ``le-mo``, ``c(S) = D(S) - D(all \\ S)`` keeps only the odd-degree
    (Walsh) part of D, so pairwise (and every even-order) interaction cancels: a D with strong
    pairwise interactions can still be additive, and greedy optimal, under ``le-mo``;
    ``optimum``, ``random_mean`` (exact expectation over a uniformly random trajectory:
    ``sum_k mean_{|S|=k} c(S)``, since the k-th prefix of a random order is a uniform k-subset),
    ``bound`` (per-level bound ``sum_k max_{|S|=k} c(S)``) and ``bound_gap`` =
    ``(bound - optimum) / (optimum - random_mean)`` (0 = the bound is attained);
    ``greedy_score`` / ``greedy_normalised_gap`` / ``greedy_optimal``: the registered ``greedy``
    solver (LeRF construction, ties to the lowest feature) and its normalised gap
    ``(optimum - score) / (optimum - random_mean)`` as ``solvers.complete.gap_report`` defines it;
    ``greedy_morf_normalised_gap`` the same for the MoRF construction;
    ``additive_order_normalised_gap``: the order by the first-order fit (largest ``b_i`` first),
    which is optimal when D is additive;
    ``optimal_trajectories``: the number of trajectories whose score is within ``tol`` of the optimum,
    counted exactly by dynamic programming over the subset lattice (``count_optimal_trajectories``;
    exact integers below 2^53, beyond that a float64 count) and ``optimum_unique``.

``difficulty(values, objectives)`` computes them all (O(t 2^t) per objective, numba); instances
built by ``instance_from_table`` store the result in ``metadata["difficulty"]`` and
``instance_difficulty(inst)`` recomputes it on the fly for instances built before (or with another
``DIFFICULTY_VERSION``). ``library_stats`` adds the summary ``greedy_optimal_fraction`` and
``median_greedy_normalised_gap`` of a library; ``python -m trace_opt instances stats`` prints them.
"""

from __future__ import annotations

import math

import numpy as np

from solvers.complete import (
    count_optimal_trajectories,
    cs_bounds,
    exact_optimum,
    is_optimal,
    normalised_gap,
    objective_table,
    table_scores,
)
from solvers.greedy import greedy_order
from trace_opt.core.objective import OBJECTIVES, Objective
from trace_opt.core.problem import TraceProblem
from trace_opt.core.table import TableOracle, check_table, table_stats
from trace_opt.core.validation import check_choice

#: version of the measures stored in ``metadata["difficulty"]``; a stored block of another version is recomputed
DIFFICULTY_VERSION = 1
#: objectives whose measures are stored
DIFFICULTY_OBJECTIVES = tuple(OBJECTIVES)


def _table(values) -> tuple[np.ndarray, int]:
    return check_table(values)


def additivity(values) -> dict:
    """The first-order least-squares fit of D over all 2^t sets.

    Returns ``{"r2", "coefficients" (b_i: mean change of D when feature i is deleted), "intercept"}``.
    The fit ``a + sum_{i in S} b_i`` minimises the squared error over all sets; ``r2`` is the share of
    the variance of D it explains (1.0 for a constant table).
    """
    v, t = _table(values)
    mean = float(v.mean())
    var = float(np.mean((v - mean) ** 2))
    b = np.empty(t)
    for i in range(t):
        pairs = v.reshape(-1, 2, 1 << i)  # [:, 0] sets without i, [:, 1] the same sets with i
        b[i] = float(pairs[:, 1, :].mean() - pairs[:, 0, :].mean())
    explained = float(np.sum((b / 2) ** 2))
    scale = max(1.0, mean * mean)
    r2 = 1.0 if var <= 1e-24 * scale else min(1.0, explained / var)
    return {"r2": r2, "coefficients": b, "intercept": mean - float(b.sum()) / 2}


def objective_summary(values: np.ndarray) -> dict:
    """Exact optimum (and its trajectory, in the paper's sign as ``value``), random mean and CS bounds of
    each objective, as an instance stores them (``solvers.complete``)."""
    out = {}
    for objective in OBJECTIVES:
        sigma, opt = exact_optimum(values, objective)
        b = cs_bounds(values, objective)
        out[objective] = {
            "optimum": float(opt),
            "trajectory": [int(i) for i in sigma],
            "value": float(Objective(objective).to_paper(opt)),
            "random_mean": float(b["random_mean"]),
            "bound": float(b["bound"]),
            "cs_le": float(b["cs_le"]),
            "cs_mo": float(b["cs_mo"]),
            "avg_iou": float(b["avg_iou"]),
        }
    return out


def difficulty(values, objectives: dict | None = None, output: str = "logit") -> dict:
    """Every difficulty measure of a table (see the module docstring).

    ``objectives``: the instance's per-objective summary (``optimum``, ``random_mean``, ``bound``), as
    ``trace_opt.benchmarks.instances`` stores it; computed from the table when not given.
    """
    v, t = _table(values)
    if objectives is None:
        objectives = objective_summary(v)
    fit = additivity(v)
    inert = table_stats(v)["inert_features"]
    additive_order = np.argsort(-fit["coefficients"], kind="stable").astype(np.int64)
    per = {}
    for objective in DIFFICULTY_OBJECTIVES:
        o = objectives[objective]
        opt, rnd, bound = float(o["optimum"]), float(o["random_mean"]), float(o["bound"])
        greedy = {}
        for direction in ("lerf", "morf"):
            problem = TraceProblem(TableOracle(v, output=output, max_t=t), objective)
            sigma = greedy_order(problem, direction)
            greedy[direction] = (sigma, float(table_scores(v, objective, sigma)))
        dp_opt, ties = count_optimal_trajectories(v, objective)
        if not math.isclose(dp_opt, opt, rel_tol=1e-9, abs_tol=1e-9):
            raise ValueError(f"the stored {objective} optimum {opt!r} differs from the table's DP optimum {dp_opt!r}")
        g_sigma, g_score = greedy["lerf"]
        c_r2 = fit["r2"] if objective != "le-mo" else additivity(objective_table(v, objective))["r2"]
        additive_score = float(table_scores(v, objective, additive_order))
        per[objective] = {
            "optimum": opt,
            "random_mean": rnd,
            "bound": bound,
            "objective_additivity_r2": c_r2,
            "bound_gap": float((bound - opt) / (opt - rnd)) if opt > rnd else 0.0,
            "greedy_score": g_score,
            "greedy_trajectory": [int(i) for i in g_sigma],
            "greedy_normalised_gap": normalised_gap(opt, g_score, rnd),
            "greedy_optimal": is_optimal(g_score, opt),
            "greedy_morf_normalised_gap": normalised_gap(opt, greedy["morf"][1], rnd),
            "additive_order_normalised_gap": normalised_gap(opt, additive_score, rnd),
            "optimal_trajectories": ties,
            "optimum_unique": ties == 1,
        }
    return {
        "version": DIFFICULTY_VERSION,
        "t": t,
        "additivity_r2": fit["r2"],
        "first_order_coefficients": [float(b) for b in fit["coefficients"]],
        "inert_features": len(inert),
        "objectives": per,
    }


def _valid_stored(block, t: int) -> bool:
    return (
        isinstance(block, dict)
        and block.get("version") == DIFFICULTY_VERSION
        and block.get("t") == t
        and isinstance(block.get("objectives"), dict)
        and set(DIFFICULTY_OBJECTIVES) <= set(block["objectives"])
    )


def instance_difficulty(instance, recompute: bool = False) -> dict:
    """The instance's difficulty measures: the stored ``metadata["difficulty"]`` when it is of this
    ``DIFFICULTY_VERSION``, else (or with ``recompute``) computed from the table now (not saved)."""
    stored = instance.metadata.get("difficulty")
    if not recompute and _valid_stored(stored, instance.t):
        return stored
    return difficulty(instance.values, instance.objectives, instance.metadata.get("output", "logit"))


#: per-instance columns of ``library_stats`` (key, header, format)
STAT_COLUMNS = (
    ("name", "instance", "{}"),
    ("t", "t", "{:d}"),
    ("inert_features", "inert", "{:d}"),
    ("additivity_r2", "R2", "{:.3f}"),
    ("objective_additivity_r2", "R2(c)", "{:.3f}"),
    ("greedy_normalised_gap", "greedy gap", "{:.4f}"),
    ("greedy_optimal", "greedy opt", "{}"),
    ("greedy_morf_normalised_gap", "morf gap", "{:.4f}"),
    ("additive_order_normalised_gap", "fit-order gap", "{:.4f}"),
    ("bound_gap", "bound gap", "{:.4f}"),
    ("optimal_trajectories", "optimal trajs", "{:d}"),
    ("optimum", "optimum", "{:.6g}"),
    ("random_mean", "random mean", "{:.6g}"),
)


def instance_row(instance, objective: str = "le-mo", recompute: bool = False) -> dict:
    """One flat row of measures for ``objective`` (what ``instances stats`` prints per instance)."""
    check_choice("objective", objective, OBJECTIVES)
    d = instance_difficulty(instance, recompute=recompute)
    o = d["objectives"][objective]
    row = {
        "name": instance.name,
        "t": instance.t,
        "inert_features": int(d["inert_features"]),
        "additivity_r2": float(d["additivity_r2"]),
    }
    row.update(
        {
            k: o[k]
            for k in (
                "objective_additivity_r2",
                "greedy_normalised_gap",
                "greedy_optimal",
                "greedy_morf_normalised_gap",
                "additive_order_normalised_gap",
                "bound_gap",
                "optimal_trajectories",
                "optimum_unique",
                "optimum",
                "random_mean",
                "bound",
                "greedy_score",
            )
        }
    )
    family = instance.metadata.get("family")
    if family is not None:
        row["family"] = family
    return row


def library_stats(instances, objective: str = "le-mo", recompute: bool = False) -> dict:
    """Per-instance rows and a summary: ``n_instances``, ``greedy_optimal_fraction`` (share of instances
    where greedy reaches the optimum), ``median_greedy_normalised_gap``, ``mean_greedy_normalised_gap``,
    ``median_additivity_r2``, ``unique_optimum_fraction``, ``median_bound_gap``."""
    check_choice("objective", objective, OBJECTIVES)
    instances = list(instances)
    if not instances:
        raise ValueError("instances is empty; give at least one instance")
    rows = [instance_row(inst, objective, recompute) for inst in instances]
    gaps = np.array([r["greedy_normalised_gap"] for r in rows])
    summary = {
        "objective": objective,
        "n_instances": len(rows),
        "greedy_optimal_fraction": float(np.mean([r["greedy_optimal"] for r in rows])),
        "median_greedy_normalised_gap": float(np.median(gaps)),
        "mean_greedy_normalised_gap": float(np.mean(gaps)),
        "median_additivity_r2": float(np.median([r["additivity_r2"] for r in rows])),
        "unique_optimum_fraction": float(np.mean([r["optimum_unique"] for r in rows])),
        "median_bound_gap": float(np.median([r["bound_gap"] for r in rows])),
    }
    return {"summary": summary, "instances": rows}


def stats_table(stats: dict) -> str:
    """``library_stats`` as a plain-text table followed by the summary lines."""
    rows = stats["instances"]
    cells = [[fmt.format(r[key]) for key, _, fmt in STAT_COLUMNS] for r in rows]
    widths = [max(len(head), *(len(c[i]) for c in cells)) for i, (_, head, _) in enumerate(STAT_COLUMNS)]

    def line(parts):
        return "  ".join(p.ljust(w) if j == 0 else p.rjust(w) for j, (p, w) in enumerate(zip(parts, widths)))

    out = [line([h for _, h, _ in STAT_COLUMNS]), line(["-" * w for w in widths])]
    out += [line(c) for c in cells]
    s = stats["summary"]
    out.append("")
    out.append(
        f"objective {s['objective']}, {s['n_instances']} instance(s): greedy_optimal_fraction "
        f"{s['greedy_optimal_fraction']:.3f}, median_greedy_normalised_gap {s['median_greedy_normalised_gap']:.4f} "
        f"(mean {s['mean_greedy_normalised_gap']:.4f}), median R2 {s['median_additivity_r2']:.3f}, "
        f"unique optimum {s['unique_optimum_fraction']:.3f}, median bound gap {s['median_bound_gap']:.4f}"
    )
    return "\n".join(out) + "\n"
