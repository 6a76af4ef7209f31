"""TraceProblem: chain scores, curves (Theorem 1), and exact move deltas.

Ground truth is computed here from the definitions in DESIGN.md section 2, independently of the
package: a set function is a table indexed by the bitmask of the deleted set.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brute import all_orders
from trace_opt import ModelOracle, SetFunctionOracle, TraceProblem
from trace_opt.core.objective import OBJECTIVES
from trace_opt.core.problem import ranks_of

torch.set_num_threads(1)  # tiny models: intra-op threads only add contention on a shared machine


def table_oracle(t: int, seed: int, cache: bool = True):
    """A random set function D(S) = table[bitmask(S)] and an oracle over it."""
    table = np.random.default_rng(seed).normal(size=2**t)
    weights = 1 << np.arange(t)

    def fn(masks):
        return table[np.asarray(masks, dtype=np.int64) @ weights]

    return SetFunctionOracle(fn, t, cache=cache), table


def key(features) -> int:
    return int(sum(1 << int(i) for i in features))


def definition_curves(table, sigma):
    """The four curves straight from their definitions (sets built from slices of sigma)."""
    t = len(sigma)
    full = set(range(t))
    D = lambda s: table[key(s)]  # noqa: E731
    le = np.array([D(sigma[:k]) for k in range(t + 1)])
    mo = np.array([D(sigma[t - k :]) for k in range(t + 1)])  # the k most important deleted
    morf_ins = np.array([D(full - set(sigma[t - k :])) for k in range(t + 1)])  # keep k most important
    lerf_ins = np.array([D(full - set(sigma[:k])) for k in range(t + 1)])  # keep k least important
    return le, mo, lerf_ins, morf_ins


def definition_score(table, sigma, objective):
    t = len(sigma)
    full = set(range(t))
    total = 0.0
    for k in range(t + 1):
        p = set(sigma[:k])
        d, dc = table[key(p)], table[key(full - p)]
        total += {"le": d, "mo": -dc, "le-mo": d - dc}[objective]
    return total


# --------------------------------------------------------------------------- chain and score
@given(t=st.integers(2, 8), seed=st.integers(0, 10_000), objective=st.sampled_from(OBJECTIVES))
@settings(max_examples=30, deadline=None)
def test_score_matches_definition(t, seed, objective):
    oracle, table = table_oracle(t, seed)
    problem = TraceProblem(oracle, objective)
    sigma = np.random.default_rng(seed + 1).permutation(t)
    assert problem.score(sigma) == pytest.approx(definition_score(table, sigma.tolist(), objective), abs=1e-12)
    chain = problem.chain(sigma)
    assert chain.shape == (t + 1,)
    assert problem.score(sigma) == pytest.approx(chain.sum(), abs=1e-12)


def test_scores_batch_equals_single_scores():
    oracle, _ = table_oracle(6, 3)
    for objective in OBJECTIVES:
        problem = TraceProblem(oracle, objective)
        sig = np.array([np.random.default_rng(i).permutation(6) for i in range(9)])
        np.testing.assert_allclose(problem.scores(sig), [problem.score(s) for s in sig], rtol=0, atol=1e-12)


def test_scores_refuses_non_permutation_rows():
    oracle, _ = table_oracle(4, 0)
    problem = TraceProblem(oracle, "le")
    with pytest.raises(ValueError, match="sigmas"):
        problem.scores([[0, 1, 2, 3], [0, 0, 1, 2]])
    with pytest.raises(ValueError, match="sigmas"):
        problem.scores([[0, 1, 2, 4]])
    assert oracle.forward_passes == 0


def test_ranks_of_inverts_sigma():
    sigma = np.array([3, 0, 2, 1])
    r = ranks_of(sigma)
    assert np.array_equal(sigma[r], np.arange(4))
    assert np.array_equal(r[sigma], np.arange(4))


def test_to_paper_units():
    oracle, _ = table_oracle(4, 1)
    sigma = np.array([2, 0, 3, 1])
    for objective in OBJECTIVES:
        problem = TraceProblem(oracle, objective)
        curves = problem.curves(sigma)
        expected = {"le": curves.auc_le, "mo": curves.auc_mo, "le-mo": curves.le_mo}[objective]
        assert problem.to_paper_units(problem.score(sigma)) == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------- curves, Theorem 1
@given(t=st.integers(2, 8), seed=st.integers(0, 10_000))
@settings(max_examples=30, deadline=None)
def test_curves_definitions_and_theorem_1_random_set_function(t, seed):
    oracle, table = table_oracle(t, seed)
    sigma = np.random.default_rng(seed + 7).permutation(t)
    curves = TraceProblem(oracle, "le-mo").curves(sigma)
    le, mo, lerf_ins, morf_ins = definition_curves(table, sigma.tolist())
    np.testing.assert_array_equal(curves.lerf_deletion, le)
    np.testing.assert_array_equal(curves.morf_deletion, mo)
    np.testing.assert_array_equal(curves.lerf_insertion, lerf_ins)
    np.testing.assert_array_equal(curves.morf_insertion, morf_ins)
    # Theorem 1 (computed from the definitions, so it holds whatever the implementation does)
    assert morf_ins.sum() == pytest.approx(le.sum(), abs=1e-12)
    assert lerf_ins.sum() == pytest.approx(mo.sum(), abs=1e-12)
    assert curves.morf_insertion.sum() == pytest.approx(curves.lerf_deletion.sum(), abs=1e-12)
    assert curves.lerf_insertion.sum() == pytest.approx(curves.morf_deletion.sum(), abs=1e-12)
    # endpoints: nothing deleted and everything deleted
    assert curves.lerf_deletion[0] == table[0] == curves.morf_deletion[0]
    assert curves.lerf_deletion[t] == table[2**t - 1] == curves.morf_deletion[t]
    # score in each objective is the matching AUC (paper's Riemann sum)
    for objective, expected in (("le", curves.auc_le), ("mo", -curves.auc_mo), ("le-mo", curves.le_mo)):
        assert TraceProblem(oracle, objective).score(sigma) == pytest.approx(expected, abs=1e-12)
    assert curves.auc_le == pytest.approx(le.sum()) and curves.auc_mo == pytest.approx(mo.sum())
    assert curves.mean("lerf_deletion") == pytest.approx(le.mean())
    assert curves.mean("morf_insertion") == pytest.approx(morf_ins.mean())
    with pytest.raises(ValueError, match="curve='auc_le'"):
        curves.mean("auc_le")  # a property, not a curve


class SmallNet(torch.nn.Module):
    """A non-additive model (ReLU hidden layer), so curves are not trivially linear."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 3, 3, padding=1)
        self.fc = torch.nn.Linear(3 * 6 * 6, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def test_curves_and_theorem_1_torch_model():
    torch.manual_seed(0)
    model = SmallNet().eval()
    x = torch.rand(1, 6, 6)
    ref = torch.full_like(x, 0.3)
    oracle = ModelOracle(model, x, target=2, features=(2, 3), reference=ref, output="prob")
    t = oracle.t
    sigma = np.array([4, 1, 5, 0, 3, 2])
    curves = TraceProblem(oracle, "le-mo").curves(sigma)
    ids = torch.as_tensor(oracle.features.ids)

    def direct(deleted):
        m = torch.zeros(6, 6, dtype=torch.bool)
        for i in deleted:
            m |= ids == int(i)
        xx = torch.where(m[None], ref, x)
        with torch.no_grad():
            return float(torch.softmax(model(xx[None]).double(), dim=1)[0, 2])

    le = [direct(sigma[:k]) for k in range(t + 1)]
    mo = [direct(sigma[t - k :]) for k in range(t + 1)]
    np.testing.assert_allclose(curves.lerf_deletion, le, rtol=1e-5)
    np.testing.assert_allclose(curves.morf_deletion, mo, rtol=1e-5)
    assert curves.morf_insertion.sum() == pytest.approx(curves.lerf_deletion.sum(), rel=1e-12)
    assert curves.lerf_insertion.sum() == pytest.approx(curves.morf_deletion.sum(), rel=1e-12)
    with torch.no_grad():
        fx = float(torch.softmax(model(x[None]).double(), 1)[0, 2])
        fref = float(torch.softmax(model(ref[None]).double(), 1)[0, 2])
    assert curves.lerf_deletion[0] == pytest.approx(fx, rel=1e-5)
    assert curves.lerf_deletion[t] == pytest.approx(fref, rel=1e-5)
    assert curves.morf_deletion[0] == pytest.approx(fx, rel=1e-5)
    assert curves.morf_deletion[t] == pytest.approx(fref, rel=1e-5)
    for objective, expected in (("le", curves.auc_le), ("mo", -curves.auc_mo), ("le-mo", curves.le_mo)):
        assert TraceProblem(oracle, objective).score(sigma) == pytest.approx(expected, rel=1e-12)
    d = curves.to_dict()
    assert d["auc_le"] == pytest.approx(sum(le), rel=1e-5) and len(d["morf_insertion"]) == t + 1


# --------------------------------------------------------------------------- move deltas
def random_move(sigma, rng, kind):
    """A move of the given kind: (new_sigma, lo, hi); new_sigma differs from sigma only in lo..hi."""
    t = len(sigma)
    if kind == "full":
        lo, hi = 0, t - 1
    elif kind == "zero":
        lo = hi = int(rng.integers(t))
    else:
        lo, hi = sorted(int(v) for v in rng.choice(t, size=2, replace=False))
    new = sigma.copy()
    if kind == "swap":
        new[lo], new[hi] = sigma[hi], sigma[lo]
    elif kind == "reverse":
        new[lo : hi + 1] = sigma[lo : hi + 1][::-1]
    elif kind in ("perm", "full"):
        new[lo : hi + 1] = sigma[lo : hi + 1][rng.permutation(hi - lo + 1)]
    return new, lo, hi


@given(
    t=st.integers(2, 9),
    seed=st.integers(0, 100_000),
    objective=st.sampled_from(OBJECTIVES),
    kinds=st.lists(st.sampled_from(["swap", "reverse", "perm", "zero", "full"]), min_size=1, max_size=8),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_move_deltas_equal_full_reevaluation(t, seed, objective, kinds):
    oracle, table = table_oracle(t, seed % 97)
    problem = TraceProblem(oracle, objective)
    rng = np.random.default_rng(seed)
    sigma = rng.permutation(t).astype(np.int64)
    chain = problem.chain(sigma)
    kinds = kinds + ["zero", "full"]  # every batch holds a zero-size and a full-range move
    moves = [random_move(sigma, rng, k) for k in kinds]
    cands = np.array([m[0] for m in moves])
    lo = np.array([m[1] for m in moves])
    hi = np.array([m[2] for m in moves])
    deltas, segments = problem.move_deltas(sigma, chain, cands, lo, hi)
    base = definition_score(table, sigma.tolist(), objective)
    assert len(deltas) == len(moves) == len(segments)
    for m, (new, a, b) in enumerate(moves):
        full = definition_score(table, new.tolist(), objective)
        assert deltas[m] == pytest.approx(full - base, abs=1e-9)
        assert deltas[m] == pytest.approx(problem.score(new) - problem.score(sigma), abs=1e-9)
        new_chain = problem.chain(new)
        assert len(segments[m]) == b - a
        np.testing.assert_allclose(segments[m], new_chain[a + 1 : b + 1], atol=1e-12)
        # the chain outside lo+1..hi is unchanged by construction of the move
        np.testing.assert_array_equal(new_chain[: a + 1], chain[: a + 1])
        np.testing.assert_array_equal(new_chain[b + 1 :], chain[b + 1 :])
        d1, seg1 = problem.move_delta(sigma, chain, new, a, b)
        assert d1 == pytest.approx(deltas[m], abs=1e-12)
        np.testing.assert_array_equal(seg1, segments[m])


def test_move_deltas_only_zero_size_moves_cost_nothing():
    oracle, _ = table_oracle(5, 2)
    problem = TraceProblem(oracle, "le-mo")
    sigma = np.arange(5)
    chain = problem.chain(sigma)
    before = (oracle.forward_passes, oracle.requests)
    deltas, segments = problem.move_deltas(sigma, chain, np.stack([sigma, sigma]), [1, 4], [1, 4])
    assert np.array_equal(deltas, [0.0, 0.0]) and all(len(s) == 0 for s in segments)
    assert (oracle.forward_passes, oracle.requests) == before


def test_move_delta_requests_only_changed_prefix_sets():
    """A move on positions lo..hi asks the oracle for exactly hi-lo sets (twice that for le-mo)."""
    t = 7
    for objective, per_set in (("le", 1), ("mo", 1), ("le-mo", 2)):
        oracle, _ = table_oracle(t, 5)
        problem = TraceProblem(oracle, objective)
        sigma = np.arange(t)
        chain = problem.chain(sigma)
        new = sigma.copy()
        new[[1, 5]] = new[[5, 1]]
        before = oracle.requests
        problem.move_delta(sigma, chain, new, 1, 5)
        assert oracle.requests - before == per_set * 4


def test_brute_force_small_exhaustive_delta_all_swaps():
    """Every transposition of every permutation of t=4: delta equals the score difference."""
    t = 4
    oracle, table = table_oracle(t, 11)
    for objective in OBJECTIVES:
        problem = TraceProblem(oracle, objective)
        for sigma in all_orders(t):
            chain = problem.chain(sigma)
            pairs = list(itertools.combinations(range(t), 2))
            cands = np.repeat(sigma[None], len(pairs), axis=0)
            for m, (a, b) in enumerate(pairs):
                cands[m, [a, b]] = sigma[[b, a]]
            deltas, _ = problem.move_deltas(sigma, chain, cands, [p[0] for p in pairs], [p[1] for p in pairs])
            expected = problem.scores(cands) - problem.score(sigma)
            np.testing.assert_allclose(deltas, expected, atol=1e-9)
