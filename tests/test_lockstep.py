"""explain_many: searches in lockstep share model calls and give each input its solo result."""

import os
import signal

import numpy as np
import pytest
import torch

from exact_models import ExactNet
from trace_opt import ModelOracle, TraceProblem, explain
from trace_opt.explanation.lockstep import LockstepStats, explain_many

X = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def _counters(exp):
    c = dict(exp.counters)
    c.pop("forward_seconds")
    return c


def _same(a, b):
    return (
        np.array_equal(a.trajectory, b.trajectory)
        and a.score == b.score
        and _counters(a) == _counters(b)
        and a.result.stopped == b.result.stopped
        and a.result.iterations == b.result.iterations
        and a.result.history == b.result.history
        and a.target == b.target
    )


@pytest.fixture(scope="module")
def exact():
    return ExactNet(n_inputs=64, n_classes=10).eval()


@pytest.mark.parametrize(
    "solver,options,features",
    [
        ("sa", {"iterations": 150}, 4),
        ("sa-batch", {"iterations": 150}, 4),
        ("tabu", {"iterations": 4}, 4),
        ("greedy", {}, 4),
        ("ga", {"generations": 3}, 4),
        ("beam", {"width": 3}, 4),
        ("exact", {}, (2, 4)),
    ],
)
def test_each_input_gets_its_solo_result_with_fewer_model_calls(exact, solver, options, features):
    """On a batch-invariant model every input's trajectory, score, history and counters equal its solo run
    (any registered solver; a budget that stops some searches), and the searches share model calls."""
    opts = dict(features=features, solver=solver, solver_options=options, budget=900, seed=3)
    stats = LockstepStats()
    many = explain_many(exact, X, stats=stats, **opts)
    solo = [explain(exact, x, **opts) for x in X]
    assert all(_same(a, b) for a, b in zip(many, solo))
    solo_calls = sum(e.counters["batches"] for e in solo)
    assert stats.model_calls < solo_calls
    assert stats.model_inputs == sum(e.counters["forward_passes"] for e in solo)


def test_per_input_seeds_targets_and_groups(exact):
    opts = dict(features=4, solver="sa", solver_options={"iterations": 100}, budget=500)
    seeds, targets = [4, 5, 6, 7, 8], [1, 2, 3, None, 0]
    stats = LockstepStats()
    many = explain_many(exact, X, targets, seed=seeds, lockstep=2, stats=stats, **opts)
    solo = [explain(exact, x, t, seed=s, **opts) for x, t, s in zip(X, targets, seeds)]
    assert all(_same(a, b) for a, b in zip(many, solo))
    assert stats.largest_call <= 2 * 2 * 17  # at most two searches (le-mo: 2(t+1) sets each) per call


def test_a_numpy_black_box_is_served_in_lockstep():
    w = np.random.default_rng(1).normal(size=(64, 3))

    def black_box(batch):  # elementwise float64, so batch-invariant
        flat = np.asarray(batch, dtype=np.float64).reshape(len(batch), -1)
        acc = flat[:, :1] * w[0]
        for i in range(1, 64):
            acc = acc + flat[:, i : i + 1] * w[i]
        return np.maximum(acc, 0.0)

    xs = X.numpy()[:, 0]
    opts = dict(features=4, solver="sa", solver_options={"iterations": 120}, budget=600, seed=1)
    many = explain_many(black_box, xs, [0, 1, 2, 0, 1], **opts)
    solo = [explain(black_box, x, t, **opts) for x, t in zip(xs, [0, 1, 2, 0, 1])]
    assert all(_same(a, b) for a, b in zip(many, solo))


def test_a_failing_input_does_not_stop_the_others(exact):
    xs = [X[0], torch.rand(1, 9, 9), X[2]]  # the middle one cannot go through the model (81 > 64 inputs)
    opts = dict(features=(2, 2), solver="sa", solver_options={"iterations": 50}, budget=300, seed=0)
    out = explain_many(exact, xs, errors="return", **opts)
    assert isinstance(out[1], Exception)
    assert _same(out[0], explain(exact, X[0], **opts)) and _same(out[2], explain(exact, X[2], **opts))
    with pytest.raises(Exception):
        explain_many(exact, xs, **opts)


def test_on_a_cnn_results_agree_within_float_tolerance():
    """A CNN's rows may differ in the last bits in another batch, so a lockstep search may take another
    path than its solo run; each returned value is the true score of its trajectory to float tolerance."""
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 64, 10)
    ).eval()
    opts = dict(features=4, solver="sa", solver_options={"iterations": 100}, budget=600, seed=2)
    for exp, x in zip(explain_many(cnn, X, **opts), X):
        problem = TraceProblem(ModelOracle(cnn, x, exp.target, features=4), "le-mo")
        assert exp.value == pytest.approx(problem.to_paper_units(problem.score(exp.trajectory)), rel=1e-5)


def test_ctrl_c_stops_every_search_with_its_best_so_far(exact):
    calls = {"n": 0}

    class Interrupting(torch.nn.Module):
        def forward(self, x):
            calls["n"] += 1
            if calls["n"] == 20:
                os.kill(os.getpid(), signal.SIGINT)
            return exact(x)

    opts = dict(features=4, solver="sa", solver_options={"iterations": 5000}, seed=0)
    many = explain_many(Interrupting().eval(), X, **opts)
    assert all(e.result.stopped == "interrupted" for e in many)
    assert all(e.curves is not None and sorted(e.trajectory.tolist()) == list(range(16)) for e in many)
    assert all(e.result.iterations < 5000 for e in many)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_settings_checked_before_work_and_no_state_leaks(exact):
    with pytest.raises(ValueError, match="solver"):
        explain_many(exact, X, solver="nope")
    with pytest.raises(ValueError, match="seed has 2"):
        explain_many(exact, X, seed=[1, 2])
    with pytest.raises(ValueError, match="targets has 1"):
        explain_many(exact, X, [1])
    with pytest.raises(ValueError, match="lockstep"):
        explain_many(exact, X, lockstep=0)
    with pytest.raises(ValueError, match="empty"):
        explain_many(exact, [])
    explain_many(exact, X[:2], solver="greedy")
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()


def test_explain_dataset_in_lockstep_writes_the_solo_records(tmp_path, exact):
    """``explain_dataset(lockstep=N)``: the same result files as one-by-one (on a batch-invariant
    model), a failing input recorded, a rerun skips what is finished, --lockstep on the command line."""
    from trace_opt.explanation.dataset import comparable, explain_dataset, load_result

    xs = [X[0], torch.rand(1, 9, 9), X[2], X[3]]  # the second cannot go through the model
    opts = dict(features=(2, 2), solver="sa", solver_options={"iterations": 60}, budget=300, seed=1)
    solo = explain_dataset(exact, xs, tmp_path / "solo", model_id="exact", **opts)
    many = explain_dataset(exact, xs, tmp_path / "many", model_id="exact", lockstep=3, **opts)
    assert many.computed == solo.computed and many.failed == solo.failed == ["000001"]
    for i in solo.computed:
        a, b = (load_result(tmp_path / d / "results" / f"{i}.json") for d in ("solo", "many"))
        if a["status"] == "ok":
            assert comparable(a) == comparable(b)
    again = explain_dataset(exact, xs, tmp_path / "many", model_id="exact", lockstep=3, retry_failed=False, **opts)
    assert again.computed == [] and len(again.skipped) == 4


def test_low_precision_search_is_rescored_in_fp32():
    """explain(precision="bf16"): the search runs under bf16 autocast, the returned score, value and
    curves are the fp32 ones of the searched trajectory (equal to an fp32 oracle's), search_score keeps
    the bf16 figure; explain_many takes the option too."""
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 64, 10)
    ).eval()
    opts = dict(features=4, solver="sa", solver_options={"iterations": 200}, budget=800, seed=0)
    low = explain(cnn, X[0], precision="bf16", **opts)
    fp32 = TraceProblem(ModelOracle(cnn, X[0], low.target, features=4), "le-mo")
    assert low.precision == "bf16" and low.oracle.precision == "bf16"
    assert low.score == pytest.approx(fp32.score(low.trajectory), rel=1e-6)
    np.testing.assert_allclose(low.curves.lerf_deletion, fp32.curves(low.trajectory).lerf_deletion, rtol=1e-6)
    assert low.search_score != low.score  # bf16 values differ from fp32 ones
    assert abs(low.search_score - low.score) < 0.05 * abs(low.score)
    assert explain(cnn, X[0], **opts).search_score == explain(cnn, X[0], **opts).score  # fp32: the same
    many = explain_many(cnn, X[:2], precision="bf16", **opts)
    assert all(e.precision == "bf16" for e in many)
    with pytest.raises(ValueError, match="precision"):
        explain(cnn, X[0], precision="fp8")
    with pytest.raises(ValueError, match="precision"):
        explain_many(cnn, X[:2], precision="fp8")


def test_the_batch_rule_every_input_is_searched_with_the_seed_itself(exact):
    """Issue 29: an input's explanation does not depend on its place in a batch. explain_many of [a, b] gives b
    the trajectory of explain(b) with the same seed (not seed + 1), and b first or alone gives the same; so do
    Explainer.explain_many and a noise reference (drawn from the same seed)."""
    import trace_opt

    a, b = X[0], X[1]
    opts = dict(features=4, solver="sa", solver_options={"iterations": 120}, budget=600, reference="noise")
    solo = explain(exact, b, seed=7, **opts)
    for batch, where in (([a, b], 1), ([b, a], 0), ([b], 0), ([a, X[2], b], 2)):
        got = explain_many(exact, batch, seed=7, **opts)[where]
        assert _same(got, solo) and torch.equal(got.oracle.reference, solo.oracle.reference)
    explainer = trace_opt.Explainer(exact, seed=7, **opts)
    assert _same(explainer.explain_many([a, b])[1], solo) and _same(explainer.explain(b), solo)
    # a search with another seed is another search: the rule is what makes the batch's seed matter only once
    assert not np.array_equal(explain(exact, b, seed=8, **opts).trajectory, solo.trajectory)
