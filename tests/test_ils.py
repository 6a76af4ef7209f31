"""The lazy greedy start, the MoRF tail rebuild and the ``ils`` solver (issue 28): exact on additive objectives,
never worse than what they start from, counted against the budget, and cut (not changed) by a smaller budget."""

from __future__ import annotations

import numpy as np
import pytest

from brute import brute_force
from solvers import get_solver, greedy_order
from solvers.greedy import lazy_greedy_cost, lazy_greedy_order, rebuild_tail
from trace_opt.core.oracle import SetFunctionOracle
from trace_opt.core.problem import TraceProblem


def additive_problem(t, seed, objective="le-mo", ties=False):
    w = np.random.default_rng(seed).normal(size=t)
    if ties:
        w = np.round(w)  # many tied weights
    return TraceProblem(SetFunctionOracle(lambda m: (~m).astype(float) @ w, t), objective), w


def table_problem(t, seed, objective="le-mo"):
    table = np.random.default_rng(seed).normal(size=2**t)
    weights = 1 << np.arange(t)
    return TraceProblem(SetFunctionOracle(lambda m: table[np.asarray(m, dtype=np.int64) @ weights], t), objective)


def interaction_problem(t, seed, objective="le-mo"):
    """Additive part plus pairwise interactions through a tanh: gains drift as features are deleted."""
    rng = np.random.default_rng(seed)
    W, u, a = rng.normal(size=(t, 4)), rng.normal(size=4), rng.normal(size=t)

    def fn(masks):
        keep = (~masks).astype(float)
        return keep @ a + 2 * np.tanh(keep @ W) @ u

    return TraceProblem(SetFunctionOracle(fn, t), objective)


@pytest.mark.parametrize("objective", ["le", "mo", "le-mo"])
@pytest.mark.parametrize("seed", range(4))
def test_lazy_greedy_is_greedy_on_an_additive_objective(objective, seed):
    """Gains never change on an additive D, so the stale ranking is exact: the lazy order is greedy's (ties too)."""
    for ties in (False, True):
        problem, _ = additive_problem(12, seed, objective, ties)
        lazy = lazy_greedy_order(problem, candidates=2, stale=1)
        np.testing.assert_array_equal(lazy, greedy_order(additive_problem(12, seed, objective, ties)[0], "lerf"))


@pytest.mark.parametrize("t, m, r", [(10, 4, 4), (20, 4, 4), (20, 2, 0), (49, 4, 4)])
def test_lazy_greedy_cost_bounds_its_passes(t, m, r):
    problem = interaction_problem(t, 1)
    sigma = lazy_greedy_order(problem, candidates=m, stale=r)
    assert sorted(sigma.tolist()) == list(range(t))
    assert problem.oracle.forward_passes <= lazy_greedy_cost(t, "le-mo", m, r) + 2  # + D({}) and D(all)
    if t == 49 and (m, r) == (4, 4):
        assert lazy_greedy_cost(t, "le-mo", m, r) == 808


def test_lazy_greedy_scores_fewer_sets_than_greedy():
    problem = interaction_problem(30, 2)
    lazy_greedy_order(problem)
    lazy = problem.oracle.forward_passes
    other = interaction_problem(30, 2)
    greedy_order(other, "lerf")
    assert lazy < 0.6 * other.oracle.forward_passes


def brute_force_tail(problem, sigma, length):
    """Greedy MoRF over the tail by plain enumeration (the definition, no shared code)."""
    t = problem.t
    head, tail = list(sigma[: t - length]), list(sigma[t - length :])
    remaining, placed = list(tail), []
    while len(remaining) > 1:

        def c_without(i):
            kept = set(remaining) - {i}
            mask = np.array([j not in kept for j in range(t)])
            return float(problem.c_values(mask[None])[0])

        values = [c_without(i) for i in remaining]
        best = max(range(len(remaining)), key=lambda k: (values[k], remaining[k]))  # ties: the higher index
        placed.append(remaining.pop(best))
    return np.array(head + [i for i in tail if i in remaining] + placed[::-1])


@pytest.mark.parametrize("seed", range(5))
def test_rebuild_tail_follows_its_rule_over_the_tail_and_never_worse(seed):
    """The rule of rebuild_tail's docstring (c(H + B + {i}), not greedy MoRF's complement), step by step."""
    problem = table_problem(8, seed)
    sigma = np.random.default_rng(seed).permutation(8)
    for length in (2, 4, 8):
        got, score = rebuild_tail(problem, sigma, length)
        want = brute_force_tail(problem, sigma, length)
        old = problem.score(sigma)
        assert score == pytest.approx(problem.score(got))
        assert score >= old
        if problem.score(want) > old:
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_array_equal(got, sigma)


def test_rebuild_tail_keeps_the_optimum_of_an_additive_objective():
    problem, w = additive_problem(10, 3)
    best = np.argsort(w, kind="stable")  # least important (smallest weight) first: the optimum
    got, score = rebuild_tail(problem, best, 6)
    assert score == pytest.approx(problem.score(best))


@pytest.mark.parametrize("seed", range(3))
def test_ils_budget_only_cuts_its_path(seed):
    """Above its start's cost the path does not depend on the budget: a smaller budget's history is the
    larger budget's history cut at that budget, and neither exceeds its budget."""
    problem_big = interaction_problem(20, seed)
    big = get_solver("ils").solve(problem_big, budget=1500, seed=seed, curves=False)
    start = lazy_greedy_cost(20, "le-mo")
    for budget in (start + 50, 900, 1200):
        small = get_solver("ils").solve(interaction_problem(20, seed), budget=budget, seed=seed, curves=False)
        assert small.forward_passes <= budget
        assert small.history == [h for h in big.history if h[0] <= small.forward_passes]
        if small.history:  # else the budget ended before the first scored trajectory (the start is returned)
            assert small.score == max(v for f, v in big.history if f <= budget)
    assert big.forward_passes <= 1500


def test_ils_on_a_tiny_problem_finds_the_brute_force_optimum():
    best = brute_force(table_problem(6, 7)).best
    res = get_solver("ils", window=6).solve(table_problem(6, 7), seed=0, curves=False)
    assert res.score == pytest.approx(best)  # a window of width t is the exact DP over all orders


def test_ils_with_a_small_budget_falls_back_to_a_cheap_start():
    """Below the lazy greedy's cost the start is the first leaner lazy greedy of ``LAZY_LADDER`` that fits 0.8 of
    the budget (its own order, checked against ``lazy_greedy_order`` with those settings), else the single-feature
    order."""
    from solvers._common import LAZY_LADDER, LAZY_LADDER_SHARE
    from solvers.base import final_scoring_passes

    t = 30
    held = sum(final_scoring_passes(interaction_problem(t, 4), curves=False))  # 2t, held for the final scoring
    for budget in (200, 300, 400):  # the default costs 466 at t = 30
        res = get_solver("ils").solve(interaction_problem(t, 4), budget=budget, seed=0, curves=False)
        assert res.forward_passes <= budget and res.info["start_fallback"] is True
        # a share of the whole budget (what is held comes back once the start is scored), within what is left
        fits = [
            (m, r)
            for m, r in LAZY_LADDER
            if lazy_greedy_cost(t, "le-mo", m, r) <= min(LAZY_LADDER_SHARE * budget, budget - held)
        ]
        m, r = fits[0]
        assert res.info["start"].startswith(f"lazy greedy on the objective ({m} of largest")
        start = lazy_greedy_order(interaction_problem(t, 4), m, r)
        assert res.history[0][1] == pytest.approx(interaction_problem(t, 4).score(start))
    res = get_solver("ils").solve(interaction_problem(t, 4), budget=100 + held, seed=0, curves=False)
    assert res.forward_passes <= 100 and "single-feature" in res.info["start"]


@pytest.mark.parametrize("objective", ["le", "mo", "le-mo"])
@pytest.mark.parametrize("seed", range(4))
def test_lazy_morf_is_greedy_morf_on_an_additive_objective(objective, seed):
    for ties in (False, True):
        problem, _ = additive_problem(12, seed, objective, ties)
        lazy = lazy_greedy_order(problem, candidates=2, stale=1, direction="morf")
        np.testing.assert_array_equal(lazy, greedy_order(additive_problem(12, seed, objective, ties)[0], "morf"))


def test_lazy_morf_with_every_candidate_is_greedy_morf():
    """Scoring every remaining feature each step (candidates >= t) is plain greedy MoRF, on any D."""
    problem = table_problem(9, 3)
    lazy = lazy_greedy_order(problem, candidates=9, stale=0, direction="morf")
    np.testing.assert_array_equal(lazy, greedy_order(table_problem(9, 3), "morf"))
    lerf = lazy_greedy_order(table_problem(9, 3), candidates=9, stale=0)
    np.testing.assert_array_equal(lerf, greedy_order(table_problem(9, 3), "lerf"))


def test_ils_refuses_bad_options():
    with pytest.raises(ValueError, match="tail"):
        get_solver("ils", tail=1)
    with pytest.raises(ValueError, match="init"):
        get_solver("ils", init="lazy")


@pytest.mark.parametrize("seed", range(6))
def test_insertion_move_is_the_best_reinsertion_by_brute_force(seed):
    """``insertion_move`` moves one feature to its best position within the radius: its delta is the best of
    every re-insertion scored from scratch (0 when none is better), and the chain it returns is the new one's."""
    from solvers._common import insertion_move

    t = 8
    problem = table_problem(t, seed)
    sigma = np.random.default_rng(seed).permutation(t)
    chain, base = problem.chain(sigma), problem.score(sigma)
    for i in range(t):
        for radius in (None, 1, 3):
            new, new_chain, delta = insertion_move(problem, sigma, chain, i, radius)
            r = t if radius is None else radius
            targets = range(max(0, i - r), min(t - 1, i + r) + 1)
            brute = max(problem.score(np.insert(np.delete(sigma, i), j, sigma[i])) for j in targets)
            assert delta == pytest.approx(max(brute - base, 0.0), abs=1e-9)
            assert problem.score(new) == pytest.approx(base + delta, abs=1e-9)
            np.testing.assert_allclose(new_chain, problem.chain(new), rtol=1e-12)
            assert sorted(new.tolist()) == list(range(t))
            if delta == 0:
                np.testing.assert_array_equal(new, sigma)


@pytest.mark.parametrize("seed", range(3))
def test_first_window_descends_narrow_then_wide_to_a_window_optimum(seed):
    """``first_window``: a first descent with the narrow window, then the descent with ``window``; the start's
    local optimum (kicks=0) is optimal for every swept window of width ``window`` (window_move finds no gain)."""
    from solvers._common import window_descent, window_move, window_starts

    t = 20
    res = get_solver("ils", first_window=3, kicks=0).solve(interaction_problem(t, seed), seed=seed, curves=False)
    problem = interaction_problem(t, seed)
    chain = problem.chain(res.trajectory)
    for a in window_starts(t, 5, 2):
        assert window_move(problem, res.trajectory, chain, a, 5)[2] <= 1e-9 * abs(res.score)
    # the same path by hand: the start, its tail rebuilt, the narrow descent, then the wide one
    sigma, _ = rebuild_tail(problem, lazy_greedy_order(problem), 16)
    sigma, chain = window_descent(problem, sigma, 3)
    sigma, chain = window_descent(problem, sigma, 5, chain=chain)
    np.testing.assert_array_equal(res.trajectory, sigma)


def test_first_window_budget_only_cuts_its_path():
    big = get_solver("ils", first_window=4).solve(interaction_problem(20, 5), budget=1500, seed=5, curves=False)
    for budget in (lazy_greedy_cost(20, "le-mo") + 50, 1000):
        small = get_solver("ils", first_window=4).solve(interaction_problem(20, 5), budget=budget, seed=5, curves=False)
        assert small.history == [h for h in big.history if h[0] <= small.forward_passes]
    with pytest.raises(ValueError, match="first_window"):
        get_solver("ils", first_window=1)
    same = get_solver("ils", first_window=5).solve(interaction_problem(20, 5), budget=1500, seed=5, curves=False)
    plain = get_solver("ils", first_window=None).solve(interaction_problem(20, 5), budget=1500, seed=5, curves=False)
    assert same.history == plain.history  # a first window not below the window: no first descent


@pytest.mark.parametrize("seed", range(3))
def test_segment_kicks_and_walking_keep_the_best_window_optimal(seed):
    """ils's kicks (a shuffled run of 8-12 positions, from the last local optimum within 2 % of the best): the best
    only improves, every kick's descent ends window-optimal, so the result is optimal for every width-5 window, and
    walking (accept > 0) takes another path than kicking from the best (accept=0)."""
    from solvers._common import window_move, window_starts

    t = 24
    walk = get_solver("ils").solve(interaction_problem(t, seed), budget=6000, seed=seed, curves=False)
    problem = interaction_problem(t, seed)
    chain = problem.chain(walk.trajectory)
    assert walk.score == pytest.approx(float(chain.sum()))
    for a in window_starts(t, 5, 2):
        assert window_move(problem, walk.trajectory, chain, a, 5)[2] <= 1e-9 * abs(walk.score)
    assert all(b[1] > a[1] for a, b in zip(walk.history, walk.history[1:]))


def test_kick_rules_take_different_paths():
    """The three kick rules evaluate different sets (15 kicks each, no budget): segment kicks differ from random
    moves on every problem, and walking from a nearby local optimum differs from always kicking the best on some."""
    walked = 0
    for seed in range(3):
        runs = [
            get_solver("ils", kicks=15, **opts).solve(interaction_problem(24, seed), seed=seed, curves=False)
            for opts in ({}, {"accept": 0}, {"kick": "moves", "accept": 0})
        ]
        assert runs[2].forward_passes not in (runs[0].forward_passes, runs[1].forward_passes)
        walked += runs[0].forward_passes != runs[1].forward_passes
    assert walked >= 1


@pytest.mark.parametrize(
    "option, value", [("kick", "swap"), ("segment", (1, 4)), ("segment", (6, 4)), ("accept", 1.0), ("accept", -0.1)]
)
def test_kick_options_are_checked_by_name(option, value):
    with pytest.raises(ValueError, match=option):
        get_solver("ils", **{option: value})
