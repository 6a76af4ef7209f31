"""The public explain API carries type hints (issue 29 point 5): every parameter and return of the names that
``trace_opt`` exports from the explain path, and a ``py.typed`` marker shipped as package data."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import tomllib

import trace_opt
from trace_opt.explanation.lockstep import explain_with_settings

ROOT = Path(__file__).resolve().parents[1]

PUBLIC = [
    trace_opt.explain,
    trace_opt.explain_many,
    explain_with_settings,
    trace_opt.Explainer.__init__,
    trace_opt.Explainer.explain,
    trace_opt.Explainer.explain_many,
    trace_opt.Explainer.explain_dataset,
    trace_opt.Explainer.with_settings,
    trace_opt.ExplainSettings.from_keywords,
    trace_opt.ExplainSettings.replace,
    trace_opt.ExplainSettings.solver_object,
    trace_opt.ExplainSettings.budget_object,
    trace_opt.ExplainSettings.check_input,
    trace_opt.ExplainSettings.result_config,
    trace_opt.ExplainSettings.to_dict,
    trace_opt.Explanation.load,
    trace_opt.Explanation.to_dict,
    trace_opt.Explanation.save,
    trace_opt.make_reference,
    trace_opt.ModelOracle.__init__,
    trace_opt.CallableOracle.__init__,
    trace_opt.attribution_to_trajectory,
    trace_opt.feature_scores,
    trace_opt.kendall_tau_distance,
    trace_opt.scores_to_trajectory,
    trace_opt.trajectory_to_heatmap,
]


@pytest.mark.parametrize("fn", PUBLIC, ids=lambda fn: fn.__qualname__)
def test_public_functions_are_annotated(fn):
    sig = inspect.signature(fn)
    missing = [n for n, p in sig.parameters.items() if n not in ("self", "cls") and p.annotation is p.empty]
    assert not missing, f"{fn.__qualname__}: parameters without a type hint: {missing}"
    assert sig.return_annotation is not sig.empty, f"{fn.__qualname__} has no return type"


def test_settings_fields_and_explanation_fields_are_annotated():
    for cls in (trace_opt.ExplainSettings, trace_opt.Explanation):
        assert all(f.type not in (None, "object") for f in cls.__dataclass_fields__.values()), cls


def test_py_typed_is_shipped():
    assert (ROOT / "trace_opt" / "py.typed").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in data["trace_opt"]
