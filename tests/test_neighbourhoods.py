"""Neighbourhoods: exact move ranges, sampling, generating sets (Proposition 1), Cayley graphs."""

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docstring_example import docstring_example
from neighbourhoods import (
    N_DRAWS,
    NEIGHBOURHOODS,
    BlockInsertion,
    BlockReverse,
    MixedMoves,
    Neighbourhood,
    StarTranspositions,
    TranspositionGraph,
    VertexInsertion,
    cayley_diameter,
    cayley_graph,
    get_neighbourhood,
    is_connected,
    is_regular,
)
from neighbourhoods.cayley import degrees, paper_diameter
from trace_opt import SetFunctionOracle, TraceProblem


def all_specs(t, seed=0):
    """Every registered neighbourhood plus graph-based ones on positions and on features."""
    rng = np.random.default_rng(seed)
    tree = nx.random_labeled_tree(t, seed=int(rng.integers(1 << 30))) if t > 1 else nx.empty_graph(1)
    specs = [name for name in NEIGHBOURHOODS]
    specs += [
        StarTranspositions(centre=t - 1),
        StarTranspositions(centre=t // 2, on="features"),
        TranspositionGraph(tree, on="positions"),
        TranspositionGraph(tree, on="features"),
        MixedMoves(0.5, 0.25),
    ]
    return specs


def prefix_sets(sigma):
    return [frozenset(sigma[:k].tolist()) for k in range(len(sigma) + 1)]


@settings(max_examples=60, deadline=None)
@given(t=st.integers(2, 11), seed=st.integers(0, 2**31 - 1))
def test_every_move_range_is_exact(t, seed):
    """new differs from sigma only in lo..hi, and the changed prefix sets are exactly lo < k <= hi."""
    rng = np.random.default_rng(seed)
    for spec in all_specs(t, seed):
        nb = get_neighbourhood(spec, t)
        for _ in range(5):
            sigma = rng.permutation(t)
            new, lo, hi = nb.propose(sigma, rng)
            assert sorted(new.tolist()) == list(range(t))
            assert 0 <= lo < hi <= t - 1
            outside = np.ones(t, dtype=bool)
            outside[lo : hi + 1] = False
            assert np.array_equal(new[outside], sigma[outside])
            old_p, new_p = prefix_sets(sigma), prefix_sets(new)
            changed = [k for k in range(t + 1) if old_p[k] != new_p[k]]
            assert changed == list(range(lo + 1, hi + 1)), (spec, sigma, new, lo, hi)


@pytest.mark.parametrize("t", [2, 3, 5])
def test_enumerated_moves_have_exact_ranges(t):
    sigma = np.random.default_rng(t).permutation(t)
    for spec in all_specs(t):
        for new, lo, hi in get_neighbourhood(spec, t).neighbours(sigma):
            old_p, new_p = prefix_sets(sigma), prefix_sets(new)
            assert [k for k in range(t + 1) if old_p[k] != new_p[k]] == list(range(lo + 1, hi + 1))


def test_neighbour_counts_match_combinatorics():
    for t in range(2, 7):
        sigma = np.random.default_rng(t).permutation(t)
        n = lambda spec: len(get_neighbourhood(spec, t).neighbours(sigma))  # noqa: E731
        assert n("complete") == t * (t - 1) // 2
        assert n("bubble") == t - 1
        assert n("star") == t - 1
        assert n("block-reverse") == t * (t - 1) // 2
        # i -> j and j -> i give the same permutation exactly when |i - j| = 1
        assert n("vertex-insertion") == t * (t - 1) - (t - 1)
        # exchanges of two adjacent non-empty blocks: one per (a < m <= c), all distinct
        assert n("block-insertion") == math.comb(t + 1, 3)


@pytest.mark.parametrize("t", [2, 3, 5, 7])
def test_move_count_is_the_number_of_enumerated_moves(t):
    """``move_count()`` (public, used by tabu to decide whether to score the whole neighbourhood) equals
    the number of moves ``neighbours`` enumerates, before removing repeated neighbours, at every t."""
    sigma = np.random.default_rng(t).permutation(t)
    for spec in all_specs(t) + [MixedMoves(0.5, 0.5), MixedMoves(1.0, 0.0)]:
        nb = get_neighbourhood(spec, t)
        n = nb.move_count()
        assert n == sum(1 for _ in nb._all_moves(nb._check_bound(sigma))), spec
        assert len(nb.neighbours(sigma)) <= n
    assert get_neighbourhood("complete", t).move_count() == t * (t - 1) // 2
    assert get_neighbourhood("mix", t).move_count() == t * (t - 1) // 2 + t * (t - 1) + math.comb(t + 1, 3)
    assert get_neighbourhood(MixedMoves(0.5, 0.5), t).move_count() == t * (t - 1) // 2 + t * (t - 1)


def test_the_example_of_the_neighbourhood_docstring_runs():
    """The example of ``Neighbourhood``'s docstring (the extension point's documentation) works as shown: its
    moves (adjacent swaps) keep the promised range and SA runs on it by name."""
    oracle = SetFunctionOracle(lambda m: m.astype(float) @ np.arange(1.0, 7.0), 6)
    problem = TraceProblem(oracle, "le-mo")
    namespace = {"problem": problem}
    try:
        exec(docstring_example(Neighbourhood), namespace)
        nb = get_neighbourhood("adjacent-swap", 6)
    finally:
        NEIGHBOURHOODS.pop("adjacent-swap", None)
    rng = np.random.default_rng(0)
    sigma = rng.permutation(6)
    for _ in range(20):
        new, lo, hi = nb.propose(sigma, rng)
        assert hi == lo + 1 and list(new[lo : hi + 1]) == list(sigma[lo : hi + 1][::-1])
        assert np.array_equal(np.delete(new, [lo, hi]), np.delete(sigma, [lo, hi]))
    result = namespace["result"]
    assert result.params["neighbourhood"] == "adjacent-swap"
    assert result.score == pytest.approx(problem.score(result.trajectory))
    assert result.score == pytest.approx(problem.score(np.argsort(-np.arange(1.0, 7.0))))  # additive: sorted


def test_move_count_of_user_neighbourhoods():
    class OnlyPropose(Neighbourhood):  # cannot enumerate
        def propose(self, sigma, rng):
            return sigma[::-1].copy(), 0, len(sigma) - 1

    class Enumerates(Neighbourhood):  # swaps of the first position with the others, twice each
        def _all_moves(self, s):
            for _ in range(2):
                for j in range(1, self.t):
                    out = s.copy()
                    out[0], out[j] = s[j], s[0]
                    yield out, 0, j

    assert OnlyPropose().bind(5).move_count() is None
    assert Enumerates().bind(5).move_count() == 4  # the distinct neighbours
    with pytest.raises(ValueError, match="not bound"):
        VertexInsertion().move_count()


@pytest.mark.parametrize("t", [2, 3, 6])
def test_transposition_positions_vectorise_the_enumeration(t):
    """For a transposition set, swapping the returned positions gives ``neighbours`` in the same order
    (complete: ``np.triu_indices`` order); for other moves it is None."""
    rng = np.random.default_rng(t)
    for spec in all_specs(t):
        nb = get_neighbourhood(spec, t)
        for _ in range(3):
            sigma = rng.permutation(t)
            pairs = nb.transposition_positions(sigma)
            if nb.kind in (BlockInsertion.kind, BlockReverse.kind, VertexInsertion.kind, MixedMoves.kind):
                assert pairs is None
                continue
            lo, hi = pairs
            assert lo.dtype == hi.dtype == np.int64 and np.all(lo < hi) and len(lo) == nb.move_count()
            moves = nb.neighbours(sigma)
            assert [(m[1], m[2]) for m in moves] == list(zip(lo.tolist(), hi.tolist()))
            for (new, _, _), i, j in zip(moves, lo, hi):
                swapped = sigma.copy()
                swapped[i], swapped[j] = sigma[j], sigma[i]
                assert np.array_equal(new, swapped)
    lo, hi = get_neighbourhood("complete", t).transposition_positions(np.arange(t))
    assert np.array_equal(lo, np.triu_indices(t, k=1)[0]) and np.array_equal(hi, np.triu_indices(t, k=1)[1])


@pytest.mark.parametrize(
    "spec", ["complete", "bubble", "star", "vertex-insertion", "block-reverse", "block-insertion", "mix"]
)
def test_sampled_moves_are_neighbours_and_cover_them(spec):
    t = 4
    rng = np.random.default_rng(1)
    sigma = rng.permutation(t)
    nb = get_neighbourhood(spec, t)
    allowed = {new.tobytes(): (lo, hi) for new, lo, hi in nb.neighbours(sigma)}
    seen = set()
    for _ in range(3000):
        new, lo, hi = nb.propose(sigma, rng)
        assert new.tobytes() in allowed
        seen.add(new.tobytes())
    if spec != "mix":  # mix reaches its 1% block insertions too rarely to insist on every one
        assert seen == set(allowed)


def test_complete_and_block_reverse_sample_pairs_uniformly():
    t, n = 5, 20000
    rng = np.random.default_rng(2)
    sigma = np.arange(t)
    for spec in ("complete", "block-reverse"):
        nb = get_neighbourhood(spec, t)
        counts = {}
        for _ in range(n):
            _, lo, hi = nb.propose(sigma, rng)
            counts[(lo, hi)] = counts.get((lo, hi), 0) + 1
        assert len(counts) == 10
        expected = n / 10
        for c in counts.values():  # binomial sd = sqrt(n p (1-p)) = 42.4; allow 5 sd
            assert abs(c - expected) < 5 * math.sqrt(n * 0.1 * 0.9)


def test_propose_consumes_exactly_n_draws():
    sigma = np.arange(9)
    for spec in NEIGHBOURHOODS:
        nb = get_neighbourhood(spec, 9)
        r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
        a = nb.propose(sigma, r1)
        b = nb.apply(sigma, r2.random(N_DRAWS))
        assert np.array_equal(a[0], b[0]) and a[1:] == b[1:]
        assert r1.random() == r2.random()


def test_mix_dispatches_by_probability():
    t = 10
    rng = np.random.default_rng(3)
    sigma = rng.permutation(t)
    pure = [
        (MixedMoves(1.0, 0.0), BlockReverse()),
        (MixedMoves(0.0, 1.0), VertexInsertion()),
        (MixedMoves(0.0, 0.0), BlockInsertion()),
    ]
    for mix, single in pure:
        mix.bind(t)
        single.bind(t)
        for _ in range(50):
            u = rng.random(N_DRAWS)
            a, b = mix.apply(sigma, u), single.apply(sigma, u)
            assert np.array_equal(a[0], b[0]) and a[1:] == b[1:]
    # the paper's mix: the type is decided by u[3] against 0.89 and 0.99
    mix = get_neighbourhood("mix", t)
    for r, single in ((0.5, BlockReverse()), (0.95, VertexInsertion()), (0.995, BlockInsertion())):
        single.bind(t)
        u = np.array([0.3, 0.7, 0.4, r])
        assert np.array_equal(mix.apply(sigma, u)[0], single.apply(sigma, u)[0])


def test_feature_graph_swaps_features_wherever_they_stand():
    t = 6
    g = nx.path_graph(t)  # features i and i+1
    nb = TranspositionGraph(g, on="features").bind(t)
    rng = np.random.default_rng(4)
    for _ in range(100):
        sigma = rng.permutation(t)
        new, lo, hi = nb.propose(sigma, rng)
        a, b = sorted((int(sigma[lo]), int(sigma[hi])))
        assert b == a + 1  # an edge of the feature graph
        assert new[lo] == sigma[hi] and new[hi] == sigma[lo]
    star = StarTranspositions(centre=2, on="features").bind(t)
    for _ in range(50):
        sigma = rng.permutation(t)
        new, lo, hi = star.propose(sigma, rng)
        assert 2 in (sigma[lo], sigma[hi])


def test_disconnected_graph_is_refused_with_proposition_1():
    g = nx.Graph([(0, 1), (2, 3)])
    with pytest.raises(ValueError, match="Proposition 1"):
        get_neighbourhood(g, 4)
    with pytest.raises(ValueError, match="connected components"):
        TranspositionGraph(g, on="features").bind(4)
    with pytest.raises(ValueError, match="exactly the integers 0..4"):
        get_neighbourhood(nx.path_graph(4), 5)
    with pytest.raises(ValueError, match="self-loops"):
        get_neighbourhood(nx.Graph([(0, 1), (1, 1)]), 2)
    with pytest.raises(ValueError, match="centre=7"):
        StarTranspositions(centre=7).bind(5)


def test_get_neighbourhood_specs():
    assert type(get_neighbourhood("bubble-sort", 5)).__name__ == "BubbleSortTranspositions"
    assert get_neighbourhood("vi", 5).name == "vertex-insertion"
    nb = MixedMoves()
    assert get_neighbourhood(nb, 7) is nb and nb.t == 7
    for bad in ("nope", 3, None):
        with pytest.raises(ValueError, match="neighbourhood="):
            get_neighbourhood(bad, 5)
    with pytest.raises(ValueError, match="t >= 2"):
        get_neighbourhood("complete", 1)
    with pytest.raises(ValueError, match="p_block_reverse"):
        MixedMoves(0.9, 0.2)
    with pytest.raises(ValueError, match="length t=5"):
        get_neighbourhood("complete", 5).propose(np.arange(4), np.random.default_rng())


@pytest.mark.parametrize("name", ["complete", "bubble", "star"])
def test_cayley_graphs_match_the_paper(name):
    """Regular of degree |S|, connected, diameter t-1 / t(t-1)/2 / floor(3(t-1)/2) for t <= 6."""
    for t in range(2, 7):
        g = cayley_graph(name, t)
        assert g.number_of_nodes() == math.factorial(t)
        assert not g.is_directed()
        assert degrees(g) == {len(get_neighbourhood(name, t).transpositions())}
        assert is_connected(g)
        assert cayley_diameter(g) == paper_diameter(name, t)
        if t <= 4:  # the identity's eccentricity is the diameter (vertex-transitivity)
            assert cayley_diameter(g, exact=True) == paper_diameter(name, t)


def test_cayley_graphs_of_tsp_moves_and_feature_graphs():
    for t in range(2, 6):
        for spec in ("vertex-insertion", "block-reverse", "block-insertion", "mix"):
            g = cayley_graph(spec, t)
            assert is_regular(g) and is_connected(g) and not g.is_directed()
        # the same star on features (left multiplication) is isomorphic: same diameter
        g = cayley_graph(StarTranspositions(on="features"), t)
        assert cayley_diameter(g) == paper_diameter("star", t)
    # a spanning tree generates S_t; a tree on positions and on features give isomorphic graphs
    tree = nx.Graph([(0, 1), (1, 2), (1, 3), (3, 4)])
    a = cayley_graph(TranspositionGraph(tree), 5)
    b = cayley_graph(TranspositionGraph(tree, on="features"), 5)
    assert cayley_diameter(a) == cayley_diameter(b)
    with pytest.raises(ValueError, match="t="):
        cayley_graph("complete", 9)
