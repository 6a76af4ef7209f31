"""Issue 32, point 3: what the project writes loads back, and a broken file is refused naming the file and field."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import trace_opt
from trace_opt import Explanation


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    exp = trace_opt.explain(model, torch.rand(1, 4, 4), features=4, solver="greedy")
    path = tmp_path_factory.mktemp("load") / "exp.json"
    exp.save(path)
    return exp, json.loads(path.read_text())


def write(tmp_path, doc, name="x.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_load_reads_save_and_the_explain_commands_record(saved, tmp_path):
    exp, doc = saved
    for d in (
        doc,
        {"command": "explain", "explanation": doc, "trajectory": doc["trajectory"]},
        {"command": "explain", "explanation": doc},
    ):
        got = Explanation.load(write(tmp_path, d))
        np.testing.assert_array_equal(got.trajectory, exp.trajectory)
        assert got.value == exp.value


@pytest.mark.parametrize(
    "change, field",
    [
        ({"trajectory": [0, 1, 2]}, "'trajectory' has 3 feature"),
        ({"trajectory": [0] * 16}, "'trajectory' is not a permutation"),
        ({"trajectory": "abc"}, "'trajectory' must be a list"),
        ({"score": "x"}, "'score' must hold numbers"),
        ({"value": None}, "'value' must hold 1 finite"),
    ],
)
def test_load_refuses_a_broken_field_naming_file_and_field(saved, tmp_path, change, field):
    _, doc = saved
    path = write(tmp_path, {**doc, **change})
    with pytest.raises(ValueError, match=f"x.json.*{field}"):
        Explanation.load(path)


def test_load_refuses_curves_of_the_wrong_length(saved, tmp_path):
    _, doc = saved
    curves = dict(doc["curves"], lerf_deletion=doc["curves"]["lerf_deletion"][:-1])
    with pytest.raises(ValueError, match="curves.lerf_deletion' must hold 17 finite"):
        Explanation.load(write(tmp_path, {**doc, "curves": curves}))


# --------------------------------------------------------------- issue 32: weak messages made clear
@pytest.mark.parametrize("x", [None, "abc"])
def test_explain_refuses_an_input_that_is_not_numbers(x):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    with pytest.raises(ValueError, match="^x=.* is not valid; expected one input as a tensor or an array of numbers"):
        trace_opt.explain(model, x)


def test_explain_many_refuses_a_single_int_as_targets():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    with pytest.raises(ValueError, match="^targets=0 is not valid; expected one target per input"):
        trace_opt.explain_many(model, torch.rand(2, 1, 4, 4), targets=0)


def test_explain_command_refuses_index_with_image_and_a_folder_as_image(tmp_path, capsys):
    from trace_opt.cli import main

    for argv, message in (
        (["--image", "chelsea", "--index", "3"], "--index picks a row of --data"),
        (["--image", str(tmp_path)], "is a folder, not one photo"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(["explain", *argv, "--out", str(tmp_path / "out")])
        assert exc.value.code == 2 and message in capsys.readouterr().err
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--out", "FILE"], "is a file; expected a folder"),
        (["--n", "100000"], "--n 100000 is more than the 450 digits8 test inputs"),
        (["--parts", "report", "--out", "EMPTY"], "holds no finished part to report"),
    ],
)
def test_faithfulness_refuses_before_any_work(tmp_path, capsys, argv, message):
    from trace_opt.cli import main

    (tmp_path / "FILE").write_text("x")
    argv = [str(tmp_path / a) if a in ("FILE", "EMPTY") else a for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exc:
        main(["faithfulness", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_explain_dataset_help_names_the_imagenet_model(capsys):
    from trace_opt.cli import main

    with pytest.raises(SystemExit):
        main(["explain-dataset", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "efficientnet-lite0 (ImageNet)" in out and "imagenet-photos" in out
