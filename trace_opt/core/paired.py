"""Paired comparisons of solvers on a leaderboard: which differences are real at a fixed budget.

Two solvers run on the same instances (and seeds) are compared per instance: the unit is an
instance, its value the solver's normalised gap averaged over the seeds (seeds of one instance are
not independent samples of the instance population, and a deterministic solver repeats itself).
For each pair (A, B) at one budget: the mean of ``gap_A - gap_B`` over the n instances, its standard
error, a two-sided ``level`` confidence interval from Student's t with n - 1 degrees of freedom
(``scipy.stats``, through ``trace_opt.core.stats``), and the counts of instances where A is
better / worse / tied. A pair is *separated* when the interval excludes 0.
"""

from __future__ import annotations

import itertools

import numpy as np

from trace_opt.core.stats import standard_error, t_quantile


def per_instance_gaps(board: dict, solver: str, budget: int) -> dict:
    """``{instance: mean normalised gap over seeds}`` of one solver label at one budget."""
    acc: dict = {}
    for r in board["runs"]:
        if r["solver"] == solver and r["budget"] == budget:
            acc.setdefault(r["instance"], []).append(r["normalised_gap"])
    return {k: float(np.mean(v)) for k, v in acc.items()}


def paired_comparisons(board: dict, budget: int, level: float = 0.95, tie: float = 1e-12) -> list[dict]:
    """Every pair of solvers at ``budget``, paired over the instances both ran (see the module docstring).

    Rows: ``a``, ``b``, ``n``, ``mean_diff`` (gap_a - gap_b: negative = a better), ``sem``, ``ci_low``,
    ``ci_high``, ``separated`` (the interval excludes 0), ``a_better``, ``b_better``, ``ties``.
    """
    labels = list(dict.fromkeys(r["solver"] for r in board["runs"] if r["budget"] == budget))
    if not labels:
        raise ValueError(f"budget={budget!r} has no runs in this leaderboard; budgets: {board.get('budgets')}")
    gaps = {s: per_instance_gaps(board, s, budget) for s in labels}
    rows = []
    for a, b in itertools.combinations(labels, 2):
        common = sorted(set(gaps[a]) & set(gaps[b]))
        d = np.array([gaps[a][i] - gaps[b][i] for i in common])
        n = len(d)
        mean = float(d.mean()) if n else float("nan")
        sem = standard_error(d)
        half = t_quantile(0.5 + level / 2, n - 1) * sem if n > 1 else float("nan")
        rows.append(
            {
                "a": a,
                "b": b,
                "budget": budget,
                "n": n,
                "mean_diff": mean,
                "sem": sem,
                "ci_low": mean - half,
                "ci_high": mean + half,
                "level": level,
                "separated": bool(n > 1 and (mean - half > 0 or mean + half < 0)),
                "a_better": int(np.sum(d < -tie)),
                "b_better": int(np.sum(d > tie)),
                "ties": int(np.sum(np.abs(d) <= tie)),
            }
        )
    return rows


def paired_table(rows: list[dict]) -> str:
    """Paired comparisons as a Markdown table."""
    lines = [
        "| A | B | budget | instances | mean gap A - B | s.e. | CI | separated | A better / B better / tied |",
        "|---|---|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['a']} | {r['b']} | {r['budget']} | {r['n']} | {r['mean_diff']:+.4f} | {r['sem']:.4f} | "
            f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | {'yes' if r['separated'] else 'no'} | "
            f"{r['a_better']} / {r['b_better']} / {r['ties']} |"
        )
    return "\n".join(lines) + "\n"
