"""numba bookkeeping kernels against slow pure-Python references."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neighbourhoods import NEIGHBOURHOODS, get_neighbourhood
from neighbourhoods import kernels as NK
from solvers import anneal_kernels as AK
from trace_opt.core import kernels as K
from trace_opt.core.objective import Objective
from trace_opt.core.problem import TraceProblem
from trace_opt.core.synthetic import SyntheticSetFunction
from trace_opt.explanation.rankings import kendall_tau_distance


def ref_key(features) -> int:
    return sum(1 << int(i) for i in features)


@settings(max_examples=80, deadline=None)
@given(t=st.integers(2, 64), seed=st.integers(0, 2**31 - 1))
def test_prefix_and_complement_keys_match_sets(t, seed):
    sigma = np.random.default_rng(seed).permutation(t).astype(np.int64)
    keys = K.prefix_keys(sigma, np.empty(t + 1, dtype=np.uint64))
    full = K.full_key(t)
    assert int(full) == (1 << t) - 1
    for k in range(t + 1):
        assert int(keys[k]) == ref_key(sigma[:k])
        assert int(full ^ keys[k]) == ref_key(set(range(t)) - set(sigma[:k].tolist()))


@settings(max_examples=60, deadline=None)
@given(t=st.integers(2, 64), seed=st.integers(0, 2**31 - 1), obj=st.sampled_from(["le", "mo", "le-mo"]))
def test_segment_and_request_keys_after_a_move(t, seed, obj):
    """Keys updated in O(hi - lo) from keys[lo] equal the prefix keys of the new trajectory."""
    rng = np.random.default_rng(seed)
    sigma = rng.permutation(t).astype(np.int64)
    keys = K.prefix_keys(sigma, np.empty(t + 1, dtype=np.uint64))
    full = K.full_key(t)
    code = Objective(obj).code
    for name in NEIGHBOURHOODS:
        nb = get_neighbourhood(name, t)
        new = np.empty(t, dtype=np.int64)
        seg = np.empty(t + 1, dtype=np.uint64)
        req = np.empty(2 * (t + 1), dtype=np.uint64)
        u = rng.random(NK.N_DRAWS)
        lo, hi, n = AK.propose_requests(nb.kind, sigma, keys, u, nb.edges, nb.probs, full, code, new, seg, req)
        expected_new, lo2, hi2 = nb.apply(sigma, u)
        assert np.array_equal(new, expected_new) and (lo, hi) == (lo2, hi2)
        ref = [ref_key(new[:k]) for k in range(lo + 1, hi + 1)]
        assert [int(v) for v in seg[: hi - lo]] == ref
        comp = [ref_key(set(range(t)) - set(new[:k].tolist())) for k in range(lo + 1, hi + 1)]
        expected_req = {"le": ref, "mo": comp, "le-mo": ref + comp}[obj]
        assert [int(v) for v in req[:n]] == expected_req


@pytest.mark.parametrize("obj", ["le", "mo", "le-mo"])
def test_accumulated_delta_equals_problem_move_delta(obj):
    fn = SyntheticSetFunction(20, seed=3, width=5)
    problem = TraceProblem(fn.oracle(), obj)
    rng = np.random.default_rng(0)
    code = Objective(obj).code
    full = K.full_key(20)
    for name in NEIGHBOURHOODS:
        nb = get_neighbourhood(name, 20)
        for _ in range(10):
            sigma = rng.permutation(20)
            chain = problem.chain(sigma)
            new, lo, hi = nb.propose(sigma, rng)
            d_ref, seg_ref = problem.move_delta(sigma, chain, new, lo, hi)
            seg_keys = np.array([ref_key(new[:k]) for k in range(lo + 1, hi + 1)], dtype=np.uint64)
            req = np.empty(2 * len(seg_keys), dtype=np.uint64)
            n = K.request_keys(seg_keys, len(seg_keys), full, code, req)
            seg_c = np.empty(hi - lo)
            delta = K.accumulate_delta(problem.oracle.evaluate_keys(req[:n]), chain, lo, hi, code, seg_c)
            assert delta == d_ref  # same values, same summation order: bit-identical
            assert np.array_equal(seg_c, seg_ref)
            assert delta == pytest.approx(problem.score(new) - problem.score(sigma), abs=1e-9)


def test_key_table_matches_a_dict():
    rng = np.random.default_rng(1)
    table = K.KeyTable(capacity=4)  # forces several rehashes
    ref = {}
    top = np.uint64(0xFFFFFFFFFFFFFFFF)  # all 64 features: a valid key, must not be a sentinel
    for step in range(60):
        n = int(rng.integers(1, 40))
        keys = rng.integers(0, 200, size=n).astype(np.uint64) << np.uint64(int(rng.integers(0, 56)))
        if step % 7 == 0:
            keys[0] = top
        if step % 5 == 0:
            keys[-1] = np.uint64(0)
        vals, missing, dup = table.lookup(keys)
        first = {}
        exp_missing = []
        for r, k in enumerate(keys.tolist()):
            if k in ref:
                assert vals[r] == ref[k]
                assert dup[r] == -1
            elif k in first:
                assert dup[r] == first[k]
            else:
                first[k] = r
                exp_missing.append(r)
                assert dup[r] == -1
        assert missing.tolist() == exp_missing
        new_vals = rng.normal(size=len(missing))
        table.insert(keys[missing], new_vals)
        for r, v in zip(missing.tolist(), new_vals.tolist()):
            ref[keys[r].item()] = v
        assert len(table) == len(ref)
    assert dict(table.items()) == ref
    assert table[top] == ref[top.item()] and top in table and table.get(12345678901, "no") == "no"
    table[5] = 2.5
    assert table[5] == 2.5
    with pytest.raises(KeyError):
        table[987654321987]
    table.clear()
    assert len(table) == 0 and table.get(5) is None


def test_key_table_find_and_fill_reuse_buffers_and_match_lookup_insert():
    """The per-request pair (scratch buffers, no temporaries) gives what lookup + insert give, and a
    partial fill (an interrupted request) stores only the rows it was given."""
    rng = np.random.default_rng(4)
    a, b = K.KeyTable(capacity=4), K.KeyTable(capacity=4)
    for step in range(40):
        n = int(rng.integers(1, 300 if step % 9 == 0 else 30))  # sometimes larger than the scratch
        keys = rng.integers(0, 120, size=n).astype(np.uint64) << np.uint64(int(rng.integers(0, 50)))
        out = np.full(n, np.nan)
        missing = a.find(keys, out).copy()
        vals_ref, missing_ref, dup = b.lookup(keys)
        assert missing.tolist() == missing_ref.tolist()
        hit = np.ones(n, bool)
        hit[missing] = False
        hit[dup >= 0] = False
        np.testing.assert_array_equal(out[hit], vals_ref[hit])
        new_vals = rng.normal(size=len(missing))
        if step % 5 == 4 and len(missing) > 1:  # interrupted: only the first rows' values arrived
            k = len(missing) // 2
            a.fill(keys, out, new_vals[:k])
            b.insert(keys[missing[:k]], new_vals[:k])
            assert len(a) == len(b) and dict(a.items()) == dict(b.items())
            continue
        a.fill(keys, out, new_vals)
        b.insert(keys[missing], new_vals)
        expect = vals_ref.copy()
        expect[missing] = new_vals
        expect[dup >= 0] = expect[dup[dup >= 0]]
        np.testing.assert_array_equal(out, expect)
        assert len(a) == len(b) and dict(a.items()) == dict(b.items())
    with pytest.raises(ValueError, match="missing rows"):
        a.fill(keys, out, np.zeros(len(keys) + 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_inputs_from_keys_equal_torch_where_bit_for_bit(dtype):
    import torch

    rng = np.random.default_rng(6)
    t, shape = 49, (3, 14, 14)
    ids = np.broadcast_to(np.arange(196).reshape(14, 14) // 4 % t, shape)
    x = rng.normal(size=shape).astype(dtype)
    ref = rng.normal(size=shape).astype(dtype)
    ref[0, 0, :3] = [np.nan, -0.0, np.inf]  # selected as bits, whatever the value
    keys = rng.integers(0, 2**t, size=13, dtype=np.uint64)
    masks = ((keys[:, None] >> np.arange(t, dtype=np.uint64)) & np.uint64(1)).astype(bool)
    expected = (
        torch.where(
            torch.as_tensor(masks)[:, torch.as_tensor(ids.copy())], torch.as_tensor(ref)[None], torch.as_tensor(x)[None]
        )
        .numpy()
        .reshape(13, -1)
    )
    out = np.empty((16, x.size), dtype=dtype)
    K.masked_inputs_from_keys(
        keys, 16, np.ascontiguousarray(ids, dtype=np.uint64).reshape(-1), x.reshape(-1), ref.reshape(-1), out
    )
    bits = np.uint32 if dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(out[:13].view(bits), expected.view(bits))
    np.testing.assert_array_equal(out[13:].view(bits), np.repeat(expected[-1:], 3, axis=0).view(bits))  # padding


def test_kendall_distance_is_the_pair_count():
    rng = np.random.default_rng(2)
    for t in (1, 2, 3, 7, 30):
        for _ in range(10):
            a, b = rng.permutation(t), rng.permutation(t)
            pos_a, pos_b = np.argsort(a), np.argsort(b)
            brute = sum((pos_a[i] < pos_a[j]) != (pos_b[i] < pos_b[j]) for i, j in itertools.combinations(range(t), 2))
            assert K.kendall_distance(a, b) == brute
            if t >= 2:  # the public function validates, then calls this kernel
                assert K.kendall_distance(a, b) == kendall_tau_distance(a, b)
    a = np.arange(10)
    assert K.kendall_distance(a, a[::-1].copy()) == 45


def test_synthetic_set_function_matches_its_formula():
    fn = SyntheticSetFunction(t=23, seed=4, width=5)
    rng = np.random.default_rng(3)
    masks = rng.random((50, 23)) < 0.5
    got = fn(masks)
    for m, v in zip(masks, got):
        codes = [sum(1 << b for b in range(5) if c * 5 + b < 23 and m[c * 5 + b]) for c in range(5)]
        ref = sum(fn.A[c, codes[c]] for c in range(5))
        ref += sum(fn.U[c - 1, codes[c - 1]] * fn.V[c - 1, codes[c]] for c in range(1, 5))
        assert v == pytest.approx(ref, rel=1e-12, abs=1e-12)
    # additive part: without interactions, D(S) is the sum of the feature weights
    add = SyntheticSetFunction(t=10, seed=1, width=3, interaction=0.0)
    assert np.allclose(add(masks[:, :10]), masks[:, :10] @ add.weights)


def test_kernels_are_compiled_with_an_on_disk_cache():
    for f in (
        K.prefix_keys,
        K.segment_keys,
        K.accumulate_delta,
        K.table_lookup,
        K.table_insert,
        K.table_fill,
        K.masked_inputs_from_keys,
        K.kendall_distance,
        NK.apply_move,
        AK.propose_requests,
        AK.sa_synthetic,
        AK.scan_batch,
    ):
        assert type(f._cache).__name__ != "NullCache", f


def test_key_table_fill_refuses_a_request_started_after_its_find():
    from trace_opt.core.kernels import KeyTable

    table = KeyTable()
    table.insert(np.array([1, 2], dtype=np.uint64), np.array([10.0, 20.0]))
    keys = np.array([2, 3, 4], dtype=np.uint64)
    out = np.empty(3)
    missing = table.find(keys, out)
    assert missing.tolist() == [1, 2] and out[0] == 20.0
    # reads by key do not disturb the pending request
    assert table.get(1) == 10.0 and 3 not in table and table[2] == 20.0
    table.fill(keys, out, np.array([30.0, 40.0]))
    assert out.tolist() == [20.0, 30.0, 40.0] and table[4] == 40.0
    keys2 = np.array([5], dtype=np.uint64)
    table.find(keys, np.empty(3))
    table.find(keys2, np.empty(1))  # another request in between
    with pytest.raises(ValueError, match="same keys array"):
        table.fill(keys, np.empty(3), np.array([]))


@given(t=st.integers(2, 12), seed=st.integers(0, 2**31 - 1), obj=st.sampled_from(["le", "mo", "le-mo"]))
def test_objective_rule_and_its_compiled_form_agree(t, seed, obj):
    """The kernels' request_keys/chain_from_values (by Objective.code) give the c(S) of Objective's
    request_masks/from_values and of its table form, for random sets of a random D table."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=1 << t)
    keys = rng.integers(0, 1 << t, size=7).astype(np.uint64)
    rule = Objective(obj)
    req = np.empty(14, dtype=np.uint64)
    n = K.request_keys(keys, 7, K.full_key(t), rule.code, req)
    compiled = K.chain_from_values(d[req[:n].astype(np.int64)], 7, rule.code, np.empty(7))
    masks = ((keys[:, None] >> np.arange(t, dtype=np.uint64)) & np.uint64(1)).astype(bool)
    asked = rule.request_masks(masks)
    asked_keys = (asked * (1 << np.arange(t))).sum(axis=1)
    assert np.array_equal(asked_keys, req[:n].astype(np.int64))
    assert np.array_equal(rule.from_values(d[asked_keys], 7), compiled)
    assert np.array_equal(rule.table(d)[keys.astype(np.int64)], compiled)
