"""Evaluation: per-input records against brute force, summaries, the resumable cache, the sanity
check, black boxes, and the report folder end to end."""

import json

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from brute import brute_force
from trace_opt import TraceProblem, grid_features, tabular_features
from trace_opt.comparison.evaluation import (
    BlackBox,
    EvaluationConfig,
    evaluate_input,
    evaluate_inputs,
    evaluation_oracle,
    evaluation_settings,
    headline,
    paper_sa_iterations,
    paper_sa_options,
    parameter_layers,
    randomised_model,
    sanity_check,
    spearman_of_trajectories,
    summarise,
    trace_name,
    with_sa_iterations,
)

FAST = dict(
    methods=["input-x-gradient", "feature-ablation", "random"],
    explain=evaluation_settings(sa_iterations=300, batch_size=64),
)


def small_cnn(seed=0, n_classes=3):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 16, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, n_classes),
    ).eval()


class Counting(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def brute_force_best(oracle, objective):
    return brute_force(TraceProblem(oracle, objective)).best


@pytest.fixture(scope="module")
def cnn_record():
    model = small_cnn()
    x = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(1))
    feats = grid_features((4, 4), (2, 3))  # t = 6: all 720 orders can be checked
    config = EvaluationConfig(**FAST)
    rec = evaluate_input(model, x, 0, feats, "zeros", config, index=0, keep_maps=True)
    return model, x, feats, config, rec


def test_exact_optimum_matches_brute_force_and_bounds_every_method(cnn_record):
    model, x, feats, config, rec = cnn_record
    for o in config.trace_outputs:
        oracle = evaluation_oracle(model, x, 0, feats, "zeros", o)
        comp = rec["complete"][o]
        for obj in config.trace_objectives:
            best = brute_force_best(oracle, obj)
            assert comp["objectives"][obj]["optimum"] == pytest.approx(best, rel=1e-6, abs=1e-6)
            assert comp["objectives"][obj]["bound"] >= best - 1e-6
            problem = TraceProblem(oracle, obj)
            for name, m in rec["methods"].items():
                assert problem.score(m["trajectory"]) <= best + 1e-6, (o, obj, name)
            # SA's recorded chain score is the score of its trajectory
            sa = rec["methods"][trace_name(o, obj)]
            assert sa["score"] == pytest.approx(problem.score(sa["trajectory"]), rel=1e-6, abs=1e-6)
            assert comp["objectives"][obj]["sa_score"] == pytest.approx(sa["score"], rel=1e-9, abs=1e-9)
        # CS envelopes: the LeRF curve of any trajectory lies below envelope_le, MoRF above envelope_mo
        for m in rec["methods"].values():
            assert np.all(np.asarray(m["curves"][o]["le"]) <= np.asarray(comp["envelope_le"]) + 1e-6)
            assert np.all(np.asarray(m["curves"][o]["mo"]) >= np.asarray(comp["envelope_mo"]) - 1e-6)


def test_record_curves_are_the_deletion_curves(cnn_record):
    model, x, feats, config, rec = cnn_record
    oracle = evaluation_oracle(model, x, 0, feats, "zeros", "prob")
    for name, m in rec["methods"].items():
        sigma = np.asarray(m["trajectory"])
        le = [float(oracle.evaluate(np.isin(np.arange(6), sigma[:k]))) for k in range(7)]
        mo = [float(oracle.evaluate(np.isin(np.arange(6), sigma[6 - k :]))) for k in range(7)]
        np.testing.assert_allclose(
            m["curves"]["prob"]["le"], le, rtol=1e-6
        )  # float32 model: batch composition moves the last bits
        np.testing.assert_allclose(
            m["curves"]["prob"]["mo"], mo, rtol=1e-6
        )  # float32 model: batch composition moves the last bits
    assert set(rec["maps"]) == set(rec["methods"])
    assert rec["f_x"]["prob"] == pytest.approx(rec["methods"]["random"]["curves"]["prob"]["le"][0])


def test_summary_table_and_headline_are_means_over_records(cnn_record):
    _, _, _, _, rec = cnn_record
    other = json.loads(json.dumps(rec))
    for m in other["methods"].values():  # a second, shifted record: le - mo is unchanged by a shift
        for o in m["curves"].values():
            o["le"] = [v + 1.0 for v in o["le"]]
            o["mo"] = [v + 1.0 for v in o["mo"]]
    s = summarise([rec, other])
    for o in ("logit", "prob"):
        for name in s["methods"]:
            le = [sum(r["methods"][name]["curves"][o]["le"]) for r in (rec, other)]
            mo = [sum(r["methods"][name]["curves"][o]["mo"]) for r in (rec, other)]
            assert s["table"][o][name]["auc_le"] == pytest.approx(np.mean(le))
            assert s["table"][o][name]["le_mo"] == pytest.approx(np.mean(le) - np.mean(mo))
        h = s["headline"][o]
        base = {m: s["table"][o][m]["le_mo"] for m in ("input-x-gradient", "feature-ablation")}
        assert h["best_baseline"] == max(base, key=base.get)
        assert h["factor"] == pytest.approx(s["table"][o][trace_name(o, "le-mo")]["le_mo"] / max(base.values()))
        assert s["table"][o]["cs-bound"]["le_mo"] >= s["table"][o][trace_name(o, "le-mo", "exact")]["le_mo"] - 1e-9
        assert h["max_factor"] >= h["factor"] - 1e-9  # the CS bound caps every trajectory, SA's included
        assert h["inputs_trace_ahead"] + h["inputs_tied"] + h["inputs_baseline_ahead"] == 2
    for o, h in headline(s).items():  # summarise adds the paired per-input counts to the same numbers
        assert {k: s["headline"][o][k] for k in h} == h


def test_evaluate_inputs_resumes_from_the_cache(tmp_path):
    inner = small_cnn(1)
    model = Counting(inner).eval()
    feats = grid_features((4, 4), 2)
    xs = [torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    config = EvaluationConfig(**FAST, keep_maps=1)
    first = evaluate_inputs(model, xs, [0, 1], feats, "zeros", config, cache_dir=tmp_path, progress=False)
    calls = model.calls
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input_0000.json", "input_0001.json"]
    again = evaluate_inputs(model, xs, [0, 1], feats, "zeros", config, cache_dir=tmp_path, progress=False)
    assert model.calls == calls  # nothing recomputed
    assert [r["methods"] for r in again] == [json.loads(json.dumps(r["methods"])) for r in first]
    changed = EvaluationConfig(
        **{**FAST, "explain": evaluation_settings(sa_iterations=301, batch_size=64)}, keep_maps=1
    )
    evaluate_inputs(model, xs, [0, 1], feats, "zeros", changed, cache_dir=tmp_path, progress=False)
    assert model.calls > calls  # a different configuration does not reuse stale records


def _without_timing(record: dict):
    """A record without what differs between two computations of it: its place in the list and its timings."""
    if isinstance(record, dict):
        return {k: _without_timing(v) for k, v in record.items() if k not in ("index", "seconds", "seconds_table")}
    return record


def test_an_inputs_record_does_not_depend_on_its_place_in_the_list():
    """The batch rule: every input is searched (and its random baselines drawn) with the settings' seed itself,
    so an input's record is the same whether it is evaluated first or third."""
    model = small_cnn(1)
    feats = grid_features((4, 4), 2)
    a, b, c = (torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(i)) for i in (11, 12, 13))
    config = EvaluationConfig(**FAST, keep_maps=0)
    first = evaluate_inputs(model, [a, b, c], [0, 1, 2], feats, "zeros", config, progress=False)
    third = evaluate_inputs(model, [c, b, a], [2, 1, 0], feats, "zeros", config, progress=False)
    assert first[0]["index"] == 0 and third[2]["index"] == 2
    assert _without_timing(first[0]) == _without_timing(third[2])
    assert first[0]["seed"] == third[2]["seed"] == config.explain.seed
    # the random baseline is seeded by the settings too: the same draw on every input of the batch
    other_seed = EvaluationConfig(**{**FAST, "explain": evaluation_settings(sa_iterations=300, seed=5)}, keep_maps=0)
    moved = evaluate_inputs(model, [a], [0], feats, "zeros", other_seed, progress=False)[0]
    assert moved["methods"]["random"]["trajectory"] != first[0]["methods"]["random"]["trajectory"]


def test_spearman_of_trajectories_matches_scipy():
    rng = np.random.default_rng(0)
    for t in (4, 9, 16):
        a, b = rng.permutation(t), rng.permutation(t)
        ra, rb = np.argsort(a), np.argsort(b)
        assert spearman_of_trajectories(a, b) == pytest.approx(spearmanr(ra, rb).statistic)
        assert spearman_of_trajectories(a, a) == pytest.approx(1.0)
        assert spearman_of_trajectories(a, a[::-1]) == pytest.approx(-1.0)


def test_sanity_check_randomises_layers_without_touching_the_model():
    model = small_cnn(2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    layers = parameter_layers(model)
    assert layers == ["0", "3", "5"]
    rm = randomised_model(model, ["5"], seed=0)
    assert not torch.equal(rm[5].weight, model[5].weight) and torch.equal(rm[0].weight, model[0].weight)
    # cumulative cascade: a later step keeps the earlier steps' draws; an independent step draws the same
    rm2 = randomised_model(model, ["5", "3"], seed=0)
    assert torch.equal(rm2[5].weight, rm[5].weight) and not torch.equal(rm2[3].weight, model[3].weight)
    assert torch.equal(randomised_model(model, ["3"], seed=0)[3].weight, rm2[3].weight)
    assert not torch.equal(randomised_model(model, ["5"], seed=1)[5].weight, rm[5].weight)
    feats = grid_features((4, 4), 2)
    xs = [torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(3))]
    res = sanity_check(model, xs, [0], feats, "zeros", EvaluationConfig(**FAST), progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [s["label"] for s in res["cascade"]] == ["5", "3", "0"]
    assert [s["layers"] for s in res["cascade"]] == [["5"], ["5", "3"], ["5", "3", "0"]]
    assert [s["layers"] for s in res["independent"]] == [["5"], ["3"], ["0"]]
    assert trace_name("logit", "le-mo") in res["methods"]
    for s in res["cascade"] + res["independent"]:
        assert s["mean"]["random"] == pytest.approx(1.0)  # model-independent by construction
        assert all(-1.0 - 1e-12 <= v <= 1.0 + 1e-12 for v in s["mean"].values())
    with pytest.raises(ValueError, match="torch.nn.Module"):
        sanity_check(lambda b: b, xs, [0], feats, "zeros", EvaluationConfig(**FAST))


def test_black_box_evaluation_with_a_scikit_learn_classifier():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)

    def logit(b):
        d = clf.decision_function(np.asarray(b, dtype=np.float64))
        return np.stack([-d / 2, d / 2], axis=1)

    bb = BlackBox({"logit": logit, "prob": clf.predict_proba})
    np.testing.assert_allclose(torch.softmax(torch.as_tensor(logit(X[:3])), 1).numpy(), clf.predict_proba(X[:3]))
    config = EvaluationConfig(methods=None, explain=evaluation_settings(sa_iterations=200))
    rec = evaluate_input(bb, torch.as_tensor(X[0]), 1, tabular_features(5), torch.zeros(5, dtype=torch.float64), config)
    kinds = {m["kind"] for m in rec["methods"].values()}
    assert kinds == {"baseline", "trace", "exact"}
    assert "saliency" not in rec["methods"] and "feature-ablation" in rec["methods"]
    # the logit is linear in x: occlusion's ranking is exactly optimal for (Le-Mo) on the logit
    opt = rec["complete"]["logit"]["objectives"]["le-mo"]["optimum"]
    oracle = evaluation_oracle(
        bb, torch.as_tensor(X[0]), 1, tabular_features(5), torch.zeros(5, dtype=torch.float64), "logit"
    )
    assert TraceProblem(oracle, "le-mo").score(rec["methods"]["occlusion"]["trajectory"]) == pytest.approx(opt)
    with pytest.raises(ValueError, match="output"):
        evaluation_oracle(BlackBox({"logit": logit}), torch.as_tensor(X[0]), 1, tabular_features(5), "zeros", "prob")


def test_config_validation():
    with pytest.raises(ValueError, match="sa_iterations"):
        evaluation_settings(sa_iterations=0)
    with pytest.raises(ValueError, match="outputs"):
        EvaluationConfig(outputs=("logit", "logprob"))
    with pytest.raises(ValueError, match="trace_outputs"):
        EvaluationConfig(outputs=("logit",), trace_outputs=("prob",))
    assert evaluation_settings(sa_iterations=10_000).solver_options["eta"] == pytest.approx(0.999)
    assert paper_sa_iterations(evaluation_settings(sa_iterations=700)) == 700
    assert paper_sa_iterations(evaluation_settings(solver_options={"eta": 0.9})) is None
    assert evaluation_settings().batch_size == 256 and EvaluationConfig().explain == evaluation_settings()
    for bad, name in (({"output": "prob"}, "output"), ({"objective": "le"}, "objective"), ({"seed": None}, "seed")):
        with pytest.raises(ValueError, match=f"explain.{name}"):
            EvaluationConfig(explain=evaluation_settings(**bad))


def test_the_evaluate_command_builds_its_search_from_the_shared_flags(tmp_path, capsys):
    """evaluate's search is the ExplainSettings of the shared flags (--features G or RxC, --solver-options as JSON
    laid over the paper's SA at --sa-iterations, batch size 256 by default); the flags it sets itself are refused
    before any work."""
    from trace_opt.cli import build_parser, main
    from trace_opt.cli.evaluate import _settings

    parser = build_parser()
    base = ["evaluate", "--model", "m.pt", "--out", str(tmp_path / "rep")]
    args = parser.parse_args([*base, "--features", "2x3", "--sa-iterations", "500", "--solver-options", '{"eta": 0.9}'])
    settings = _settings(args)
    assert args.features == (2, 3) and settings.features == (2, 3)
    assert settings.solver_options == {**paper_sa_options(500), "eta": 0.9} and settings.batch_size == 256
    assert settings == evaluation_settings(sa_iterations=500, solver_options={"eta": 0.9}, features=(2, 3))
    greedy = _settings(parser.parse_args([*base, "--solver", "greedy", "--budget", "30", "--seed", "4"]))
    assert (greedy.solver, greedy.solver_options, greedy.budget, greedy.seed) == ("greedy", {}, 30, 4)
    for bad in (["--output", "prob"], ["--objective", "le"], ["--sigma", "2"], ["--heatmap-alpha", "2"]):
        with pytest.raises(SystemExit) as exc:
            main([*base, *bad])
        assert exc.value.code == 2 and bad[0] in capsys.readouterr().err
    assert not (tmp_path / "rep").exists()


def test_the_sanity_checks_shorter_search_keeps_the_paper_cooling():
    short = with_sa_iterations(evaluation_settings(sa_iterations=2000, batch_size=64), 100)
    assert short == evaluation_settings(sa_iterations=100, batch_size=64)
    own_eta = with_sa_iterations(evaluation_settings(solver_options={"eta": 0.9}), 100)
    assert own_eta.solver_options["eta"] == 0.9 and own_eta.solver_options["iterations"] == 100
    assert with_sa_iterations(evaluation_settings(solver="greedy"), 100) == evaluation_settings(solver="greedy")


@pytest.mark.slow
def test_report_folder_end_to_end_and_cli(tmp_path, monkeypatch):
    from trace_opt.cli import main
    from trace_opt.models import data

    # a tiny stand-in for the digits data and CNN keeps this test fast; the pipeline is the real one
    X = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2])
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(128, 10)
    ).eval()
    model.test_accuracy = 0.5
    monkeypatch.setattr(data, "digits_cnn", lambda size, model_seed=0, cache_dir=None: model)
    monkeypatch.setattr(data, "load_digits_split", lambda size, data_seed=0: (X, X, y, y))
    out = tmp_path / "rep"
    args = [
        "evaluate",
        "--dataset",
        "digits8",
        "--n",
        "2",
        "--out",
        str(out),
        "--sa-iterations",
        "100",
        "--methods",
        "saliency",
        "occlusion",
        "random",
        "--sanity-n",
        "1",
        "--quiet",
    ]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    md = (out / "report.md").read_text()
    assert res["summary"]["n_inputs"] == 2 and res["t"] == 16
    assert "LeRF - MoRF (y)" in md and "## Headline" in md and "--dataset digits8 --n 2" in md
    for fig in res["figures"].values():
        assert (out / fig).stat().st_size > 0 and f"]({fig})" in md
    assert {"fig3", "fig4", "fig5", "fig6", "fig7"} <= set(res["figures"])
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "cache").iterdir()}
    assert main(args) == 0  # rerun: every input comes from the cache
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cache").iterdir()} == stamps


def test_requested_methods_that_cannot_run_are_refused_before_any_work():
    bb = BlackBox({"logit": lambda b: np.stack([-b.sum(1), b.sum(1)], axis=1)})
    calls = []
    counting = BlackBox({"logit": lambda b: calls.append(len(b)) or np.stack([-b.sum(1), b.sum(1)], axis=1)})
    config = EvaluationConfig(methods=["saliency", "occlusion"], outputs=("logit",), trace_outputs=("logit",))
    xs = [torch.rand(4, dtype=torch.float64)]
    with pytest.raises(ValueError, match=r"methods: \['saliency'\] cannot run .*black box"):
        evaluate_inputs(counting, xs, [1], tabular_features(4), "zeros", config, progress=False)
    assert calls == []
    with pytest.raises(ValueError, match=r"grad-cam.*Conv2d"):
        mlp = torch.nn.Sequential(torch.nn.Linear(4, 2)).eval()
        evaluate_inputs(
            mlp,
            [torch.rand(4)],
            [0],
            tabular_features(4),
            "zeros",
            EvaluationConfig(methods=["grad-cam"]),
            progress=False,
        )
    # methods=None still means 'every method that applies'
    rec = evaluate_input(
        bb,
        xs[0],
        1,
        tabular_features(4),
        "zeros",
        EvaluationConfig(
            methods=None,
            outputs=("logit",),
            trace_outputs=("logit",),
            explain=evaluation_settings(sa_iterations=50),
            exact_max_t=0,
        ),
    )
    assert "occlusion" in rec["methods"] and "saliency" not in rec["methods"]
    assert rec["methods"]["occlusion"]["options"] is not None


def test_cached_records_are_recomputed_for_other_inputs_or_targets(tmp_path):
    model = Counting(small_cnn(1)).eval()
    feats = grid_features((4, 4), 2)
    xs = [torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    config = EvaluationConfig(**FAST, keep_maps=0)
    evaluate_inputs(model, xs, [0, 1], feats, "zeros", config, cache_dir=tmp_path, progress=False)
    calls = model.calls
    evaluate_inputs(model, xs, [0, 1], feats, "zeros", config, cache_dir=tmp_path, progress=False)
    assert model.calls == calls
    evaluate_inputs(model, xs, [0, 2], feats, "zeros", config, cache_dir=tmp_path, progress=False)
    after_target = model.calls
    assert after_target > calls  # input 1's target changed
    other = [xs[0], torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(9))]
    evaluate_inputs(model, other, [0, 2], feats, "zeros", config, cache_dir=tmp_path, progress=False)
    assert model.calls > after_target  # input 1's values changed


@pytest.mark.slow
def test_report_on_a_users_own_model_and_data_from_the_command_line(tmp_path):
    from trace_opt.cli import main
    from trace_opt.comparison.report import ReportSettings, make_setup, run_report

    model = small_cnn(4)
    X = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(5))
    torch.save(model, tmp_path / "model.pt")
    np.save(tmp_path / "x.npy", X.numpy())
    np.save(tmp_path / "labels.npy", np.array([0, 1, 2]))
    out = tmp_path / "rep"
    args = [
        "evaluate",
        "--model",
        str(tmp_path / "model.pt"),
        "--data",
        str(tmp_path / "x.npy"),
        "--labels",
        str(tmp_path / "labels.npy"),
        "--features",
        "2",
        "--n",
        "2",
        "--out",
        str(out),
        "--sa-iterations",
        "100",
        "--methods",
        "occlusion",
        "random",
        "--sanity-n",
        "0",
        "--quiet",
    ]
    assert main(args) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["t"] == 4 and res["summary"]["n_inputs"] == 2 and res["labels"] == [0, 1]
    assert res["targets"] == model(X[:2]).argmax(1).tolist()
    assert "--model" in res["command"] and "--features 2" in res["command"]
    assert "given inputs" in (out / "report.md").read_text()
    # the same through the API, with given targets: T-y (Le-Mo) is exact at t = 4 (brute force)
    setup = make_setup(model, X, targets=[1, 1, 1], features=2)
    config = EvaluationConfig(methods=["random"], explain=evaluation_settings(sa_iterations=200))
    res2 = run_report(setup, None, tmp_path / "api", config, ReportSettings(sanity_n=0, progress=False))
    assert res2["targets"] == [1, 1, 1] and res2["n_correct"] is None
    for rec in res2["records"]:
        oracle = evaluation_oracle(model, X[rec["index"]], 1, grid_features((4, 4), 2), "zeros", "logit")
        sa = TraceProblem(oracle, "le-mo").score(rec["methods"][trace_name("logit", "le-mo")]["trajectory"])
        assert sa == pytest.approx(brute_force_best(oracle, "le-mo"))
    for bad in (
        ["--dataset", "digits8", "--model", "m.pt"],
        ["--dataset", "digits8", "--data", "x.npy"],
        ["--model", str(tmp_path / "missing.pt")],
    ):
        with pytest.raises(SystemExit) as exc:
            main(["evaluate", *bad, "--out", str(tmp_path / "bad")])
        assert exc.value.code == 2
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="BlackBox"):
        make_setup(lambda b: b, X)
