"""What every faithfulness test does with its ``ExplainSettings``: the TRACE search, the oracle, the baselines'
input, the seed of a random control (the seed rule of ``FaithfulnessTest``)."""

from __future__ import annotations

import numpy as np

from solvers import get_solver
from trace_opt.baselines import BASELINES, make_input
from trace_opt.comparison.evaluation import method_label, trace_name
from trace_opt.core.fingerprint import arrays_digest
from trace_opt.core.problem import TraceProblem
from trace_opt.models.oracles import make_oracle


def sa_defaults(sa_iterations: int) -> dict:
    """The evaluation's SA for K = ``sa_iterations``: eta = 0.999 ** (10000 / K) (T falls by the same factor as the
    paper's K = 10,000, eta = 0.999), a greedy start."""
    return {"iterations": int(sa_iterations), "eta": 0.999 ** (10_000 / int(sa_iterations)), "init": "greedy"}


def trace_solver(settings, sa_iterations: int):
    """The solver of a test's TRACE runs: ``settings.solver`` with ``settings.solver_options``; for ``"sa"`` over
    the test's own K (``sa_defaults``), which the options override."""
    if not isinstance(settings.solver, str):
        return settings.solver
    base = sa_defaults(sa_iterations) if settings.solver == "sa" else {}
    return get_solver(settings.solver, **{**base, **settings.solver_options})


def oracle(settings, model, x, target: int, features, output: str):
    """The oracle of D(S) for ``output`` under the settings' reference, batch size and precision."""
    return make_oracle(model, x, target, features=features, **{**settings.oracle_options(), "output": output})


def search(settings, oracle_, sa_iterations: int):
    """TRACE on ``oracle_`` (objective, budget and seed from the settings; no curves drawn)."""
    problem = TraceProblem(oracle_, settings.objective)
    return trace_solver(settings, sa_iterations).solve(
        problem, budget=settings.budget, seed=settings.seed, curves=False
    )


def trace_method(output: str, settings) -> str:
    """The method name of TRACE on ``output`` under the settings' objective, e.g. ``trace-y-le-mo``."""
    return trace_name(output, settings.objective)


def control_seed(seed: int, x) -> int:
    """The seed of a random control on input ``x``: from ``seed`` and the input, so its draws are independent
    across inputs and still depend only on input and settings."""
    return int(arrays_digest(np.asarray(x, dtype=np.float32))[:8], 16) ^ int(seed)


def method_seed(method: str, seed: int, x) -> int:
    """``seed`` for a baseline or a search; ``control_seed`` for a random control (a baseline tagged random)."""
    control = method in BASELINES and "random" in BASELINES[method].tags
    return control_seed(seed, x) if control else int(seed)


def baseline_input(settings, model, x, target: int, features, seed: int | None = None):
    """The ``AttributionInput`` of the baselines (the settings' reference; ``seed`` default: the settings')."""
    return make_input(
        model,
        x,
        target,
        features,
        settings.reference,
        seed=settings.seed if seed is None else seed,
        **settings.reference_options,
    )


__all__ = [
    "sa_defaults",
    "trace_solver",
    "oracle",
    "search",
    "trace_method",
    "control_seed",
    "method_seed",
    "baseline_input",
]


def fmt(v, d: int = 3) -> str:
    """A number with ``d`` decimals; "-" for None or a non-finite value."""
    return "-" if v is None or not np.isfinite(v) else f"{v:.{d}f}"


def is_baseline(m: str) -> bool:
    """An attribution baseline (not TRACE, an exact optimum, the random control or no removal)."""
    return not m.startswith(("trace-", "exact-")) and m not in ("random", "none")


def answer(label: str, means: dict, pairs: dict, larger: bool, trace: str) -> str:
    """One plain sentence: ``trace`` against the best baseline on this test (by mean) and how many baselines
    it is separated ahead of / behind (95 % paired intervals excluding 0); ``pairs[m]`` from ``paired``
    (positive favours ``trace``)."""
    base = {m: v for m, v in means.items() if is_baseline(m) and m in pairs and np.isfinite(v)}
    if not base:
        return f"- **{label}**: no baseline to compare."
    best = (max if larger else min)(base, key=base.get)
    p = pairs[best]
    ahead = [m for m in base if pairs[m]["separated"] and pairs[m]["mean"] > 0]
    behind = [m for m in base if pairs[m]["separated"] and pairs[m]["mean"] < 0]
    verdict = (
        "ahead of"
        if p["separated"] and p["mean"] > 0
        else "behind"
        if p["separated"] and p["mean"] < 0
        else "not separated from"
    )
    tv = means.get(trace, float("nan"))
    return (
        f"- **{label}**: {method_label(trace)} ({fmt(tv)}) is **{verdict}** the best baseline, {method_label(best)} "
        f"({fmt(base[best])}): paired difference {fmt(p['mean'], 3)} ± {fmt(p['ci'], 3)} "
        f"(positive favours TRACE, n = {p['n']}; "
        f"TRACE better on {p['wins']}, worse on {p['losses']}, tied on {p['ties']}). "
        f"Separated ahead of {len(ahead)} of {len(base)} baselines, behind {len(behind)}"
        + (f" ({', '.join(method_label(m) for m in behind)})" if behind else "")
        + "."
    )


__all__ += ["fmt", "is_baseline", "answer"]
