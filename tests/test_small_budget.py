"""Budgets below a start's cost: every solver still answers with a searched (or at least informed) order,
never the unsearched identity; with enough budget the starts are unchanged.

Ground truth: on an additive D (``D(S) = b + sum_{i in S} w_i``, distinct w) the optimum of le, mo and
le-mo is the sort by w, descending, and so is the single-feature order ``D({i}) - D(all \\ {i}) = 2 w_i - W``.
"""

from __future__ import annotations

import numpy as np
import pytest

from solvers import get_solver, greedy_order
from solvers._common import greedy_cost, initial_trajectory, single_feature_order
from solvers.base import Run, final_scoring_passes
from trace_opt import SetFunctionOracle, TraceProblem
from trace_opt.core.budget import Budget, Limits


def additive(t=20, objective="le-mo", seed=0):
    w = np.random.default_rng(seed).permutation(t) - t / 2 + 0.25
    oracle = SetFunctionOracle(lambda m: 1.0 + np.asarray(m, dtype=float) @ w, t)
    return TraceProblem(oracle, objective), np.argsort(-w, kind="stable")


def nonadditive(t=20, seed=0):
    """Additive plus a pairwise chain of interactions: greedy and the single-feature order differ."""
    rng = np.random.default_rng(seed)
    w, u = rng.normal(size=t), rng.normal(size=t - 1)

    def fn(m):
        z = np.asarray(m, dtype=float)
        return z @ w + 1.5 * (z[:, :-1] * z[:, 1:]) @ u

    return TraceProblem(SetFunctionOracle(fn, t), "le-mo")


def test_greedy_cost_is_an_upper_bound_and_exact_without_cache_hits():
    for objective in ("le", "mo", "le-mo"):
        problem, _ = additive(9, objective)
        before = problem.oracle.forward_passes
        greedy_order(problem)
        # D({}) or D(all) may come back as a cache hit inside a step; never more passes than the bound
        assert problem.oracle.forward_passes - before <= greedy_cost(9, objective)
    assert greedy_cost(49, "le-mo") == 2 * (49 * 50 // 2 - 1)


LOCAL_SEARCH = ["sa", "sa-batch", "tabu", "window-dp"]


@pytest.mark.parametrize("name", LOCAL_SEARCH)
@pytest.mark.parametrize("objective", ["le", "mo", "le-mo"])
def test_local_search_starts_from_the_single_feature_order_when_greedy_does_not_fit(name, objective):
    problem, optimum = additive(20, objective)
    budget = greedy_cost(20, objective) // 2
    r = get_solver(name).solve(problem, budget=budget, seed=0, curves=False)
    assert r.forward_passes <= budget
    assert r.info["start_fallback"] is True and r.info["start"].startswith("single-feature order")
    assert r.history  # the start was evaluated: a searched answer, not an unsearched fallback
    assert np.array_equal(r.trajectory, optimum)  # exact on an additive D


@pytest.mark.parametrize("name", LOCAL_SEARCH)
def test_with_enough_budget_the_start_is_unchanged(name):
    problem = nonadditive()
    free = get_solver(name).solve(nonadditive(), seed=1, curves=False)
    big = get_solver(name).solve(problem, budget=10**7, seed=1, curves=False)
    assert "start_fallback" not in big.info and "start_fallback" not in free.info
    assert np.array_equal(free.trajectory, big.trajectory) and free.history == big.history


def test_a_budget_exactly_the_greedy_cost_keeps_the_greedy_start():
    problem = nonadditive(12)
    greedy = greedy_order(nonadditive(12))
    limit = greedy_cost(12, "le-mo")
    run = Run(problem, Budget(forward_passes=limit), np.random.default_rng(0), False, None, "x")
    with problem.oracle.limited(Limits(forward_passes=problem.oracle.forward_passes + limit)):
        sigma = initial_trajectory(problem, "greedy", np.random.default_rng(0), run)
    assert np.array_equal(sigma, greedy) and "start_fallback" not in run.info
    run = Run(problem, Budget(forward_passes=limit - 1), np.random.default_rng(0), False, None, "x")
    with problem.oracle.limited(Limits(forward_passes=problem.oracle.forward_passes + limit - 1)):
        initial_trajectory(problem, "greedy", np.random.default_rng(0), run)
    assert run.info["start_fallback"] is True


def test_single_feature_order_costs_2t_and_degrades_with_the_budget():
    problem, optimum = additive(15)
    assert np.array_equal(single_feature_order(problem), optimum)
    assert problem.oracle.forward_passes == 2 * 15
    # only t passes left: D({i}) alone (still the sort by w on an additive D), t passes
    problem, optimum = additive(15)
    run = Run(problem, Budget(), np.random.default_rng(0), False, None, "x")
    with problem.oracle.limited(Limits(forward_passes=problem.oracle.forward_passes + 20)):
        sigma = single_feature_order(problem, run)
    assert np.array_equal(sigma, optimum) and problem.oracle.forward_passes == 15


@pytest.mark.parametrize(
    "name, options",
    [
        ("greedy", {}),
        ("greedy", {"direction": "morf"}),
        ("beam", {"width": 4}),
        ("beam", {"width": 4, "direction": "morf"}),
    ],
)
def test_constructions_stopped_early_complete_by_their_last_values(name, options):
    """A stopped greedy or beam keeps its placed features and ranks the rest by the last step's values:
    on an additive D that is the optimum, where the old completion by index was not."""
    problem, optimum = additive(20)
    r = get_solver(name, **options).solve(problem, budget=150, seed=0)
    assert r.stopped == "budget" and r.forward_passes <= 150
    assert np.array_equal(r.trajectory, optimum)
    assert not np.array_equal(r.trajectory, np.arange(20))


def test_ga_with_a_budget_below_its_seeds_scores_a_single_feature_seed():
    problem, optimum = additive(20)
    r = get_solver("ga").solve(problem, budget=600, seed=0, curves=False)
    assert r.forward_passes <= 600
    assert "seed_fallback" in r.info and r.history
    assert np.array_equal(r.trajectory, optimum)


@pytest.mark.parametrize("name", ["sa", "tabu", "window-dp", "ga", "greedy", "beam", "surrogate"])
def test_no_solver_returns_the_identity_at_a_small_budget(name):
    """The issue's case, scaled down: t = 30 (greedy needs 928 passes for le-mo) with 300 passes."""
    problem = nonadditive(30, seed=4)
    r = get_solver(name).solve(problem, budget=300, seed=0)
    assert r.forward_passes <= 300
    assert not np.array_equal(r.trajectory, np.arange(30))
    assert r.score > problem.score(np.arange(30))


@pytest.mark.parametrize(
    "name, params, unit",
    [
        ("beam", {"width": 16}, "children"),  # one parent's children at a level: at most 2 t sets (le-mo)
        ("ga", {"population": 32, "seeds": ("greedy",), "memetic_window": None}, "trajectory"),  # 2 (t + 1) sets
    ],
)
@pytest.mark.parametrize("budget", [1500, 4000, 9000])
def test_beam_and_ga_spend_their_budget_to_within_one_step(name, params, unit, budget):
    """Beam and GA used to stop when their next level or generation did not fit (5-18 % short of 5,000
    passes at t = 49): now the best parents' children, or the children that fit, are scored, so a solve
    ends within one step's cost of the budget, says it was stopped by it, and never exceeds it."""
    t = 30
    problem = nonadditive(t, seed=3)
    res = get_solver(name, **params).solve(problem, budget=budget, seed=0, curves=False)
    step = 2 * t if unit == "children" else 2 * (t + 1)
    held = sum(final_scoring_passes(problem, curves=False))  # kept back until a trajectory is scored (beam: the end)
    assert budget - step - held < res.forward_passes + res.evaluation_forward_passes <= budget
    assert res.stopped == "budget"
    assert res.score == pytest.approx(problem.score(res.trajectory), rel=1e-12)
    narrowed = (
        res.info.get("narrowed_at_level")
        if name == "beam"
        else res.info.get("last_generation_children", res.info.get("population_scored"))
    )
    assert narrowed is not None


def test_a_beam_one_pass_short_narrows_late_and_a_full_budget_gives_the_full_beam():
    """One pass short of the full beam's cost, the beam narrows only in its last levels (the rest is the
    full-width search) and stays within the budget; with exactly that cost it is the full-width beam."""
    t = 30
    full = get_solver("beam", width=16).solve(nonadditive(t, seed=3), seed=0, curves=False)
    assert full.stopped == "completed" and "narrowed_at_level" not in full.info
    held = sum(final_scoring_passes(nonadditive(t, seed=3), curves=False))  # the beam scores only at its end
    cut = get_solver("beam", width=16).solve(
        nonadditive(t, seed=3), budget=full.forward_passes + held - 1, seed=0, curves=False
    )
    assert cut.stopped == "budget" and t - 5 <= cut.info["narrowed_at_level"] < t
    assert full.forward_passes - 2 * t < cut.forward_passes < full.forward_passes
    roomy = get_solver("beam", width=16).solve(
        nonadditive(t, seed=3), budget=full.forward_passes + held, seed=0, curves=False
    )
    assert roomy.stopped == "completed" and np.array_equal(roomy.trajectory, full.trajectory)


@pytest.mark.parametrize("name", ["greedy", "sa", "sa-batch", "tabu", "ga", "beam", "window-dp", "ils", "surrogate"])
@pytest.mark.parametrize("budget", [90, 140, 400])
def test_a_budget_bounds_the_whole_call_final_scoring_and_curves_included(name, budget):
    """t = 40, le-mo: no solver's start fits 90 passes (2t = 80 are held for the final scoring); whatever a
    solver returns, its search, its fallback's scoring and its curves together stay within the budget."""
    problem = nonadditive(40, seed=5)
    res = get_solver(name).solve(problem, budget=budget, seed=0)
    assert res.forward_passes + res.evaluation_forward_passes <= budget
    assert problem.oracle.forward_passes <= budget
    assert res.curves is not None and res.score == pytest.approx(problem.score(res.trajectory))


@pytest.mark.parametrize("objective, smallest", [("le-mo", 40), ("le", 40), ("mo", 40)])
def test_a_budget_below_one_scoring_is_refused_with_the_smallest_budget(objective, smallest):
    """Scoring one trajectory and drawing its curves takes 2t sets (t = 20): a smaller budget cannot
    return a scored result, so it is refused before any pass, naming the smallest budget."""
    problem = TraceProblem(nonadditive(20).oracle, objective)
    with pytest.raises(ValueError, match=rf"the smallest budget is {smallest}"):
        get_solver("greedy").solve(problem, budget=smallest - 1)
    assert problem.oracle.forward_passes == 0
    first, _ = final_scoring_passes(problem, curves=False)
    get_solver("greedy").solve(problem, budget=first, curves=False)  # without curves, the chain alone
