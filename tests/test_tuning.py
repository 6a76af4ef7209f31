"""Optuna tuning: search spaces, objective = exact mean gap, pruning, resumable studies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from solvers import SOLVERS, get_solver
from trace_opt import SetFunctionOracle, TraceProblem
from trace_opt.benchmarks.instances import load_library
from trace_opt.benchmarks.tuning import (
    SEARCH_SPACES,
    compare_on_holdout,
    evaluate_params,
    resolve_space,
    suggest_fixed,
    suggest_params,
    tune,
)

SAMPLE = Path(__file__).resolve().parents[1] / "instances" / "sample"


@pytest.fixture(scope="module")
def lib():
    return load_library(SAMPLE)


@pytest.mark.parametrize("solver", sorted(s for s in SEARCH_SPACES if s in SOLVERS))
def test_default_spaces_build_valid_solvers(solver):
    space = resolve_space(solver)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        params = suggest_params(trial, space)
        get_solver(solver, **params)  # every sampled point is a valid constructor call
        study.tell(trial, 0.0)


def test_space_override_and_validation():
    space = resolve_space("sa", {"T0": 1.5, "eta": ("float", 0.9, 0.95)})
    assert space["T0"] == 1.5 and space["eta"] == ("float", 0.9, 0.95) and "neighbourhood" in space
    with pytest.raises(ValueError, match="not a parameter of solver 'sa'"):
        resolve_space("sa", {"population": ("int", 2, 5)})
    with pytest.raises(ValueError, match="low <= high"):
        resolve_space("sa", {"eta": ("float", 0.99, 0.9)})
    with pytest.raises(ValueError, match="unknown"):
        resolve_space("nope")
    assert suggest_fixed(space, {"eta": 0.92}) == {"T0": 1.5, "iterations": 1_000_000, "eta": 0.92}


def test_trial_value_is_the_exact_mean_gap(lib, tmp_path):
    res = tune(
        "sa",
        lib[:2],
        budget=60,
        n_trials=3,
        seeds=[0, 1],
        storage="sqlite:///" + str(tmp_path / "s.db"),
        space={"neighbourhood": "complete", "init": "random"},
        plots=False,
        heartbeat=None,
    )
    for trial in res.study.trials:
        params = suggest_fixed(resolve_space("sa", {"neighbourhood": "complete", "init": "random"}), trial.params)
        again = evaluate_params("sa", params, lib[:2], budget=60, seeds=[0, 1])
        assert trial.value == pytest.approx(again["mean"], abs=1e-12)
        assert [trial.user_attrs[f"unit_{u}"]["value"] for u in range(4)] == [r["value"] for r in again["units"]]
        assert all(0 <= r["forward_passes"] <= 60 for r in again["units"])
        assert sorted(trial.intermediate_values) == [0, 1, 2, 3]  # one report per unit


def test_interrupted_study_resumes_without_repeating_work(lib, tmp_path):
    """Stop in the middle of a trial, start again: all trials finish, each unit is computed once."""
    computed: list = []

    class Stop(Exception):
        pass

    def stop_after(k):
        def on_unit(trial, unit, row):
            computed.append((trial, unit))
            if len(computed) == k:
                raise Stop

        return on_unit

    kw = dict(
        budget=50,
        n_trials=5,
        seeds=[0],
        out_dir=tmp_path,
        plots=False,
        heartbeat=None,
        pruner=optuna.pruners.NopPruner(),
    )
    units = len(lib)
    with pytest.raises(Stop):
        tune("sa", lib, on_unit=stop_after(units + 2), **kw)  # trial 1 stops after 2 of its units
    assert len(computed) == units + 2
    res = tune("sa", lib, on_unit=stop_after(-1), **kw)
    states = [t.state for t in res.study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 5 and states.count(optuna.trial.TrialState.FAIL) == 1
    assert len(computed) == 5 * units and len(set(computed)) == len(computed)  # no unit computed twice
    assert res.units_computed == 5 * units - (units + 2)
    retry = [t for t in res.study.trials if t.user_attrs.get("retry_of") == 1][0]
    failed = res.study.trials[1]
    assert retry.params == failed.params
    # the retried trial's value includes the units restored from the failed trial, exactly
    again = evaluate_params("sa", suggest_fixed(resolve_space("sa"), retry.params), lib, budget=50, seeds=[0])
    assert retry.value == pytest.approx(again["mean"], abs=1e-12)
    # a third call has nothing left to do
    res3 = tune("sa", lib, **kw)
    assert res3.units_computed == 0 and res3.n_complete == 5
    summary = json.loads((tmp_path / "best_params.json").read_text())
    assert summary["best_value"] == pytest.approx(min(t.value for t in res.study.trials if t.value is not None))


def test_study_with_other_configuration_is_refused(lib, tmp_path):
    kw = dict(seeds=[0], out_dir=tmp_path, plots=False, heartbeat=None, n_trials=1)
    tune("sa", lib[:1], budget=40, study_name="s", **kw)
    with pytest.raises(ValueError, match="another configuration"):
        tune("sa", lib[:1], budget=41, study_name="s", **kw)


def test_pruning_stops_bad_trials(lib, tmp_path):
    # T0 huge = a random walk: from a random start it stays far from the optimum; from greedy it is exact here
    res = tune(
        "sa",
        lib * 2,
        budget=200,
        n_trials=6,
        seeds=[0],
        storage="sqlite:///" + str(tmp_path / "p.db"),
        space={"T0": 1e6, "init": ("categorical", ["greedy", "random"]), "neighbourhood": "complete"},
        pruner=optuna.pruners.ThresholdPruner(upper=0.1),
        plots=False,
        heartbeat=None,
    )
    pruned = [t for t in res.study.trials if t.state == optuna.trial.TrialState.PRUNED]
    complete = [t for t in res.study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert pruned and complete
    assert all(t.params["init"] == "random" for t in pruned)
    for t in pruned:  # stopped at the first unit whose running mean passed the threshold
        steps = sorted(t.intermediate_values)
        assert steps == list(range(len(steps))) and len(steps) < 2 * len(lib)
        assert t.intermediate_values[steps[-1]] > 0.1 and all(t.intermediate_values[s] <= 0.1 for s in steps[:-1])
    assert all(len(t.intermediate_values) == 2 * len(lib) for t in complete)


def test_live_problems_maximise_the_mean_score(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=6)
    problems = [TraceProblem(SetFunctionOracle(lambda m, w=w * s: m.astype(float) @ w, 6), "le") for s in (1, 2)]
    res = tune(
        "greedy",
        problems=problems,
        budget=200,
        n_trials=2,
        seeds=[0],
        plots=False,
        heartbeat=None,
        storage="sqlite:///" + str(tmp_path / "l.db"),
    )
    assert res.study.direction == optuna.study.StudyDirection.MAXIMIZE
    for t in res.study.trials:
        again = evaluate_params("greedy", t.params, problems=problems, budget=200)
        assert t.value == pytest.approx(again["mean"])
    with pytest.raises(ValueError, match="exactly one"):
        tune("sa", instances=None, problems=None)


def test_outputs_and_holdout_comparison(lib, tmp_path):
    res = tune("sa", lib[:2], budget=40, n_trials=4, seeds=[0], out_dir=tmp_path, heartbeat=None)
    assert (tmp_path / "best_params.json").exists() and (tmp_path / "history.png").stat().st_size > 1000
    assert (tmp_path / "study.db").exists()
    cmp = compare_on_holdout("sa", suggest_fixed(resolve_space("sa"), res.best_params), lib[2:], 40, seeds=[0, 1])
    for side in ("default", "tuned"):
        params = {} if side == "default" else suggest_fixed(resolve_space("sa"), res.best_params)
        assert cmp[side]["mean_gap"] == pytest.approx(evaluate_params("sa", params, lib[2:], 40, [0, 1])["mean"])
    assert cmp["tuned_mean_lower"] == (cmp["tuned"]["mean_gap"] < cmp["default"]["mean_gap"])
    pd = cmp["paired_difference"]
    diffs = [u["tuned_gap"] - u["default_gap"] for u in cmp["per_unit"]]
    assert pd["mean"] == pytest.approx(np.mean(diffs), abs=1e-12) and pd["units"] == len(diffs)
    assert pd["tuned_wins"] + pd["ties"] + pd["default_wins"] == len(diffs)
    assert cmp["default_solver_params"]["iterations"] == 10_000  # the defaults compared are stated
    from trace_opt.benchmarks.tuning import holdout_markdown

    md = holdout_markdown({**cmp, "tuning_instances": [i.name for i in lib[:2]]})
    assert cmp["verdict"] in md and "Paired difference" in md


def test_sa_batch_has_a_search_space_like_sa():
    space = resolve_space("sa-batch")
    assert {k: v for k, v in space.items() if k not in ("width", "adaptive")} == resolve_space("sa")
    assert space["width"][0] == "int" and space["adaptive"] == ("categorical", [True, False])


def test_sqlite_directory_is_created_and_paths_stay_relative(lib, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = tune(
        "sa",
        lib[:1],
        budget=30,
        n_trials=1,
        seeds=[0],
        storage="sqlite:///deep/er/study.db",
        out_dir=Path("out"),
        plots=False,
        heartbeat=None,
    )
    assert (tmp_path / "deep" / "er" / "study.db").exists() and res.n_complete == 1
    assert json.loads((tmp_path / "out" / "best_params.json").read_text())["storage"] == "sqlite:///deep/er/study.db"
    tune("sa", lib[:1], budget=30, n_trials=1, seeds=[0], out_dir=Path("out2"), plots=False, heartbeat=None)
    assert json.loads((tmp_path / "out2" / "best_params.json").read_text())["storage"] == "sqlite:///out2/study.db"


def _params(study):
    return [json.dumps(t.params, sort_keys=True) for t in study.trials]


def test_single_process_study_is_reproducible_from_the_sampler_seed(lib, tmp_path):
    kw = dict(budget=30, n_trials=4, seeds=[0], plots=False, heartbeat=None, pruner=optuna.pruners.NopPruner())
    a = tune("sa", lib[:1], storage="sqlite:///" + str(tmp_path / "a.db"), sampler_seed=7, **kw)
    b = tune("sa", lib[:1], storage="sqlite:///" + str(tmp_path / "b.db"), sampler_seed=7, **kw)
    c = tune("sa", lib[:1], storage="sqlite:///" + str(tmp_path / "c.db"), sampler_seed=8, **kw)
    assert _params(a.study) == _params(b.study) and _params(a.study) != _params(c.study)
    first = _params(a.study)
    assert len(set(first)) == 4
    # resuming (more trials) draws new points, not the first ones again
    a2 = tune("sa", lib[:1], storage="sqlite:///" + str(tmp_path / "a.db"), sampler_seed=7, **{**kw, "n_trials": 6})
    assert _params(a2.study)[:4] == first and len(set(_params(a2.study))) == 6


def test_workers_started_together_propose_different_parameters(lib, tmp_path, monkeypatch):
    """Two workers (threads here, processes in practice) open one study at the same moment with the
    same --sampler-seed: they must not propose the same parameters."""
    import threading

    barrier = threading.Barrier(2, timeout=60)
    original = optuna.study.Study.optimize

    def optimize(self, *args, **kwargs):
        barrier.wait()  # both workers have set up their sampler before either has a trial
        return original(self, *args, **kwargs)

    monkeypatch.setattr(optuna.study.Study, "optimize", optimize)
    url = "sqlite:///" + str(tmp_path / "shared.db")
    errors = []

    def worker():
        try:
            tune(
                "sa",
                lib[:1],
                budget=30,
                n_trials=4,
                seeds=[0],
                storage=url,
                plots=False,
                heartbeat=None,
                study_name="shared",
                sampler_seed=0,
                pruner=optuna.pruners.NopPruner(),
            )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    study = optuna.load_study(study_name="shared", storage=url)
    params = _params(study)
    assert len(params) >= 4 and len(set(params)) == len(params)


def test_holdout_pairs_over_instances_with_seeds_averaged():
    """The unit of the held-out comparison is the instance: seeds are averaged within an instance first, so
    three seeds of one instance count once. Checked against a hand computation of the per-instance
    differences and the Student-t interval (n - 1 degrees of freedom)."""
    from trace_opt.benchmarks.tuning import paired_over_instances
    from trace_opt.core.paired import t_quantile

    rng = np.random.default_rng(3)
    effect = rng.normal(0.0, 0.1, 5)  # per instance; seeds of one instance differ by a little noise only
    per_unit = [
        {
            "instance": f"i{i}",
            "seed": s,
            "default_gap": 0.3 + float(rng.normal(0, 0.01)),
            "tuned_gap": 0.3 + effect[i] + float(rng.normal(0, 0.01)),
        }
        for i in range(5)
        for s in range(3)
    ]
    pd = paired_over_instances(per_unit)
    d = np.array(
        [
            np.mean([u["tuned_gap"] for u in per_unit if u["instance"] == f"i{i}"])
            - np.mean([u["default_gap"] for u in per_unit if u["instance"] == f"i{i}"])
            for i in range(5)
        ]
    )
    sem = d.std(ddof=1) / np.sqrt(5)
    assert pd["instances"] == 5 and pd["units"] == 15
    assert pd["mean"] == pytest.approx(d.mean()) and pd["sem"] == pytest.approx(sem)
    assert pd["t"] == pytest.approx(d.mean() / sem)
    half = t_quantile(0.975, 4) * sem
    assert (pd["ci_low"], pd["ci_high"]) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))
    assert pd["instances_tuned_better"] == int((d < 0).sum()) and pd["instances_default_better"] == int((d > 0).sum())
    # seeds of one instance are correlated, so the per-run standard error (15 "independent" units) understates it
    per_run = np.array([u["tuned_gap"] - u["default_gap"] for u in per_unit])
    assert per_run.std(ddof=1) / np.sqrt(15) < sem
    # duplicating every seed's row changes nothing: the instance, not the run, is the unit
    again = paired_over_instances(per_unit + per_unit)
    assert (again["mean"], again["sem"], again["instances"]) == (pytest.approx(pd["mean"]), pytest.approx(pd["sem"]), 5)
    with pytest.raises(ValueError, match="per_unit"):
        paired_over_instances([])


def test_holdout_reports_the_cut_off_default_schedule(lib):
    cmp = compare_on_holdout("sa", {"iterations": 10**6, "T0": 0.1, "eta": 0.99}, lib[:2], 40, seeds=[0, 1])
    sch = cmp["default_schedule"]
    assert sch["iterations"] == 10_000 and sch["runs"] == 4
    its = [u["default_iterations"] for u in cmp["per_unit"]]
    assert sch["mean_iterations_run"] == pytest.approx(np.mean(its)) and sch["runs_cut_off"] == 4  # 40 passes
    done = cmp["completed_default"]
    t = {i.name: i.t for i in lib[:2]}
    assert all(
        r["iterations"] == 10_000 and r["stopped"] == "completed" and r["forward_passes"] <= 1 << t[r["instance"]]
        for r in done["per_unit"]
    )  # the whole schedule ran: 2^t passes never bind
    assert done["mean_gap"] == pytest.approx(np.mean([r["gap"] for r in done["per_unit"]]))
    from trace_opt.benchmarks.tuning import holdout_markdown

    md = holdout_markdown(cmp)
    assert "cut off by the budget" in md and "run to completion" in md and "unit = instance" in md
