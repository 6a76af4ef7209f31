"""Best-known files (update only when better, atomic, clear errors), their certificates, and paired comparisons."""

from __future__ import annotations

import json

import numpy as np
import pytest

from solvers.complete import exact_optimum
from trace_opt.benchmarks import best_known as bk
from trace_opt.benchmarks.best_known import (
    interval_upper_bound,
    load_best_known,
    make_problem,
    problem_spec,
    update_best_known,
    window_certificate,
)
from trace_opt.benchmarks.families import family_instance
from trace_opt.core.objective import OBJECTIVES
from trace_opt.core.paired import paired_comparisons, paired_table, t_quantile

SPEC = problem_spec("logic", t=9, seed=1, interaction=0.7, saturation=1.0)


def test_update_only_when_better(tmp_path):
    path = tmp_path / "p.best.json"
    first = update_best_known(path, SPEC, "greedy", budget=500, seed=0)
    assert first["improved"] and first["previous"] is None
    data = load_best_known(path, SPEC, "le-mo")
    assert data["best"]["score"] == first["score"] and data["best"]["solver"] == "greedy"
    assert data["best"]["budget"] == 500 and len(data["history"]) == 1
    assert data["t"] == 9 and data["problem"] == SPEC
    opt = exact_optimum(family_instance("logic", 9, 1, interaction=0.7, saturation=1.0).values, "le-mo")[1]
    assert first["score"] < opt  # greedy is not optimal here, so the exact solver improves on it
    second = update_best_known(path, SPEC, "exact", budget=1 << 9, seed=0)
    assert second["improved"] and second["previous"] == first["score"]
    assert second["score"] == pytest.approx(opt)
    before = path.read_bytes()
    third = update_best_known(path, SPEC, "greedy", budget=500, seed=3)  # worse: the file is not touched
    assert not third["improved"] and third["best"]["score"] == pytest.approx(opt)
    assert path.read_bytes() == before
    assert len(load_best_known(path)["history"]) == 2


def test_certificates(tmp_path):
    path = tmp_path / "c.best.json"
    update_best_known(path, SPEC, "exact", budget=1 << 9, certify_window=4)
    cert = load_best_known(path)["certificates"]
    assert cert["window"]["locally_optimal"] and cert["window"]["window"] == 4
    assert cert["upper_bound"] >= load_best_known(path)["best"]["score"]
    problem = make_problem(SPEC)
    sigma = np.random.default_rng(0).permutation(9)
    full = window_certificate(problem, sigma, 9)  # the whole order as one window: the exact optimum
    assert not full["locally_optimal"]
    opt = exact_optimum(family_instance("logic", 9, 1, interaction=0.7, saturation=1.0).values, "le-mo")[1]
    assert problem.score(sigma) + full["best_delta"] == pytest.approx(opt)
    with pytest.raises(ValueError, match="w="):
        window_certificate(problem, sigma, 10)


@pytest.mark.parametrize("params", [{"interaction": 0.5}, {"interaction": 0.9, "saturation": 2.0}])
def test_interval_bound_is_a_bound(params):
    inst = family_instance("logic", 8, 2, **params)
    spec = problem_spec("logic", t=8, seed=2, **params)
    for objective in OBJECTIVES:
        assert interval_upper_bound(spec, objective)["upper_bound"] >= inst.optimum(objective) - 1e-9
    assert interval_upper_bound(problem_spec("chunks", t=8, seed=0), "le-mo") is None


def _good_file(tmp_path):
    path = tmp_path / "g.best.json"
    update_best_known(path, SPEC, "greedy", budget=500)
    return path, json.loads(path.read_text())


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: "{not json", "corrupt or truncated"),
        (lambda d: json.dumps(d)[:40], "corrupt or truncated"),
        (lambda d: json.dumps({**d, "format": "other"}), "is not a 'trace-best-known' file"),
        (lambda d: json.dumps({**d, "format_version": 9}), "format_version=9"),
        (lambda d: json.dumps({k: v for k, v in d.items() if k != "best"}), "missing the field 'best'"),
        (lambda d: json.dumps({**d, "best": {**d["best"], "score": d["best"]["score"] + 1}}), "does not match"),
        (lambda d: json.dumps({**d, "best": {**d["best"], "trajectory": [0] * 9}}), "not a permutation"),
        (lambda d: json.dumps({**d, "best": {**d["best"], "score": "high"}}), "not a finite number"),
        (lambda d: json.dumps({**d, "t": 10}), "t=9 but the file says t=10"),
    ],
)
def test_corrupt_files_get_clear_errors(tmp_path, edit, message):
    path, data = _good_file(tmp_path)
    path.write_text(edit(data))
    with pytest.raises(ValueError, match=message) as err:
        load_best_known(path, SPEC)
    assert str(path) in str(err.value)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=str(path)):  # never overwritten, even by a run
        update_best_known(path, SPEC, "exact", budget=1 << 9)
    assert path.read_bytes() == before


def test_mismatched_problem_or_objective(tmp_path):
    path, _ = _good_file(tmp_path)
    other = problem_spec("logic", t=9, seed=2, interaction=0.7, saturation=1.0)
    with pytest.raises(ValueError, match="is for the problem") as err:
        update_best_known(path, other, "greedy", budget=500)
    assert str(path) in str(err.value)
    with pytest.raises(ValueError, match="is for objective 'le-mo', not 'le'"):
        update_best_known(path, SPEC, "greedy", budget=500, objective="le")
    with pytest.raises(ValueError, match="does not exist"):
        load_best_known(tmp_path / "missing.best.json")


def test_update_is_atomic(tmp_path, monkeypatch):
    path, _ = _good_file(tmp_path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("trace_opt.core.io.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        update_best_known(path, SPEC, "exact", budget=1 << 9)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.best.json", "g.best.json.lock"]  # no temp file left


def test_best_known_cli(tmp_path, capsys):
    from trace_opt.cli import main

    f = tmp_path / "x.best.json"
    args = ["instances", "best-known", "--file", str(f), "--t", "10", "--interaction", "0.6", "--budget", "400"]
    assert main(args + ["--solver", "greedy"]) == 0
    assert main(args + ["--solver", "tabu", "--seed", "1", "--solver-options", '{"candidates": 8}']) == 0
    out = capsys.readouterr().out
    assert "best known" in out
    data = load_best_known(f, problem_spec("logic", t=10, seed=0, interaction=0.6))
    assert data["best"]["solver"] in ("greedy", 'tabu {"candidates": 8}')
    assert bk.gap_to_best_known(f, data["best"]["score"]) == 0.0
    tabu = [h for h in data["history"] if h["solver"].startswith("tabu")]
    assert all(h["seed"] == 1 for h in tabu)  # --seed is the search's seed
    other = tmp_path / "p3.best.json"
    assert (
        main(["instances", "best-known", "--file", str(other), "--t", "10", "--problem-seed", "3", "--budget", "50"])
        == 0
    )
    assert load_best_known(other)["problem"]["params"]["seed"] == 3  # --problem-seed is the generator's


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--run-seed", "1"], "--run-seed is gone: the search's seed is --seed"),
        (["--solver", "tabu:candidates=8"], "form is gone; give the name and its options as JSON, e.g. --solver tabu"),
        (["--reference", "mean"], "--reference does not apply to instances best-known"),
        (["--batch-size", "8"], "--batch-size does not apply"),
    ],
)
def test_best_known_cli_refuses_old_and_unused_flags(tmp_path, capsys, extra, message):
    from trace_opt.cli import main

    f = tmp_path / "x.best.json"
    with pytest.raises(SystemExit) as exc:
        main(["instances", "best-known", "--file", str(f), "--t", "10", "--budget", "50", *extra])
    assert exc.value.code == 2 and message in capsys.readouterr().err.replace("\n", " ")
    assert not f.exists()


def test_t_quantile():
    assert t_quantile(0.975, 23) == pytest.approx(2.0687, abs=2e-3)
    assert t_quantile(0.975, 10) == pytest.approx(2.2281, abs=2e-3)
    assert t_quantile(0.975, 1000) == pytest.approx(1.9623, abs=1e-3)


def test_paired_comparisons():
    rng = np.random.default_rng(0)
    runs = []
    for i in range(20):
        base = rng.uniform(0.1, 0.3)
        for seed in (0, 1):
            runs.append(
                {
                    "solver": "good",
                    "budget": 100,
                    "instance": f"i{i}",
                    "seed": seed,
                    "normalised_gap": base * 0.5 + rng.normal(scale=0.01),
                }
            )
            runs.append({"solver": "bad", "budget": 100, "instance": f"i{i}", "seed": seed, "normalised_gap": base})
            runs.append(
                {
                    "solver": "same",
                    "budget": 100,
                    "instance": f"i{i}",
                    "seed": seed,
                    "normalised_gap": base + rng.normal(scale=0.01),
                }
            )
    board = {"runs": runs, "budgets": [100]}
    rows = {(r["a"], r["b"]): r for r in paired_comparisons(board, 100)}
    gb = rows[("good", "bad")]
    assert gb["n"] == 20 and gb["separated"] and gb["ci_high"] < 0 and gb["a_better"] == 20
    assert not rows[("bad", "same")]["separated"]
    d = []
    for i in range(20):
        g = np.mean([r["normalised_gap"] for r in runs if r["instance"] == f"i{i}" and r["solver"] == "good"])
        b = np.mean([r["normalised_gap"] for r in runs if r["instance"] == f"i{i}" and r["solver"] == "bad"])
        d.append(g - b)
    assert gb["mean_diff"] == pytest.approx(np.mean(d))
    assert gb["sem"] == pytest.approx(np.std(d, ddof=1) / np.sqrt(20))
    assert "| good | bad |" in paired_table(list(rows.values()))
    with pytest.raises(ValueError, match="budget"):
        paired_comparisons(board, 5)


def test_le_mo_random_mean_is_exactly_zero(tmp_path):
    inst = family_instance("logic", 9, 1, interaction=0.7, saturation=1.0)
    assert inst.objectives["le-mo"]["random_mean"] == pytest.approx(0.0, abs=1e-12)
    path = tmp_path / "r.best.json"
    update_best_known(path, SPEC, "greedy", budget=500)
    assert load_best_known(path)["random_mean"] == 0.0
    update_best_known(tmp_path / "le.best.json", SPEC, "greedy", budget=500, objective="le", random_samples=50)
    data = load_best_known(tmp_path / "le.best.json")
    assert data["random_mean_kind"] == "50 random orders"
    assert data["random_mean"] == pytest.approx(inst.objectives["le"]["random_mean"], rel=0.2)


def test_shipped_best_known_files_check_out():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "instances" / "best_known"
    files = sorted(folder.glob("*.best.json"))
    assert len(files) >= 4
    for f in files:
        data = load_best_known(f)  # rebuilds the t = 49 problem and recomputes the stored score
        assert data["t"] == 49 and data["objective"] == "le-mo"
        assert data["name"] == f.name[: -len(".best.json")]
        assert data["certificates"]["upper_bound"] >= data["best"]["score"]
        scores = [h["score"] for h in data["history"]]
        assert scores == sorted(scores) and scores[-1] == data["best"]["score"]  # only improvements recorded
