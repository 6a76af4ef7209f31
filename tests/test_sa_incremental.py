"""SA: incremental vs full re-evaluation, the generic path, the compiled loop and batched proposals
all follow the same trajectory for the same seed; forward-pass counts are the expected ones."""

import numpy as np
import pytest

from brute import brute_force
from neighbourhoods import MixedMoves, StarTranspositions
from solvers import get_solver
from solvers.anneal import anneal_synthetic
from trace_opt.core.problem import TraceProblem
from trace_opt.core.synthetic import SyntheticSetFunction

T = 16


class GenericProblem(TraceProblem):
    """Same objective, but not the standard class: forces SA's mask-based generic path."""

    def c_values(self, masks):
        return super().c_values(masks)


def run(fn, solver="sa", obj="le-mo", cache=True, problem_cls=TraceProblem, seed=7, **params):
    params.setdefault("iterations", 600)
    params.setdefault("init", "random")
    params.setdefault("T0", 1.0)
    problem = problem_cls(fn.oracle(cache=cache), obj)
    return get_solver(solver, **params).solve(problem, seed=seed, curves=False), problem


def same_run(a, b):
    return (
        np.array_equal(a.trajectory, b.trajectory)
        and a.score == b.score
        and [s for _, s in a.history] == [s for _, s in b.history]
        and a.iterations == b.iterations
    )


@pytest.mark.parametrize("obj", ["le", "mo", "le-mo"])
@pytest.mark.parametrize("nb", ["complete", "bubble", "mix", "block-insertion"])
def test_incremental_and_full_reevaluation_give_identical_trajectories(obj, nb):
    fn = SyntheticSetFunction(T, seed=1, width=4)
    inc, _ = run(fn, obj=obj, neighbourhood=nb)
    full, _ = run(fn, obj=obj, neighbourhood=nb, evaluation="full", cache=False)
    assert same_run(inc, full)
    per_iter = 2 * (T + 1) if obj == "le-mo" else T + 1
    # the paper's way: the whole trajectory each iteration, plus the initial chain
    assert full.forward_passes == per_iter * (inc.iterations + 1)
    assert inc.forward_passes < full.forward_passes / 3
    assert inc.score == pytest.approx(TraceProblem(fn.oracle(), obj).score(inc.trajectory), abs=1e-9)


def test_generic_path_and_greedy_start_agree_with_fast_path():
    fn = SyntheticSetFunction(T, seed=2, width=4)
    for evaluation in ("incremental", "full"):
        fast, _ = run(fn, init="greedy", evaluation=evaluation, neighbourhood=StarTranspositions(3, on="features"))
        slow, _ = run(
            fn,
            init="greedy",
            evaluation=evaluation,
            neighbourhood=StarTranspositions(3, on="features"),
            problem_cls=GenericProblem,
        )
        assert same_run(fast, slow)


@pytest.mark.parametrize("obj", ["le", "le-mo"])
def test_compiled_sa_follows_the_python_sa(obj):
    fn = SyntheticSetFunction(40, seed=3, width=8)
    for nb in ("complete", "mix", "star"):
        py, _ = run(fn, obj=obj, neighbourhood=nb, iterations=1500, T0=2.0, seed=11)
        c = anneal_synthetic(fn, obj, iterations=1500, T0=2.0, neighbourhood=nb, seed=11)
        assert np.array_equal(py.trajectory, c["trajectory"]) and py.score == c["score"]
        assert [s for _, s in py.history] == [s for _, s in c["improvements"]]
        assert c["iterations"] == 1500 and c["accepted"] > 0
    # a given start and a threshold temperature are honoured the same way
    start = np.arange(40)[::-1].copy()
    py, _ = run(fn, obj=obj, init=start, iterations=5000, T0=2.0, eta=0.99, threshold_temperature=0.01, seed=1)
    c = anneal_synthetic(fn, obj, init=start, iterations=5000, T0=2.0, eta=0.99, threshold_temperature=0.01, seed=1)
    assert c["iterations"] == py.iterations < 5000
    assert np.array_equal(py.trajectory, c["trajectory"]) and py.score == c["score"]


@pytest.mark.parametrize("adaptive", [True, False])
def test_batched_proposals_give_the_same_trajectory_in_fewer_batches(adaptive):
    fn = SyntheticSetFunction(T, seed=4, width=4)
    for nb in ("complete", MixedMoves()):
        seq, _ = run(fn, neighbourhood=nb, iterations=1500, T0=0.5, eta=0.995)
        bat, _ = run(fn, "sa-batch", neighbourhood=nb, iterations=1500, T0=0.5, eta=0.995, width=16, adaptive=adaptive)
        assert same_run(seq, bat)
        assert bat.batches < seq.batches / 2
        assert bat.forward_passes >= seq.forward_passes  # speculation never saves passes


def test_budgets_stop_cleanly_with_a_consistent_best():
    fn = SyntheticSetFunction(T, seed=5, width=4)
    for solver in ("sa", "sa-batch"):
        res, problem = run(fn, solver, iterations=5000, T0=0.5)
        capped = get_solver(solver, iterations=5000, init="random", T0=0.5).solve(
            TraceProblem(fn.oracle(), "le-mo"), budget=300, seed=7, curves=False
        )
        assert capped.stopped == "budget" and capped.forward_passes <= 300
        assert capped.score == pytest.approx(problem.score(capped.trajectory), abs=1e-9)
        it = get_solver(solver, iterations=5000, init="random", T0=0.5).solve(
            TraceProblem(fn.oracle(), "le-mo"), budget={"iterations": 123}, seed=7, curves=False
        )
        assert it.iterations == 123


def test_sa_reaches_the_brute_force_optimum_on_a_small_instance():
    fn = SyntheticSetFunction(6, seed=6, width=3)
    problem = TraceProblem(fn.oracle(), "le-mo")
    best = brute_force(problem).best
    res = get_solver("sa", iterations=3000, init="random", T0=1.0, eta=0.998).solve(problem, seed=0, curves=False)
    assert res.score == pytest.approx(best, abs=1e-9)


def test_sa_parameters_are_validated():
    with pytest.raises(ValueError, match="evaluation="):
        get_solver("sa", evaluation="lazy")
    with pytest.raises(ValueError, match="neighbourhood="):
        get_solver("sa", neighbourhood="ring")
    with pytest.raises(ValueError, match="width="):
        get_solver("sa-batch", width=0)
    with pytest.raises(ValueError, match="fn must be"):
        anneal_synthetic(lambda m: m.sum(1))


def test_a_user_neighbourhood_with_only_propose_works_in_sa():
    from neighbourhoods import Neighbourhood

    class SwapTwoApart(Neighbourhood):
        """Swap positions i and i+2 (keeps every feature's position parity: a visible invariant)."""

        def propose(self, sigma, rng):
            i = int(rng.integers(0, self.t - 2))
            new = sigma.copy()
            new[i], new[i + 2] = sigma[i + 2], sigma[i]
            return new, i, i + 2

    fn = SyntheticSetFunction(T, seed=8, width=4)
    for solver in ("sa", "sa-batch"):
        res, problem = run(fn, solver, neighbourhood=SwapTwoApart(), iterations=300)
        assert res.iterations == 300
        assert res.score == pytest.approx(problem.score(res.trajectory), abs=1e-9)
        # moves keep every feature's position parity
        start = np.random.default_rng(7).permutation(T)
        assert all((np.flatnonzero(res.trajectory == f)[0] - np.flatnonzero(start == f)[0]) % 2 == 0 for f in range(T))
    with pytest.raises(NotImplementedError):
        SwapTwoApart().bind(5).apply(np.arange(5), np.zeros(4))


def test_more_than_64_features_use_the_generic_path_with_the_same_trajectories():
    from trace_opt.core.oracle import SetFunctionOracle

    t = 70
    rng = np.random.default_rng(9)
    w = rng.integers(-5, 6, size=t).astype(float)
    pairs = rng.integers(0, t, size=(40, 2))
    coef = rng.integers(-3, 4, size=40).astype(float)

    def fn(masks):  # integer-valued, so every sum is exact whatever the batching
        m = masks.astype(float)
        return m @ w + (m[:, pairs[:, 0]] * m[:, pairs[:, 1]]) @ coef

    results = []
    for evaluation, cache in (("incremental", True), ("full", False)):
        problem = TraceProblem(SetFunctionOracle(fn, t, cache=cache), "le-mo")
        results.append(
            get_solver("sa", iterations=300, init="random", T0=3.0, neighbourhood="mix", evaluation=evaluation).solve(
                problem, seed=2, curves=False
            )
        )
    assert same_run(*results)
    assert results[1].forward_passes == 2 * (t + 1) * 301


def test_sa_on_a_model_is_the_same_with_inputs_built_from_keys_or_by_torch():
    """A CNN oracle on the CPU builds masked inputs from set keys (numba) into a reused, padded buffer;
    SA, sa-batch and full re-evaluation give the trajectories, values and counters of the torch path."""
    import torch

    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3)
    ).eval()
    x = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(1))
    from trace_opt import ModelOracle

    for solver, params, cache in [
        ("sa", {}, True),
        ("sa-batch", {"width": 8}, True),
        ("sa", {"evaluation": "full"}, False),
    ]:
        runs = []
        for keyed in (True, False):
            oracle = ModelOracle(cnn, x, 1, features=4, batch_size=16, pad_multiple=4, cache=cache)
            assert oracle._keyed_forward
            oracle._keyed_forward = keyed
            res = get_solver(solver, iterations=150, T0=0.5, init="greedy", **params).solve(
                TraceProblem(oracle, "le-mo"), seed=3, curves=False
            )
            c = oracle.counters()
            c.pop("forward_seconds")
            runs.append((res, c))
        (a, ca), (b, cb) = runs
        assert same_run(a, b) and ca == cb
        assert ca["requests"] == ca["cache_hits"] + ca["forward_passes"] or not cache


def test_a_subclass_declares_whether_its_objective_is_standard():
    """Overriding c_values takes SA off the kernel fast path unless the subclass says its c is standard."""
    from solvers.anneal import uses_keys

    class Logged(TraceProblem):
        standard_objective = True  # an override that keeps the standard rule

        def c_values(self, masks):
            return super().c_values(masks)

    fn = SyntheticSetFunction(8, seed=0, width=4)
    assert uses_keys(TraceProblem(fn.oracle(), "le-mo"))
    assert not uses_keys(GenericProblem(fn.oracle(), "le-mo"))
    assert uses_keys(Logged(fn.oracle(), "le-mo"))
    fast, _ = run(fn, problem_cls=Logged)
    slow, _ = run(fn, problem_cls=GenericProblem)
    assert same_run(fast, slow)
