"""Ties: one rule everywhere (lower feature index = less important), the exact solver says whether its
optimum is unique, and the evaluation report counts inputs with several optimal orders."""

from math import factorial

import numpy as np
import pytest
import torch

from brute import brute_force_table
from solvers import get_solver, greedy_order
from solvers.complete import exact_optimum, optimal_trajectory_count
from trace_opt import tabular_features
from trace_opt.comparison.evaluation import (
    BlackBox,
    EvaluationConfig,
    evaluate_input,
    evaluation_settings,
    summarise,
    tie_summary,
)
from trace_opt.comparison.report import ties_markdown
from trace_opt.core.problem import TraceProblem
from trace_opt.core.table import TableOracle
from trace_opt.explanation.rankings import scores_to_trajectory


def additive_table(w):
    """D(S) = sum of w over the deleted set S (exact in float64 for small integers)."""
    t = len(w)
    return np.array([sum(w[i] for i in range(t) if S >> i & 1) for S in range(1 << t)], dtype=np.float64)


W_TIED = [2.0, 5.0, 2.0, 1.0, 5.0, 2.0]  # groups {3}, {0, 2, 5}, {1, 4}


@pytest.mark.parametrize("objective", ["le", "mo", "le-mo"])
def test_every_method_breaks_ties_by_the_same_rule_on_an_additive_model(objective):
    """D additive with tied weights: deleting a large w first raises D least... every objective's optimum is
    the ascending order of importance -w; ties -> the lower index first, for exact DP, both greedy
    constructions and attribution sorting alike; the count is the product of the tie groups' factorials."""
    w = np.array(W_TIED)
    table = additive_table(w)
    expected = scores_to_trajectory(-w)  # importance of feature i = -w_i (LeRF deletes high w first)
    np.testing.assert_array_equal(expected, [1, 4, 0, 2, 5, 3])
    sigma, _ = exact_optimum(table, objective)
    np.testing.assert_array_equal(sigma, expected)
    for direction in ("lerf", "morf"):
        problem = TraceProblem(TableOracle(table, max_t=len(w)), objective)
        np.testing.assert_array_equal(greedy_order(problem, direction), expected)
    ties = optimal_trajectory_count(table, objective)
    assert ties["optimal_trajectories"] == factorial(1) * factorial(3) * factorial(2) == 12
    optima = brute_force_table(table, objective).optima(tol=1e-9)
    assert ties["optimal_trajectories"] == len(optima)
    assert tuple(sigma) in optima
    assert not ties["optimum_unique"] and not ties["all_orders_tie"]


def test_symmetric_model_every_order_ties_and_the_identity_is_returned():
    t = 6
    table = np.array([float(bin(S).count("1")) ** 2 for S in range(1 << t)])  # D depends on |S| only
    for objective in ("le", "mo", "le-mo"):
        sigma, _ = exact_optimum(table, objective)
        np.testing.assert_array_equal(sigma, np.arange(t))  # = the stable sort of equal scores
        ties = optimal_trajectory_count(table, objective)
        assert ties == {"optimal_trajectories": factorial(t), "optimum_unique": False, "all_orders_tie": True}
    np.testing.assert_array_equal(scores_to_trajectory(np.zeros(t)), np.arange(t))


def test_exact_solver_reports_ties_in_result_info():
    rng = np.random.default_rng(0)
    t = 7
    unique = rng.normal(size=1 << t)
    res = get_solver("exact").solve(TraceProblem(TableOracle(unique, max_t=t), "le-mo"), curves=False)
    assert res.info["optimum_unique"] is True and res.info["optimal_trajectories"] == 1
    assert res.info["all_orders_tie"] is False
    tied = additive_table(np.array(W_TIED + [7.0]))
    res = get_solver("exact").solve(TraceProblem(TableOracle(tied, max_t=t), "le"), curves=False)
    assert res.info["optimal_trajectories"] == 12 and res.info["optimum_unique"] is False
    assert "optimal_trajectories" in res.to_dict()["info"]
    res = get_solver("exact", count_ties=False).solve(TraceProblem(TableOracle(tied, max_t=t), "le"), curves=False)
    assert "optimal_trajectories" not in res.info
    with pytest.raises(ValueError, match="count_ties"):
        get_solver("exact", count_ties="yes")


def test_window_dp_keeps_the_current_order_under_exact_ties():
    """chain_dp's tie rule on a window: the later window position stays later, so a tie moves nothing."""
    from solvers import window_move

    t = 6
    table = np.array([float(bin(S).count("1")) for S in range(1 << t)])
    problem = TraceProblem(TableOracle(table, max_t=t), "le")
    sigma = np.array([4, 2, 5, 0, 3, 1])
    new, _, delta = window_move(problem, sigma, problem.chain(sigma), 1, 4)
    np.testing.assert_array_equal(new, sigma)
    assert delta == 0


def symmetric_black_box(t):
    """logit = number of kept features (x = ones, reference = zeros): every order ties exactly."""

    def fn(batch):
        k = (np.asarray(batch) > 0.5).sum(axis=1).astype(np.float64)
        return np.stack([np.zeros_like(k), k], axis=1)

    return BlackBox({"logit": fn})


def test_evaluation_report_counts_ties_and_says_every_order_ties_on_a_symmetric_model():
    t = 6
    config = EvaluationConfig(
        methods=["occlusion", "random"],
        outputs=("logit",),
        trace_outputs=("logit",),
        explain=evaluation_settings(sa_iterations=30),
        exact_max_t=10,
    )
    recs = [
        evaluate_input(
            symmetric_black_box(t), torch.ones(t, dtype=torch.float64), 1, tabular_features(t), "zeros", config, index=i
        )
        for i in range(2)
    ]
    entry = recs[0]["complete"]["logit"]["objectives"]["le-mo"]
    assert entry["optimal_trajectories"] == factorial(t) and entry["all_orders_tie"]
    assert recs[0]["methods"]["exact-y-le-mo"]["trajectory"] == list(range(t))
    summary = summarise(recs, ("logit",))
    ex = summary["ties"]["exact"]["logit"]["le-mo"]
    assert ex == {
        "n_inputs": 2,
        "n_unique": 0,
        "n_tied": 2,
        "n_all_orders_tie": 2,
        "n_inputs_with_inert_features": 0,
        "max_inert_features": 0,
        "max_optimal_trajectories": factorial(t),
    }
    occ = summary["ties"]["baselines"]["occlusion"]  # every feature's occlusion score is the same
    assert occ == {"n_inputs_with_tied_scores": 2, "max_tied_features": t}
    assert recs[0]["methods"]["occlusion"]["trajectory"] == list(range(t))
    assert summary["ties"]["baselines"]["random"]["n_inputs_with_tied_scores"] == 0  # random scores never tie
    text = "\n".join(ties_markdown(summary))
    assert "every order ties** on 2" in text and "Occlusion on 2/2 inputs" in text


def test_tie_summary_on_unique_optima():
    t = 5
    vals = np.random.default_rng(1).normal(size=1 << t)

    def fn(batch):
        kept = (np.asarray(batch) > 0.5).astype(np.int64) @ (1 << np.arange(t))
        return np.stack([-vals[kept], vals[kept]], axis=1)

    config = EvaluationConfig(
        methods=["random"],
        outputs=("logit",),
        trace_outputs=("logit",),
        explain=evaluation_settings(sa_iterations=30),
        exact_max_t=10,
    )
    rec = evaluate_input(
        BlackBox({"logit": fn}), torch.ones(t, dtype=torch.float64), 1, tabular_features(t), "zeros", config
    )
    ties = tie_summary([rec])
    for obj in ("le", "mo", "le-mo"):
        assert ties["exact"]["logit"][obj]["n_unique"] == 1 and ties["exact"]["logit"][obj]["n_tied"] == 0
