"""Core solvers (greedy, SA) and the Solver base: analytic optimum, budgets, stops, reproducibility.

Ground truth: on an additive model f(x) = b + sum_e w_e x_e with a zero reference, deleting S
leaves D(S) = b + sum_{i not in S} a_i with a_i = sum_{e in feature i} w_e x_e. Then
  le:    score = sum_k D(P_k)        = (t+1) b + sum_j (j+1) a_sigma[j]
  mo:    score = -sum_k D(all \\ P_k) = -(t+1) b - sum_j (t-j) a_sigma[j]
  le-mo: the sum of the two          =  sum_j (2j+1-t) a_sigma[j]
Every coefficient grows with the position j, so by the rearrangement inequality the optimum puts the
contributions in ascending order: sigma* = argsort(a), unique when the a_i are distinct.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brute import brute_force
from docstring_example import docstring_example
from solvers import SOLVERS, Budget, Greedy, Result, SimulatedAnnealing, Solver, available_solvers, get_solver
from solvers.base import final_scoring_passes
from trace_opt import ModelOracle, SetFunctionOracle, TraceProblem, grid_features, tabular_features
from trace_opt.core.budget import Limits
from trace_opt.core.objective import OBJECTIVES

torch.set_num_threads(1)


# --------------------------------------------------------------------------- additive ground truth
def separated_contributions(t, seed):
    """Distinct contributions at least 0.7 apart, in a random order, of both signs."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(t) - t / 2) + rng.uniform(0, 0.3, size=t)


def tabular_additive(t, seed):
    rng = np.random.default_rng(seed)
    model = torch.nn.Linear(t, 3).double().eval()
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(rng.uniform(0.5, 2.0, size=(3, t))))
        model.bias.copy_(torch.as_tensor(rng.normal(size=3)))
    a = separated_contributions(t, seed)
    x = torch.as_tensor(a / model.weight[1].detach().numpy())  # a_i = w_1i x_i
    oracle = ModelOracle(model, x, target=1, features=tabular_features(t), reference="zeros", output="logit")
    return oracle, a, float(model.bias[1].detach())


def image_additive(seed):
    """A linear model on a 2 x 8 x 10 image, features = an uneven 2 x 3 grid (t = 6)."""
    rng = np.random.default_rng(seed)
    shape = (2, 8, 10)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(160, 4)).eval()
    w = rng.uniform(0.1, 1.0, size=(4, 160))
    with torch.no_grad():
        model[1].weight.copy_(torch.as_tensor(w, dtype=torch.float32))
        model[1].bias.copy_(torch.as_tensor(rng.normal(size=4), dtype=torch.float32))
    feats = grid_features(shape[1:], (2, 3))
    ids = np.broadcast_to(feats.ids, shape).ravel()
    x = rng.uniform(0.5, 1.0, size=160)
    wt = model[1].weight[2].detach().double().numpy()
    target_a = separated_contributions(feats.t, seed)
    raw = np.bincount(ids, weights=wt * x, minlength=feats.t)
    x = x * (target_a / raw)[ids]  # rescale each patch so its contribution is target_a[i]
    a = np.bincount(ids, weights=wt * x.astype(np.float32).astype(np.float64), minlength=feats.t)
    oracle = ModelOracle(
        model,
        torch.as_tensor(x.reshape(shape), dtype=torch.float32),
        target=2,
        features=feats,
        reference="zeros",
        output="logit",
    )
    return oracle, a, float(model[1].bias[2].detach())


def closed_form(a, b, objective):
    """Optimal trajectory and score of the additive model, from the formulas in the module docstring."""
    t = len(a)
    sigma = np.argsort(a, kind="stable")
    s = a[sigma]
    j = np.arange(t)
    score = {
        "le": (t + 1) * b + np.sum((j + 1) * s),
        "mo": -(t + 1) * b - np.sum((t - j) * s),
        "le-mo": np.sum((2 * j + 1 - t) * s),
    }[objective]
    return sigma, float(score)


SA_SMALL = dict(iterations=400, T0=0.05, eta=0.99, init="random")


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("which", ["tabular-7", "image-6"])
def test_additive_model_optimum_closed_form_brute_force_and_solvers(which, objective):
    oracle, a, b = tabular_additive(7, seed=3) if which == "tabular-7" else image_additive(seed=4)
    tol = dict(rel=1e-9, abs=1e-9) if which == "tabular-7" else dict(rel=1e-5, abs=1e-4)
    problem = TraceProblem(oracle, objective)
    sigma_star, score_star = closed_form(a, b, objective)
    assert problem.score(sigma_star) == pytest.approx(score_star, **tol)
    # brute force over all t! orders: the closed form is the (unique) optimum
    brute = brute_force(problem)
    assert brute.best == pytest.approx(score_star, **tol)
    assert np.array_equal(brute.argmax, sigma_star)
    assert np.sum(brute.scores >= brute.best - 0.1) == 1  # unique: any other order is worse by >= 0.7
    for solver in (Greedy("lerf"), Greedy("morf"), SimulatedAnnealing(**SA_SMALL)):
        result = solver.solve(problem, seed=0)
        assert result.stopped == "completed"
        assert result.score == pytest.approx(score_star, **tol), solver
        assert np.array_equal(result.trajectory, sigma_star), solver
        assert result.value == pytest.approx(problem.to_paper_units(score_star), **tol)


def test_additive_sa_from_the_worst_start_and_default_greedy_init():
    oracle, a, b = tabular_additive(6, seed=8)
    problem = TraceProblem(oracle, "le-mo")
    sigma_star, score_star = closed_form(a, b, "le-mo")
    worst = sigma_star[::-1].copy()  # descending: every pair inverted
    result = SimulatedAnnealing(iterations=300, T0=0.05, eta=0.99, init=worst).solve(problem, seed=1)
    assert np.array_equal(result.trajectory, sigma_star) and result.score == pytest.approx(score_star)
    assert result.history[0][1] == pytest.approx(problem.score(worst))
    result = SimulatedAnnealing(iterations=50).solve(problem, seed=0)  # paper defaults: greedy init, T0 = 2
    assert result.score == pytest.approx(score_star)


@given(
    a=st.lists(st.integers(-6, 6), min_size=2, max_size=6), b=st.integers(-3, 3), objective=st.sampled_from(OBJECTIVES)
)
@settings(max_examples=30, deadline=None)
def test_additive_closed_form_property(a, b, objective):
    """Any integer contributions (ties allowed): closed form = brute-force optimum = greedy = SA."""
    a = np.array(a, dtype=np.float64)
    t = len(a)
    oracle = SetFunctionOracle(lambda m: b + (~m) @ a, t)  # D(S) = b + sum of the kept contributions
    problem = TraceProblem(oracle, objective)
    sigma_star, score_star = closed_form(a, b, objective)
    assert brute_force(problem).best == pytest.approx(score_star, abs=1e-9)
    assert problem.score(sigma_star) == pytest.approx(score_star, abs=1e-9)
    for solver in (
        Greedy("lerf"),
        Greedy("morf"),
        SimulatedAnnealing(iterations=200, T0=0.01, eta=0.98, init="random"),
    ):
        assert solver.solve(problem, seed=1).score == pytest.approx(score_star, abs=1e-9), solver


# --------------------------------------------------------------------------- set-function problems
def table_problem(t, seed, objective="le-mo", cache=True, fn_wrapper=None):
    table = np.random.default_rng(seed).normal(size=2**t)
    weights = 1 << np.arange(t)

    def fn(masks):
        return table[np.asarray(masks, dtype=np.int64) @ weights]

    oracle = SetFunctionOracle(fn if fn_wrapper is None else fn_wrapper(fn), t, cache=cache)
    return TraceProblem(oracle, objective), table


def check_result(result, problem, budget_passes=None):
    """Invariants of every Result."""
    t = problem.t
    assert sorted(result.trajectory.tolist()) == list(range(t))
    assert result.score == pytest.approx(problem.score(result.trajectory), abs=1e-9)
    assert result.value == pytest.approx(problem.to_paper_units(result.score))
    if result.history:
        f = [h[0] for h in result.history]
        s = [h[1] for h in result.history]
        assert all(b > a for a, b in zip(s, s[1:])), "history scores must increase strictly"
        assert all(b >= a for a, b in zip(f, f[1:])), "history forward passes must not decrease"
        assert s[-1] == pytest.approx(result.score, abs=1e-9)
        assert f[-1] <= result.forward_passes
    if budget_passes is not None:  # a budget bounds the whole call, the final scoring and curves included
        assert result.forward_passes + result.evaluation_forward_passes <= budget_passes
    json.dumps(result.to_dict())


def test_greedy_forward_passes_exact():
    """Greedy LeRF requests {P_k + i} for k = 0..t-2, then scores sigma (P_0..P_t) and draws its curves."""
    t = 7
    for objective in OBJECTIVES:
        problem, _ = table_problem(t, 1, objective)
        oracle = problem.oracle
        result = Greedy("lerf").solve(problem, seed=0)
        sigma = result.trajectory
        prefixes = [frozenset(sigma[:k].tolist()) for k in range(t + 1)]
        full = frozenset(range(t))
        search_sets = {p | {i} for p in prefixes[: t - 1] for i in range(t) if i not in p} | set(prefixes)
        if objective != "le":
            search_sets |= {full - s for s in search_sets}
        if objective == "mo":  # mo only ever asks for complements
            search_sets = {full - s for s in {p | {i} for p in prefixes[: t - 1] for i in range(t) if i not in p}} | {
                full - p for p in prefixes
            }
        curve_sets = set(prefixes) | {full - p for p in prefixes}
        assert result.forward_passes == len(search_sets), objective
        assert result.evaluation_forward_passes == len(curve_sets - search_sets), objective
        assert oracle.forward_passes == len(search_sets | curve_sets) == oracle.counters()["cache_size"]
        # batches: one model call per request that holds at least one set not seen before
        requests = []
        for k in range(t - 1):
            cands = [prefixes[k] | {i} for i in range(t) if i not in prefixes[k]]
            requests.append(
                {"le": cands, "mo": [full - c for c in cands], "le-mo": cands + [full - c for c in cands]}[objective]
            )
        requests.append(
            {"le": prefixes, "mo": [full - p for p in prefixes], "le-mo": prefixes + [full - p for p in prefixes]}[
                objective
            ]
        )  # score(sigma)
        seen, expected_batches = set(), 0
        for req in requests:
            expected_batches += bool(set(req) - seen)
            seen |= set(req)
        assert seen == search_sets
        assert result.iterations == t - 1 and result.batches == expected_batches, objective
        assert result.cache_hits == sum(len(r) for r in requests) - len(search_sets), objective
        check_result(result, problem)


def test_greedy_morf_direction_is_backwards_greedy():
    problem, table = table_problem(6, 2, "le")
    sigma = Greedy("morf").solve(problem).trajectory
    full = set(range(6))
    # the most important feature is the one whose deletion from the full set keeps D highest, etc.
    remaining = set(full)
    for pos in range(5, 0, -1):
        vals = {i: table[sum(1 << j for j in remaining - {i})] for i in remaining}
        best = max(sorted(vals), key=lambda i: vals[i])
        assert sigma[pos] == best
        remaining.remove(best)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_sa_budget_is_never_exceeded_and_result_is_best_so_far(objective):
    problem, _ = table_problem(8, 5, objective)
    budget = 60
    sa = SimulatedAnnealing(iterations=5000, T0=0.5, eta=0.999, init="random")
    result = sa.solve(problem, budget=budget, seed=3)
    assert result.stopped == "budget"
    check_result(result, problem, budget)
    assert budget - 2 * 9 < result.forward_passes  # it used the budget (a refused request needs <= 2(t+1) sets)
    # replay without a pass budget, stopping after the iterations that completed: same best so far
    problem2, _ = table_problem(8, 5, objective)
    replay = sa.solve(problem2, budget={"iterations": result.iterations - 1}, seed=3)
    assert replay.stopped == "iterations" and replay.forward_passes == result.forward_passes
    assert np.array_equal(replay.trajectory, result.trajectory) and replay.score == result.score
    assert replay.history == result.history


def test_greedy_budget_stops_with_a_valid_fallback():
    problem, _ = table_problem(8, 6, "le")
    first, after = final_scoring_passes(problem)  # 9 + 7 passes held back for the final scoring and curves
    result = Greedy().solve(problem, budget=20 + first + after)  # a full greedy needs 8 * 9 / 2 + 1 = 37 sets
    assert result.stopped == "budget" and result.forward_passes <= 20
    check_result(result, problem, 20 + first + after)
    assert result.history == []  # the fallback was never fully evaluated during the search
    # its first steps are the greedy choices made before the budget ran out
    full = Greedy().solve(table_problem(8, 6, "le")[0])
    assert np.array_equal(result.trajectory[:2], full.trajectory[:2])


def test_budget_on_a_torch_model():
    oracle, _, _ = image_additive(seed=2)
    problem = TraceProblem(oracle, "le-mo")
    start = oracle.forward_passes
    result = SimulatedAnnealing(iterations=3000, init="random").solve(problem, budget=25, seed=0)
    assert result.stopped == "budget" and result.forward_passes <= 25
    assert oracle.forward_passes - start == result.forward_passes + result.evaluation_forward_passes
    check_result(result, problem, 25)
    assert oracle.limits == Limits()  # limits restored


def test_iteration_and_time_limits():
    problem, _ = table_problem(6, 7)
    r = SimulatedAnnealing(iterations=1000, init="random").solve(problem, budget={"iterations": 17}, seed=0)
    assert r.stopped == "iterations" and r.iterations == 17
    check_result(r, problem)
    r = Greedy().solve(problem, budget=Budget(iterations=3))
    assert r.stopped == "iterations" and r.iterations == 3
    check_result(r, problem)
    r = SimulatedAnnealing(iterations=40, init="random").solve(problem, seed=0)
    assert r.stopped == "completed" and r.iterations == 40

    def slow(fn):
        def wrapped(masks):
            import time

            time.sleep(0.01)
            return fn(masks)

        return wrapped

    slow_problem, _ = table_problem(6, 7, fn_wrapper=slow)
    r = SimulatedAnnealing(iterations=10**6, init="random").solve(slow_problem, budget={"seconds": 0.15}, seed=0)
    assert r.stopped == "time" and r.iterations < 10**6
    check_result(r, slow_problem)


def test_same_seed_same_trajectory_and_independent_of_caching():
    runs = []
    for cache in (True, True, False):
        problem, _ = table_problem(8, 9, cache=cache)
        runs.append(SimulatedAnnealing(iterations=300, T0=1.0, init="random").solve(problem, seed=42))
    assert np.array_equal(runs[0].trajectory, runs[1].trajectory) and runs[0].history == runs[1].history
    assert np.array_equal(runs[0].trajectory, runs[2].trajectory)  # the random stream ignores the cache
    assert [h[1] for h in runs[0].history] == [h[1] for h in runs[2].history]
    assert runs[2].forward_passes > runs[0].forward_passes  # without a cache every request is a pass
    other = SimulatedAnnealing(iterations=300, T0=1.0, init="random").solve(table_problem(8, 9)[0], seed=43)
    assert not np.array_equal(other.history[0], runs[0].history[0])  # another seed, another start


class InterruptAfter:
    """Wrap a set function so that call number n+1 raises KeyboardInterrupt (once, like one Ctrl-C)."""

    def __init__(self, n):
        self.n = n
        self.calls = 0

    def __call__(self, fn):
        def wrapped(masks):
            self.calls += 1
            if self.calls == self.n + 1:
                raise KeyboardInterrupt
            return fn(masks)

        return wrapped


@pytest.mark.parametrize("n", [0, 1, 5, 30])
def test_ctrl_c_returns_best_so_far(n):
    stopper = InterruptAfter(n)
    problem, _ = table_problem(7, 10, fn_wrapper=stopper)
    sa = SimulatedAnnealing(iterations=2000, T0=0.5, init="random")
    result = sa.solve(problem, seed=5)
    assert result.stopped == "interrupted"
    check_result(result, problem)
    if n >= 1:  # the initial chain (one request) was evaluated: the replay to that point agrees
        replay = sa.solve(table_problem(7, 10)[0], budget={"iterations": max(result.iterations - 1, 1)}, seed=5)
        if result.iterations >= 2:
            assert np.array_equal(replay.trajectory, result.trajectory) and replay.score == result.score
    stopper2 = InterruptAfter(min(n, 3))  # greedy on t=7 makes only about 7 calls
    problem2, _ = table_problem(7, 10, fn_wrapper=stopper2)
    result2 = Greedy().solve(problem2)
    assert result2.stopped == "interrupted"
    check_result(result2, problem2)


def test_history_monotone_and_result_fields():
    problem, _ = table_problem(8, 12)
    oracle = problem.oracle
    r = SimulatedAnnealing(iterations=800, T0=2.0, init="random").solve(problem, seed=0)
    assert len(r.history) >= 3
    check_result(r, problem)
    assert r.solver == "sa" and r.seed == 0 and r.objective == "le-mo" and r.params["iterations"] == 800
    assert r.forward_passes + r.evaluation_forward_passes == oracle.forward_passes
    assert r.curves.le_mo == pytest.approx(r.value)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["trajectory"] == r.trajectory.tolist() and d["stopped"] == "completed"
    assert d["history"] == [[f, s] for f, s in r.history]


def test_result_to_dict_without_curves_and_with_numpy_seed():
    problem, _ = table_problem(5, 13)
    r = Greedy().solve(problem, seed=np.int64(3), curves=False)
    assert r.curves is None
    d = json.loads(json.dumps(r.to_dict()))
    assert d["curves"] is None and d["seed"] == 3
    assert isinstance(r, Result)


def test_registry():
    assert {"greedy", "sa"} <= set(available_solvers())
    assert isinstance(get_solver("sa", iterations=5), SimulatedAnnealing)
    g = Greedy("morf")
    assert get_solver(g) is g
    with pytest.raises(ValueError, match="solver='nope'"):
        get_solver("nope")


def test_solve_checks_problem_and_budget_before_any_pass():
    problem, _ = table_problem(5, 14)
    for bad in (0, -3, 1.5, True, {"forward_passes": 0}, {"seconds": 0}, {"iterations": -1}, {"passes": 5}, "10"):
        with pytest.raises(ValueError, match="budget"):
            SimulatedAnnealing(iterations=5).solve(problem, budget=bad)
    with pytest.raises(ValueError, match="problem"):
        Greedy().solve(problem.oracle)
    assert problem.oracle.forward_passes == 0 and problem.oracle.requests == 0


def test_greedy_cost_is_about_t_squared_over_two():
    t = 10
    problem, _ = table_problem(t, 15, "le")
    r = Greedy().solve(problem, curves=False)
    assert r.forward_passes == t * (t + 1) // 2 - 1 + 2  # steps, then D({}) and D(all) to score sigma
    assert math.isclose(r.score, problem.score(r.trajectory))


def test_sa_stopped_right_after_its_greedy_start_returns_the_greedy_order():
    """Greedy LeRF on t=6 (objective le) costs exactly 6*7/2 - 1 = 20 passes; the budget then refuses
    the start's chain (D({}) and D(all)). The result must be the completed greedy order."""
    for seed in range(6):
        problem, _ = table_problem(6, 100 + seed, "le")
        greedy = Greedy().solve(table_problem(6, 100 + seed, "le")[0])
        first, after = final_scoring_passes(problem, curves=False)  # held back until a trajectory is scored
        result = SimulatedAnnealing(iterations=50).solve(problem, budget=20 + first, seed=0, curves=False)
        assert result.stopped == "budget" and result.forward_passes == 20
        assert np.array_equal(result.trajectory, greedy.trajectory), seed
        check_result(result, problem, 20 + first)


def test_large_t_beyond_uint64_keys():
    """t = 70 (byte keys, SA's generic path): greedy hits the additive closed form; SA stays consistent."""
    t = 70
    a = separated_contributions(t, 21)
    oracle = SetFunctionOracle(lambda m: 0.5 + (~m) @ a, t)
    assert not oracle.exact_uint64_keys
    problem = TraceProblem(oracle, "le-mo")
    sigma_star, score_star = closed_form(a, 0.5, "le-mo")
    for direction in ("lerf", "morf"):
        r = Greedy(direction).solve(problem, curves=False)
        assert r.score == pytest.approx(score_star, rel=1e-12) and np.array_equal(r.trajectory, sigma_star)
    r = SimulatedAnnealing(iterations=100, T0=0.5, init="random").solve(problem, seed=0)
    check_result(r, problem)
    assert r.stopped == "completed" and r.iterations == 100 and r.score <= score_star + 1e-9


def test_greedy_ties_follow_the_one_tie_rule():
    """Lower feature index = less important, in both directions (as attribution sorting and the exact DP)."""
    flat = TraceProblem(SetFunctionOracle(lambda m: np.zeros(len(m)), 5), "le-mo")
    assert Greedy("lerf").solve(flat).trajectory.tolist() == [0, 1, 2, 3, 4]
    assert Greedy("morf").solve(flat).trajectory.tolist() == [0, 1, 2, 3, 4]  # 4 placed last (most important)


def test_a_nested_solve_cannot_lift_the_outer_budget():
    """A solver that runs another solver inside its search (hybrids, restarts) keeps the outer limit."""
    from solvers.base import Solver

    class Restarts(Solver):
        name = "restarts-test"

        def _search(self, problem, run):
            for k in range(50):
                inner = SimulatedAnnealing(iterations=100, init="random").solve(
                    problem, budget=10_000, seed=k, curves=False
                )
                run.report(inner.trajectory, inner.score)
                if inner.stopped != "completed":
                    break

    problem, _ = table_problem(9, 31)
    result = Restarts().solve(problem, budget=40, seed=0)
    assert result.forward_passes <= 40  # before the fix the inner budget replaced the outer one: 512 passes
    assert result.stopped in ("budget", "completed")  # the inner solve may absorb the stop and return
    check_result(result, problem, 40)


def test_the_example_solver_of_the_solver_docstring_runs():
    """The example of ``Solver``'s docstring (the extension point's documentation) works as shown; a subclass
    without ``_search``, the abstract method, cannot be instantiated."""
    problem, _ = table_problem(6, 5)
    namespace = {"problem": problem}
    try:
        exec(docstring_example(Solver), namespace)
        assert "random-restarts" in available_solvers()
    finally:
        SOLVERS.pop("random-restarts", None)
    result = namespace["result"]
    assert result.solver == "random-restarts" and result.params == {"restarts": 200, "batch": 64}
    assert result.stopped == "completed" and result.iterations == 4  # ceil(200 / 64) batches
    check_result(result, problem, 5000)
    fresh, _ = table_problem(8, 5)  # 256 sets: a budget of 100 passes ends the search, not its loop
    cut = namespace["RandomRestarts"](restarts=10**6).solve(fresh, budget=100, seed=0)
    assert cut.stopped == "budget" and cut.forward_passes <= 100  # the oracle's stop ends the example's loop

    class NoSearch(Solver):
        pass

    with pytest.raises(TypeError, match="_search"):
        NoSearch()


# --------------------------------------------------------------------------- every registered solver
#: settings that keep every solver busy for long on a t = 7 table problem (the limit under test stops it)
LONG_RUNS = {
    "sa": {"iterations": 10**6, "init": "random"},
    "sa-batch": {"iterations": 10**6, "init": "random"},
    "tabu": {"iterations": 10**6},
    "ga": {"generations": 10**6, "population": 8},
    "beam": {"width": 1000},
    "window-dp": {"window": 3, "kicks": 10**6},
    "exact": {"chunk": 2},
    "greedy": {},
    "surrogate": {"kicks": 10**6, "window": 3},
    "ils": {"window": 3, "kicks": 10**6},
}


def long_run(name):
    return get_solver(name, **LONG_RUNS.get(name, {}))


def test_every_registered_solver_is_covered():
    assert set(available_solvers()) <= set(LONG_RUNS)


@pytest.mark.parametrize("name", available_solvers())
def test_seconds_budget_stops_every_solver(name):
    def slow(fn):
        def wrapped(masks):
            import time

            time.sleep(0.03)  # every solver needs > 7 model calls on t = 7: at least 0.21 s
            return fn(masks)

        return wrapped

    problem, _ = table_problem(7, 40, fn_wrapper=slow)
    r = long_run(name).solve(problem, budget={"seconds": 0.1}, seed=0, curves=False)
    assert r.stopped == "time", name
    check_result(r, problem)
    assert problem.oracle.limits == Limits()


@pytest.mark.parametrize("n", [0, 1, 3])  # beam makes 4 model calls at t = 7, greedy 6
@pytest.mark.parametrize("name", available_solvers())
def test_ctrl_c_stops_every_solver_with_its_best_so_far(name, n):
    stopper = InterruptAfter(n)
    problem, _ = table_problem(7, 41, fn_wrapper=stopper)
    r = long_run(name).solve(problem, seed=1, curves=False)
    assert r.stopped == "interrupted", name
    check_result(r, problem)
    if r.history:  # the best evaluated trajectory is the result
        assert r.history[-1][1] == r.score


@pytest.mark.parametrize("name", available_solvers())
def test_progress_bar_of_every_solver(name, capsys):
    problem, _ = table_problem(6, 42)
    params = {
        **LONG_RUNS.get(name, {}),
        **({"iterations": 200} if name in ("sa", "sa-batch", "tabu") else {}),
        **({"generations": 20} if name == "ga" else {}),
        **({"kicks": 5} if name in ("window-dp", "surrogate", "ils") else {}),
    }
    r = get_solver(name, **params).solve(problem, seed=0, progress=True, curves=False)
    assert r.stopped == "completed"
    check_result(r, problem)
    err = capsys.readouterr().err
    assert f"{name}" in err and "it" in err  # the bar, labelled with the solver's name, was drawn
    get_solver(name, **params).solve(problem, seed=0, curves=False)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- SA's initial temperature
def predict_proba_problem(t=6, seed=0, output="raw"):
    """A black-box classifier (predict_proba of a logistic model) through a CallableOracle."""
    from trace_opt import CallableOracle

    rng = np.random.default_rng(seed)
    w = rng.normal(size=t)
    x = np.abs(rng.normal(size=t)) * np.sign(w)  # a confident positive: f(x) = p(class 1) > 0.5

    def predict_proba(X):
        p = 1 / (1 + np.exp(-(X @ w)))
        return np.stack([1 - p, p], axis=1)

    oracle = CallableOracle(predict_proba, x, target=1, output=output)
    return TraceProblem(oracle, "le-mo"), float(predict_proba(x[None])[0, 1])


def test_sa_temperature_for_a_callable_follows_its_scale_and_is_recorded():
    """A black box has no ``output``: it used to get the logit rule T0 = 2 even for probabilities."""
    problem, fx = predict_proba_problem()
    r = SimulatedAnnealing(iterations=20).solve(problem, seed=0, curves=False)
    f_all = 0.5  # zeros reference: p = sigmoid(0)
    assert r.params["T0"] == pytest.approx(max(fx, abs(fx - f_all)) / 10) and r.params["T0"] < 0.1
    assert r.info["T0_rule"].startswith("raw")
    check_result(r, problem)


@pytest.mark.parametrize("name", ["sa", "sa-batch"])
def test_sa_temperature_of_a_black_box_follows_its_declared_output(name):
    """CallableOracle(output=...) declares what the scores are; the rule reads only ``oracle.output``."""
    for output, rule in (("prob", "prob"), ("logit", "logit"), ("log_prob", "log_prob"), ("raw", "raw")):
        problem, fx = predict_proba_problem(output=output)
        r = get_solver(name, iterations=20).solve(problem, seed=0, curves=False)
        assert r.info["T0_rule"].startswith(rule)
        expected = {"prob": fx / 10, "raw": max(fx, abs(fx - 0.5)) / 10}.get(output, 2.0)
        assert r.params["T0"] == pytest.approx(expected)
        check_result(r, problem)
    problem, _ = predict_proba_problem()
    assert get_solver(name, iterations=20, T0=0.05).solve(problem, seed=0, curves=False).params["T0"] == 0.05


def test_sa_temperature_rule_needs_only_the_oracles_output_kind():
    """Any oracle declaring an output kind gets that kind's rule (no oracle class is inspected)."""
    from types import SimpleNamespace

    from solvers.anneal import temperature_rule

    class Duck:
        def __init__(self, output):
            self.output = output
            self.value_full_input = 0.8

        def evaluate(self, masks):
            return np.float64(0.3)

    def rule(output):
        return temperature_rule(SimpleNamespace(oracle=Duck(output), t=4))

    assert rule("raw")[0] == pytest.approx(0.08) and rule("prob")[0] == pytest.approx(0.08)
    assert rule("raw")[1].startswith("raw") and rule("prob")[1].startswith("prob")
    assert rule("logit") == (2.0, "logit: 2 (paper's logit rule)")
    assert rule(None)[1].startswith("no output kind")
    import solvers.anneal as anneal

    assert not any(name.endswith("Oracle") for name in vars(anneal))  # solvers see only the problem


def test_sa_records_the_temperature_it_used():
    oracle, _, _ = tabular_additive(6, seed=8)
    r = SimulatedAnnealing(iterations=10).solve(TraceProblem(oracle, "le-mo"), seed=0, curves=False)
    assert r.params["T0"] == 2.0 and r.info["T0_rule"].startswith("logit")
    prob = ModelOracle(oracle.model, oracle.x, target=1, features=tabular_features(6), reference="zeros", output="prob")
    r = SimulatedAnnealing(iterations=10).solve(TraceProblem(prob, "le-mo"), seed=0, curves=False)
    assert r.params["T0"] == pytest.approx(prob.value_full_input / 10) and r.info["T0_rule"].startswith("prob")
    r = SimulatedAnnealing(iterations=10, T0=0.3).solve(TraceProblem(prob, "le"), seed=0, curves=False)
    assert r.params["T0"] == 0.3 and r.info["T0_rule"] == "given"
    r = get_solver("sa-batch", iterations=10).solve(table_problem(6, 3)[0], seed=0, curves=False)
    assert r.params["T0"] == 2.0 and "no output kind" in r.info["T0_rule"]
    json.dumps(r.to_dict())


def test_get_solver_refuses_unknown_options_naming_them():
    from solvers import available_solvers, get_solver

    for name in available_solvers():
        with pytest.raises(ValueError, match=rf"solver={name!r}: unknown option\(s\) \['no_such_option'\]"):
            get_solver(name, no_such_option=1)
