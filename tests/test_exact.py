"""Complete search, the DP optimum, CS bounds, Avg.IoU and the gap report, against brute force."""

import math

import numpy as np
import pytest
import torch

from brute import all_orders, brute_force_table
from solvers import get_solver, kernels, window_move
from solvers.complete import (
    avg_iou,
    complete_table,
    cs_bounds,
    exact_optimum,
    gap_report,
    table_scores,
)
from trace_opt import ModelOracle, SetFunctionOracle, TraceProblem
from trace_opt.core.features import tabular_features

OBJS = ("le", "mo", "le-mo")


def random_table_problem(t, seed, objective):
    """An arbitrary set function: D(S) drawn at random for each of the 2^t sets."""
    values = np.random.default_rng(seed).normal(size=1 << t)
    bits = 1 << np.arange(t)

    def fn(masks):
        return values[masks.astype(np.int64) @ bits]

    return TraceProblem(SetFunctionOracle(fn, t), objective), values


def tiny_torch_problem(t, seed, objective):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(t, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).eval()
    x = torch.randn(t)
    oracle = ModelOracle(model, x, target=1, features=tabular_features(t), reference="zeros", output="prob")
    return TraceProblem(oracle, objective)


@pytest.mark.parametrize("t", range(2, 9))
@pytest.mark.parametrize("source", ["set-function", "torch"])
def test_dp_optimum_equals_brute_force(t, source):
    for objective in OBJS:
        if source == "set-function":
            problem, values = random_table_problem(t, 100 + t, objective)
        else:
            problem = tiny_torch_problem(t, t, objective)
        table = complete_table(problem)
        if source == "set-function":
            np.testing.assert_array_equal(table, values)
        sigma, opt = exact_optimum(table, objective)
        scores = brute_force_table(table, objective).scores
        assert opt == pytest.approx(scores.max(), rel=1e-12, abs=1e-12)
        assert problem.score(sigma) == pytest.approx(opt, rel=1e-12, abs=1e-12)
        assert table_scores(table, objective, sigma) == opt
        if t <= 7:  # the exact expected score of a random trajectory
            assert cs_bounds(table, objective)["random_mean"] == pytest.approx(scores.mean(), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("t", [4, 6, 8])
def test_optimum_within_cs_bounds(t):
    problem, values = random_table_problem(t, 7 * t, "le")
    table = complete_table(problem)
    b = cs_bounds(table, "le")
    optima = {obj: exact_optimum(table, obj)[1] for obj in OBJS}
    assert optima["le"] <= b["cs_le"] + 1e-12  # AUC-Le <= CS-Le
    assert -optima["mo"] >= b["cs_mo"] - 1e-12  # AUC-Mo >= CS-Mo
    for obj in OBJS:
        bo = cs_bounds(table, obj)
        assert optima[obj] <= bo["bound"] + 1e-12
        assert bo["random_mean"] <= optima[obj] + 1e-12
    lm = cs_bounds(table, "le-mo")
    assert lm["bound"] <= lm["cs_le_minus_cs_mo"] + 1e-12  # the per-level bound is the tighter one
    assert cs_bounds(table, "mo")["bound"] == pytest.approx(-b["cs_mo"])
    # the per-level maxima are brute-force maxima over the k-subsets
    sizes = np.array([bin(s).count("1") for s in range(1 << t)])
    for k in range(t + 1):
        assert b["level_bound"][k] == values[sizes == k].max()


def test_modular_function_analytic_optimum():
    """D(S) = sum_{i in S} w_i: the best LeRF order deletes the largest w first, CS-Le is attained,
    the optimal sets nest (Avg.IoU = 1) and the optimum is sum_k (sum of the k largest w)."""
    t = 9
    w = np.random.default_rng(3).normal(size=t)
    problem = TraceProblem(SetFunctionOracle(lambda m: m.astype(float) @ w, t), "le")
    table = complete_table(problem)
    sigma, opt = exact_optimum(table, "le")
    top = np.sort(w)[::-1]
    assert opt == pytest.approx(sum(top[:k].sum() for k in range(t + 1)))
    np.testing.assert_array_equal(sigma, np.argsort(-w))
    b = cs_bounds(table, "le")
    assert b["cs_le"] == pytest.approx(opt)
    assert b["avg_iou"] == pytest.approx(1.0)
    assert b["cs_mo"] == pytest.approx(sum(np.sort(w)[:k].sum() for k in range(t + 1)))


def test_avg_iou_hand_computed():
    # t = 3, sets s1 = {0}, s2 = {1, 2}, s3 = {0, 1, 2}: terms 0 and (2/3)*(3/2) = 1
    assert avg_iou([0, 0b001, 0b110, 0b111], 3) == pytest.approx(0.5)
    assert avg_iou([0, 0b010, 0b110, 0b111], 3) == pytest.approx(1.0)
    # t = 2, s1 = {1}, s2 = {0, 1}: (1/2) * 2 = 1
    assert avg_iou([0, 0b10, 0b11], 2) == pytest.approx(1.0)


def test_gap_report():
    t = 7
    problem, values = random_table_problem(t, 11, "le-mo")
    table = complete_table(problem)
    sigma_opt, opt = exact_optimum(table, "le-mo")
    rep = gap_report(table, sigma_opt, "le-mo")
    assert rep["gap"] == 0 and rep["normalised_gap"] == 0 and rep["optimum"] == opt
    brute = brute_force_table(table, "le-mo")
    scores = brute.scores
    worst = brute.orders[np.argmin(scores)]
    rep = gap_report(table, worst, "le-mo")
    assert rep["score"] == pytest.approx(scores.min())
    assert rep["normalised_gap"] == pytest.approx((opt - scores.min()) / (opt - scores.mean()))
    curves = problem.curves(worst)
    assert rep["auc_le"] == pytest.approx(curves.auc_le) and rep["auc_mo"] == pytest.approx(curves.auc_mo)
    assert rep["ratio_trace_cs"] == pytest.approx(curves.le_mo / (rep["cs_le"] - rep["cs_mo"]))
    # from a problem: the table is computed through the oracle, objective taken from the problem
    fresh, _ = random_table_problem(t, 11, "le-mo")
    rep2 = gap_report(fresh, worst)
    assert rep2["score"] == rep["score"] and fresh.oracle.forward_passes == 1 << t
    with pytest.raises(ValueError, match="objective"):
        gap_report(table, worst)
    with pytest.raises(ValueError, match="trajectory"):
        gap_report(table, [0, 0, 1, 2, 3, 4, 5], "le")


def test_complete_table_counts_and_cache():
    t = 6
    problem, values = random_table_problem(t, 5, "le")
    problem.oracle.evaluate_keys(np.array([3, 9, 17], dtype=np.uint64))
    table = complete_table(problem, chunk=10)
    assert problem.oracle.forward_passes == 1 << t  # 3 earlier + 2^t - 3 cache misses
    assert problem.oracle.cache_hits == 3
    np.testing.assert_array_equal(table, values)


def test_size_limits_name_the_limit_and_suggest_heuristic():
    problem = TraceProblem(SetFunctionOracle(lambda m: m.sum(1), 30), "le")
    with pytest.raises(ValueError, match=r"max_t=26.*heuristic|heuristic.*max_t"):
        complete_table(problem)
    with pytest.raises(ValueError, match="max_memory_gb"):
        complete_table(problem, max_t=30, max_memory_gb=0.5)
    assert problem.oracle.forward_passes == 0
    with pytest.raises(ValueError, match="max_t"):
        get_solver("exact", max_t=20).solve(problem)
    with pytest.raises(ValueError, match="table"):
        exact_optimum(np.zeros(7), "le")
    with pytest.raises(ValueError, match="objective"):
        exact_optimum(np.zeros(8), "lerf")


def test_exact_solver_counts_and_budget():
    t = 8
    problem, _ = random_table_problem(t, 2, "le-mo")
    res = get_solver("exact", chunk=64).solve(problem, seed=0)
    table = complete_table(problem)
    assert res.score == exact_optimum(table, "le-mo")[1]
    assert res.forward_passes == 1 << t and res.iterations == (1 << t) // 64 and res.stopped == "completed"
    short, _ = random_table_problem(t, 2, "le-mo")
    res = get_solver("exact", chunk=64).solve(short, budget=100, curves=False)
    assert res.stopped == "budget" and res.forward_passes <= 100


@pytest.mark.parametrize("w", [2, 3, 5])
def test_window_move_is_the_best_reordering(w):
    t = 8
    problem, _ = random_table_problem(t, 40 + w, "le-mo")
    rng = np.random.default_rng(w)
    for _ in range(3):
        sigma = rng.permutation(t)
        a = int(rng.integers(0, t - w + 1))
        chain = problem.chain(sigma)
        new, new_chain, delta = window_move(problem, sigma, chain, a, w)
        reorderings = np.repeat(sigma[None], math.factorial(w), axis=0)
        reorderings[:, a : a + w] = sigma[a : a + w][all_orders(w)]  # every order of the window's features
        best = problem.scores(reorderings).max()
        assert problem.score(new) == pytest.approx(best, rel=1e-12)
        assert delta == pytest.approx(best - chain.sum(), abs=1e-9) and delta >= -1e-12
        np.testing.assert_allclose(new_chain, problem.chain(new), rtol=0, atol=1e-12)
        np.testing.assert_array_equal(np.sort(new[a : a + w]), np.sort(sigma[a : a + w]))
        np.testing.assert_array_equal(new[:a], sigma[:a])
        np.testing.assert_array_equal(new[a + w :], sigma[a + w :])


def test_level_extrema_kernel_against_numpy():
    t = 10
    v = np.random.default_rng(0).normal(size=1 << t)
    vmax, smax, vmin, smin, vmean = kernels.level_extrema(v, t)
    sizes = np.array([bin(s).count("1") for s in range(1 << t)])
    for k in range(t + 1):
        sel = np.flatnonzero(sizes == k)
        assert vmax[k] == v[sel].max() and smax[k] == sel[np.argmax(v[sel])]
        assert vmin[k] == v[sel].min() and smin[k] == sel[np.argmin(v[sel])]
        assert vmean[k] == pytest.approx(v[sel].mean())
        assert len(sel) == math.comb(t, k)


def test_exact_shows_and_records_its_size_estimate(capsys):
    """The memory estimate (sets, bytes) is in the progress bar and Result.info, not only in the error."""
    from solvers.complete import memory_estimate

    t = 7
    problem, _ = random_table_problem(t, 4, "le-mo")
    res = get_solver("exact", chunk=32).solve(problem, progress=True, curves=False)
    assert res.info["sets"] == 1 << t and res.info["memory_estimate_bytes"] == memory_estimate(t)
    err = capsys.readouterr().err
    assert "2^7 = 128 sets" in err and "KiB" in err
    complete_table(random_table_problem(t, 4, "le")[0], progress=True, chunk=32)
    err = capsys.readouterr().err
    assert "complete search (2^7 = 128 sets, ~" in err
    quiet = get_solver("exact").solve(random_table_problem(t, 4, "le")[0], curves=False)
    assert quiet.info["sets"] == 128 and capsys.readouterr().err == ""
