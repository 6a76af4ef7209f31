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
    for d in (doc, {"command": "explain", "explanation": doc, "trajectory": doc["trajectory"]},
              {"command": "explain", "explanation": doc}):
        got = Explanation.load(write(tmp_path, d))
        np.testing.assert_array_equal(got.trajectory, exp.trajectory)
        assert got.value == exp.value


@pytest.mark.parametrize("change, field", [
    ({"trajectory": [0, 1, 2]}, "'trajectory' has 3 feature"),
    ({"trajectory": [0] * 16}, "'trajectory' is not a permutation"),
    ({"trajectory": "abc"}, "'trajectory' must be a list"),
    ({"score": "x"}, "'score' must hold numbers"),
    ({"value": None}, "'value' must hold 1 finite"),
])
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
