"""Tabu, GA, beam and window-DP: validation, optimality checks against the exact DP, batching,
budgets and reproducibility."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neighbourhoods import Neighbourhood, StarTranspositions, get_neighbourhood
from solvers import available_solvers, get_solver, greedy_order
from solvers._common import window_descent, window_move, window_starts
from solvers.complete import complete_table, exact_optimum
from solvers.genetic import order_crossover, pmx_crossover
from solvers.tabu import all_transpositions
from trace_opt import SetFunctionOracle, TraceProblem
from trace_opt.core.budget import Limits

HEURISTICS = {
    "greedy": {},
    "sa": {"iterations": 300},
    "tabu": {"iterations": 40},
    "ga": {"population": 8, "generations": 15},
    "beam": {"width": 4},
    "window-dp": {"window": 4, "kicks": 5},
}


def structured_problem(t, seed, objective):
    """A smooth random set function (pairwise interactions through a tanh) with many local optima."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(t, 4))
    u = rng.normal(size=4)

    def fn(masks):
        return np.tanh((~masks).astype(float) @ W) @ u

    return TraceProblem(SetFunctionOracle(fn, t), objective)


class CountingProblem(TraceProblem):
    """Counts calls of the batch entry points the solvers are meant to use."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.calls = {"c_values": 0, "scores": 0, "move_deltas": 0}

    def c_values(self, masks):
        self.calls["c_values"] += 1
        return super().c_values(masks)

    def scores(self, sigmas):
        self.calls["scores"] += 1
        return super().scores(sigmas)

    def move_deltas(self, *a):
        self.calls["move_deltas"] += 1
        return super().move_deltas(*a)


def test_registry_names():
    names = available_solvers()
    for n in ("tabu", "ga", "beam", "window-dp", "exact"):
        assert n in names
    with pytest.raises(ValueError, match=r"unknown.*'beam'.*'exact'.*'ga'.*'tabu'.*'window-dp'"):
        get_solver("tabu-search")


@pytest.mark.parametrize(
    "name, params, arg",
    [
        ("tabu", {"tenure": -1}, "tenure"),
        ("tabu", {"candidates": 0}, "candidates"),
        ("tabu", {"iterations": 0}, "iterations"),
        ("tabu", {"stagnation": 0}, "stagnation"),
        ("tabu", {"init": "best"}, "init"),
        ("tabu", {"polish_window": 1}, "polish_window"),
        ("ga", {"population": 1}, "population"),
        ("ga", {"tournament": 9, "population": 8}, "tournament"),
        ("ga", {"crossover": "cx"}, "crossover"),
        ("ga", {"mutation": "scramble"}, "mutation"),
        ("ga", {"mutation_rate": 1.5}, "mutation_rate"),
        ("ga", {"crossover_rate": -0.1}, "crossover_rate"),
        ("ga", {"elitism": 8, "population": 8}, "elitism"),
        ("ga", {"seeds": ["shap"]}, "seeds"),
        ("ga", {"generations": 0}, "generations"),
        ("ga", {"memetic_window": 1}, "memetic_window"),
        ("ga", {"memetic_window": "on"}, "memetic_window"),
        ("ga", {"memetic_window": 21}, "memetic_window"),
        ("tabu", {"polish_window": 21}, "polish_window"),
        ("ga", {"polish_share": 1.0}, "polish_share"),
        ("tabu", {"polish_share": 0}, "polish_share"),
        ("beam", {"polish_share": "half"}, "polish_share"),
        ("beam", {"width": 0}, "width"),
        ("beam", {"direction": "both"}, "direction"),
        ("window-dp", {"window": 1}, "window"),
        ("window-dp", {"window": 40}, "window"),
        ("window-dp", {"kicks": -1}, "kicks"),
        ("window-dp", {"stride": 0}, "stride"),
        ("exact", {"max_t": 1}, "max_t"),
        ("exact", {"max_memory_gb": 0}, "max_memory_gb"),
    ],
)
def test_invalid_hyperparameters_name_the_argument(name, params, arg):
    with pytest.raises(ValueError, match=arg):
        get_solver(name, **params)


@pytest.mark.parametrize(
    "name, params",
    [
        ("window-dp", {"window": 7}),
        ("tabu", {"polish_window": 7}),
        ("ga", {"polish_window": 7}),
        ("ga", {"memetic_window": 7}),
        ("beam", {"polish_window": 7}),
    ],
)
def test_window_larger_than_t_is_refused_at_solve_time(name, params):
    problem = structured_problem(6, 0, "le")
    solver = get_solver(name, **params)
    arg = next(iter(params))  # the message names the argument the window came from
    with pytest.raises(ValueError, match=rf"^{arg}=7 is larger than t=6; expected 2 <= {arg} <= t"):
        solver.solve(problem)
    assert problem.oracle.forward_passes == 0


@pytest.mark.parametrize("name", ["tabu", "ga", "beam", "window-dp", "sa", "greedy", "exact"])
def test_defaults_work_for_tiny_t(name):
    """Default windows adapt to t (explicit ones larger than t are refused)."""
    for t in (2, 3):
        problem = structured_problem(t, 1, "le-mo")
        _, opt = exact_optimum(complete_table(problem), "le-mo")
        res = get_solver(name).solve(problem, budget={"iterations": 50}, curves=False)
        assert res.score == pytest.approx(opt, rel=1e-12)


def test_bad_neighbourhood_and_seed_trajectory():
    for name in ("tabu", "window-dp"):
        with pytest.raises(ValueError, match="neighbourhood"):
            get_solver(name, neighbourhood="nope")
    with pytest.raises(ValueError, match="seeds entry"):
        get_solver("ga", seeds=[[0, 1, 1, 2, 3]]).solve(structured_problem(5, 0, "le"))


@pytest.mark.parametrize("objective", ["le", "mo", "le-mo"])
@pytest.mark.parametrize("t", [5, 7])
def test_no_heuristic_scores_above_the_optimum(objective, t):
    for seed in range(2):
        problem = structured_problem(t, 10 * t + seed, objective)
        table = complete_table(problem)
        _, opt = exact_optimum(table, objective)
        for name, params in HEURISTICS.items():
            res = get_solver(name, **params).solve(problem, seed=seed, curves=False)
            assert res.score <= opt + 1e-12 * (1 + abs(opt)), name
            assert res.score == pytest.approx(problem.score(res.trajectory), rel=1e-12, abs=1e-12), name


@pytest.mark.parametrize("objective", ["le", "mo", "le-mo"])
@pytest.mark.parametrize("direction", ["lerf", "morf"])
def test_wide_beam_is_exact_and_width_one_is_greedy(objective, direction):
    t = 8
    problem = structured_problem(t, 3, objective)
    _, opt = exact_optimum(complete_table(problem), objective)
    res = get_solver("beam", width=math.comb(t, t // 2), direction=direction).solve(problem, curves=False)
    assert res.score == pytest.approx(opt, rel=1e-12)
    if direction == "lerf":
        res1 = get_solver("beam", width=1).solve(problem, curves=False)
        np.testing.assert_array_equal(res1.trajectory, greedy_order(problem, "lerf"))


@pytest.mark.parametrize("objective", ["le", "mo", "le-mo"])
def test_full_window_is_exact(objective):
    t = 7
    problem = structured_problem(t, 8, objective)
    _, opt = exact_optimum(complete_table(problem), objective)
    res = get_solver("window-dp", window=t, kicks=0, init="random").solve(problem, seed=1, curves=False)
    assert res.score == pytest.approx(opt, rel=1e-12)


def test_tabu_full_neighbourhood_reaches_a_two_swap_local_optimum():
    t = 6  # 15 transpositions <= candidates: enumerated, one move_deltas batch per iteration
    problem = CountingProblem(structured_problem(t, 21, "le-mo").oracle, "le-mo")
    res = get_solver(
        "tabu", iterations=30, candidates=15, tenure=0, stagnation=None, init="random", polish_window=None
    ).solve(problem, seed=4, curves=False)  # the tabu loop alone
    assert problem.calls["move_deltas"] == res.iterations == 30
    best = res.trajectory
    cand, lo, hi = all_transpositions(best)
    assert len(cand) == 15
    assert max(problem.score(c) for c in cand) <= res.score + 1e-12


def test_tabu_uses_a_given_neighbourhood_object():
    class Adjacent(Neighbourhood):
        calls = 0

        def propose(self, sigma, rng):
            Adjacent.calls += 1
            i = int(rng.integers(0, self.t - 1))
            new = sigma.copy()
            new[i], new[i + 1] = sigma[i + 1], sigma[i]
            return new, i, i + 1

    problem = structured_problem(8, 2, "le")
    get_solver("tabu", iterations=10, candidates=5, neighbourhood=Adjacent()).solve(problem, curves=False)
    assert Adjacent.calls >= 50


def test_tabu_enumerates_a_small_transposition_set():
    """Bubble-sort transpositions (t-1 adjacent swaps) <= M: every move is scored each iteration, so
    with tenure 0 the best is a local optimum of the adjacent-swap neighbourhood."""
    t = 7
    problem = structured_problem(t, 13, "le-mo")
    batches = []
    orig = problem.move_deltas

    def spy(sigma, chain, cand, lo, hi):
        batches.append(sorted(zip(np.asarray(lo).tolist(), np.asarray(hi).tolist())))
        return orig(sigma, chain, cand, lo, hi)

    problem.move_deltas = spy
    res = get_solver(
        "tabu", iterations=25, candidates=6, tenure=0, stagnation=None, init="random", neighbourhood="bubble"
    ).solve(problem, seed=2, curves=False)
    assert len(batches) == 25
    assert all(b == [(i, i + 1) for i in range(t - 1)] for b in batches)
    for i in range(t - 1):
        s = res.trajectory.copy()
        s[i], s[i + 1] = s[i + 1], s[i]
        assert problem.score(s) <= res.score + 1e-12


def spy_moves(problem):
    """Record the candidate batches tabu sends to ``problem.move_deltas``."""
    batches = []
    orig = problem.move_deltas

    def spy(sigma, chain, cand, lo, hi):
        batches.append((sigma.copy(), np.array(cand), np.asarray(lo).copy(), np.asarray(hi).copy()))
        return orig(sigma, chain, cand, lo, hi)

    problem.move_deltas = spy
    return batches


@pytest.mark.parametrize(
    "neighbourhood, t, M",
    [("complete", 16, 64), (StarTranspositions(on="features"), 16, 10), ("block-reverse", 12, 20), ("mix", 12, 30)],
)
def test_tabu_samples_distinct_moves(neighbourhood, t, M):
    """A neighbourhood larger than M: M distinct moves per iteration (sampling with replacement scored
    only ~50 distinct of 120 transpositions at t=16, M=64)."""
    problem = structured_problem(t, 3, "le")
    batches = spy_moves(problem)
    res = get_solver("tabu", iterations=15, candidates=M, init="random", neighbourhood=neighbourhood).solve(
        problem, seed=1, curves=False
    )
    assert len(batches) == 15 and res.info["neighbourhood_enumerated"] is False
    for _, cand, _, _ in batches:
        assert len({c.tobytes() for c in cand}) == len(cand) == M


@pytest.mark.parametrize(
    "neighbourhood, t", [("vertex-insertion", 5), ("block-reverse", 6), ("block-insertion", 5), ("mix", 4)]
)
def test_tabu_enumerates_any_small_neighbourhood(neighbourhood, t):
    """Not only transposition sets: every neighbourhood that can enumerate its moves is scored whole when
    it has at most M distinct neighbours (vertex insertion at t=5: (t-1)^2 = 16 of its 20 moves)."""
    nb = get_neighbourhood(neighbourhood, t)
    size = len(nb.neighbours(np.arange(t)))
    problem = structured_problem(t, 4, "le-mo")
    batches = spy_moves(problem)
    res = get_solver(
        "tabu", iterations=10, candidates=size, tenure=0, stagnation=None, init="random", neighbourhood=neighbourhood
    ).solve(problem, seed=0, curves=False)
    assert res.info["neighbourhood_enumerated"] is True and len(batches) == 10
    for sigma, cand, _, _ in batches:
        assert {c.tobytes() for c in cand} == {m[0].tobytes() for m in nb.neighbours(sigma)}
    # tenure 0: steepest ascent over the whole neighbourhood, so the best is a local optimum of it
    assert max(problem.score(m[0]) for m in nb.neighbours(res.trajectory)) <= res.score + 1e-12


def window_optimal(problem, sigma, w):
    """No swept window of width w (``window_descent``'s sweep) can be reordered for a gain."""
    chain = problem.chain(sigma)
    score = float(chain.sum())
    return all(
        window_move(problem, sigma, chain, a, w)[2] <= 1e-12 * (1 + abs(score))
        for a in window_starts(problem.t, w, max(1, w // 2))
    )


POLISHED = [
    ("tabu", {"iterations": 10**6, "init": "random"}),
    ("ga", {"generations": 10**6, "seeds": None, "memetic_window": None}),
    ("beam", {"width": 64}),
]


@pytest.fixture
def window_moves(monkeypatch):
    """Count the exact window moves made (polishing is the only user of them in these solvers)."""
    import solvers._common as W

    calls = []
    orig = W.window_move

    def counted(*a, **k):
        calls.append(1)
        return orig(*a, **k)

    monkeypatch.setattr(W, "window_move", counted)
    return calls


@pytest.mark.parametrize("name, params", POLISHED)
def test_polish_runs_when_the_pass_budget_ends_the_main_loop(name, params, window_moves):
    """polish_window used to sit after the main loop, so a budget stop skipped it: now the main loop
    keeps polish_share of the budget back and polishing always runs, within the budget."""
    t, w, budget, share = 12, 4, 1000, 0.5
    problem = structured_problem(t, 3, "le")
    res = get_solver(name, polish_window=w, polish_share=share, **params).solve(
        problem, budget=budget, seed=0, curves=False
    )
    assert res.stopped == "budget" and res.forward_passes <= budget
    assert len(window_moves) > 0  # polishing ran
    assert window_optimal(problem, res.trajectory, w)  # ... to the end: a window-optimal result
    # the main loop's first round keeps to its share; the later rounds spend what polishing left
    first_round = res.forward_passes - res.info["polish_forward_passes"] - res.info["resumed_forward_passes"]
    assert first_round <= int(share * budget)
    assert res.info["rounds"] >= 2 and res.info["resumed_forward_passes"] > 0
    assert res.score == pytest.approx(problem.score(res.trajectory), rel=1e-12)
    assert res.history[-1][1] == res.score and all(b[1] > a[1] for a, b in zip(res.history, res.history[1:]))
    assert np.array_equal(np.sort(res.trajectory), np.arange(t))


@pytest.mark.parametrize("name, params", POLISHED[:2])
def test_polish_runs_when_the_time_budget_ends_the_main_loop(name, params, window_moves):
    """The main loop runs until its share of the time (0.2 s); polishing gets the other 1.8 s, hundreds of
    times what it needs here (a few ms: 5 windows of 16 sets at t=12), so a loaded machine cannot cut it
    short (it was 0.15 s of a 0.3 s budget, which the first solve's numba loading alone could use up).
    It stops as soon as the result is window-optimal, so the test still takes about 0.2 s."""
    t, w, seconds, share = 12, 4, 2.0, 0.9
    problem = structured_problem(t, 5, "le")
    res = get_solver(name, polish_window=w, polish_share=share, **params).solve(
        problem, budget={"seconds": seconds}, seed=0, curves=False
    )
    assert res.stopped == "time" and len(window_moves) > 0
    assert window_optimal(problem, res.trajectory, w)  # polishing ran to the end within its time
    assert (1 - share) * seconds <= res.seconds <= seconds + 1.0  # the main loop used its share; limit kept
    assert res.score == pytest.approx(problem.score(res.trajectory), rel=1e-12)


@pytest.mark.parametrize(
    "name, params",
    [
        ("tabu", {"iterations": 30, "init": "random"}),
        ("ga", {"generations": 10, "memetic_window": None}),
        ("beam", {"width": 2}),
    ],
)
def test_polishing_does_not_take_the_progress_bar_past_its_total(name, params, monkeypatch, window_moves):
    """The bar's total is the main loop's; polishing's window moves show as a postfix, not as counts."""
    import solvers.base as B

    bars = []

    class Recorded(B.tqdm):
        def close(self):
            if not any(bar is self for bar in bars):  # tqdm also closes on deletion
                bars.append(self)
                self.seen = (self.n, self.total, str(self.postfix))
            super().close()

    monkeypatch.setattr(B, "tqdm", Recorded)
    problem = structured_problem(9, 1, "le")
    res = get_solver(name, polish_window=4, **params).solve(problem, seed=0, progress=True, curves=False)
    ((n, total, postfix),) = [bar.seen for bar in bars]
    assert res.stopped == "completed" and len(window_moves) > 0
    assert n == total and f"polish={len(window_moves)}" in postfix and "best=" in postfix
    assert res.iterations == total + len(window_moves)  # polishing's moves still count as iterations


def test_polish_share_of_an_iteration_budget_and_a_nested_limit():
    problem = structured_problem(10, 2, "le")
    res = get_solver("tabu", iterations=10**6, polish_window=3).solve(problem, budget={"iterations": 50}, curves=False)
    assert res.stopped == "iterations" and res.iterations <= 50
    assert problem.oracle.limits == Limits()  # limits restored
    # a forward-pass limit of an enclosing solve also bounds polishing
    with problem.oracle.limited(Limits(forward_passes=problem.oracle.forward_passes + 40)):
        res = get_solver("tabu", iterations=10**6, polish_window=3, init="random").solve(
            problem, budget=1000, curves=False
        )
    assert res.forward_passes <= 40 and res.stopped == "budget"


def test_tabu_list_forbids_recent_pairs():
    """With a large tenure, no feature pair is swapped twice within the tenure unless it aspires."""
    t = 6
    problem = structured_problem(t, 5, "le")
    trace = []
    orig = problem.move_deltas

    def spy(sigma, chain, cand, lo, hi):
        d, s = orig(sigma, chain, cand, lo, hi)
        trace.append((sigma.copy(), cand, d))
        return d, s

    problem.move_deltas = spy
    get_solver("tabu", iterations=12, candidates=15, tenure=1000, stagnation=None, init="random").solve(
        problem, seed=0, curves=False
    )
    scores = [problem.score(sigma) for sigma, _, _ in trace]
    seen = set()
    for k in range(len(trace) - 1):
        sigma, nxt = trace[k][0], trace[k + 1][0]
        pair = frozenset(sigma[np.flatnonzero(sigma != nxt)].tolist())
        assert len(pair) == 2
        if pair in seen:  # only by aspiration: the move must reach a new best
            assert scores[k + 1] > max(scores[: k + 1])
        seen.add(pair)
    assert len(seen) >= 6


def test_batching_one_call_per_iteration():
    t = 8
    problem = CountingProblem(structured_problem(t, 1, "le-mo").oracle, "le-mo")
    res = get_solver("ga", population=6, generations=10, seeds=None).solve(problem, curves=False)
    assert problem.calls["scores"] == 11 == res.iterations + 1
    problem = CountingProblem(structured_problem(t, 1, "le-mo").oracle, "le-mo")
    get_solver("beam", width=3).solve(problem, curves=False)
    assert problem.calls["c_values"] == t + 2  # start set, one batch per level, final chain (cached)
    problem = CountingProblem(structured_problem(t, 1, "le-mo").oracle, "le-mo")
    res = get_solver("tabu", iterations=9, candidates=5, stagnation=None, init="random").solve(problem, curves=False)
    assert problem.calls["move_deltas"] == 9


@pytest.mark.parametrize("name", list(HEURISTICS) + ["exact"])
def test_reproducible_from_seed(name):
    params = HEURISTICS.get(name, {})
    if name in ("tabu", "window-dp", "sa"):
        params = {**params, "init": "random"}
    if name == "ga":
        params = {**params, "seeds": None}
    runs = [
        get_solver(name, **params).solve(structured_problem(9, 4, "le-mo"), seed=s, curves=False) for s in (3, 3, 4)
    ]
    np.testing.assert_array_equal(runs[0].trajectory, runs[1].trajectory)
    assert runs[0].history == runs[1].history and runs[0].forward_passes == runs[1].forward_passes
    if name in ("tabu", "ga", "window-dp", "sa"):  # stochastic: another seed takes another path
        assert runs[0].history != runs[2].history or not np.array_equal(runs[0].trajectory, runs[2].trajectory)


@pytest.mark.parametrize("name", list(HEURISTICS) + ["exact"])
@pytest.mark.parametrize("budget", [30, 200])
def test_forward_pass_budget_is_respected(name, budget):
    params = {
        "tabu": {"iterations": 10_000},
        "ga": {"generations": 10_000},
        "window-dp": {"kicks": 10_000},
        "beam": {"width": 50},
    }.get(name, HEURISTICS.get(name, {}))
    problem = structured_problem(10, 6, "le-mo")
    res = get_solver(name, **params).solve(problem, budget=budget, seed=0, curves=False)
    assert res.forward_passes <= budget
    if budget == 30 or name in ("tabu", "ga", "window-dp", "exact"):
        assert res.stopped == "budget"
    sorted_traj = np.sort(res.trajectory)
    np.testing.assert_array_equal(sorted_traj, np.arange(10))


@pytest.mark.parametrize("name", ["tabu", "ga", "window-dp", "beam"])
def test_iteration_budget(name):
    res = get_solver(name).solve(structured_problem(8, 0, "le"), budget={"iterations": 3}, curves=False)
    assert res.iterations == 3 and res.stopped == "iterations"


perm_pairs = st.integers(2, 12).flatmap(
    lambda t: st.tuples(
        st.permutations(list(range(t))),
        st.permutations(list(range(t))),
        st.tuples(st.integers(0, t), st.integers(0, t)).filter(lambda ij: ij[0] < ij[1]),
    )
)


@settings(max_examples=200, deadline=None)
@given(perm_pairs)
def test_order_crossover_properties(args):
    p1, p2, (i, j) = np.array(args[0]), np.array(args[1]), args[2]
    t = len(p1)
    child = order_crossover(p1, p2, i, j)
    np.testing.assert_array_equal(np.sort(child), np.arange(t))
    np.testing.assert_array_equal(child[i:j], p1[i:j])
    # outside the segment, read cyclically from j, the features keep p2's cyclic order from j
    outside = [child[(j + k) % t] for k in range(t) if not i <= (j + k) % t < j]
    expected = [v for v in np.roll(p2, -j) if v not in set(p1[i:j].tolist())]
    assert outside == expected


@settings(max_examples=200, deadline=None)
@given(perm_pairs)
def test_pmx_crossover_properties(args):
    p1, p2, (i, j) = np.array(args[0]), np.array(args[1]), args[2]
    t = len(p1)
    child = pmx_crossover(p1, p2, i, j)
    np.testing.assert_array_equal(np.sort(child), np.arange(t))
    np.testing.assert_array_equal(child[i:j], p1[i:j])
    seg = set(p1[i:j].tolist())
    for k in itertools.chain(range(i), range(j, t)):
        if p2[k] not in seg:
            assert child[k] == p2[k]  # p2's feature stays where it is unless the segment took it


def test_tabu_polishes_by_default_with_an_auto_window():
    from solvers._common import AUTO_POLISH_WINDOW

    assert get_solver("tabu").get_params()["polish_window"] == "auto"
    for t in (3, 9):
        problem = structured_problem(t, 5, "le-mo")
        res = get_solver("tabu", iterations=20).solve(problem, seed=0, curves=False)
        assert "polish_forward_passes" in res.info  # the polishing step ran
        w = min(AUTO_POLISH_WINDOW, t)
        # the result is window-optimal for w: no window of w consecutive positions can be reordered better
        again, _ = window_descent(problem, res.trajectory, w)
        assert problem.score(again) == pytest.approx(res.score)
    with pytest.raises(ValueError, match="polish_window='big' is not valid"):
        get_solver("tabu", polish_window="big")
