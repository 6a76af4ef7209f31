"""ExplainSettings and Explainer: one settings object for every entry point and command (issue: one home for
an explanation's settings). Identity claims are proven on an exact oracle (a float64 numpy black box)."""

from __future__ import annotations

import dataclasses
import inspect
import json

import numpy as np
import pytest

import trace_opt
from trace_opt import Explainer, ExplainSettings, explain, explain_dataset, explain_many
from trace_opt.cli import build_parser
from trace_opt.cli._args import SETTING_FLAGS


class Linear:
    """An exact black box: (B, 8) -> (B,) float64 scores of a fixed linear map (additive, no ties)."""

    def __init__(self):
        self.w = np.array([0.3, -1.2, 2.5, 0.7, -0.1, 1.9, 0.05, -2.2])

    def __call__(self, batch):
        rows = np.asarray(batch, dtype=np.float64).reshape(len(batch), -1)
        return np.array([float(np.dot(r, self.w)) for r in rows])  # row by row: independent of the batching


X = np.linspace(0.5, 1.5, 8)


def test_settings_are_frozen_checked_and_replaced_with_checks():
    s = ExplainSettings(budget=500, seed=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.seed = 4  # type: ignore[misc]
    assert s.replace(seed=5).seed == 5 and s.seed == 3
    for bad, match in [
        (dict(objective="best"), "objective"),
        (dict(precision="fp8"), "precision"),
        (dict(threads=0), "threads"),
        (dict(device="gpu:x"), "device"),
        (dict(seed=-1), "seed"),
        (dict(solver="nope"), "solver='nope' is unknown"),
        (dict(batch_size=0), "batch_size"),
        (dict(solver_options={"foo": 1}), "foo"),
        (dict(sigma=2.0), "only used by reference='blur'"),
        (dict(budget={"passes": 3}), "passes"),
        (dict(heatmap_alpha=0), "heatmap_alpha"),
    ]:
        with pytest.raises(ValueError, match=match):
            ExplainSettings.from_keywords(**bad)
        with pytest.raises(ValueError, match=match):
            s.replace(**bad)
    blur = ExplainSettings.from_keywords(reference="blur", sigma=1.5)
    assert blur.reference_options == {"sigma": 1.5}
    assert blur.replace(reference="zeros").reference_options == {}  # a blur's sigma does not follow a new kind


def test_explainer_equals_explain_and_every_entry_point_takes_every_setting(tmp_path):
    """The same settings give the same trajectory through explain, Explainer, explain_many and explain_dataset;
    device, precision and threads are accepted everywhere (explain_dataset(device=...) used to be refused)."""
    common = dict(
        solver="sa", solver_options={"iterations": 300}, budget=400, seed=1, device="cpu", precision="fp32", threads=1
    )
    a = explain(Linear(), X, **common)
    b = Explainer(Linear(), **common).explain(X)
    c = explain_many(Linear(), [X, X[::-1].copy()], **common)
    run = explain_dataset(Linear(), np.stack([X]), tmp_path / "run", **common)
    d = json.loads((tmp_path / "run" / "results" / "000000.json").read_text())
    assert a.trajectory.tolist() == b.trajectory.tolist() == c[0].trajectory.tolist() == d["result"]["trajectory"]
    assert a.score == b.score == c[0].score and run.computed == ["000000"]
    # an additive model's le-mo optimum is the order of its weights times x (least important first)
    assert a.trajectory.tolist() == np.argsort(Linear().w * X, kind="stable").tolist()


def test_entry_points_document_the_same_settings():
    names = {f.name for f in dataclasses.fields(ExplainSettings)}
    assert "device" in names and "precision" in names and "threads" in names
    params = inspect.signature(trace_opt.explain_dataset).parameters
    assert "torch_threads" in params  # the former name still works ...
    with pytest.raises(ValueError, match="threads and torch_threads"):
        explain_dataset(Linear(), np.stack([X]), "unused", threads=1, torch_threads=1)


def test_explainer_refuses_mixed_or_wrong_settings():
    with pytest.raises(ValueError, match="settings were given twice"):
        Explainer(Linear(), ExplainSettings(), seed=2)
    with pytest.raises(ValueError, match="expected an ExplainSettings"):
        Explainer(Linear(), {"seed": 2})
    with pytest.raises(ValueError, match="output='prob' is not valid for a callable"):
        Explainer(Linear(), output="prob")
    with pytest.raises(ValueError, match="model must be"):
        Explainer(42)


def test_every_explaining_command_has_the_settings_flags():
    """demo and explain-dataset take every ExplainSettings flag; evaluate takes those that apply to it."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in ("demo", "explain-dataset"):
        flags = {o for a in sub.choices[command]._actions for o in a.option_strings}
        missing = set(SETTING_FLAGS.values()) - flags
        assert not missing, (command, missing)
    evaluate = {o for a in sub.choices["evaluate"]._actions for o in a.option_strings}
    assert {
        "--device",
        "--precision",
        "--threads",
        "--seed",
        "--batch-size",
        "--data-seed",
        "--model-seed",
        "--no-progress",
    } <= evaluate


def test_commands_that_load_a_bundled_model_name_its_seeds_data_seed_and_model_seed():
    """Issue 29: --seed is the search's; the split and the weights are --data-seed / --model-seed."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in ("demo", "explain", "evaluate"):
        flags = {o for a in sub.choices[command]._actions for o in a.option_strings}
        assert {"--seed", "--data-seed", "--model-seed"} <= flags, command
    args = parser.parse_args(["explain", "--data-seed", "3", "--model-seed", "1", "--seed", "5"])
    assert (args.data_seed, args.model_seed, args.seed) == (3, 1, 5)


def test_settings_flags_build_checked_settings():
    from trace_opt.cli._args import explain_settings

    args = build_parser().parse_args(
        [
            "explain-dataset",
            "--precision",
            "bf16",
            "--device",
            "cpu",
            "--reference",
            "blur",
            "--sigma",
            "1.5",
            "--budget",
            "50",
            "--threads",
            "2",
        ]
    )
    s = explain_settings(args)
    assert (s.precision, s.device, s.reference_options, s.budget, s.threads) == ("bf16", "cpu", {"sigma": 1.5}, 50, 2)
    args = build_parser().parse_args(["explain-dataset", "--solver", "nope"])
    with pytest.raises(ValueError, match="nope"):
        explain_settings(args)


def test_every_registry_refuses_a_duplicate_name_unless_overwritten():
    """Solvers, neighbourhoods and baselines share one Registry type and one rule for duplicate names."""
    import neighbourhoods
    import solvers
    from trace_opt import baselines
    from trace_opt.core.registry import Registry

    for registry in (solvers.SOLVERS, neighbourhoods.NEIGHBOURHOODS, baselines.BASELINES):
        assert isinstance(registry, Registry)
    with pytest.raises(ValueError, match="a solver named 'sa' is already registered"):
        solvers.register("sa")(type("Other", (solvers.Solver,), {}))
    with pytest.raises(ValueError, match="a neighbourhood named 'complete' is already registered"):
        neighbourhoods.base.register_neighbourhood("complete")(type("Other", (neighbourhoods.Neighbourhood,), {}))
    with pytest.raises(ValueError, match="solver='nope' is unknown; expected one of"):
        solvers.get_solver("nope")
    reg = Registry("thing")
    reg.add("a", 1)
    reg.add("a", 2, overwrite=True)
    assert reg.lookup("a") == 2 and reg.names() == ["a"]


def test_the_package_root_exports_what_users_need():
    for name in (
        "Budget",
        "Result",
        "get_solver",
        "available_solvers",
        "Solver",
        "DegenerateExplanationWarning",
        "ExplainSettings",
        "Explainer",
        "explain",
        "explain_many",
        "explain_dataset",
    ):
        assert name in trace_opt.__all__ and getattr(trace_opt, name) is not None
    assert trace_opt.Budget(forward_passes=3).forward_passes == 3


def test_evaluation_trace_runs_take_the_solver_and_budget_of_the_settings():
    """evaluate's TRACE runs use the chosen solver within its forward-pass budget, and the precision of the search
    is refused when unknown (the settings' names and checks)."""
    import torch

    from trace_opt import grid_features
    from trace_opt.comparison.evaluation import EvaluationConfig, evaluate_input, evaluation_settings

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 3)).eval()
    x = torch.rand(1, 6, 6, generator=torch.Generator().manual_seed(2))
    feats = grid_features((6, 6), 3)  # t = 9
    config = EvaluationConfig(
        methods=["random"],
        trace_objectives=("le-mo",),
        exact_max_t=0,
        keep_maps=0,
        explain=evaluation_settings(solver="tabu", budget=40),
    )
    rec = evaluate_input(model, x, 0, feats, "zeros", config)
    runs = [m for m in rec["methods"].values() if m["kind"] == "trace"]
    assert sorted(m["output"] for m in runs) == sorted(config.trace_outputs)
    assert all(0 < m["forward_passes"] <= 40 for m in runs), [m["forward_passes"] for m in runs]
    with pytest.raises(ValueError, match="precision"):
        EvaluationConfig(explain=evaluation_settings(precision="fp8"))
    with pytest.raises(ValueError, match="solver='nope'"):
        EvaluationConfig(explain=evaluation_settings(solver="nope"))


@pytest.mark.parametrize(
    "changes, name",
    [
        ({"features": 0}, "features"),
        ({"features": -1}, "features"),
        ({"features": "abc"}, "features"),
        ({"features": 1.5}, "features"),
        ({"features": (2, 0)}, "features"),
        ({"features": True}, "features"),
        ({"reference": "x"}, "reference"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_settings_refuse_a_bad_value_when_built(changes, name):
    """Issue 32: the README's promise that ExplainSettings is checked when built (not when explain() runs)."""
    with pytest.raises(ValueError, match=f"^{name}="):
        ExplainSettings(**changes)


@pytest.mark.parametrize("features", [None, 7, (2, 3), [0, 0, 1, 1], np.zeros((4, 4), dtype=int)])
def test_settings_accept_every_form_of_features(features):
    assert ExplainSettings(features=features).features is features


def test_resource_settings_are_checked_against_the_machine():
    """Issue 32: --threads 100000 segfaulted in libgomp; a budget past int64 raised a TypeError in a solver."""
    import os

    with pytest.raises(ValueError, match=r"^threads=100000 is more than this machine's"):
        ExplainSettings(threads=100000)
    assert ExplainSettings(threads=os.cpu_count()).threads == os.cpu_count()
    with pytest.raises(ValueError, match=r"^budget.forward_passes=99999999999999999999999 is more than"):
        ExplainSettings(budget=99999999999999999999999)
