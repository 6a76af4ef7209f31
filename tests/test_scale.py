"""explain_dataset: one atomic result per input, failures recorded, resumable, pool = in-process."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from exact_models import ExactNet
from trace_opt import ModelOracle, TraceProblem, explain
from trace_opt.core.io import RecordStore
from trace_opt.explanation.dataset import comparable, explain_dataset, load_result


class LinearSoftmax:
    """A numpy black box: softmax of a fixed linear map, (B, 8, 8) -> (B, 10), counting its calls."""

    def __init__(self, seed: int = 0):
        self.W = np.random.default_rng(seed).normal(size=(64, 10))
        self.calls = 0

    def __call__(self, batch):
        self.calls += 1
        z = np.asarray(batch, dtype=np.float64).reshape(len(batch), -1) @ self.W
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * 64, 10)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


SETTINGS = dict(features=4, solver="sa", solver_options={"iterations": 200, "init": "random"}, budget=300, seed=5)


def _inputs(n=5, bad_at=None):
    rng = np.random.default_rng(0)
    xs = [rng.random((8, 8)) for _ in range(n)]
    if bad_at is not None:
        xs[bad_at] = rng.random((5, 5))  # the model cannot take it
    return xs


def _records(out, ids):
    return {i: load_result(out / "results" / f"{i}.json") for i in ids}


def test_one_file_per_input_failure_recorded_and_equal_to_explain(tmp_path):
    xs = _inputs(5, bad_at=2)
    ids = [f"in{i}" for i in range(5)]
    run = explain_dataset(LinearSoftmax(), xs, tmp_path, [3] * 5, ids, **SETTINGS)
    assert run.computed == ids and run.failed == ["in2"] and run.skipped == []
    recs = _records(tmp_path, ids)
    assert recs["in2"]["status"] == "error" and recs["in2"]["error"]["type"] == "ValueError"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"] == {"ok": 4, "error": 1, "missing": 0} and summary["status"]["in2"] == "error"
    for i in (0, 1, 3, 4):  # each result is what a direct explain() call gives
        exp = explain(LinearSoftmax(), xs[i], 3, **SETTINGS)
        rec = recs[f"in{i}"]
        assert rec["status"] == "ok" and rec["result"]["trajectory"] == exp.trajectory.tolist()
        assert rec["result"]["score"] == exp.score and rec["result"]["le_mo"] == exp.curves.le_mo
        np.testing.assert_array_equal(rec["result"]["heatmap"], exp.heatmap)
    assert not list(tmp_path.glob("results/.*"))  # no temporary files left


def test_interrupted_run_resumes_without_recomputing(tmp_path):
    xs, ids = _inputs(6), [f"x{i}" for i in range(6)]
    seen = []

    class Stop(Exception):
        pass

    def stop_after(k):
        def on_result(rec):
            seen.append(rec["id"])
            if len(seen) == k:
                raise Stop

        return on_result

    with pytest.raises(Stop):
        explain_dataset(LinearSoftmax(), xs, tmp_path / "a", [3] * 6, ids, on_result=stop_after(4), **SETTINGS)
    assert seen == ids[:4]
    assert all(r["status"] == "ok" for r in _records(tmp_path / "a", ids[:4]).values())
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["counts"]["missing"] == 2
    model = LinearSoftmax()
    run = explain_dataset(model, xs, tmp_path / "a", [3] * 6, ids, on_result=stop_after(-1), **SETTINGS)
    assert run.skipped == ids[:4] and run.computed == ids[4:]  # only the two missing inputs were explained
    assert seen == ids  # each input computed exactly once over both calls
    # and the results equal an uninterrupted run
    explain_dataset(LinearSoftmax(), xs, tmp_path / "b", [3] * 6, ids, **SETTINGS)
    a, b = _records(tmp_path / "a", ids), _records(tmp_path / "b", ids)
    assert all(comparable(a[i]) == comparable(b[i]) for i in ids)
    # a third call does no model call at all
    model = LinearSoftmax()
    run = explain_dataset(model, xs, tmp_path / "a", [3] * 6, ids, **SETTINGS)
    assert run.computed == [] and model.calls == 0


def test_failed_inputs_retried_and_changed_settings_recomputed(tmp_path):
    xs = _inputs(3, bad_at=1)
    run = explain_dataset(LinearSoftmax(), xs, tmp_path, [0, 0, 0], **SETTINGS)
    assert run.failed == ["000001"]
    run = explain_dataset(LinearSoftmax(), xs, tmp_path, [0, 0, 0], retry_failed=False, **SETTINGS)
    assert run.computed == [] and run.failed == ["000001"]
    run = explain_dataset(LinearSoftmax(), xs, tmp_path, [0, 0, 0], **SETTINGS)
    assert run.computed == ["000001"]
    other = {**SETTINGS, "budget": 301}
    run = explain_dataset(LinearSoftmax(), xs, tmp_path, [0, 0, 0], overwrite=True, **other)
    assert run.computed == ["000000", "000001", "000002"]  # another configuration is not "finished"


@pytest.mark.slow
def test_process_pool_equals_in_process(tmp_path):
    """Identical records on a batch- and CPU-invariant torch model (worker processes run torch with
    other thread counts, which changes a CNN's last bits); on a CNN each pool result is checked to be
    scored correctly, within float32 tolerance."""
    xs = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    exact = ExactNet(n_inputs=64, n_classes=10).eval()
    local = explain_dataset(exact, xs, tmp_path / "local", **SETTINGS)
    pool = explain_dataset(exact, xs, tmp_path / "pool", n_jobs=2, chunk_size=2, **SETTINGS)
    assert sorted(pool.computed) == local.computed and not pool.failed
    a, b = _records(tmp_path / "local", local.computed), _records(tmp_path / "pool", local.computed)
    assert all(comparable(a[i]) == comparable(b[i]) for i in local.computed)
    assert {r["run"]["pid"] for r in b.values()} != {r["run"]["pid"] for r in a.values()}
    cnn = SmallCNN().eval()
    pool = explain_dataset(cnn, xs, tmp_path / "cnn", n_jobs=2, chunk_size=2, **SETTINGS)
    assert not pool.failed
    for i, record in _records(tmp_path / "cnn", pool.computed).items():
        result = record["result"]
        problem = TraceProblem(ModelOracle(cnn, xs[int(i)], None, features=4), "le-mo")
        value = problem.to_paper_units(problem.score(result["trajectory"]))
        assert value == pytest.approx(result["value"], rel=1e-5, abs=1e-5)


def test_validation(tmp_path):
    xs = _inputs(2)
    with pytest.raises(ValueError, match="file-name safe"):
        explain_dataset(LinearSoftmax(), xs, tmp_path, ids=["a/b", "c"], **SETTINGS)
    with pytest.raises(ValueError, match="unique"):
        explain_dataset(LinearSoftmax(), xs, tmp_path, ids=["a", "a"], **SETTINGS)
    with pytest.raises(ValueError, match="targets has 1"):
        explain_dataset(LinearSoftmax(), xs, tmp_path, targets=[1], **SETTINGS)
    with pytest.raises(ValueError, match="empty"):
        explain_dataset(LinearSoftmax(), [], tmp_path, **SETTINGS)
    with pytest.raises(ValueError, match="solver"):
        explain_dataset(LinearSoftmax(), xs, tmp_path, solver="nope")
    with pytest.raises(ValueError, match="n_jobs"):
        explain_dataset(LinearSoftmax(), xs, tmp_path, n_jobs=0, **SETTINGS)


# ------------------------------------------------------------------------ stale results on resume
def test_changed_input_or_target_is_recomputed(tmp_path):
    xs, ids = _inputs(3), ["a", "b", "c"]
    run = explain_dataset(LinearSoftmax(), xs, tmp_path, [3, 3, 3], ids, **SETTINGS)
    assert run.computed == ids
    rec = load_result(tmp_path / "results" / "a.json")
    assert set(rec["input"]) == {"sha256", "target"} and rec["input"]["target"] == 3
    changed = list(xs)
    changed[1] = xs[1] + 0.25  # same id, same settings, another input
    run = explain_dataset(LinearSoftmax(), changed, tmp_path, [3, 3, 4], ids, **SETTINGS)  # and c's target changed
    assert run.skipped == ["a"] and run.computed == ["b", "c"]
    exp = explain(LinearSoftmax(), changed[1], 3, **SETTINGS)
    assert load_result(tmp_path / "results" / "b.json")["result"]["trajectory"] == exp.trajectory.tolist()
    assert load_result(tmp_path / "results" / "c.json")["target"] == 4
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"] == {"ok": 3, "error": 0, "missing": 0}
    # going back to the old input of b computes b again (its file holds the changed input's result)
    run = explain_dataset(LinearSoftmax(), xs, tmp_path, [3, 3, 4], ids, **SETTINGS)
    assert run.computed == ["b"] and run.skipped == ["a", "c"]


def test_black_box_with_other_weights_is_recomputed(tmp_path):
    xs, ids = _inputs(2), ["a", "b"]
    explain_dataset(LinearSoftmax(seed=0), xs, tmp_path, [3, 3], ids, **SETTINGS)
    run = explain_dataset(LinearSoftmax(seed=0), xs, tmp_path, [3, 3], ids, **SETTINGS)
    assert run.computed == [] and run.skipped == ids  # same class, same weights: reused
    with pytest.raises(ValueError, match=r"other settings \(model: \"sha256:"):
        explain_dataset(LinearSoftmax(seed=1), xs, tmp_path, [3, 3], ids, **SETTINGS)
    run = explain_dataset(LinearSoftmax(seed=1), xs, tmp_path, [3, 3], ids, overwrite=True, **SETTINGS)
    assert run.computed == ids  # same class, other weights: not reused
    exp = explain(LinearSoftmax(seed=1), xs[0], 3, **SETTINGS)
    assert load_result(tmp_path / "results" / "a.json")["result"]["score"] == exp.score


def test_unpicklable_model_needs_a_model_id_to_resume(tmp_path):
    xs, ids = _inputs(2), ["a", "b"]
    inner = LinearSoftmax()
    model = lambda batch: inner(batch)  # noqa: E731 - a lambda cannot be pickled, so it has no fingerprint
    run = explain_dataset(model, xs, tmp_path / "fresh", [3, 3], ids, **SETTINGS)
    assert run.computed == ids  # a fresh directory works
    with pytest.raises(ValueError, match=r"cannot resume in .*fresh.*cannot be pickled.*model_id="):
        explain_dataset(model, xs, tmp_path / "fresh", [3, 3], ids, **SETTINGS)
    run = explain_dataset(model, xs, tmp_path / "fresh", [3, 3], ids, model_id="linear-v1", overwrite=True, **SETTINGS)
    assert run.computed == ids  # results without an id are not trusted
    run = explain_dataset(model, xs, tmp_path / "fresh", [3, 3], ids, model_id="linear-v1", **SETTINGS)
    assert run.skipped == ids and run.computed == []
    with pytest.raises(ValueError, match=r'model: "id:linear-v1" there, "id:linear-v2" now'):
        explain_dataset(model, xs, tmp_path / "fresh", [3, 3], ids, model_id="linear-v2", **SETTINGS)
    run = explain_dataset(model, xs, tmp_path / "fresh", [3, 3], ids, model_id="linear-v2", overwrite=True, **SETTINGS)
    assert run.computed == ids
    with pytest.raises(ValueError, match="model_id"):
        explain_dataset(model, xs, tmp_path / "x", [3, 3], ids, model_id="", **SETTINGS)


def _folder_bytes(out):
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_a_rerun_with_other_settings_is_refused_unless_overwrite(tmp_path):
    """Issue 22 item 4: OUT/run.json records the run's settings; a rerun with another seed is refused
    before any work (naming what differs, the folder unchanged); overwrite=True deletes the results of
    the other settings, those of inputs not in the new run included, and runs anew."""
    xs, ids = _inputs(3), ["a", "b", "c"]
    explain_dataset(LinearSoftmax(), xs, tmp_path, [3, 3, 3], ids, **SETTINGS)
    run_json = json.loads((tmp_path / "run.json").read_text())
    assert run_json["config"]["seed"] == 5 and run_json["settings"]["solver"] == "sa"
    before = _folder_bytes(tmp_path)
    model = LinearSoftmax()
    for change in ({"seed": 1}, {"budget": 301}, {"solver_options": {"iterations": 201, "init": "random"}}):
        key = next(iter(change))
        with pytest.raises(ValueError, match=rf"other settings \({key}: .* there, .* now.*overwrite=True"):
            explain_dataset(model, xs, tmp_path, [3, 3, 3], ids, **{**SETTINGS, **change})
    assert model.calls == 0 and _folder_bytes(tmp_path) == before  # refused before any work, nothing changed
    run = explain_dataset(model, xs[:2], tmp_path, [3, 3], ids[:2], **SETTINGS)  # same settings: resumes
    assert run.skipped == ids[:2] and model.calls == 0
    run = explain_dataset(LinearSoftmax(), xs[:2], tmp_path, [3, 3], ids[:2], overwrite=True, **{**SETTINGS, "seed": 1})
    assert run.computed == ids[:2]
    assert sorted(p.name for p in (tmp_path / "results").glob("*.json")) == ["a.json", "b.json"]  # c's old one gone
    assert json.loads((tmp_path / "run.json").read_text())["config"]["seed"] == 1
    exp = explain(LinearSoftmax(), xs[0], 3, **{**SETTINGS, "seed": 1})
    assert load_result(tmp_path / "results" / "a.json")["result"]["trajectory"] == exp.trajectory.tolist()


def test_results_of_other_settings_without_run_json_are_refused_too(tmp_path):
    """A folder from an earlier version (no run.json, no summary.json) whose result files carry another
    configuration hash is refused as well; garbage files alone are not a reason to refuse."""
    xs, ids = _inputs(2), ["a", "b"]
    explain_dataset(LinearSoftmax(), xs, tmp_path, [3, 3], ids, **SETTINGS)
    (tmp_path / "run.json").unlink()
    (tmp_path / "summary.json").unlink()
    with pytest.raises(ValueError, match=r"2 result file\(s\) of other settings, e.g. a.json"):
        explain_dataset(LinearSoftmax(), xs, tmp_path, [3, 3], ids, **{**SETTINGS, "seed": 1})
    run = explain_dataset(LinearSoftmax(), xs, tmp_path, [3, 3], ids, **SETTINGS)  # its own settings: resumes
    assert run.skipped == ids
    (tmp_path / "run.json").unlink()
    (tmp_path / "summary.json").unlink()
    for i in ids:
        (tmp_path / "results" / f"{i}.json").write_text("not json")
    run = explain_dataset(LinearSoftmax(), xs, tmp_path, [3, 3], ids, **{**SETTINGS, "seed": 1})
    assert run.computed == ids


def test_results_table_and_plot(tmp_path):
    """Issue 22 item 9: results.md has one row per input (the failed one as an error) and the means over
    the finished ones; results.png shows the mean deletion curves."""
    xs, ids = _inputs(3, bad_at=1), ["a", "b", "c"]
    explain_dataset(LinearSoftmax(), xs, tmp_path, [3, 3, 3], ids, **SETTINGS)
    table = (tmp_path / "results.md").read_text()
    recs = _records(tmp_path, ids)
    for i in ("a", "c"):
        assert f"| {i} | ok | 3 | {recs[i]['result']['auc_le']:.5g} | {recs[i]['result']['auc_mo']:.5g} |" in table
    assert "| b | error | 3 |" in table
    mean = np.mean([recs[i]["result"]["value"] for i in ("a", "c")])
    assert "Mean over 2 finished input(s)" in table and f"value {mean:.5g}" in table
    assert (tmp_path / "results.png").stat().st_size > 5000


def test_results_are_kept_by_the_record_store(tmp_path):
    """Per-input records go through core.io.RecordStore: each carries the store's settings key (the run's
    config_hash, also in run.json) and its input's key; a record whose keys do not match is computed again,
    and every input is searched with the run's seed itself."""
    xs, ids = _inputs(3), ["a", "b", "c"]
    explain_dataset(LinearSoftmax(), xs, tmp_path, [3] * 3, ids, **SETTINGS)
    run_json = json.loads((tmp_path / "run.json").read_text())
    records = _records(tmp_path, ids)
    assert {r["settings_key"] for r in records.values()} == {run_json["config_hash"]}
    assert all(r["config_hash"] == r["settings_key"] for r in records.values())
    assert RecordStore(tmp_path / "results", run_json["config"]).settings_key == run_json["config_hash"]
    assert {r["result"]["solver"]["seed"] for r in records.values()} == {SETTINGS["seed"]}
    edited = dict(records["b"], item_key="another input")
    (tmp_path / "results" / "b.json").write_text(json.dumps(edited))
    run = explain_dataset(LinearSoftmax(), xs, tmp_path, [3] * 3, ids, **SETTINGS)
    assert run.computed == ["b"] and run.skipped == ["a", "c"]
    assert comparable(_records(tmp_path, ["b"])["b"]) == comparable(records["b"])
