"""The demo command end to end, its flags and errors, and the figures."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import trace_opt
import trace_opt.models.data
from solvers import greedy_order
from trace_opt.cli import main
from trace_opt.explanation import plots
from trace_opt.models.architectures import DigitsCNN8

PNG = b"\x89PNG\r\n\x1a\n"


def _png_ok(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG


def _run(tmp_path, capsys, *flags, cache):
    out = tmp_path / "out"
    rc = main(["demo", "--out", str(out), "--cache-dir", str(cache), "--no-progress", *flags])
    captured = capsys.readouterr()
    return rc, out, captured


# ------------------------------------------------------------------------------------ the demo
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, model_cache_dir):
    """One demo run on n=1 with few iterations; returns (output folder, stdout)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(
            [
                "demo",
                "--out",
                str(out),
                "--n",
                "1",
                "--iterations",
                "300",
                "--seed",
                "3",
                "--cache-dir",
                str(model_cache_dir),
                "--no-progress",
            ]
        )
    assert rc == 0
    return out, buf.getvalue()


def test_demo_writes_json_and_figures(demo_run):
    out, stdout = demo_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["n"] == 1 and len(summary["rows"]) == 1 and len(summary["files"]) == 1
    assert summary["argv"][:3] == ["demo", "--out", str(out)]
    files = summary["files"][0]
    record = json.loads((out / files["json"]).read_text())
    for key in ("overlay", "deletion_sequence", "curves"):
        assert _png_ok(out / files[key]), key
    # atomic writes keep the usual permissions (mkstemp alone would leave 0600)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((out / "summary.json").stat().st_mode) == 0o666 & ~umask
    exp = record["explanation"]
    assert exp["objective"] == "le-mo" and exp["output"] == "logit" and exp["t"] == 16
    assert sorted(exp["trajectory"]) == list(range(16))
    assert exp["value"] == pytest.approx(exp["auc_le"] - exp["auc_mo"])
    assert exp["solver"]["solver"] == "sa" and exp["solver"]["seed"] == 3
    assert exp["solver"]["params"]["iterations"] == 300 and exp["solver"]["iterations"] <= 300
    assert record["input"]["index"] == 0 and np.asarray(record["input"]["pixels"]).shape == (1, 8, 8)
    # table printed with the baseline column
    assert "greedy Le-Mo" in stdout and "Le-Mo" in stdout and "passes" in stdout


def test_demo_numbers_recomputed_from_scratch(demo_run, model_cache_dir):
    """The JSON's curves and baseline agree with a fresh oracle on the saved input and trajectory."""
    out, _ = demo_run
    record = json.loads((out / "digit_000.json").read_text())
    model = trace_opt.models.data.digits_cnn(8, model_seed=0, cache_dir=model_cache_dir)
    x = torch.tensor(record["input"]["pixels"], dtype=torch.float32)
    exp = record["explanation"]
    oracle = trace_opt.ModelOracle(model, x, exp["target"], features=4, reference="zeros", output="logit")
    assert exp["target"] == int(model(x[None]).argmax())
    problem = trace_opt.TraceProblem(oracle, "le-mo")
    curves = problem.curves(np.array(exp["trajectory"]))
    # values agree up to float32 noise (the model's output depends on the batch size by ~1e-6)
    assert curves.le_mo == pytest.approx(exp["value"], abs=1e-3)
    assert np.allclose(curves.lerf_deletion, exp["curves"]["lerf_deletion"], atol=1e-4)
    assert problem.score(record["baseline"]["trajectory"]) == pytest.approx(record["baseline"]["le_mo"], abs=1e-3)
    # Greedy again on the fresh oracle. Its order may differ from the saved one between features
    # whose deletion gives identical inputs (all-zero patches under the zero reference): the model's
    # float32 output depends on the batch size by ~1e-6, which breaks such exact ties differently.
    # The Le-Mo value of the order does not depend on that choice (same masked inputs).
    greedy = greedy_order(trace_opt.TraceProblem(oracle, "le"), "lerf")
    assert problem.score(greedy) == pytest.approx(record["baseline"]["le_mo"], abs=1e-3)
    # SA starts from greedy on the Le-Mo objective and only keeps improvements
    assert exp["value"] >= problem.score(greedy_order(problem, "lerf")) - 1e-3


def test_demo_flags_act(tmp_path, capsys, model_cache_dir, monkeypatch):
    calls = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), real(n)))
    rc, out, cap = _run(
        tmp_path, capsys, "--n", "2", "--solver", "greedy", "--budget", "150", "--threads", "2", cache=model_cache_dir
    )
    assert rc == 0 and calls[0] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["rows"]) == 2 and {f["json"] for f in summary["files"]} == {"digit_000.json", "digit_001.json"}
    for f in summary["files"]:
        rec = json.loads((out / f["json"]).read_text())
        res = rec["explanation"]["solver"]
        assert res["solver"] == "greedy"
        assert res["forward_passes"] <= 150 and res["stopped"] == "budget"  # greedy le-mo needs > 150 passes
    # iterations: greedy has no 'iterations' parameter, so it becomes the budget's iteration limit
    rc, out, cap = _run(tmp_path, capsys, "--n", "1", "--solver", "greedy", "--iterations", "3", cache=model_cache_dir)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["iterations_applied_as"] == "budget limit"
    rec = json.loads((out / "digit_000.json").read_text())
    assert rec["explanation"]["solver"]["iterations"] == 3 and rec["explanation"]["solver"]["stopped"] == "iterations"


def test_one_ctrl_c_in_a_search_stops_the_demo(tmp_path, capsys, model_cache_dir, monkeypatch):
    """The solver turns Ctrl-C into its best-so-far (stopped='interrupted'); the demo used to go on to the
    next digit. Now it writes that digit's files and summary.json, then stops."""
    real_cnn, calls = trace_opt.models.data.digits_cnn, []

    def digits_cnn(*args, **kwargs):
        model = real_cnn(*args, **kwargs)
        forward = model.forward

        def interrupted_once(batch):
            calls.append(len(batch))
            if len(calls) == 2:  # call 1 is the probe pass on x, call 2 the first search batch: Ctrl-C
                raise KeyboardInterrupt
            return forward(batch)

        monkeypatch.setattr(model, "forward", interrupted_once)
        return model

    monkeypatch.setattr(trace_opt.models.data, "digits_cnn", digits_cnn)
    rc, out, cap = _run(tmp_path, capsys, "--n", "3", "--iterations", "20", cache=model_cache_dir)
    assert rc == 130 and len(calls) > 2
    summary = json.loads((out / "summary.json").read_text())
    assert [r["index"] for r in summary["rows"]] == [0] and summary["rows"][0]["stopped"] == "interrupted"
    assert [f["json"] for f in summary["files"]] == ["digit_000.json"] and "digit 0" in summary["interrupted"]
    assert sorted(p.name for p in out.glob("digit_*.json")) == ["digit_000.json"]
    record = json.loads((out / "digit_000.json").read_text())
    assert record["explanation"]["solver"]["stopped"] == "interrupted"
    assert sorted(record["explanation"]["trajectory"]) == list(range(16))
    for key in ("overlay", "deletion_sequence", "curves"):
        assert _png_ok(out / summary["files"][0][key]), key
    header, _, row = cap.out.split("\n\n")[1].splitlines()[:3]  # the table: header, rule, first row
    assert header.split()[-1] == "stopped" and row.split()[-1] == "interrupted"
    assert "interrupted" in cap.err


def test_ctrl_c_outside_a_search_still_writes_the_summary(tmp_path, capsys, model_cache_dir, monkeypatch):
    real, calls = plots.plot_curves, []

    def plot_curves(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # while drawing the second digit's figures
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(plots, "plot_curves", plot_curves)
    rc, out, cap = _run(tmp_path, capsys, "--n", "3", "--iterations", "20", cache=model_cache_dir)
    assert rc == 130
    summary = json.loads((out / "summary.json").read_text())
    assert [r["index"] for r in summary["rows"]] == [0] and [f["json"] for f in summary["files"]] == ["digit_000.json"]
    assert summary["interrupted"] == "Ctrl-C after 1 digit(s)" and not (out / "digit_001.json").exists()
    assert "stopped" not in cap.out.split("\n\n")[1].splitlines()[0]  # digit 0 finished normally


def test_demo_progress_flag(tmp_path, capsys, model_cache_dir):
    rc = main(
        ["demo", "--out", str(tmp_path / "a"), "--cache-dir", str(model_cache_dir), "--n", "1", "--iterations", "20"]
    )
    with_bars = capsys.readouterr().err
    rc2, _, cap = _run(tmp_path, capsys, "--n", "1", "--iterations", "20", cache=model_cache_dir)
    assert rc == rc2 == 0
    assert "digits" in with_bars and "digits" not in cap.err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--n", "0"], "--n"),
        (["--n", "two"], "--n"),
        (["--iterations", "0"], "--iterations"),
        (["--budget", "-5"], "--budget"),
        (["--seed", "-1"], "--seed"),
        (["--data-seed", "-1"], "--data-seed"),
        (["--model-seed", "x"], "--model-seed"),
        (["--threads", "0"], "--threads"),
        (["--solver", "nope"], "--solver"),
        (["--unknown"], "unrecognized"),
    ],
)
def test_bad_flags_give_argparse_errors(flags, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", *flags])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_too_many_digits_is_a_clear_error(tmp_path, capsys, model_cache_dir):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--n", "100000", "--out", str(tmp_path), "--cache-dir", str(model_cache_dir), "--no-progress"])
    assert exc.value.code == 2 and "--n 100000" in capsys.readouterr().err


def test_module_entry_point_help():
    res = subprocess.run(
        [sys.executable, "-m", "trace_opt", "demo", "--help"], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0
    for flag in ("--out", "--n", "--solver", "--iterations", "--seed", "--budget", "--no-progress", "--threads"):
        assert flag in res.stdout
    assert "--data-seed" in res.stdout and "--model-seed" in res.stdout


def test_missing_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2 and "COMMAND" in capsys.readouterr().err


# -------------------------------------------------------------------------------------- plots
@pytest.fixture(scope="module")
def small_explanation():
    """An explanation of an untrained (seeded) CNN on a real digit: fast, no training needed."""
    torch.manual_seed(0)
    model = DigitsCNN8().eval()
    x = trace_opt.models.data.load_digits_split(8)[1][0]
    return trace_opt.explain(model, x, features=4, solver="sa", solver_options={"iterations": 100}, seed=0)


def test_deletion_sequence_images_and_values(small_explanation):
    exp = small_explanation
    t = exp.oracle.t
    ks = np.arange(t + 1)
    ranks = np.argsort(exp.trajectory)
    ids = exp.features.ids
    x = exp.oracle.x.numpy()
    for direction in ("lerf", "morf"):
        imgs, vals = plots.deletion_sequence(exp, ks, direction)
        assert imgs.shape == (t + 1, 1, 8, 8)
        for k in ks:
            deleted = ranks < k if direction == "lerf" else ranks >= t - k
            pix = deleted[ids]
            assert np.all(imgs[k, 0][pix] == 0.0)  # zero reference
            assert np.array_equal(imgs[k, 0][~pix], x[0][~pix])
        # the values are the model's outputs on exactly these images
        with torch.inference_mode():
            logits = exp.oracle.model(torch.as_tensor(imgs))[:, exp.target].double().numpy()
        assert np.allclose(vals, logits, atol=1e-5)
    with pytest.raises(ValueError, match="ks"):
        plots.deletion_sequence(exp, [t + 1])
    with pytest.raises(ValueError, match="direction"):
        plots.deletion_sequence(exp, [1], "sideways")


def test_plots_from_explanation_write_pngs(small_explanation, tmp_path):
    exp = small_explanation
    for name, fn in (
        ("overlay", lambda p: plots.plot_overlay(exp, path=p)),
        ("seq", lambda p: plots.plot_deletion_sequence(exp, n_steps=5, path=p)),
        ("seq_lerf", lambda p: plots.plot_deletion_sequence(exp, ks=[0, 4, 8], directions="lerf", path=p)),
        ("curves", lambda p: plots.plot_curves(exp, path=p)),
        ("curves_base", lambda p: plots.plot_curves(exp, baseline=exp.curves, insertion=False, path=p)),
    ):
        fig = fn(tmp_path / f"{name}.png")
        assert _png_ok(tmp_path / f"{name}.png"), name
        plt.close(fig)
    fig = plots.plot_deletion_sequence(exp, n_steps=5)
    assert len(fig.axes) == 2 * len(plots.default_steps(16, 5))
    plt.close(fig)


def test_plots_from_plain_arrays(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.random((3, 10, 12))
    fig = plots.plot_overlay(img, rng.random((10, 12)), path=tmp_path / "o.png", show_input=False)
    plt.close(fig)
    fig = plots.plot_deletion_sequence(
        rng.random((4, 8, 8)), ks=[0, 2, 4, 6], values=[1, 2, 3, 4], path=tmp_path / "s.png"
    )
    plt.close(fig)
    le = np.linspace(5, 0, 9)
    fig = plots.plot_curves({"lerf_deletion": le, "morf_deletion": le[::-1] - 5}, path=tmp_path / "c.png")
    assert "AUC-Le = 22.5" in " ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())
    plt.close(fig)
    for name in ("o", "s", "c"):
        assert _png_ok(tmp_path / f"{name}.png")


def test_plot_argument_errors():
    img = np.zeros((8, 8))
    with pytest.raises(ValueError, match="heatmap is required"):
        plots.plot_overlay(img)
    with pytest.raises(ValueError, match="heatmap must have"):
        plots.plot_overlay(img, np.zeros((4, 4)))
    with pytest.raises(ValueError, match="image"):
        plots.plot_overlay(np.zeros(8), np.zeros(8))
    with pytest.raises(ValueError, match="ks must give one"):
        plots.plot_deletion_sequence(np.zeros((3, 8, 8)), ks=[0, 1])
    with pytest.raises(ValueError, match="lerf_deletion and morf_deletion"):
        plots.plot_curves({"lerf_deletion": [1, 2]})
    with pytest.raises(ValueError, match="same length"):
        plots.plot_curves({"lerf_deletion": [1, 2, 3], "morf_deletion": [1, 2]})
    with pytest.raises(ValueError, match="Curves"):
        plots.plot_curves([1, 2, 3])
    plt.close("all")
