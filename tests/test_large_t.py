"""Large t: implicit neighbourhoods, no O(t^2) structure before a solver's first oracle request, and
solvers that spend their budget (or say why they stopped)."""

import tracemalloc

import networkx as nx
import numpy as np
import pytest

from neighbourhoods import StarTranspositions, TranspositionGraph, get_neighbourhood
from neighbourhoods.base import complete_pairs
from solvers import get_solver
from solvers._moves import max_sets
from solvers.tabu import TabuList
from trace_opt import SetFunctionOracle, TraceProblem
from trace_opt.core.synthetic import SyntheticSetFunction

LARGE_T = 10_000
#: bytes per feature (plus a constant) a solver may hold before its first request, beyond the request's
#: own masks: the measured use is 26-53 B/t; a t x t structure at t = 10,000 is 10^8 bytes or more
BYTES_PER_FEATURE = 512
CONSTANT_BYTES = 4 << 20


class FirstRequest(Exception):
    """Raised at a solver's first request to the model, to stop the solve there."""


def measure_until_first_request(name, t, init, objective="le-mo"):
    """Peak traced memory (bytes) from ``solve`` to the solver's first ``c_values`` request, less that
    request's masks, and the request's number of sets. The first request is the start's (made before any
    pass)."""
    w = np.random.default_rng(0).normal(size=t)
    problem = TraceProblem(SetFunctionOracle(lambda m: m @ w, t), objective)
    seen = {}

    def first(masks):
        seen["peak"] = tracemalloc.get_traced_memory()[1]
        seen["request"] = np.asarray(masks)
        raise FirstRequest

    problem.c_values = first
    solver = get_solver(name, init=init)
    tracemalloc.start()
    try:
        with pytest.raises(FirstRequest):
            solver.solve(problem, budget=3000 + 2 * LARGE_T, seed=0, curves=False)  # 2t held for the final scoring
    finally:
        tracemalloc.stop()
    assert problem.oracle.forward_passes == 0
    return seen["peak"] - seen["request"].nbytes, len(seen["request"])


@pytest.mark.parametrize("name", ["sa", "sa-batch", "tabu", "window-dp"])
@pytest.mark.parametrize("init", ["greedy", "random"])
def test_solvers_reach_their_first_request_in_memory_linear_in_t(name, init):
    """t = 10,000: the default complete neighbourhood used to build a networkx complete graph (50 M
    edges, GBs, minutes) and tabu a t x t tabu table (800 MB) before the first pass."""
    extra, n_sets = measure_until_first_request(name, LARGE_T, init)
    # a search budget of 3,000 (2t more are held for the final scoring) is below the greedy start's cost at
    # this t, so "greedy" falls back to the single-feature
    # order (its first request: the t singletons and the empty set); a random start asks for its chain's t+1 sets
    assert n_sets == LARGE_T + 1
    assert extra <= BYTES_PER_FEATURE * LARGE_T + CONSTANT_BYTES, f"{extra / 1e6:.1f} MB before the first request"


@pytest.mark.parametrize(
    "spec",
    [
        "complete",
        "bubble",
        "star",
        StarTranspositions(centre=7, on="features"),
        "mix",
        "vertex-insertion",
        "block-reverse",
        "block-insertion",
    ],
)
def test_neighbourhoods_bind_and_propose_in_linear_memory(spec):
    t = 100_000
    tracemalloc.start()
    try:
        nb = get_neighbourhood(spec, t)
        bound = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert bound <= 64 * t  # an edge table of t-1 int64 pairs at most (16 B/t), no graph
    n = nb.move_count()
    assert n >= t - 1  # a formula, no enumeration
    rng = np.random.default_rng(0)
    sigma = rng.permutation(t)
    new, lo, hi = nb.propose(sigma, rng)
    assert 0 <= lo < hi < t and np.array_equal(np.sort(new[lo : hi + 1]), np.sort(sigma[lo : hi + 1]))


@pytest.mark.parametrize("t", [2, 3, 4, 7, 30, 101])
def test_complete_pairs_index_the_triu_order(t):
    lo, hi = np.triu_indices(t, k=1)
    a, b = complete_pairs(t, np.arange(len(lo)))
    assert np.array_equal(a, lo) and np.array_equal(b, hi)


def test_complete_pairs_at_huge_t():
    """No enumeration: the m-th pair of t = 3e6 (4.5e12 pairs) satisfies the row formula exactly."""
    t = 3_000_000
    n = t * (t - 1) // 2
    m = np.array([0, 1, t - 2, t - 1, n // 3, n // 2, n - 2, n - 1, 123_456_789_012])
    a, b = complete_pairs(t, m)
    start = a * (2 * t - a - 1) // 2
    assert np.all(start <= m) and np.all(m < start + (t - 1 - a)) and np.all((a < b) & (b < t))
    assert (a[-2], b[-2]) == (t - 2, t - 1) and (a[0], b[0]) == (0, 1)


@pytest.mark.parametrize("t", [2, 5, 12])
def test_implicit_transpositions_match_their_networkx_graphs(t):
    """The edge tables and the formula give the sorted edges of the graphs they stand for (so the kernel
    draws the same moves as when the table came from the graph), and ``graph`` is built on request."""
    cases = [
        ("complete", nx.complete_graph(t)),
        ("bubble", nx.path_graph(t)),
        (StarTranspositions(), nx.star_graph(t - 1)),
        (StarTranspositions(centre=t - 1, on="features"), nx.relabel_nodes(nx.star_graph(t - 1), {0: t - 1, t - 1: 0})),
    ]
    rng = np.random.default_rng(t)
    for spec, g in cases:
        nb = get_neighbourhood(spec, t)
        expected = sorted((min(a, b), max(a, b)) for a, b in g.edges())
        assert nb.transpositions() == expected and nb.move_count() == len(expected)
        assert nb._nx_graph is None  # nothing built so far
        assert sorted(map(tuple, map(sorted, nb.graph.edges()))) == expected
        sigma = rng.permutation(t)
        lo, hi = nb.transposition_positions(sigma)
        pick = np.sort(rng.choice(len(lo), size=min(3, len(lo)), replace=False))
        a, b = nb.transposition_positions(sigma, pick)
        assert np.array_equal(a, lo[pick]) and np.array_equal(b, hi[pick])
    with pytest.raises(ValueError, match="move indices"):
        get_neighbourhood("complete", t).transposition_positions(np.arange(t), [t * (t - 1) // 2])
    with pytest.raises(ValueError, match="connected components"):
        TranspositionGraph(nx.empty_graph(t)).bind(t)


def test_tabu_list_is_symmetric_and_sparse():
    tl = TabuList(10_000)
    tl.forbid(9_999, 3, 12)
    assert tl.expiry(np.array([3, 9_999, 4]), np.array([9_999, 3, 5])).tolist() == [12, 12, 0]
    tl.clear()
    assert tl.expiry(np.array([3]), np.array([9_999])).tolist() == [0]


def test_tabu_scores_long_moves_in_pieces_with_the_same_deltas(monkeypatch):
    """Candidates cut into sub-ranges (a tiny piece size forces it) get the same deltas and segments."""
    import solvers._moves as P
    import solvers.tabu as T

    t = 40
    problem = TraceProblem(SyntheticSetFunction(t=t, seed=1, width=5).oracle(), "le-mo")
    rng = np.random.default_rng(2)
    sigma = rng.permutation(t)
    chain = problem.chain(sigma)
    nb = get_neighbourhood("complete", t)
    lo, hi = nb.transposition_positions(sigma, np.sort(rng.choice(nb.move_count(), 25, replace=False)))
    cand, lo, hi = T.swap_candidates(sigma, lo, hi)
    whole = problem.move_deltas(sigma, chain, cand, lo, hi)
    monkeypatch.setattr(P, "max_sets", lambda t: 7)
    pieces = T.TabuSearch()._score(problem, sigma, chain, cand, lo, hi)
    assert np.allclose(pieces[0], whole[0], rtol=1e-12, atol=1e-12)
    assert all(np.array_equal(p, w) for p, w in zip(pieces[1], whole[1]))
    assert max_sets(49) > 49 * 48 * 64  # at t = 49 a whole batch is always one piece


@pytest.mark.parametrize("objective", ["le", "le-mo"])
@pytest.mark.parametrize("budget", [3000, 5000])
def test_tabu_spends_its_budget(objective, budget):
    """Tabu kept 20% for polishing, which converged after ~85 passes, and reported 'budget' with 24% of
    the budget unspent. Now the rest goes back to the tabu search, so the solve ends with less than one
    step's cost left: a move (a swap changes at most t-1 prefix sets, 2(t-1) requests for le-mo; the last
    round's main search had 80% of what was left and could not afford one) or a window move of polishing
    (2^6 sets, 2^7 requests for le-mo)."""
    t = 49
    problem = TraceProblem(SyntheticSetFunction(t=t, seed=0, width=7).oracle(), objective)
    res = get_solver("tabu").solve(problem, budget=budget, seed=0, curves=False)
    per_set = 2 if objective == "le-mo" else 1
    assert res.stopped == "budget" and res.forward_passes <= budget
    assert budget - res.forward_passes <= per_set * max((t - 1) / (1 - 0.2), 2**6)
    assert res.score == pytest.approx(problem.score(res.trajectory), rel=1e-12)
    if budget == 5000:  # the case: the greedy start (2,446 passes for le-mo) leaves room for rounds
        assert res.info["rounds"] >= 2 and res.info["resumed_forward_passes"] > 0


def test_tabu_says_completed_when_its_iterations_end_first():
    t = 12
    problem = TraceProblem(SyntheticSetFunction(t=t, seed=4, width=4).oracle(), "le-mo")
    res = get_solver("tabu", iterations=30, neighbourhood="block-insertion").solve(
        problem, budget=1500, seed=5, curves=False
    )
    assert res.stopped == "completed" and res.forward_passes < 1500
    assert res.iterations >= 30  # every tabu iteration ran (polishing's window moves count too)


def test_sa_batch_spends_its_budget_like_sa():
    """A speculative batch the budget refuses is halved: sa-batch spends what SA spends, same result."""
    problem = lambda: TraceProblem(SyntheticSetFunction(t=49, seed=0, width=7).oracle(), "le-mo")  # noqa: E731
    a = get_solver("sa").solve(problem(), budget=5000, seed=3, curves=False)
    b = get_solver("sa-batch").solve(problem(), budget=5000, seed=3, curves=False)
    assert a.stopped == b.stopped == "budget"
    assert b.forward_passes == a.forward_passes and np.array_equal(a.trajectory, b.trajectory)
    assert 5000 - b.forward_passes < 2 * 48  # less than one move's cost left


def test_large_t_solves_run_within_the_budget():
    """A whole solve at t = 1,000 (random start: 2,002 sets for the chain, then moves) stays within the
    budget and returns a permutation, for each of the four solvers."""
    t = 1_000
    w = np.random.default_rng(1).normal(size=t)
    for name in ("sa", "sa-batch", "tabu", "window-dp"):
        problem = TraceProblem(SetFunctionOracle(lambda m: m @ w, t), "le-mo")
        res = get_solver(name, init="random").solve(problem, budget=3000, seed=0, curves=False)
        assert res.forward_passes <= 3000 and np.array_equal(np.sort(res.trajectory), np.arange(t)), name


def test_sa_scores_long_moves_in_pieces_on_the_same_trajectory(monkeypatch):
    """SA's generic path (t > 64) cuts a move longer than ``max_sets(t)`` prefix sets into pieces: with a
    tiny piece size it follows the same trajectory (deltas equal up to float rounding)."""
    import solvers._moves as P
    import solvers.anneal as A

    t = 120
    w = np.random.default_rng(3).normal(size=t)

    def solve():
        problem = TraceProblem(SetFunctionOracle(lambda m: np.tanh(m @ w), t), "le-mo")
        return get_solver("sa", iterations=150, init="random").solve(problem, seed=2, curves=False)

    whole = solve()
    monkeypatch.setattr(A, "max_sets", lambda t: 5)
    monkeypatch.setattr(P, "max_sets", lambda t: 5)
    pieces = solve()
    assert np.array_equal(whole.trajectory, pieces.trajectory) and whole.iterations == pieces.iterations == 150
    assert pieces.score == pytest.approx(whole.score, rel=1e-12)
    assert pieces.batches > whole.batches  # it did cut the moves
