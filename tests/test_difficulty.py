"""Difficulty measures: additivity = least squares, tie counts = brute force, greedy gap = gap_report,
stored = recomputed, old instances measured on the fly, the stats summary and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brute import brute_force_table
from solvers import get_solver
from solvers.complete import cs_bounds, exact_optimum, gap_report
from trace_opt.benchmarks.difficulty import (
    DIFFICULTY_VERSION,
    additivity,
    count_optimal_trajectories,
    difficulty,
    instance_difficulty,
    instance_row,
    library_stats,
    stats_table,
)
from trace_opt.benchmarks.instances import instance_from_table, load_instance, load_library, save_instance
from trace_opt.core.objective import OBJECTIVES

SAMPLE = Path(__file__).resolve().parents[1] / "instances" / "sample"


def _design(t):
    S = np.arange(1 << t)
    return ((S[:, None] >> np.arange(t)) & 1).astype(float)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_additivity_is_the_least_squares_fit(seed):
    t = 6
    rng = np.random.default_rng(seed)
    v = rng.normal(size=1 << t) + _design(t) @ rng.normal(size=t) * 2
    fit = additivity(v)
    X = np.hstack([np.ones((1 << t, 1)), _design(t)])
    coef, *_ = np.linalg.lstsq(X, v, rcond=None)
    resid = v - X @ coef
    r2 = 1 - resid @ resid / np.sum((v - v.mean()) ** 2)
    assert fit["r2"] == pytest.approx(r2, abs=1e-12)
    np.testing.assert_allclose(fit["coefficients"], coef[1:], atol=1e-12)
    assert fit["intercept"] == pytest.approx(coef[0], abs=1e-12)


def test_additivity_extremes():
    t = 5
    X = _design(t)
    assert additivity(X @ np.arange(1.0, t + 1) + 3)["r2"] == pytest.approx(1.0)
    assert additivity(np.full(1 << t, 2.5))["r2"] == 1.0  # a constant is additive
    parity = (X[:, 0] + X[:, 1]) % 2  # XOR of two features: no first-order part at all
    assert additivity(parity)["r2"] == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("t", [3, 4, 5, 6, 7])
@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
def test_tie_count_equals_brute_force_on_integer_tables(t, objective):
    # small integers: many exact ties, sums exact in float64
    for seed in range(3):
        v = np.random.default_rng(100 * t + seed).integers(0, 3, size=1 << t).astype(float)
        scores = brute_force_table(v, objective).scores
        opt, count = count_optimal_trajectories(v, objective)
        assert opt == scores.max() == exact_optimum(v, objective)[1]
        assert count == int(np.sum(scores == scores.max()))


def test_tie_count_with_inert_features_and_symmetric_tables():
    t = 6
    X = _design(t)
    v = X[:, :3] @ np.array([1.0, 2.0, 3.0])  # features 3, 4, 5 inert
    for objective in OBJECTIVES:
        scores = brute_force_table(v, objective).scores
        assert count_optimal_trajectories(v, objective)[1] == int(np.sum(scores >= scores.max() - 1e-9))
    sym = X.sum(axis=1) ** 2  # depends on |S| only: every order is optimal
    assert count_optimal_trajectories(sym, "le")[1] == 720


def test_tie_count_tolerates_float_noise():
    t = 5
    v = _design(t) @ np.array([1.0, 1.0, 2.0, 3.0, 4.0])  # features 0 and 1 interchangeable: 2 optima
    noisy = v + np.random.default_rng(0).normal(scale=1e-13, size=v.shape)
    assert count_optimal_trajectories(v, "le")[1] == 2
    assert count_optimal_trajectories(noisy, "le")[1] == 2
    assert count_optimal_trajectories(noisy, "le", rtol=0.0)[1] == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_difficulty_matches_brute_force_and_gap_report(seed):
    t = 6
    rng = np.random.default_rng(seed)
    X = _design(t)
    v = X @ rng.normal(size=t) + 1.5 * (X[:, 0] * X[:, 1] * X[:, 2]) - rng.normal(size=1 << t) * 0.3
    inst = instance_from_table(v, "x")
    d = inst.metadata["difficulty"]
    assert d == difficulty(v) and d["version"] == DIFFICULTY_VERSION and d["t"] == t
    assert d["additivity_r2"] == pytest.approx(additivity(v)["r2"])
    for objective in OBJECTIVES:
        o = d["objectives"][objective]
        scores = brute_force_table(v, objective).scores
        assert o["optimum"] == pytest.approx(scores.max(), abs=1e-12)
        assert o["random_mean"] == pytest.approx(scores.mean(), abs=1e-9)  # exact expectation
        assert o["optimal_trajectories"] == int(np.sum(scores >= scores.max() - 1e-9))
        res = get_solver("greedy").solve(inst.problem(objective), seed=0, curves=False)
        assert o["greedy_trajectory"] == [int(i) for i in res.trajectory]
        assert o["greedy_score"] == pytest.approx(res.score)
        rep = gap_report(v, res.trajectory, objective)
        assert o["greedy_normalised_gap"] == pytest.approx(rep["normalised_gap"], abs=1e-12)
        assert o["greedy_optimal"] == (rep["gap"] <= 1e-9 * max(1, abs(rep["optimum"])))
        morf = get_solver("greedy", direction="morf").solve(inst.problem(objective), seed=0, curves=False)
        assert o["greedy_morf_normalised_gap"] == pytest.approx(
            gap_report(v, morf.trajectory, objective)["normalised_gap"]
        )
        bound = cs_bounds(v, objective)["bound"]
        assert o["bound"] == pytest.approx(bound)
        assert o["bound_gap"] == pytest.approx((bound - scores.max()) / (scores.max() - scores.mean()))
        assert o["bound_gap"] >= -1e-12
        order = np.argsort(-additivity(v)["coefficients"], kind="stable")
        assert o["additive_order_normalised_gap"] == pytest.approx(gap_report(v, order, objective)["normalised_gap"])
    c = v - v[::-1]
    assert d["objectives"]["le-mo"]["objective_additivity_r2"] == pytest.approx(additivity(c)["r2"])
    assert d["objectives"]["le"]["objective_additivity_r2"] == d["additivity_r2"]


def test_additive_table_is_easy():
    t = 8
    v = _design(t) @ np.random.default_rng(3).normal(size=t)
    d = difficulty(v)
    assert d["additivity_r2"] == pytest.approx(1.0)
    for objective in OBJECTIVES:
        o = d["objectives"][objective]
        assert o["greedy_optimal"] and o["greedy_normalised_gap"] == pytest.approx(0, abs=1e-12)
        assert o["additive_order_normalised_gap"] == pytest.approx(0, abs=1e-12)
        assert o["optimum_unique"] and o["bound_gap"] == pytest.approx(0, abs=1e-12)


def test_old_instances_are_measured_on_the_fly(tmp_path):
    v = np.random.default_rng(0).normal(size=1 << 7)
    inst = instance_from_table(v, "old")
    stored = inst.metadata["difficulty"]
    del inst.metadata["difficulty"]  # as an instance built before the measures existed
    path = save_instance(inst, tmp_path / "old")
    back = load_instance(path)
    assert "difficulty" not in back.metadata
    assert instance_difficulty(back) == stored
    back.metadata["difficulty"] = {"version": DIFFICULTY_VERSION - 1}  # another version: recomputed
    assert instance_difficulty(back) == stored
    # the stored block round-trips through the sidecar and is used as is
    inst2 = instance_from_table(v, "new")
    back2 = load_instance(save_instance(inst2, tmp_path / "new"))
    assert back2.metadata["difficulty"] == json.loads(json.dumps(stored))
    assert instance_difficulty(back2) is back2.metadata["difficulty"]
    assert instance_difficulty(back2, recompute=True) == stored


def test_difficulty_refuses_objectives_of_another_table():
    v = np.random.default_rng(0).normal(size=1 << 5)
    other = instance_from_table(np.random.default_rng(1).normal(size=1 << 5), "other")
    with pytest.raises(ValueError, match="differs from the table's DP optimum"):
        difficulty(v, other.objectives)


def test_library_stats_summary_and_table():
    lib = load_library(SAMPLE)  # built before the measures existed: measured on the fly
    stats = library_stats(lib)
    s = stats["summary"]
    assert s["n_instances"] == len(lib) == len(stats["instances"])
    gaps = [r["greedy_normalised_gap"] for r in stats["instances"]]
    assert s["median_greedy_normalised_gap"] == pytest.approx(float(np.median(gaps)))
    assert s["greedy_optimal_fraction"] == np.mean([r["greedy_optimal"] for r in stats["instances"]])
    row = stats["instances"][0]
    assert row == instance_row(lib[0])
    assert row["inert_features"] == len(lib[0].metadata["table"]["inert_features"])
    text = stats_table(stats)
    assert "greedy_optimal_fraction" in text and lib[0].name in text
    json.dumps(stats)  # plain JSON values
    with pytest.raises(ValueError, match="objective"):
        library_stats(lib, objective="auc")
    with pytest.raises(ValueError, match="empty"):
        library_stats([])


def test_stats_cli(capsys):
    from trace_opt.cli import main

    assert main(["instances", "stats", "--library", str(SAMPLE), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"greedy_optimal_fraction", "median_greedy_normalised_gap"} <= set(out["summary"])
    assert out["summary"]["objective"] == "le-mo" and len(out["instances"]) == 4
    assert main(["instances", "stats", "--library", str(SAMPLE), "--objective", "le"]) == 0
    text = capsys.readouterr().out
    assert "objective le, 4 instance(s)" in text
