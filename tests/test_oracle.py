"""Oracles: values equal direct model calls, batching is invisible, the cache and counters are exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from trace_opt import BudgetExhausted, CallableOracle, ModelOracle, SetFunctionOracle, tabular_features
from trace_opt.core.budget import Limits

torch.set_num_threads(1)  # tiny models: intra-op threads only add contention on a shared machine


class CountingNet(torch.nn.Module):
    """A small CNN on 2 x 6 x 6 inputs that counts its calls and the rows it saw."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = torch.nn.Conv2d(2, 3, 3, padding=1)
        self.fc = torch.nn.Linear(3 * 6 * 6, 5)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
        self.calls = 0
        self.rows = 0

    def forward(self, x):
        self.calls += 1
        self.rows += x.shape[0]
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def make_model_oracle(batch_size=64, cache=True, output="logit", seed=0):
    model = CountingNet(seed).eval()
    x = torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(seed + 1))
    oracle = ModelOracle(
        model,
        x,
        target=3,
        features=(3, 2),
        reference="blur",
        output=output,
        batch_size=batch_size,
        cache=cache,
        sigma=1.0,
    )
    return model, x, oracle


def direct_values(model, x, ref, ids, masks, output="logit"):
    """One masked input at a time, built element by element (independent of the oracle)."""
    vals = []
    for m in np.asarray(masks, dtype=bool):
        xx = x.clone()
        for i in np.flatnonzero(m):
            sel = torch.as_tensor(np.broadcast_to(ids == i, tuple(x.shape)).copy())
            xx[sel] = ref[sel]
        with torch.no_grad():
            z = model(xx[None]).double()
        if output == "prob":
            z = torch.softmax(z, 1)
        elif output == "log_prob":
            z = torch.log_softmax(z, 1)
        vals.append(float(z[0, 3]))
    return np.array(vals)


def random_masks(t, n, seed):
    return np.random.default_rng(seed).random((n, t)) < 0.5


def independent_keys(masks):
    return np.array([sum(1 << int(i) for i in np.flatnonzero(m)) for m in masks], dtype=np.uint64)


# --------------------------------------------------------------------------- values and batching
@pytest.mark.parametrize("output", ["logit", "prob", "log_prob"])
def test_model_oracle_values_equal_direct_calls_for_any_batch_size(output):
    masks = random_masks(6, 40, 0)
    results = []
    for bs in (1, 7, 64):
        model, x, oracle = make_model_oracle(batch_size=bs, output=output)
        vals = oracle.evaluate(masks)
        results.append(vals)
        expected = direct_values(model, x, oracle.reference, oracle.features.ids, masks, output)
        np.testing.assert_allclose(vals, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(results[0], results[2], rtol=1e-5, atol=1e-7)


def test_model_oracle_counters_exact():
    bs = 4
    model, x, oracle = make_model_oracle(batch_size=bs)
    # construction: one probe pass on x, which is D({}) and is cached
    assert (oracle.forward_passes, oracle.batches, oracle.requests, oracle.cache_hits) == (1, 1, 1, 0)
    assert (model.calls, model.rows) == (1, 1)
    t = oracle.t
    rng = np.random.default_rng(3)
    keys = rng.choice(np.arange(1, 2**t), size=10, replace=False)  # 10 distinct non-empty sets
    distinct = oracle.masks_of_keys(keys.astype(np.uint64))
    masks = np.concatenate([distinct, distinct[[2, 2, 5]], np.zeros((1, t), bool)])  # 3 dups + the empty set
    B = len(masks)
    vals = oracle.evaluate(masks)
    assert oracle.forward_passes == 1 + 10
    assert oracle.batches == 1 + math.ceil(10 / bs)
    assert oracle.requests == 1 + B
    assert oracle.cache_hits == B - 10
    assert (model.calls, model.rows) == (oracle.batches, oracle.forward_passes)
    assert vals[10] == vals[11] == vals[2] and vals[12] == vals[5]
    assert oracle.counters()["cache_size"] == 11
    # the same request again: all from the cache, no model call
    calls = model.calls
    again = oracle.evaluate(masks)
    np.testing.assert_array_equal(again, vals)
    assert model.calls == calls and oracle.forward_passes == 11
    assert oracle.cache_hits == (B - 10) + B and oracle.requests == 1 + 2 * B
    # value_full_input (D({})) is served by the cache: one request, one hit
    assert vals[13] == oracle.value_full_input
    assert model.calls == calls
    c = oracle.counters()
    assert {k: c[k] for k in ("forward_passes", "batches", "cache_hits", "requests")} == {
        "forward_passes": 11,
        "batches": 1 + math.ceil(10 / bs),
        "cache_hits": 2 * B - 10 + 1,
        "requests": 2 + 2 * B,
    }


def test_model_oracle_cache_false_reevaluates_everything():
    bs = 5
    model, x, oracle = make_model_oracle(batch_size=bs, cache=False)
    masks = np.concatenate([random_masks(6, 8, 1), random_masks(6, 8, 1)[:3]])  # 11 rows, 3 duplicates
    a = oracle.evaluate(masks)
    b = oracle.evaluate(masks)
    np.testing.assert_array_equal(a, b)
    assert oracle.forward_passes == 1 + 2 * 11
    assert oracle.batches == 1 + 2 * math.ceil(11 / bs)
    assert oracle.cache_hits == 0 and oracle.requests == 1 + 22
    assert oracle.counters()["cache_size"] == 0
    oracle.value_full_input  # D({}) is not cached either
    assert oracle.forward_passes == 24 and model.rows == 24


def test_evaluate_and_evaluate_keys_agree():
    model, x, oracle = make_model_oracle()
    masks = random_masks(6, 20, 4)
    keys = independent_keys(masks)
    np.testing.assert_array_equal(oracle.keys_of(masks), keys)
    v_keys = oracle.evaluate_keys(keys)
    passes = oracle.forward_passes
    v_masks = oracle.evaluate(masks)
    np.testing.assert_array_equal(v_keys, v_masks)
    assert oracle.forward_passes == passes  # second call fully cached
    _, _, fresh = make_model_oracle()
    np.testing.assert_allclose(fresh.evaluate(masks), v_keys, rtol=1e-6)


def test_single_row_evaluate_and_bad_mask_shape():
    _, _, oracle = make_model_oracle()
    row = np.array([True, False, False, True, False, False])
    v = oracle.evaluate(row)
    assert np.ndim(v) == 0
    assert float(v) == oracle.evaluate(row[None])[0]
    with pytest.raises(ValueError, match="masks"):
        oracle.evaluate(np.zeros((2, 5), dtype=bool))


@given(t=st.integers(2, 64), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_keys_and_masks_roundtrip(t, seed):
    oracle = SetFunctionOracle(lambda m: m.sum(axis=1), t)
    masks = random_masks(t, 5, seed)
    keys = oracle.keys_of(masks)
    np.testing.assert_array_equal(keys, independent_keys(masks))
    np.testing.assert_array_equal(oracle.masks_of_keys(keys), masks)


def test_large_t_uses_exact_byte_keys():
    t = 70
    w = np.random.default_rng(0).normal(size=t)
    calls = []
    oracle = SetFunctionOracle(lambda m: (calls.append(len(m)), m @ w)[1], t)
    assert not oracle.exact_uint64_keys
    masks = random_masks(t, 6, 9)
    masks[5] = masks[1]  # duplicate
    masks[4] = masks[3]
    masks[4, 69] = ~masks[3, 69]  # differs only in the last feature (beyond 64 bits)
    vals = oracle.evaluate(masks)
    np.testing.assert_allclose(vals, masks @ w)
    assert calls == [5] and oracle.forward_passes == 5 and oracle.cache_hits == 1
    oracle.evaluate(masks[::-1])
    assert calls == [5] and oracle.cache_hits == 7
    with pytest.raises(ValueError, match="t <= 64"):
        oracle.evaluate_keys([1, 2])


# --------------------------------------------------------------------------- limits
def test_forward_limit_refuses_whole_request_and_keeps_state():
    oracle = SetFunctionOracle(lambda m: m.sum(axis=1).astype(float), 6)
    oracle.evaluate(random_masks(6, 1, 0))
    oracle.limits = Limits(forward_passes=oracle.forward_passes + 3)
    masks = oracle.masks_of_keys(np.arange(10, 15, dtype=np.uint64))
    before = oracle.counters()
    with pytest.raises(BudgetExhausted):
        oracle.evaluate(np.concatenate([masks, random_masks(6, 1, 0)]))  # 5 new sets and a cached one
    # a refused request changes nothing: no pass, no cache entry, no request or hit counted
    assert oracle.counters() == before and oracle.forward_passes == 1 and before["cache_size"] == 1
    assert oracle.requests == oracle.cache_hits + oracle.forward_passes
    oracle.evaluate(masks[:3])  # exactly the limit is allowed
    assert oracle.forward_passes == 4
    oracle.evaluate(masks[:3])  # cached sets are free even at the limit
    with pytest.raises(BudgetExhausted):
        oracle.evaluate(masks[3:4])
    oracle.limits = Limits(deadline=0.0)  # long past
    with pytest.raises(BudgetExhausted, match="time") as refused:
        oracle.evaluate(masks[3:4])
    assert refused.value.reason == "time"
    assert oracle.forward_passes == 4
    assert oracle.requests == oracle.cache_hits + oracle.forward_passes == 1 + 3 + 3
    uncached = SetFunctionOracle(lambda m: m.sum(axis=1).astype(float), 6, cache=False)
    uncached.limits = Limits(forward_passes=2)
    with pytest.raises(BudgetExhausted):
        uncached.evaluate(masks[:3])
    assert (uncached.requests, uncached.forward_passes, uncached.batches) == (0, 0, 0)


def test_non_finite_values_are_refused_and_not_cached():
    def fn(m):
        return np.where(m[:, 0], np.nan, 1.0)

    oracle = SetFunctionOracle(fn, 4)
    masks = np.array([[False, True, False, False], [True, False, False, False]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        oracle.evaluate(masks)
    assert oracle.counters()["cache_size"] == 0
    assert float(oracle.evaluate(masks[0])) == 1.0


def test_model_oracle_warns_in_training_mode():
    model = CountingNet().train()
    with pytest.warns(UserWarning, match="training mode"):
        ModelOracle(model, torch.rand(2, 6, 6), target=0, features=2)


# --------------------------------------------------------------------------- black-box callable
@pytest.fixture(scope="module")
def breast_cancer_model():
    data = load_breast_cancer()
    X = (data.data - data.data.mean(0)) / data.data.std(0)
    clf = LogisticRegression(max_iter=500).fit(X[:400], data.target[:400])
    return clf, X[450]


def test_callable_oracle_sklearn_batched_equals_one_at_a_time(breast_cancer_model):
    clf, x = breast_cancer_model
    groups = [list(range(5 * g, 5 * g + 5)) for g in range(6)]  # 6 features of 5 columns each
    feats = tabular_features(30, groups=groups)
    masks = np.concatenate([random_masks(6, 30, 2), random_masks(6, 30, 2)[:4]])
    ref = np.zeros(30)
    expected = []
    for m in masks:
        row = x.copy()
        for g in np.flatnonzero(m):
            row[groups[g]] = ref[groups[g]]
        expected.append(clf.predict_proba(row[None])[0, 1])
    n_unique = len({tuple(m) for m in masks} - {(False,) * 6})
    for bs in (1, 7, 64, 256):
        calls = []

        def fn(batch):
            calls.append(len(batch))
            return clf.predict_proba(batch)

        oracle = CallableOracle(fn, x, features=feats, reference="zeros", target=1, batch_size=bs)
        vals = oracle.evaluate(masks)
        np.testing.assert_allclose(vals, expected, rtol=1e-12, atol=1e-15)
        assert calls[0] == 1 and sum(calls[1:]) == n_unique == oracle.forward_passes - 1
        assert max(calls[1:]) <= bs and len(calls) == oracle.batches == 1 + math.ceil(n_unique / bs)
        assert oracle.requests == 1 + len(masks) and oracle.cache_hits == len(masks) - n_unique
        assert oracle.value_full_input == pytest.approx(clf.predict_proba(x[None])[0, 1], rel=1e-12)


def test_callable_oracle_scalar_output_and_target_checks(breast_cancer_model):
    clf, x = breast_cancer_model
    scalar = CallableOracle(lambda b: clf.decision_function(b), x)  # one score per row; one feature per column
    assert scalar.t == 30 and scalar.target is None
    m = np.zeros(30, bool)
    m[[0, 7]] = True
    row = x.copy()
    row[[0, 7]] = 0
    assert float(scalar.evaluate(m)) == pytest.approx(clf.decision_function(row[None])[0], rel=1e-12)
    with pytest.raises(ValueError, match="target"):
        CallableOracle(lambda b: clf.decision_function(b), x, target=0)
    with pytest.raises(ValueError, match="target"):
        CallableOracle(clf.predict_proba, x, target=2)
    with pytest.raises(ValueError, match="target"):
        CallableOracle(clf.predict_proba, x)  # (B, 2) scores need a column


def test_interrupted_batch_counts_the_chunks_the_model_completed():
    """Ctrl-C in the middle of a chunked request: the passes the model made are counted, the completed
    chunks are cached (asking again runs only the rest) and requests == cache_hits + forward_passes."""

    class StopsAtCall(CountingNet):
        stop_at = None

        def forward(self, x):
            if self.calls + 1 == self.stop_at:
                self.calls += 1
                raise KeyboardInterrupt
            return super().forward(x)

    model = StopsAtCall().eval()
    x = torch.rand(2, 6, 6)
    oracle = ModelOracle(model, x, 3, features=(3, 2), batch_size=2)  # probe: call 1
    model.stop_at = 4  # calls 2 and 3 complete (4 masked inputs), call 4 is interrupted
    new = oracle.masks_of_keys(np.arange(1, 8, dtype=np.uint64))  # 7 new sets
    masks = np.concatenate([new, np.zeros((1, 6), bool), new[[1, 6]]])  # + D({}) (cached) + 2 repeats
    with pytest.raises(KeyboardInterrupt):
        oracle.evaluate(masks)
    assert model.rows == 1 + 4
    c = oracle.counters()
    # nothing was served: only the 4 inputs the model evaluated count, and they are cached
    assert (c["forward_passes"], c["batches"], c["requests"], c["cache_hits"], c["cache_size"]) == (5, 3, 5, 0, 5)
    model.stop_at = None
    vals = oracle.evaluate(masks)  # the 4 completed sets come from the cache, the other 3 run
    assert model.rows == 1 + 7 == oracle.forward_passes
    c = oracle.counters()
    assert (c["requests"], c["cache_hits"], c["cache_size"]) == (5 + 10, 4 + 3, 8)
    assert c["requests"] == c["cache_hits"] + c["forward_passes"]
    np.testing.assert_allclose(
        vals, direct_values(model, x, oracle.reference, oracle.features.ids, masks), rtol=1e-5, atol=1e-7
    )
    fresh = ModelOracle(CountingNet().eval(), x, 3, features=(3, 2), batch_size=2)  # same chunks, uninterrupted
    np.testing.assert_array_equal(vals, fresh.evaluate(masks))  # cached partial values are the model's


@pytest.mark.parametrize("t, cache", [(8, True), (70, True), (8, False)])
@pytest.mark.parametrize("failure", ["interrupt", "nan"])
def test_failed_chunk_keeps_counters_consistent_and_caches_completed_chunks(t, cache, failure):
    """Black-box oracle, uint64-key table (t=8), byte-key dict (t=70) or no cache; the call after the
    probe and two chunks of 2 fails with Ctrl-C or returns NaNs: the two completed chunks are kept, the
    model's work on the failed one is counted."""
    calls = []

    def fn(batch):
        calls.append(len(batch))
        if len(calls) == 4 and state["fail"]:
            if failure == "interrupt":
                raise KeyboardInterrupt
            return np.full(len(batch), np.nan)
        return batch.reshape(len(batch), -1).sum(1)

    state = {"fail": True}
    cal = CallableOracle(fn, np.arange(1.0, t + 1.0), batch_size=2, cache=cache)  # probe: call 1
    masks = np.eye(t, dtype=bool)[:7]
    with pytest.raises(KeyboardInterrupt if failure == "interrupt" else ValueError):
        cal.evaluate(masks)
    evaluated = 4 if failure == "interrupt" else 6  # a NaN chunk was evaluated, then refused
    assert cal.forward_passes == 1 + evaluated and cal.requests == 1 + evaluated and cal.cache_hits == 0
    assert cal.batches == (3 if failure == "interrupt" else 4)
    assert cal.counters()["cache_size"] == (1 + 4 if cache else 0)
    state["fail"] = False
    vals = cal.evaluate(masks)
    np.testing.assert_array_equal(vals, np.arange(1.0, t + 1.0).sum() - np.arange(1.0, 8.0))
    assert cal.forward_passes == 1 + evaluated + (3 if cache else 7)
    assert cal.requests == 1 + evaluated + 7 and cal.cache_hits == (4 if cache else 0)
    if cache:
        assert cal.requests == cal.cache_hits + cal.forward_passes


# --------------------------------------------------------------------------- masked inputs from keys
@pytest.mark.parametrize("reference", ["zeros", "blur", "noise"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inputs_built_from_keys_equal_the_torch_path_bit_for_bit(reference, dtype):
    """CPU, t <= 64: the numba kernel builds the masked inputs from the set keys; they are the torch
    path's inputs bit for bit, so values, counters and cache are the same. The GPU path (keys sent to the
    device, bits and torch.where there) is forced here on the CPU and gives the same inputs too."""
    seen = []

    def model(batch):
        seen.append(batch.clone())
        return CountingNet(0).to(dtype)(batch)

    x = torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(4)).to(dtype)
    keys = np.random.default_rng(5).integers(0, 2**6, size=40).astype(np.uint64)
    results = []
    for path in ("numba", "torch", "device"):
        seen.clear()
        options = {"sigma": 1.0} if reference == "blur" else {}
        oracle = ModelOracle(model, x, 3, features=(3, 2), reference=reference, batch_size=16, **options)
        assert oracle._keyed_forward and not oracle._device_keys
        oracle._keyed_forward = path != "torch"
        if path == "device":
            oracle._device_keys, oracle._shifts = True, torch.arange(oracle.t, dtype=torch.int64)
        vals = oracle.evaluate_keys(keys)
        results.append((vals, oracle.counters(), [b for b in seen]))
    (va, ca, sa) = results[0]
    ca.pop("forward_seconds")
    for vb, cb, sb in results[1:]:
        np.testing.assert_array_equal(va, vb)
        cb.pop("forward_seconds")
        assert ca == cb
        assert len(sa) == len(sb) and all(a.dtype == b.dtype == dtype and torch.equal(a, b) for a, b in zip(sa, sb))
        # the same layout too: channels_last on every path (an image of 2 channels)
        assert all(
            a.stride() == b.stride() and a.is_contiguous(memory_format=torch.channels_last) for a, b in zip(sa, sb)
        )


@pytest.mark.parametrize("t", [6, 70])
def test_pad_multiple_pads_model_calls_without_counting_padding(t):
    """pad_multiple=4: every model call gets a multiple of 4 inputs (the last repeated); only real
    sets count as forward passes; the values equal those of a model that pads itself."""
    sizes = []
    lin = torch.nn.Linear(t, 3)

    def model(batch):
        sizes.append(batch.shape[0])
        return lin(batch.reshape(batch.shape[0], -1))

    def self_padding(batch):
        b = batch.shape[0]
        pad = -b % 4
        full = torch.cat([batch, batch[-1:].expand(pad, *batch.shape[1:])]) if pad else batch
        return lin(full.reshape(full.shape[0], -1))[:b]

    x = torch.rand(t)
    feats = tabular_features(t)
    masks = random_masks(t, 23, 6)
    oracle = ModelOracle(model, x, 1, features=feats, batch_size=10, pad_multiple=4)
    vals = oracle.evaluate(masks)
    n_unique = len({tuple(m) for m in masks} - {(False,) * t})
    chunks = [min(10, n_unique - a) for a in range(0, n_unique, 10)]
    assert n_unique > 10 and sizes == [4] + [-(-c // 4) * 4 for c in chunks]  # probe: 1 + 3 padding
    assert oracle.forward_passes == 1 + n_unique and oracle.batches == len(sizes)
    ref = ModelOracle(self_padding, x, 1, features=feats, batch_size=10)
    np.testing.assert_array_equal(vals, ref.evaluate(masks))
    with pytest.raises(ValueError, match="pad_multiple"):
        ModelOracle(model, x, 1, features=feats, pad_multiple=0)


def test_model_returning_the_wrong_number_of_rows_is_refused():
    x = torch.rand(2, 6, 6)
    net = CountingNet()
    oracle = ModelOracle(
        lambda b: net(b)[: max(1, b.shape[0] - 1)] if b.shape[0] > 1 else net(b), x, 3, features=(3, 2), batch_size=8
    )
    with pytest.raises(ValueError, match=r"returned output of shape \(2, \d+\) for a batch of 3"):
        oracle.evaluate(random_masks(6, 3, 1) | np.eye(6, dtype=bool)[:3])
    assert oracle.counters()["cache_size"] == 1
    assert oracle.requests == oracle.cache_hits + oracle.forward_passes


@pytest.mark.parametrize("kind", ["model", "callable"])
def test_an_answer_with_more_rows_than_inputs_is_refused(kind):
    """Issue 11 case 3: 2B rows for B inputs used to be cut to the first B (vals[:n]), silently."""
    x = torch.rand(2, 6, 6)
    net = CountingNet()

    def doubled(b):
        z = net(torch.as_tensor(b, dtype=torch.float32))
        return z if len(b) == 1 else torch.cat([z, z])

    if kind == "model":
        oracle = ModelOracle(doubled, x, 3, features=(3, 2), batch_size=8)
    else:
        oracle = CallableOracle(lambda b: doubled(b).detach().numpy(), x, features=(3, 2), target=3)
    with pytest.raises(ValueError, match=r"returned output of shape \(6, \d+\) for a batch of 3 input\(s\)"):
        oracle.evaluate(np.eye(6, dtype=bool)[:3])


# --------------------------------------------------------------------------- checks before the probe pass
def test_model_oracle_refuses_a_bad_device_and_a_non_finite_x_before_any_forward_pass():
    """Checked by the oracle itself, so every caller (explain, evaluation, scale, instances) gets them."""
    net = CountingNet().eval()
    x = torch.rand(2, 6, 6)
    for device in ("cudaX", 3.5):
        with pytest.raises(ValueError, match=f"device={device!r} is not valid; expected a torch device"):
            ModelOracle(net, x, 1, features=3, device=device)
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last visible GPU (cuda:0 without any)
    with pytest.raises(ValueError, match=f"device='{missing}' is not available here"):
        ModelOracle(net, x, 1, features=3, device=missing)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda' is not available here"):
            ModelOracle(net, x, 1, features=3, device="cuda")
    bad = x.clone()
    bad[1, 2, 3], bad[0, 0, 0] = float("nan"), float("inf")
    with pytest.raises(ValueError, match="x contains 2 NaN or infinite value"):
        ModelOracle(net, bad, 1, features=3)
    with pytest.raises(ValueError, match="x contains 1 NaN or infinite value"):  # numpy input, any dtype
        ModelOracle(net, np.where(np.arange(72).reshape(2, 6, 6) == 5, np.inf, 1.0).astype(np.float32), 1, features=3)
    assert net.calls == 0
    assert ModelOracle(net, x, 1, features=3, device=torch.device("cpu")).forward_passes == 1
    # bfloat16 inputs (no numpy dtype) are checked too, and still accepted when finite
    half = x.to(torch.bfloat16)
    oracle = ModelOracle(lambda b: net(b.float()), half, 1, features=3)
    assert math.isfinite(oracle.value_full_input)
    half[0, 1, 1] = float("inf")
    with pytest.raises(ValueError, match="x contains 1 NaN"):
        ModelOracle(lambda b: net(b.float()), half, 1, features=3)


def test_callable_oracle_refuses_a_non_finite_x_and_a_missing_target_clearly():
    calls = []

    def scores(b):
        calls.append(len(b))
        return b.reshape(len(b), -1)[:, :3]

    x = np.arange(8.0)
    for bad, n in ((np.where(x == 3, np.nan, x), 1), (np.full(8, -np.inf), 8)):
        with pytest.raises(ValueError, match=f"x contains {n} NaN or infinite value"):
            CallableOracle(scores, bad, target=0)
    with pytest.raises(ValueError, match="x must hold numbers"):
        CallableOracle(scores, np.array(list("abcdefgh")), target=0)
    assert calls == []
    # (B, n_classes) scores with target=None: the probe shows it, and the message says what to do
    with pytest.raises(
        ValueError,
        match=r"^target=None: the callable model returns \(B, n_classes\) scores, so "
        "give target= the column to explain",
    ):
        CallableOracle(scores, x)
    assert calls == [1]
    assert CallableOracle(scores, x, target=2).target == 2
    assert CallableOracle(lambda b: b.sum(1), x).target is None


def test_callable_oracle_output_declares_the_scores_kind():
    fn = lambda b: b.sum(1)  # noqa: E731
    x = np.arange(1.0, 5.0)
    assert CallableOracle(fn, x).output == "raw"
    for output in ("raw", "prob", "logit", "log_prob"):
        oracle = CallableOracle(fn, x, output=output)
        assert oracle.output == output
        np.testing.assert_array_equal(oracle.evaluate(np.eye(4, dtype=bool)), 10.0 - x)  # used as returned
    calls = []
    with pytest.raises(ValueError, match=r"output='softmax' is not valid; expected one of"):
        CallableOracle(lambda b: calls.append(1) or b.sum(1), x, output="softmax")
    assert calls == []


def test_padded_model_call_answering_only_the_real_rows_is_refused():
    """With padding the whole answer is checked: its first n scores alone would pass the per-chunk check."""
    net = CountingNet().eval()
    seen = []

    def drops_padding(b):
        seen.append(len(b))
        return net(b) if len(seen) == 1 else net(b)[: len(b) - 1]  # the probe is answered in full

    oracle = ModelOracle(drops_padding, torch.rand(2, 6, 6), 1, features=3, pad_multiple=4)
    with pytest.raises(ValueError, match=r"the model returned output of shape \(3, \d+\) for a batch of 4 input\(s\)"):
        oracle.evaluate(np.eye(9, dtype=bool)[:3])
    assert seen == [4, 4]
    assert oracle.requests == oracle.cache_hits + oracle.forward_passes


def test_limits_are_scoped_to_a_block_and_only_tighten():
    oracle = SetFunctionOracle(lambda m: m.sum(axis=1).astype(float), 6)
    with oracle.limited(Limits(forward_passes=10)) as outer:
        assert outer.forward_passes == 10
        with oracle.limited(Limits(forward_passes=50, deadline=1e18)) as inner:
            assert inner == Limits(forward_passes=10, deadline=1e18)  # a nested scope cannot lift a limit
        assert oracle.limits == outer
        with pytest.raises(BudgetExhausted) as refused:
            with oracle.limited(Limits(forward_passes=2)):
                oracle.evaluate(random_masks(6, 5, 1))
        assert refused.value.reason == "budget"
        assert oracle.limits == outer  # restored after the exception too
    assert oracle.limits == Limits()


@pytest.mark.parametrize(
    "t, cache, table", [(8, True, False), (8, False, False), (70, True, False), (8, True, True), (8, False, True)]
)
@pytest.mark.parametrize("objective", ["le", "mo", "le-mo"])
def test_new_passes_predicts_exactly_the_passes_a_request_makes(t, cache, table, objective):
    """``Oracle.new_sets`` / ``TraceProblem.new_passes``: with part of the sets cached and repeats inside the
    request, the predicted passes equal the oracle's count after the request (set functions with the hash
    cache or the dict of t > 64, and tables with their bitmap), and predicting counts nothing."""
    from trace_opt import SetFunctionOracle, TraceProblem
    from trace_opt.core.table import TableOracle

    rng = np.random.default_rng(t)
    w = rng.normal(size=t)
    oracle = (
        TableOracle(rng.normal(size=1 << t), cache=cache)
        if table
        else SetFunctionOracle(lambda m: np.asarray(m, dtype=float) @ w, t, cache=cache)
    )
    problem = TraceProblem(oracle, objective)
    for _ in range(3):
        masks = rng.random((12, t)) < 0.5
        masks[5] = masks[2]  # a repeat inside the request
        before = (problem.oracle.forward_passes, problem.oracle.requests)
        predicted = problem.new_passes(masks)
        assert (problem.oracle.forward_passes, problem.oracle.requests) == before
        problem.c_values(masks)
        assert problem.oracle.forward_passes - before[0] == predicted.sum()
        if cache:
            assert predicted[5] == 0 and not problem.new_passes(masks).any()  # now everything is cached
