"""Issue 11, case 1: one Ctrl-C stops every batch command (exit 130), nothing cut short is stored as
finished, finished work is kept, and a rerun completes the run with the results of an uninterrupted one.

Each test starts the command as a real subprocess in its own session, waits until it has
demonstrably started (a first result on disk, a completed trial, a progress line), then sends SIGINT
to the whole process group as a terminal's Ctrl-C does. The reruns and the uninterrupted reference
runs are in-process (``trace_opt.cli.main``), which is the same code without the start-up cost.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from trace_opt.cli import main
from trace_opt.core.io import interrupts_stop_the_run, stop_on_interrupt
from trace_opt.explanation.dataset import load_result

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "instances" / "sample"


def _interrupt(args, ready, tmp_path, env=None, timeout=120.0):
    """Run ``python -m trace_opt ARGS``; once ``ready()`` is true, Ctrl-C (SIGINT to its process group).
    Returns (exit code, stderr). Fails if the command ended before it was interrupted."""
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err, open(tmp_path / "stdout.txt", "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trace_opt", *args],
            cwd=ROOT,
            stdout=out,
            stderr=err,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        try:
            deadline = time.monotonic() + timeout
            while not ready():
                assert proc.poll() is None, f"ended before the interruption: {err_path.read_text()[-2000:]}"
                assert time.monotonic() < deadline, "the command did not start in time"
                time.sleep(0.05)
            assert proc.poll() is None, "the command finished before it could be interrupted"
            os.killpg(proc.pid, signal.SIGINT)
            rc = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return rc, err_path.read_text()


def test_stop_on_interrupt_makes_a_solve_raise_instead_of_returning_a_cut_short_result():
    from solvers import get_solver
    from trace_opt import SetFunctionOracle, TraceProblem

    calls = []

    def fn(masks):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return masks.sum(axis=1).astype(float)

    problem = TraceProblem(SetFunctionOracle(fn, 6), "le-mo")
    assert get_solver("sa", iterations=50).solve(problem, seed=0).stopped == "interrupted"  # alone: best-so-far
    calls.clear()
    problem = TraceProblem(SetFunctionOracle(fn, 6), "le-mo")
    with stop_on_interrupt():
        assert interrupts_stop_the_run()
        with pytest.raises(KeyboardInterrupt):
            get_solver("sa", iterations=50).solve(problem, seed=0)
    assert not interrupts_stop_the_run()


# -------------------------------------------------------------------------------- explain-dataset
def _interrupt_explain_dataset(args, out, tmp_path, model_cache_dir, after: int = 1) -> list:
    """Run explain-dataset in a subprocess, Ctrl-C it once ``after`` result files exist; check the exit
    (130, a message, no traceback) and return the result files left."""
    rc, err = _interrupt(
        [*args, "--out", str(out)],
        lambda: len(list((out / "results").glob("0*.json"))) >= after,
        tmp_path,
        env={"TRACE_OPT_CACHE": str(model_cache_dir)},
    )
    assert rc == 130, err
    assert "interrupted" in err and "Traceback" not in err
    return sorted((out / "results").glob("0*.json"))


@pytest.mark.slow
@pytest.mark.parametrize("n_jobs", ["1", "2"])
def test_ctrl_c_stops_explain_dataset_and_a_rerun_completes_it(tmp_path, model_cache_dir, n_jobs):
    out = tmp_path / "run"
    args = ["explain-dataset", "--n", "3", "--solver-options", '{"iterations": 4000}', "--n-jobs", n_jobs]
    files = _interrupt_explain_dataset(args, out, tmp_path, model_cache_dir)
    assert 1 <= len(files) < 3  # finished work kept, not everything done
    for f in files:  # nothing cut short stored as finished
        rec = load_result(f)
        assert rec["status"] == "ok" and rec["result"]["solver"]["stopped"] != "interrupted"
        assert rec["result"]["solver"]["iterations"] == 4000 and "warnings" not in rec
    os.environ["TRACE_OPT_CACHE"] = str(model_cache_dir)
    try:
        assert main([*args, "--n-jobs", "1", "--out", str(out)]) == 0  # the rerun completes it
        assert main([*args, "--n-jobs", "1", "--out", str(tmp_path / "ref")]) == 0  # uninterrupted
    finally:
        del os.environ["TRACE_OPT_CACHE"]
    for i in range(3):
        got = load_result(out / "results" / f"{i:06d}.json")["result"]
        ref = load_result(tmp_path / "ref" / "results" / f"{i:06d}.json")["result"]
        assert got["trajectory"] == ref["trajectory"]
        assert got["value"] == pytest.approx(ref["value"], rel=1e-5, abs=1e-5)


@pytest.mark.slow
def test_ctrl_c_stops_explain_dataset_in_lockstep_and_a_rerun_completes_it(tmp_path, model_cache_dir):
    """--lockstep 2 on 4 inputs: Ctrl-C during the second group keeps the first group's results, stores
    nothing of the second, and a rerun completes it to the results of an uninterrupted run."""
    out = tmp_path / "run"
    args = ["explain-dataset", "--n", "4", "--solver-options", '{"iterations": 4000}', "--lockstep", "2"]
    # once the first group's two records are written (one file each: a Ctrl-C between them, possible on a
    # loaded machine, would leave one, and the rerun recompute the other)
    files = _interrupt_explain_dataset(args, out, tmp_path, model_cache_dir, after=2)
    assert [f.name for f in files] == ["000000.json", "000001.json"]  # the finished group only
    for f in files:
        rec = load_result(f)
        assert rec["status"] == "ok" and rec["result"]["solver"]["iterations"] == 4000
        assert rec["run"]["lockstep"] == 2
    os.environ["TRACE_OPT_CACHE"] = str(model_cache_dir)
    try:
        assert main([*args, "--out", str(out)]) == 0
        assert main([*args, "--lockstep", "1", "--out", str(tmp_path / "ref")]) == 0  # one by one
    finally:
        del os.environ["TRACE_OPT_CACHE"]
    for i in range(4):
        got = load_result(out / "results" / f"{i:06d}.json")["result"]
        ref = load_result(tmp_path / "ref" / "results" / f"{i:06d}.json")["result"]
        assert got["value"] == pytest.approx(ref["value"], rel=1e-5, abs=1e-5)


# --------------------------------------------------------------------------------------- evaluate
@pytest.mark.slow
def test_ctrl_c_stops_evaluate_and_a_rerun_completes_it(tmp_path, model_cache_dir):
    out = tmp_path / "run"
    args = [
        "evaluate",
        "--dataset",
        "digits8",
        "--n",
        "2",
        "--sa-iterations",
        "1500",
        "--methods",
        "random",
        "--sanity-n",
        "0",
        "--exact-max-t",
        "0",
        "--keep-maps",
        "0",
        "--cache-dir",
        str(model_cache_dir),
        "--quiet",
    ]
    rc, err = _interrupt([*args, "--out", str(out)], lambda: (out / "cache" / "input_0000.json").exists(), tmp_path)
    assert rc == 130, err
    assert not (out / "report.md").exists() and not (out / "results.json").exists()
    cached = sorted((out / "cache").glob("input_*.json"))
    assert len(cached) == 1
    assert main([*args, "--out", str(out)]) == 0
    assert main([*args, "--out", str(tmp_path / "ref")]) == 0
    got = json.loads((out / "results.json").read_text())["records"]
    ref = json.loads((tmp_path / "ref" / "results.json").read_text())["records"]
    assert len(got) == len(ref) == 2
    for a, b in zip(got, ref):
        for method, res in b["methods"].items():
            if method.startswith("trace-"):
                assert a["methods"][method]["trajectory"] == res["trajectory"], method
            for o, v in res.get("le_mo", {}).items() if isinstance(res.get("le_mo"), dict) else []:
                assert a["methods"][method]["le_mo"][o] == pytest.approx(v, rel=1e-5, abs=1e-5)


# ------------------------------------------------------------------------------------------- tune
def _trial_states(db: Path) -> list:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return [s for (s,) in con.execute("select state from trials order by number")]
    except sqlite3.Error:
        return []


@pytest.mark.slow
def test_ctrl_c_stops_tune_marks_the_trial_failed_and_a_rerun_completes_it(tmp_path):
    import optuna

    from trace_opt.benchmarks.instances import load_library
    from trace_opt.benchmarks.tuning import evaluate_params

    out = tmp_path / "tune"
    args = [
        "tune",
        "--library",
        str(SAMPLE),
        "--trials",
        "3",
        "--budget",
        "4000",
        "--holdout-every",
        "0",
        "--no-progress",
        "--out",
        str(out),
    ]
    rc, err = _interrupt(args, lambda: "COMPLETE" in _trial_states(out / "study.db"), tmp_path)
    assert rc == 130, err
    states = _trial_states(out / "study.db")
    assert "RUNNING" not in states and states.count("COMPLETE") < 3 and "FAIL" in states  # the trial cut short
    assert main(args) == 0
    study = optuna.load_study(study_name="sa-le-mo-b4000", storage=f"sqlite:///{out / 'study.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3
    # every stored value is what an uninterrupted solve of its parameters gives (exact table oracle)
    lib = load_library(SAMPLE)
    for t in complete:
        params = {**{"init": "greedy"}, **t.params}
        assert t.value == pytest.approx(evaluate_params("sa", params, lib, 4000, (0,))["mean"], abs=1e-12)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # study.ask() outside optimize, to fake the trial
def test_a_running_trial_of_a_killed_process_is_failed_and_retried_on_resume(tmp_path):
    import optuna

    from trace_opt.benchmarks.instances import load_library
    from trace_opt.benchmarks.tuning import _owner, tune

    lib = load_library(SAMPLE)[:2]
    res = tune("sa", lib, budget=200, n_trials=1, out_dir=tmp_path, plots=False)
    study = res.study
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    trial = study.ask()  # a trial left RUNNING by a process killed with kill -9
    trial.set_user_attr("owner", {**_owner(), "pid": dead.pid})
    res = tune("sa", lib, budget=200, n_trials=2, out_dir=tmp_path, plots=False)
    states = {t.number: t.state for t in res.study.trials}
    assert states[trial.number] == optuna.trial.TrialState.FAIL
    assert optuna.trial.TrialState.RUNNING not in states.values() and res.n_complete == 2
    retried = [t for t in res.study.trials if t.user_attrs.get("retry_of") == trial.number]
    assert len(retried) == 1 and retried[0].state == optuna.trial.TrialState.COMPLETE


# ------------------------------------------------------------------------------------ leaderboard
@pytest.mark.slow
def test_ctrl_c_stops_the_leaderboard_and_a_rerun_equals_an_uninterrupted_board(tmp_path):
    from trace_opt.benchmarks.instances import leaderboard, load_library

    out = tmp_path / "board"
    spec = {"name": "sa", "params": {"iterations": 150000}}
    args = [
        "instances",
        "leaderboard",
        "--library",
        str(SAMPLE),
        "--solvers",
        json.dumps(spec),
        "--budgets",
        "100000",
        "--seeds",
        "0",
        "1",
        "--out",
        str(out),
    ]
    err_file = tmp_path / "stderr.txt"
    rc, err = _interrupt(args, lambda: err_file.exists() and " 1/8 " in err_file.read_text(), tmp_path)
    assert rc == 130, err
    assert not (out / "leaderboard.json").exists()  # no board with a cut-short run in it
    kept = [json.loads(p.read_text())["row"] for p in (out / "leaderboard.solves").glob("*.json")]
    assert 1 <= len(kept) < 8 and all(r["stopped"] != "interrupted" for r in kept)  # finished solves kept
    assert main([*args, "--no-progress"]) == 0
    assert not (out / "leaderboard.solves").exists()  # all in the board now
    board = json.loads((out / "leaderboard.json").read_text())
    ref = leaderboard(load_library(SAMPLE), [spec], [100000], [0, 1])
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(board["runs"]) == json.loads(json.dumps(drop(ref["runs"])))
    assert all(r["stopped"] != "interrupted" for r in board["runs"])
    assert np.isclose(board["summary"][0]["mean_gap"], ref["summary"][0]["mean_gap"])
