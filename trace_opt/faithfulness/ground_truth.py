"""Ground truth: small models whose best trajectories are known analytically, and what TRACE and the
attribution methods make of them.

Each case is a torch module on one input ``x`` with one feature per column and reference zeros, so
``D(S) = f(x with the columns in S set to 0)`` (class 1's logit; class 0's is 0). For every case the
complete table of D gives, by the exact solver, the optimal trajectory of TRACE-Le, -Mo and -(Le-Mo)
(ties by the toolkit's rule: lower feature index = less important) and the number of optimal
trajectories; every attribution order (the baselines that apply, plus any given attributions) is
scored on the same table and marked optimal or not per objective.

Cases (the seeds: "Interpreting Interpretations" for the max model and N-Ord / S-Ord; the dissertation
for null and saturation tests):

``max``
    ``f(x) = max(x0, x1)``, x = (1, 1, 1) (feature 2 is unused), the paper's Example 1 with its
    attributions A1 = (1/6, 1/3, 1/2), A2 = (2/3, 0, 1/3), A3 = (2/3, 1/3, 0). Neither x0 nor x1 is
    necessary, each is sufficient. N-Ord (eq. 3, smaller = better necessity) and S-Ord (eq. 4, larger =
    better sufficiency) of each attribution are computed as the paper defines them (positive scores
    only). Analytically: TRACE-Le's optimal orders keep x0 or x1 to the end (4 orders); TRACE-Mo's
    delete x0 and x1 first (2 orders, x2 least important); A3 is optimal for every objective, A2 is
    optimal for Le (sufficiency) but not for Mo, A1 for neither.
``saturating-or``
    ``f(x) = min(1, x0 + x1) + 0.3 x2``, x = (1, 1, 1): the OR of x0, x1 is saturated at x, so the
    gradient gives x0 and x1 zero (Saliency, Input x Gradient rank them least important), while
    Integrated Gradients gives them 0.5 each (completeness). TRACE-Mo deletes x0 and x1 first.
``dummy``
    ``f(x) = x0 x1 + 0.5 x3``, x = (1, 1, 1, 1): x2 is a null (dummy) feature. Its deletion never
    changes D; every attribution method that satisfies the dummy axiom gives it exactly 0. Every optimal
    order of TRACE-Le and -(Le-Mo) has it least important (f is monotone, so D({}) is the largest value
    and inserting an inert feature first repeats it); under Mo, once x0 or x1 and then x3 are deleted D
    is at its minimum, so the dummy's place among the rest is free (4 optimal orders).
``additive``
    ``f(x) = w . x`` with w = (0.5, -1, 2, 0.25, 1.5), x = ones: D(S) = sum of w outside S, so for every
    objective the unique optimal trajectory is ascending w; gradient, IG, Input x Gradient, occlusion,
    Shapley sampling all give w and are optimal; ranking by |w| (absolute aggregation) is not, because
    one weight is negative.

``ground_truth_results()`` computes everything (seconds), ``ground_truth_markdown()`` renders the
report section.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from solvers import get_solver
from solvers.complete import table_scores
from trace_opt.baselines import attribute, baselines_tagged
from trace_opt.comparison.evaluation import method_label
from trace_opt.core.features import tabular_features
from trace_opt.core.io import atomic_write_bytes
from trace_opt.core.problem import TraceProblem
from trace_opt.core.table import TableOracle
from trace_opt.explanation.rankings import scores_to_trajectory

#: baselines run on every case where they apply (``baselines_tagged``; all need only a torch module on a 1-D
#: input): the standard panel without the random control and the layer method, and Captum's deterministic
#: perturbation methods (Saliency, Input x Gradient, IG, Occlusion, Feature Ablation, Shapley sampling)
BASELINES = ("standard&!random&!layer", "perturbation&captum&!sampling")
OBJECTIVES = ("le", "mo", "le-mo")


class _TwoClass(torch.nn.Module):
    """Class 0's logit = 0, class 1's = ``fn(x)``, on a batch (B, t)."""

    def __init__(self, fn, name: str):
        super().__init__()
        self.fn = fn
        self.name = name

    def forward(self, x):
        v = self.fn(x)
        return torch.stack([torch.zeros_like(v), v], dim=1)


@dataclass
class Case:
    name: str
    formula: str
    model: torch.nn.Module
    x: torch.Tensor
    #: attributions given by hand (name -> one score per feature), e.g. the paper's A1, A2, A3
    given: dict = field(default_factory=dict)
    note: str = ""


ADDITIVE_W = (0.5, -1.0, 2.0, 0.25, 1.5)


def cases() -> list[Case]:
    """The four ground-truth cases (see the module docstring)."""
    w = torch.tensor(ADDITIVE_W)
    return [
        Case(
            "max",
            "f(x) = max(x0, x1), x = (1, 1, 1)",
            _TwoClass(lambda x: torch.maximum(x[:, 0], x[:, 1]), "max"),
            torch.ones(3),
            given={"A1": [1 / 6, 1 / 3, 1 / 2], "A2": [2 / 3, 0.0, 1 / 3], "A3": [2 / 3, 1 / 3, 0.0]},
            note="Example 1 of 'Interpreting Interpretations': x0, x1 each sufficient, neither necessary; x2 unused.",
        ),
        Case(
            "saturating-or",
            "f(x) = min(1, x0 + x1) + 0.3 x2, x = (1, 1, 1)",
            _TwoClass(lambda x: torch.clamp(x[:, 0] + x[:, 1], max=1.0) + 0.3 * x[:, 2], "or"),
            torch.ones(3),
            note="the OR is saturated at x: zero gradient for x0, x1.",
        ),
        Case(
            "dummy",
            "f(x) = x0 x1 + 0.5 x3, x = (1, 1, 1, 1)",
            _TwoClass(lambda x: x[:, 0] * x[:, 1] + 0.5 * x[:, 3], "dummy"),
            torch.ones(4),
            note="x2 is a null (dummy) feature.",
        ),
        Case(
            "additive",
            f"f(x) = w . x, w = {ADDITIVE_W}, x = ones",
            _TwoClass(lambda x: x @ w, "additive"),
            torch.ones(len(ADDITIVE_W)),
            note="optimal order for every objective: ascending w.",
        ),
    ]


def _table(case: Case) -> np.ndarray:
    t = case.x.numel()
    masks = ((np.arange(1 << t)[:, None] >> np.arange(t)[None, :]) & 1).astype(bool)
    xs = case.x.float()[None, :].repeat(1 << t, 1)
    xs[torch.as_tensor(masks)] = 0.0
    with torch.no_grad():
        return case.model(xs).double()[:, 1].numpy()  # exact: small dyadic weights, sums exact in float32


def n_ord(scores, table: np.ndarray) -> float:
    """N-Ord (eq. 3 of 'Interpreting Interpretations'): mean over m = 0..M of max(R_m - y_b, 0), R_m = f with the
    m highest-scored of the positively scored features removed (set to the baseline), M = their number.
    Smaller = better necessity ordering."""
    s = np.asarray(scores, dtype=float)
    order = [i for i in np.lexsort((np.arange(len(s)), -s)) if s[i] > 0]  # descending, ties by index
    yb = table[-1]
    vals, S = [], 0
    for m in range(len(order) + 1):
        vals.append(max(table[S] - yb, 0.0))
        if m < len(order):
            S |= 1 << int(order[m])
    return float(np.mean(vals))


def s_ord(scores, table: np.ndarray) -> float:
    """S-Ord (eq. 4): mean over m = 0..M of min(R'_m, R'_M) - y_0, R'_m = f of the baseline with the m
    highest-scored positive features added. Larger (closer to 0) = better sufficiency ordering."""
    s = np.asarray(scores, dtype=float)
    t = len(s)
    full = (1 << t) - 1
    order = [i for i in np.lexsort((np.arange(t), -s)) if s[i] > 0]
    y0 = table[0]
    kept, r = 0, []
    for m in range(len(order) + 1):
        r.append(table[full ^ kept])  # deleted = everything not yet added
        if m < len(order):
            kept |= 1 << int(order[m])
    return float(np.mean([min(v, r[-1]) - y0 for v in r]))


def _evaluate_case(case: Case, seed: int = 0) -> dict:
    case.model.eval()
    table = _table(case)
    t = case.x.numel()
    feats = tabular_features(t)
    out = {
        "name": case.name,
        "formula": case.formula,
        "note": case.note,
        "t": t,
        "table": table.tolist(),
        "objectives": {},
        "attributions": {},
    }
    optimum = {}
    for obj in OBJECTIVES:
        res = get_solver("exact").solve(TraceProblem(TableOracle(table, max_t=t), obj), curves=False)
        optimum[obj] = float(res.score)
        perms = np.array(list(itertools.permutations(range(t))))
        sc = np.asarray(table_scores(table, obj, perms))
        opt_orders = [list(map(int, p)) for p, v in zip(perms, sc) if v >= res.score - 1e-9]
        out["objectives"][obj] = {
            "trajectory": res.trajectory.tolist(),
            "score": float(res.score),
            "value": float(res.value),
            "optimal_trajectories": res.info["optimal_trajectories"],
            "all_orders_tie": res.info["all_orders_tie"],
            "optimal_orders": opt_orders,
        }
    attributions = {}
    for name, scores in case.given.items():
        attributions[name] = {
            "kind": "given",
            "scores": [float(v) for v in scores],
            "absolute": False,
            "trajectory": scores_to_trajectory(scores).tolist(),
        }
    for name in baselines_tagged(*BASELINES, model=case.model):
        att = attribute(name, case.model, case.x.float(), 1, feats, "zeros", seed=seed)
        attributions[name] = {
            "kind": "baseline",
            "scores": att.scores.tolist(),
            "absolute": att.absolute,
            "trajectory": att.trajectory.tolist(),
        }
        if att.absolute or not np.any(att.scores < 0):
            continue  # |.| ranking differs from the signed one only where a score is negative
        magnitude = np.abs(att.scores)  # the same scores ranked by |.|, to show what absolute ranking does
        attributions[f"|{name}|"] = {
            "kind": "absolute",
            "scores": magnitude.tolist(),
            "absolute": True,
            "trajectory": scores_to_trajectory(magnitude).tolist(),
        }
    for name, a in attributions.items():
        sigma = np.asarray(a["trajectory"])
        a["objectives"] = {
            obj: {
                "score": float(table_scores(table, obj, sigma)),
                "optimal": bool(table_scores(table, obj, sigma) >= optimum[obj] - 1e-9),
            }
            for obj in OBJECTIVES
        }
        a["n_ord"], a["s_ord"] = n_ord(a["scores"], table), s_ord(a["scores"], table)
    out["attributions"] = attributions
    return out


def ground_truth_results(seed: int = 0) -> list[dict]:
    """Every case evaluated (see ``_evaluate_case``: exact orders per objective, attribution orders, optimal
    flags, N-Ord / S-Ord)."""
    return [_evaluate_case(c, seed) for c in cases()]


def _order(sigma) -> str:
    return " < ".join(f"x{i}" for i in sigma)


def ground_truth_markdown(results: list[dict] | None = None) -> str:
    """The report section: per case, the exact TRACE orders and every attribution order, optimal or not."""
    results = ground_truth_results() if results is None else results
    lines = [
        "# Ground truth: models whose best trajectories are known",
        "",
        "Each model reads one input x with one feature per column; deleting a feature sets it to 0 (the "
        "reference), D(S) = f(x with S deleted). Orders are written least important first (`x2 < x0 < x1`: "
        "x1 is the most important). TRACE rows are the exact optima (complete search over the 2^t sets, "
        "ties by the toolkit's rule: lower feature index = less important) with the number of optimal "
        "orders; each attribution order is scored on the same table, ✓ = optimal for that objective. "
        "`|m|` ranks method m's scores by absolute value (shown where a score is negative). "
        "N-Ord (smaller = better necessity) and S-Ord "
        "(larger = better sufficiency) are eqs. 3-4 of 'Interpreting Interpretations'.",
        "",
    ]
    for r in results:
        lines += [f"## {r['name']}: {r['formula']}", "", r["note"], ""]
        lines += ["| trajectory | order | Le | Mo | Le-Mo | N-Ord | S-Ord |", "|---|---|---|---|---|---:|---:|"]
        for obj in OBJECTIVES:
            o = r["objectives"][obj]
            n = o["optimal_trajectories"]
            tie = f"every order ties ({n})" if o["all_orders_tie"] else "unique" if n == 1 else f"{n} optimal orders"
            label = {"le": "TRACE-Le", "mo": "TRACE-Mo", "le-mo": "TRACE-(Le-Mo)"}[obj]
            lines.append(
                f"| **{label}** (exact; {tie}) | {_order(o['trajectory'])} | "
                + " | ".join("opt" if k == obj else "" for k in OBJECTIVES)
                + " | | |"
            )
        for name, a in r["attributions"].items():
            label = (
                name
                if a["kind"] == "given"
                else (f"\\|{method_label(name[1:-1])}\\|" if a["kind"] == "absolute" else method_label(name))
            )
            cells = [
                f"{'✓' if a['objectives'][obj]['optimal'] else '✗'} {a['objectives'][obj]['score']:.4g}"
                for obj in OBJECTIVES
            ]
            scores = ", ".join(f"{v:.3g}" for v in a["scores"])
            lines.append(
                f"| {label} ({scores}) | {_order(a['trajectory'])} | "
                + " | ".join(cells)
                + f" | {a['n_ord']:.3g} | {a['s_ord']:.3g} |"
            )
        opt = {obj: r["objectives"][obj]["score"] for obj in OBJECTIVES}
        lines += [
            "",
            "Optimal scores (chain sums, the maximised form): "
            + ", ".join(f"{k} {v:.4g}" for k, v in opt.items())
            + ".",
            "",
        ]
    return "\n".join(lines) + "\n"


def write_ground_truth_report(out) -> str:
    """Write ``out/report.md`` (the ground-truth section) atomically; returns its text."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    text = ground_truth_markdown()
    atomic_write_bytes(out / "report.md", text.encode())
    return text


__all__ = [
    "cases",
    "ground_truth_results",
    "ground_truth_markdown",
    "write_ground_truth_report",
    "n_ord",
    "s_ord",
    "BASELINES",
]
