"""trace_opt.benchmarks.margin: exact set-function attributions from a 2^t table, and the optimum /
best-ranking margin."""

import itertools
import math

import numpy as np
import pytest

from solvers.complete import exact_optimum, table_scores
from trace_opt.benchmarks.difficulty import additivity
from trace_opt.benchmarks.families import LogicSetFunction
from trace_opt.benchmarks.margin import (
    ATTRIBUTIONS,
    improvement_ratio,
    margin,
    normalised_gap,
    set_function_attributions,
)


def _brute_force_shapley(table, t):
    """Shapley of keeping i, by averaging over all orders of adding kept features (v(K) = D(all \\ K))."""
    full = (1 << t) - 1
    phi = np.zeros(t)
    perms = list(itertools.permutations(range(t)))
    for p in perms:
        kept = 0
        for i in p:
            phi[i] += table[full ^ (kept | 1 << i)] - table[full ^ kept]
            kept |= 1 << i
    return phi / len(perms)


def test_attributions_match_their_definitions():
    t = 5
    table = LogicSetFunction(t, seed=3, interaction=0.7, order=3).table()
    a = set_function_attributions(table)
    assert set(a) == set(ATTRIBUTIONS)
    np.testing.assert_allclose(a["shapley"], _brute_force_shapley(table, t), atol=1e-12)
    assert a["shapley"].sum() == pytest.approx(table[0] - table[-1])  # efficiency: all kept minus none kept
    # Banzhaf = the first-order least-squares fit (difficulty.additivity's coefficient of "i deleted", negated)
    np.testing.assert_allclose(a["banzhaf"], -additivity(table)["coefficients"], atol=1e-12)
    full = (1 << t) - 1
    for i in range(t):
        assert a["occlusion"][i] == table[0] - table[1 << i]
        assert a["leave-one-in"][i] == table[full ^ (1 << i)] - table[full]


def test_additive_function_every_ranking_is_optimal():
    t = 10
    fn = LogicSetFunction(t, seed=1, interaction=0.0)
    table = fn.table()
    m = margin(table)
    for name in ATTRIBUTIONS:  # all four equal the (scaled) weights on an additive D
        np.testing.assert_allclose(np.argsort(m["attributions"][name]), np.argsort(fn.weights))
    for objective, o in m["objectives"].items():
        assert all(o["optimal"].values()), objective
        assert o["ratio"] == pytest.approx(1.0, abs=1e-9) and o["normalised_gap"] == pytest.approx(0.0, abs=1e-9)
        sigma, opt = exact_optimum(table, objective)
        assert o["optimum"] == opt
        # the best first-order ranking scores exactly the optimum for le
    assert table_scores(table, "le", np.array(m["trajectories"]["banzhaf"])) == pytest.approx(
        m["objectives"]["le"]["optimum"], rel=1e-12
    )


@pytest.mark.parametrize("interaction", [0.3, 0.7, 1.0])
def test_ratio_at_least_one_and_le_mo_random_mean_zero(interaction):
    for seed in range(3):
        table = LogicSetFunction(8, seed=seed, interaction=interaction, kinds=["xor"]).table()
        m = margin(table, extra_trajectories={"identity": np.arange(8)})
        for objective, o in m["objectives"].items():
            assert o["best_score"] <= o["optimum"] + 1e-9
            assert o["best_score"] == max(o["scores"].values())
            assert o["ratio"] >= 1.0 and 0.0 <= o["normalised_gap"] <= 1.0 + 1e-12, (objective, o)
            assert "identity" in o["extra_scores"] and "identity" not in o["scores"]
        assert m["objectives"]["le-mo"]["random_mean"] == pytest.approx(0.0, abs=1e-9)
    # strong parity: the rankings fall short of the optimum somewhere
    if interaction == 1.0:
        assert m["objectives"]["le-mo"]["ratio"] > 1.0


def test_ratio_and_gap_helpers():
    assert improvement_ratio(10.0, 5.0, 0.0) == 2.0
    assert improvement_ratio(10.0, 6.0, 2.0) == 2.0  # measured above random
    assert improvement_ratio(3.0, 3.0, 3.0) == 1.0  # constant D
    assert math.isinf(improvement_ratio(10.0, 0.0, 0.0))
    assert normalised_gap(10.0, 6.0, 2.0) == 0.5 and normalised_gap(1.0, 1.0, 1.0) == 0.0
