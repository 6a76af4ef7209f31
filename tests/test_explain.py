"""explain(): end to end on a tiny torch CNN and on a scikit-learn model through a callable."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import trace_opt
from brute import brute_force
from solvers import Greedy
from trace_opt import ModelOracle, TraceProblem, tabular_features, trajectory_to_heatmap

torch.set_num_threads(1)


class TinyCNN(torch.nn.Module):
    """1 x 8 x 8 -> 10 classes; seeded random weights (the explanation is about the model as it is)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 4 * 4, 10)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        h = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(h.flatten(1))


@pytest.fixture(scope="module")
def cnn_and_x():
    x = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(3))
    return TinyCNN().eval(), x


def direct(model, x, ref, ids, deleted, target, output):
    xx = x.clone()
    for i in deleted:
        sel = torch.as_tensor(np.broadcast_to(ids == i, tuple(x.shape)).copy())
        xx[sel] = ref[sel]
    with torch.no_grad():
        z = model(xx[None]).double()
    return float((torch.softmax(z, 1) if output == "prob" else z)[0, target])


@pytest.mark.parametrize("objective,output", [("le-mo", "logit"), ("le", "prob"), ("mo", "logit")])
def test_explain_tiny_cnn(cnn_and_x, objective, output):
    model, x = cnn_and_x
    calls0 = model.calls
    exp = trace_opt.explain(
        model,
        x,
        features=4,
        reference="blur",
        sigma=1.0,
        output=output,
        objective=objective,
        solver="sa",
        solver_options={"iterations": 150},
        budget=600,
        seed=0,
        heatmap_alpha=2.0,
    )
    model_calls = model.calls - calls0
    t = 16
    with torch.no_grad():
        predicted = int(model(x[None]).argmax())
    assert exp.target == predicted and exp.objective == objective and exp.output == output
    assert sorted(exp.trajectory.tolist()) == list(range(t))
    # heatmap: the feature map's shape, the trajectory's ranks, bilinear on the 4 x 4 grid
    assert exp.heatmap.shape == (8, 8)
    np.testing.assert_array_equal(exp.heatmap, trajectory_to_heatmap(exp.trajectory, exp.features, alpha=2.0))
    # curves: D(P_k) and D(k most important deleted) straight from the model
    oracle = exp.oracle
    ids, ref = exp.features.ids, oracle.reference
    sigma = exp.trajectory.tolist()
    le = [direct(model, x, ref, ids, sigma[:k], exp.target, output) for k in range(t + 1)]
    mo = [direct(model, x, ref, ids, sigma[t - k :], exp.target, output) for k in range(t + 1)]
    np.testing.assert_allclose(exp.curves.lerf_deletion, le, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(exp.curves.morf_deletion, mo, rtol=1e-5, atol=1e-7)
    expected_value = {"le": exp.curves.auc_le, "mo": exp.curves.auc_mo, "le-mo": exp.curves.le_mo}[objective]
    assert exp.value == pytest.approx(expected_value, rel=1e-12, abs=1e-12)
    assert exp.score == pytest.approx(-expected_value if objective == "mo" else expected_value, rel=1e-12, abs=1e-12)
    # counters: the probe pass on x, the search (within budget), the final curves
    r = exp.result
    assert r.forward_passes <= 600
    assert exp.counters["forward_passes"] == 1 + r.forward_passes + r.evaluation_forward_passes
    assert exp.counters["forward_passes"] == oracle.forward_passes
    assert model_calls == exp.counters["batches"]  # every model call is counted (no hidden passes)
    assert exp.counters["requests"] == exp.counters["cache_hits"] + exp.counters["forward_passes"]
    # SA starts from greedy on the same objective (init="greedy", LeRF direction) and only keeps improvements
    greedy = Greedy().solve(
        TraceProblem(
            ModelOracle(model, x, exp.target, features=4, reference="blur", sigma=1.0, output=output), objective
        )
    )
    assert exp.score >= greedy.score - 1e-9
    d = json.loads(json.dumps(exp.to_dict()))
    assert d["trajectory"] == sigma and d["t"] == t and d["solver"]["solver"] == "sa"


def test_explain_is_reproducible_and_respects_an_explicit_target(cnn_and_x):
    model, x = cnn_and_x
    kw = dict(features=(2, 4), solver="sa", solver_options={"iterations": 100, "init": "random"}, seed=7)
    a = trace_opt.explain(model, x, 3, **kw)
    b = trace_opt.explain(model, x, 3, **kw)
    assert a.target == 3 and np.array_equal(a.trajectory, b.trajectory) and a.score == b.score
    assert a.heatmap.shape == (8, 8) and a.oracle.t == 8


@pytest.fixture(scope="module")
def breast_cancer():
    data = load_breast_cancer()
    X = (data.data - data.data.mean(0)) / data.data.std(0)
    clf = LogisticRegression(max_iter=500).fit(X[:400], data.target[:400])
    return clf, X[420]


@pytest.mark.parametrize(
    "solver,options", [("greedy", {}), ("sa", {"iterations": 300, "init": "random", "T0": 0.02, "eta": 0.98})]
)
def test_explain_sklearn_callable(breast_cancer, solver, options):
    clf, x = breast_cancer
    groups = [list(range(5 * g, 5 * g + 5)) for g in range(6)]
    feats = tabular_features(30, groups=groups, names=[f"g{g}" for g in range(6)])
    calls = []

    def fn(batch):
        calls.append(len(batch))
        return clf.predict_proba(batch)

    exp = trace_opt.explain(
        fn,
        x,
        target=1,
        features=feats,
        reference="zeros",
        objective="le-mo",
        solver=solver,
        solver_options=options,
        seed=0,
    )
    assert exp.output == "raw" and exp.target == 1
    assert sorted(exp.trajectory.tolist()) == list(range(6))
    assert exp.heatmap.shape == (30,)
    rank = {int(f): k for k, f in enumerate(exp.trajectory)}
    np.testing.assert_allclose(exp.heatmap, [(rank[g] + 1) / 6 for g in feats.ids], rtol=1e-12)

    def D(deleted):
        row = x.copy()
        for g in deleted:
            row[groups[g]] = 0.0
        return clf.predict_proba(row[None])[0, 1]

    sigma = exp.trajectory.tolist()
    np.testing.assert_allclose(exp.curves.lerf_deletion, [D(sigma[:k]) for k in range(7)], rtol=1e-12)
    np.testing.assert_allclose(exp.curves.morf_deletion, [D(sigma[6 - k :]) for k in range(7)], rtol=1e-12)
    assert exp.value == pytest.approx(exp.curves.le_mo, rel=1e-12)
    assert exp.counters["forward_passes"] == sum(calls) == oracle_passes(exp)
    assert exp.counters["batches"] == len(calls)
    # brute force over 6! orders: the solver's score is attainable and the optimum bounds it
    best = brute_force(TraceProblem(exp.oracle, "le-mo")).best
    assert exp.score <= best + 1e-12
    if solver == "sa":
        assert exp.score == pytest.approx(best, rel=1e-9)  # 300 SA steps suffice for t = 6 here
    json.dumps(exp.to_dict())


def oracle_passes(exp):
    return exp.oracle.forward_passes


def test_explain_default_features_for_tabular_rows(breast_cancer):
    """A 1-D row defaults to one feature per column (a grid needs H x W), for torch and callables."""
    clf, x = breast_cancer
    mlp = torch.nn.Sequential(torch.nn.Linear(30, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
    exp = trace_opt.explain(mlp, torch.as_tensor(x, dtype=torch.float32), solver="greedy")
    assert exp.oracle.t == 30 and exp.heatmap.shape == (30,) and exp.output == "logit"
    exp = trace_opt.explain(clf.predict_proba, x, target=1, solver="greedy")
    assert exp.oracle.t == 30 and exp.output == "raw"
    img = trace_opt.explain(TinyCNN().eval(), torch.rand(1, 8, 8), solver="greedy")
    assert img.oracle.t == 16 and img.features.grid == (4, 4)  # images: the 4 x 4 grid as before


def test_explain_output_is_not_silently_ignored_for_callables(breast_cancer):
    clf, x = breast_cancer
    for output in ("prob", "log_prob", "logit"):
        with pytest.raises(ValueError, match="output"):
            trace_opt.explain(clf.predict_proba, x, target=1, output=output, solver="greedy")
    exp = trace_opt.explain(clf.predict_proba, x, target=1, output="raw", solver="greedy")
    assert exp.output == "raw"
    with pytest.raises(ValueError, match="output='raw'"):
        trace_opt.explain(TinyCNN().eval(), torch.rand(1, 8, 8), output="raw")


def test_explain_seed_also_draws_the_noise_reference(cnn_and_x):
    model, x = cnn_and_x
    kw = dict(features=2, reference="noise", solver="greedy")
    a = trace_opt.explain(model, x, seed=1, **kw).oracle.reference
    b = trace_opt.explain(model, x, seed=1, **kw).oracle.reference
    c = trace_opt.explain(model, x, seed=2, **kw).oracle.reference
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a, trace_opt.make_reference("noise", x, trace_opt.grid_features((8, 8), 2), seed=1))


def test_explanation_saved_atomically_reads_back(cnn_and_x, tmp_path):
    import os
    import stat

    from trace_opt.core.io import atomic_write_json

    model, x = cnn_and_x
    exp = trace_opt.explain(model, x, features=2, solver="greedy")
    path = atomic_write_json(tmp_path / "sub" / "exp.json", exp.to_dict())
    assert json.loads(path.read_text()) == json.loads(json.dumps(exp.to_dict()))
    assert [p.name for p in path.parent.iterdir()] == ["exp.json"]  # no temporary file left behind
    # permissions as a plain open() would give them (mkstemp alone makes the file owner-only)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    atomic_write_json(path, {"a": 1})  # replaces the old file
    assert json.loads(path.read_text()) == {"a": 1}


def test_explain_refuses_a_bad_device_or_non_finite_x_for_callables_before_any_call(breast_cancer):
    """The checks live in the oracles (and explain keeps refusing a bad device for a callable too)."""
    clf, x = breast_cancer
    calls = []

    def fn(batch):
        calls.append(len(batch))
        return clf.predict_proba(batch)

    with pytest.raises(ValueError, match="device='cudaX' is not valid"):
        trace_opt.explain(fn, x, target=1, device="cudaX", solver="greedy")
    bad = x.copy()
    bad[[3, 7]] = np.nan
    with pytest.raises(ValueError, match="x contains 2 NaN or infinite"):
        trace_opt.explain(fn, bad, target=1, solver="greedy")
    with pytest.raises(ValueError, match=r"target=None: the callable model returns \(B, n_classes\) scores"):
        trace_opt.explain(fn, x, solver="greedy")
    assert calls == [1]  # only the probe that showed (B, n_classes) scores


def test_explanation_save_writes_its_dict_with_the_heatmap(tmp_path):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    x = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(0))
    exp = trace_opt.explain(model, x, target=1, features=2, solver="greedy")
    path = exp.save(tmp_path / "out" / "exp.json")
    saved = json.loads(path.read_text())
    assert saved == json.loads(json.dumps(exp.to_dict(heatmap=True)))
    assert saved["trajectory"] == exp.trajectory.tolist() and np.allclose(saved["heatmap"], exp.heatmap)
    assert "heatmap" not in exp.to_dict() and sorted(p.name for p in path.parent.iterdir()) == ["exp.json"]


def test_explanation_load_reads_what_save_writes(tmp_path):
    """Issue 22 item 9: Explanation.load is the inverse of save (and reads explain_dataset records)."""
    import json

    from trace_opt.explanation.dataset import explain_dataset
    from trace_opt.explanation.single import Explanation

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    x = torch.rand(1, 8, 8)
    exp = trace_opt.explain(model, x, 1, features=4, solver="sa", solver_options={"iterations": 50}, budget=200)
    path = exp.save(tmp_path / "e.json")
    got = Explanation.load(path)
    assert got.trajectory.tolist() == exp.trajectory.tolist() and got.score == exp.score and got.value == exp.value
    assert got.curves.auc_le == pytest.approx(exp.curves.auc_le) and got.curves.le_mo == pytest.approx(exp.curves.le_mo)
    assert np.array_equal(got.heatmap, np.asarray(exp.heatmap)) and got.target == 1 and got.oracle is None
    assert got.to_dict(heatmap=True) == json.loads(path.read_text())
    assert "heatmap" not in got.to_dict()
    explain_dataset(
        model, x[None], tmp_path / "ds", [1], features=4, solver="sa", solver_options={"iterations": 50}, budget=200
    )
    rec = Explanation.load(tmp_path / "ds" / "results" / "000000.json")
    assert rec.trajectory.tolist() == exp.trajectory.tolist()
    (tmp_path / "bad.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="is not a saved explanation"):
        Explanation.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="could not be read"):
        Explanation.load(tmp_path / "missing.json")


def _count_builds(monkeypatch) -> dict:
    """Wrap the builders of the explain path so that each call is counted: the solver, the features, the
    reference, the model checks and the oracle (every name they are reached by)."""
    import solvers
    import trace_opt.explanation.explainer as explainer_module
    import trace_opt.explanation.lockstep as lockstep_module
    import trace_opt.explanation.settings as settings_module
    import trace_opt.explanation.single as single_module
    import trace_opt.models.oracles as oracles_module

    counts = {}

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            counts[name] = counts.get(name, 0) + 1
            return fn(*args, **kwargs)

        return wrapper

    for module, attr, name in (
        (settings_module, "get_solver", "solver"),
        (solvers, "get_solver", "solver"),
        (settings_module, "as_features", "features"),
        (oracles_module, "as_features", "features"),
        (settings_module, "make_reference", "reference"),
        (oracles_module, "make_reference", "reference"),
        (single_module, "make_oracle", "oracle"),
    ):
        monkeypatch.setattr(module, attr, counted(name, getattr(module, attr)))
    check = counted("check_model", single_module.check_model)
    for module in (single_module, explainer_module, lockstep_module):
        monkeypatch.setattr(module, "check_model", check)
    return counts


@pytest.mark.parametrize("reference", ["zeros", "blur", "noise"])
def test_one_explanation_builds_each_object_once(cnn_and_x, monkeypatch, reference):
    """Issue 29: explain() builds the solver, the features and the reference once each, checks the model once
    and makes one oracle (it used to build the solver three times, the features and the reference twice, and
    check the model twice); the numbers are those of an oracle built directly."""
    model, x = cnn_and_x
    counts = _count_builds(monkeypatch)
    exp = trace_opt.explain(model, x, features=4, reference=reference, solver="sa", budget=200, seed=5)
    assert counts == {"solver": 1, "features": 1, "reference": 1, "check_model": 1, "oracle": 1}
    monkeypatch.undo()
    direct = ModelOracle(model, x, exp.target, features=4, reference=reference, seed=5)
    assert torch.equal(exp.oracle.reference, direct.reference)
    # (the CNN's float32 sums depend on the batch a set comes in: equal within that rounding)
    assert TraceProblem(direct, "le-mo").score(exp.trajectory) == pytest.approx(exp.score, rel=1e-6)


def test_an_explainer_checks_once_and_builds_per_input_only_what_belongs_to_the_input(cnn_and_x, monkeypatch):
    """An Explainer checks the model and builds the solver once for all its explanations; each input gets its
    own features, reference and oracle, once. explain_many does the same for its batch."""
    model, x = cnn_and_x
    counts = _count_builds(monkeypatch)
    explainer = trace_opt.Explainer(model, features=4, solver="greedy")
    for _ in range(3):
        explainer.explain(x)
    assert counts == {"solver": 1, "check_model": 1, "features": 3, "reference": 3, "oracle": 3}
    counts.clear()
    explainer.explain_many([x, x * 0.5, x * 0.25])
    assert counts == {"check_model": 1, "features": 3, "reference": 3, "oracle": 3}
    counts.clear()
    trace_opt.explain_many(model, [x, x * 0.5], features=4, solver="greedy")
    assert counts == {"solver": 1, "check_model": 1, "features": 2, "reference": 2, "oracle": 2}


def test_settings_copies_share_an_unchanged_solver():
    s = trace_opt.ExplainSettings(solver="sa", solver_options={"iterations": 10})
    assert s.replace(budget=100).solver_object() is s.solver_object()
    assert s.replace(seed=3, features=2).solver_object() is s.solver_object()
    other = s.replace(solver_options={"iterations": 20})
    assert other.solver_object() is not s.solver_object() and other.solver_object().get_params()["iterations"] == 20
    assert s.replace(solver="greedy", solver_options={}).solver_object().name == "greedy"


def test_explanation_save_keeps_its_context_and_loads_back(cnn_and_x, tmp_path):
    """What produced an explanation is saved beside it (the explain command's explanation.json), and the file
    still loads as the explanation; a context key that is a field of the explanation is refused."""
    from trace_opt.explanation.single import Explanation

    model, x = cnn_and_x
    exp = trace_opt.explain(model, x, features=4, solver="greedy")
    path = exp.save(tmp_path / "e.json", heatmap=False, context={"command": "explain", "seconds": 1.5})
    saved = json.loads(path.read_text())
    assert saved == {**json.loads(json.dumps(exp.to_dict())), "command": "explain", "seconds": 1.5}
    got = Explanation.load(path)
    assert got.trajectory.tolist() == exp.trajectory.tolist() and got.to_dict() == saved
    with pytest.raises(ValueError, match="fields of the explanation"):
        exp.save(tmp_path / "f.json", context={"score": 1})
    assert not (tmp_path / "f.json").exists()
