"""Issue 22, items 5 and 7: bad input is refused with a clear error before any work (exit 2, a message
naming the argument, no traceback), and a refused command creates nothing."""

from __future__ import annotations

import sys
import types
import warnings

import numpy as np
import pytest
import torch

from brute import brute_force
from trace_opt.cli import main

SAMPLE = __import__("pathlib").Path(__file__).resolve().parents[1] / "instances" / "sample"


def _refused(capsys, argv, *patterns) -> str:
    """Run the command in-process; it must exit 2 with every pattern in its message and no traceback."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert "Traceback" not in err
    for pattern in patterns:
        assert pattern in err, err
    return err


@pytest.fixture
def model_file(tmp_path):
    """A torch.save'd module on 8 x 8 inputs (classes that any process can import)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    path = tmp_path / "model.pt"
    torch.save(model, path)
    return path


def _npy(tmp_path, name, array):
    path = tmp_path / name
    np.save(path, array)
    return str(path)


def _only(tmp_path, *names):
    """The folder holds nothing but these names (no output folder was created)."""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


@pytest.mark.parametrize("command", ["evaluate", "explain-dataset"])
def test_non_finite_data_is_refused_naming_the_inputs(tmp_path, capsys, model_file, command):
    x = np.random.default_rng(0).random((4, 8, 8)).astype(np.float32)
    x[1, 2, 3], x[3, 0, 0] = np.nan, np.inf
    data = _npy(tmp_path, "nan.npy", x)
    _refused(
        capsys,
        [command, "--model", str(model_file), "--data", data, "--out", str(tmp_path / "out")],
        "--data",
        "inputs 1, 3 (2 of 4) hold NaN or infinite values",
    )
    _only(tmp_path, "model.pt", "nan.npy")


@pytest.mark.parametrize("command", ["evaluate", "explain-dataset"])
def test_data_of_a_shape_the_model_rejects_is_refused_before_any_work(tmp_path, capsys, model_file, command):
    data = _npy(tmp_path, "wide.npy", np.random.default_rng(0).random((3, 8, 9)).astype(np.float32))
    _refused(
        capsys,
        [command, "--model", str(model_file), "--data", data, "--out", str(tmp_path / "out")],
        "cannot take the inputs of --data",
        "each of shape (8, 9)",
    )
    _only(tmp_path, "model.pt", "wide.npy")


def test_complex_data_is_refused(tmp_path, capsys, model_file):
    data = _npy(tmp_path, "c.npy", np.ones((2, 8, 8), dtype=np.complex64))
    _refused(
        capsys,
        ["explain-dataset", "--model", str(model_file), "--data", data, "--out", str(tmp_path / "o")],
        "complex64",
        "real numbers",
    )


def test_exact_solver_beyond_its_size_is_refused_before_any_input(tmp_path, capsys, model_file):
    """t = 49 (a 7 x 7 grid): refused once, before the first input, not recorded input by input."""
    data = _npy(tmp_path, "x.npy", np.random.default_rng(0).random((3, 8, 8)).astype(np.float32))
    _refused(
        capsys,
        [
            "explain-dataset",
            "--model",
            str(model_file),
            "--data",
            data,
            "--features",
            "7",
            "--solver",
            "exact",
            "--out",
            str(tmp_path / "out"),
        ],
        "'exact' cannot take these inputs (49 features)",
        "max_t",
    )
    _only(tmp_path, "model.pt", "x.npy")


def test_a_pickled_class_from_a_users_script_gets_the_torchscript_hint(tmp_path, capsys):
    mod = types.ModuleType("users_script_module")
    sys.modules[mod.__name__] = mod
    try:

        class Net(torch.nn.Module):
            def forward(self, x):
                return x.flatten(1)[:, :3]

        Net.__module__, Net.__qualname__ = mod.__name__, "Net"
        mod.Net = Net
        torch.save(Net(), tmp_path / "net.pt")
    finally:
        del sys.modules[mod.__name__]
    data = _npy(tmp_path, "x.npy", np.zeros((2, 8, 8), dtype=np.float32))
    _refused(
        capsys,
        ["explain-dataset", "--model", str(tmp_path / "net.pt"), "--data", data, "--out", str(tmp_path / "out")],
        "could not be loaded",
        "torch.jit.save(torch.jit.script(model)",
    )
    scripted = tmp_path / "net.ts"  # and the TorchScript file of the same module loads
    torch.jit.save(torch.jit.script(Net()), scripted)
    from trace_opt.models.data import load_model_and_data

    model, X = load_model_and_data(str(scripted), data)
    assert model(X[:1]).shape == (1, 3)


def test_evaluate_unknown_method_creates_no_folder(tmp_path, capsys):
    _refused(
        capsys,
        ["evaluate", "--dataset", "digits8", "--n", "1", "--methods", "nope", "--out", str(tmp_path / "out")],
        "--methods 'nope' is unknown",
    )
    _only(tmp_path)


def test_tune_storage_that_is_not_a_database_or_in_a_missing_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notadb.db").write_text("not a database\n")
    args = ["tune", "--solver", "greedy", "--library", str(SAMPLE), "--trials", "1", "--out", "o"]
    _refused(
        capsys,
        [*args, "--storage", "sqlite:///notadb.db"],
        "could not be opened as an Optuna database",
        "file is not a database",
    )
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    _refused(capsys, [*args, "--storage", f"sqlite:///{missing}"], "does not exist; create it first")
    _refused(capsys, [*args, "--storage", "sqlite:///notadb.db/x.db"], "is a file")
    _only(tmp_path, "notadb.db")  # neither --out nor the storage's folders were created


def test_best_known_file_in_an_unwritable_place_is_refused(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    _refused(
        capsys,
        [
            "instances",
            "best-known",
            "--file",
            str(tmp_path / "afile" / "x.best.json"),
            "--t",
            "12",
            "--solver",
            "greedy",
            "--budget",
            "10",
        ],
        "--file's folder",
        "is a file",
    )
    _refused(capsys, ["instances", "best-known", "--file", str(tmp_path), "--t", "12"], "is a folder")


def test_instances_build_with_an_enormous_grid_is_a_clear_error(tmp_path, capsys):
    _refused(
        capsys,
        ["instances", "build", "--out", str(tmp_path / "o"), "--grids", "99"],
        "t=9801 is too large",
        "about 10^2950 values",
    )
    _only(tmp_path)


# ----------------------------------------------------------------------------------- the library
def test_library_refusals_name_the_argument():
    from solvers import get_solver
    from trace_opt import SetFunctionOracle, TraceProblem
    from trace_opt.models.oracles import make_oracle

    problem = TraceProblem(SetFunctionOracle(lambda m: m.sum(1).astype(float), 6), "le-mo")
    with pytest.raises(ValueError, match=r"seed=-1 is not valid"):
        get_solver("sa").solve(problem, seed=-1)
    with pytest.raises(ValueError, match=r"x is None"):
        make_oracle(torch.nn.Linear(4, 2), None)
    for model in (torch.nn.Flatten(), lambda b: np.real(b).reshape(len(b), -1)):
        with pytest.raises(ValueError, match="complex values"):
            make_oracle(model, np.ones((4, 4)) + 1j, target=0)
        with pytest.raises(ValueError, match="complex values"):
            make_oracle(model, torch.ones(4, 4, dtype=torch.complex64), target=0)


def test_a_callable_whose_columns_change_between_calls_is_refused():
    from trace_opt import explain

    calls = []

    def shifty(batch):
        calls.append(len(batch))
        cols = 3 if len(calls) < 3 else 4
        return np.repeat(np.asarray(batch).reshape(len(batch), -1).sum(1, keepdims=True), cols, axis=1)

    with pytest.raises(ValueError, match=r"same number of columns"):
        explain(shifty, np.random.default_rng(0).random((8, 8)), target=0, features=2, budget=100)


def test_exact_warns_when_its_budget_is_below_the_complete_search():
    from solvers import get_solver
    from trace_opt import SetFunctionOracle, TraceProblem

    def problem():
        return TraceProblem(SetFunctionOracle(lambda m: m @ np.arange(1.0, 7.0), 6), "le-mo")

    with pytest.warns(UserWarning, match=r"below the 2\^6 = 64 sets.*identity order"):
        res = get_solver("exact").solve(problem(), budget=20)
    assert res.stopped == "budget" and list(res.trajectory) == list(range(6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # enough budget: no warning
        res = get_solver("exact").solve(problem(), budget=64)
    assert res.stopped == "completed"
    assert res.score == pytest.approx(brute_force(problem()).best)


def test_explain_dataset_cli_rerun_with_another_seed_is_refused_unless_overwrite(tmp_path, capsys, model_file):
    data = _npy(tmp_path, "x.npy", np.random.default_rng(0).random((2, 8, 8)).astype(np.float32))
    args = [
        "explain-dataset",
        "--model",
        str(model_file),
        "--data",
        data,
        "--budget",
        "300",
        "--out",
        str(tmp_path / "out"),
        "--solver-options",
        '{"iterations": 40}',
    ]
    assert main(args) == 0
    first = {p.name: p.read_bytes() for p in (tmp_path / "out" / "results").iterdir()}
    _refused(capsys, [*args, "--seed", "1"], "seed: 0 there, 1 now", "--overwrite")
    assert {p.name: p.read_bytes() for p in (tmp_path / "out" / "results").iterdir()} == first
    assert main([*args, "--seed", "1", "--overwrite"]) == 0
    assert "2 explained, 0 already done" in capsys.readouterr().out
    assert main([*args, "--seed", "1"]) == 0
    assert "0 explained, 2 already done" in capsys.readouterr().out
