"""One explanation: from a model, an input and ``ExplainSettings`` to an ``Explanation`` (the work behind
``Explainer.explain`` and ``trace_opt.explain``), and the warning for explanations that say nothing."""

from __future__ import annotations

import copy
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from solvers import Result
from trace_opt.core.io import atomic_write_json, json_values
from trace_opt.core.problem import Curves, TraceProblem
from trace_opt.core.validation import check_positive_int
from trace_opt.explanation.rankings import trajectory_to_heatmap
from trace_opt.explanation.settings import ExplainSettings
from trace_opt.explanation.tables import explanation_frame, explanation_html
from trace_opt.models.backends import with_backend
from trace_opt.models.oracles import BoundInput, CallableOracle, ModelOracle, bind_input, make_oracle
from trace_opt.models.outputs import function_name

#: the oracle of an explanation: a torch module's or a black box's
ExplanationOracle = ModelOracle | CallableOracle


class DegenerateExplanationWarning(UserWarning):
    """An explanation that says nothing about the model: D(S) does not change, the reference equals the
    input, or the search never ran (identity order returned)."""


class torch_threads:
    """Run with ``n`` torch intra-op threads (float sums depend on the split), then restore the previous
    count; ``None`` leaves torch's setting as it is."""

    def __init__(self, n: int | None):
        self.n = None if n is None else check_positive_int("threads", n)

    def __enter__(self) -> None:
        self.saved = torch.get_num_threads()
        if self.n is not None:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.saved)


def degenerate_messages(oracle: ExplanationOracle, result: Result) -> list[str]:
    """Why an explanation cannot tell features apart, in words (empty when it can): the reference equals
    x, D(S) is constant along the trajectory's curves, or the search never ran."""
    messages = []
    x, ref = oracle.x, oracle.reference
    if isinstance(x, torch.Tensor):
        same = torch.equal(x, cast(torch.Tensor, ref))
    else:
        same = np.array_equal(np.asarray(x), np.asarray(ref))
    if same:
        messages.append(
            "the reference equals the input x, so deleting features changes nothing: D(S) is the "
            "same for every set; choose another reference (e.g. 'zeros', 'blur', a constant)"
        )
    elif result.curves is not None:
        c = result.curves
        values = np.concatenate([np.ravel(getattr(c, k)) for k in ("lerf_deletion", "morf_deletion")])
        if np.ptp(values) == 0:
            messages.append(
                f"D(S) is constant ({float(values[0]):.6g}) on every set evaluated along the "
                "trajectory, from the full input to the full reference: the model's output does not "
                "depend on these features (a model returning labels, e.g. predict instead of "
                "predict_proba, or a saturated output), so the trajectory is arbitrary"
            )
    if result.info.get("identity_fallback") or (
        result.stopped in ("budget", "time", "iterations") and not result.history
    ):
        if result.info.get("identity_fallback"):
            what = f"the identity order 0..{oracle.t - 1}, unsearched"
        else:  # a construction cut short (completed from its last values) or a start the search never scored
            start = result.info.get("start")
            what = f"its start ({start}) as far as it got" if start else "its start as far as it got"
        messages.append(
            f"the search stopped ({result.stopped}) before it scored any trajectory: the order returned "
            f"is {what}, with value {result.value:.6g}; raise the budget"
        )
    return messages


def _warn_degenerate(oracle: ExplanationOracle, result: Result) -> list[str]:
    """Warn (``DegenerateExplanationWarning``) with each of ``degenerate_messages``; returns them."""
    messages = degenerate_messages(oracle, result)
    for message in messages:
        warnings.warn(message, DegenerateExplanationWarning, stacklevel=3)
    return messages


@dataclass
class Explanation:
    """A trajectory explanation of one input.

    ``trajectory`` runs from least (index 0) to most important feature. ``score`` is the maximised
    objective; ``value`` is in the paper's sign (AUC-Le, AUC-Mo or AUC-Le - AUC-Mo). ``heatmap`` has
    the feature map's shape with values ((rank+1)/t)^alpha. ``counters`` are the oracle's totals.
    """

    trajectory: np.ndarray
    score: float
    value: float
    objective: str
    output: str
    target: int | None
    curves: Curves
    heatmap: np.ndarray
    counters: dict
    #: the solver's ``Result`` (a loaded explanation: its record, a dict)
    result: Result | dict
    #: the oracle the search used (None for a loaded explanation)
    oracle: ExplanationOracle | None
    #: the arithmetic of the search (``"fp32"`` unless ``explain(precision=)`` chose another); ``score``,
    #: ``value`` and ``curves`` are always fp32 (re-scored when the search ran in another precision)
    precision: str = "fp32"
    #: the searched trajectory's score in the search's own precision (equal to ``score`` for fp32)
    search_score: float | None = None

    #: what ``load`` read (a loaded explanation has no oracle and no live ``Result``)
    saved: dict | None = None

    @property
    def features(self) -> Any:
        """The ``Features`` the trajectory orders (the oracle's)."""
        if self.oracle is None:
            raise ValueError("a loaded Explanation has no oracle, hence no features; its heatmap has their shape")
        return self.oracle.features

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Explanation":
        """An explanation written by ``save`` (or a ``results/<id>.json`` record of ``explain_dataset``, whose
        ``"result"`` it reads): trajectory, score, value, objective, output, target, curves, heatmap and
        counters as saved; ``result`` is the solver's record as a dict, ``oracle`` is None (no model is
        loaded). ``to_dict`` returns what was saved. A ValueError names the file when it is not one."""
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"path {str(path)!r} could not be read as a saved explanation: {exc}") from None
        if isinstance(d, dict) and isinstance(d.get("result"), dict) and "trajectory" not in d:
            d = d["result"]  # an explain_dataset record
        elif isinstance(d, dict) and isinstance(d.get("explanation"), dict):
            d = d["explanation"]  # the explain command's explanation.json before it was saved by ``save``
        need = ("objective", "output", "target", "trajectory", "score", "value", "curves", "counters", "solver")
        missing = [k for k in need if not isinstance(d, dict) or k not in d]
        if missing:
            raise ValueError(f"path {str(path)!r} is not a saved explanation (Explanation.save): it lacks {missing}")
        where = f"path {str(path)!r}"
        trajectory = _saved_trajectory(d, where)
        t = len(trajectory)
        c = d["curves"]
        if not isinstance(c, dict):
            raise ValueError(f"{where}: field 'curves' must be a mapping of the four curves; got {type(c).__name__}")
        names = ("lerf_deletion", "morf_deletion", "lerf_insertion", "morf_insertion")
        curves = Curves(*(_saved_numbers(c.get(k), f"curves.{k}", where, t + 1) for k in names))
        score, value = (float(_saved_numbers([d[k]], k, where, 1)[0]) for k in ("score", "value"))
        return cls(
            trajectory=trajectory,
            score=score,
            value=value,
            objective=d["objective"],
            output=d["output"],
            target=d["target"],
            curves=curves,
            heatmap=np.asarray(d.get("heatmap", []), dtype=np.float64),
            counters=d["counters"],
            result=d["solver"],
            oracle=None,
            precision=d.get("precision", "fp32"),
            search_score=d.get("search_score"),
            saved=d,
        )

    def to_frame(self) -> Any:
        """One row per feature (id, name, importance, LeRF position, heat, marginal drop, elements, region) as
        a pandas DataFrame (``trace_opt.explanation.tables``; needs pandas)."""
        return explanation_frame(self)

    def _repr_html_(self) -> str:
        """The notebook display: summary, ranked input and curves (``trace_opt.explanation.tables``)."""
        return explanation_html(self)

    def to_dict(self, heatmap: bool = False) -> dict:
        """The explanation as JSON values (with the heatmap as nested lists if ``heatmap``; ``precision`` and
        ``search_score`` when the search ran in another precision than fp32)."""
        if self.saved is not None:  # a loaded explanation: what was saved
            d = dict(self.saved)
            if not heatmap:
                d.pop("heatmap", None)
            return d
        assert self.oracle is not None and isinstance(self.result, Result)  # a live explanation
        d = {
            "objective": self.objective,
            "output": self.output,
            "target": self.target,
            "t": int(self.oracle.t),
            "trajectory": self.trajectory.tolist(),
            "score": self.score,
            "value": self.value,
            "auc_le": self.curves.auc_le,
            "auc_mo": self.curves.auc_mo,
            "le_mo": self.curves.le_mo,
            "curves": self.curves.to_dict(),
            "counters": self.counters,
            "solver": self.result.to_dict(),
        }
        if self.precision != "fp32":
            d["precision"], d["search_score"] = self.precision, self.search_score
        if heatmap:
            d["heatmap"] = np.asarray(self.heatmap).tolist()
        return json_values(d)

    def save(self, path: str | os.PathLike, heatmap: bool = True, context: dict | None = None) -> Path:
        """Write ``to_dict(heatmap)`` as JSON, atomically (a reader never sees half a file), with the keys of
        ``context`` beside the explanation's (what produced it: a command, its settings, figures; a key of the
        explanation's own is refused). ``load`` reads it back."""
        d = self.to_dict(heatmap=heatmap)
        clash = sorted(set(context or {}) & set(d))
        if clash:
            raise ValueError(f"context keys {clash} are fields of the explanation itself; name them otherwise")
        return atomic_write_json(path, {**d, **json_values(context or {})})


def _saved_numbers(values, field: str, where: str, n: int) -> np.ndarray:
    """``values`` as ``n`` finite float64 numbers, or a ValueError naming the file and the field."""
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: field {field!r} must hold numbers; got {values!r:.80}") from None
    if a.shape != (n,) or not np.isfinite(a).all():
        raise ValueError(
            f"{where}: field {field!r} must hold {n} finite number(s); got shape {a.shape}"
            + ("" if a.shape != (n,) else " with a non-finite value")
        )
    return a


def _saved_trajectory(d: dict, where: str) -> np.ndarray:
    """The saved trajectory, checked: a permutation of 0..t-1 (t from the file's ``t`` when present)."""
    raw = d["trajectory"]
    try:
        a = np.asarray(raw)
    except (TypeError, ValueError):
        a = np.asarray([None])
    if a.ndim != 1 or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise ValueError(f"{where}: field 'trajectory' must be a list of feature indices; got {raw!r:.80}")
    t = d.get("t", len(a))
    if len(a) != t:
        raise ValueError(f"{where}: field 'trajectory' has {len(a)} feature(s) but the file says t={t}")
    if len(a) < 2 or sorted(a.tolist()) != list(range(len(a))):
        raise ValueError(f"{where}: field 'trajectory' is not a permutation of 0..{len(a) - 1} (each feature once)")
    return a.astype(np.int64)


def check_model(model: object, settings: ExplainSettings) -> None:
    """The checks of a model against settings that need no forward pass: a torch module or a callable, and a
    callable's scores used as returned (``output`` None or ``"raw"``). Run once per model and settings: by
    ``Explainer``, by ``explain_many`` for the whole batch, or by ``explain_input``."""
    if not callable(model):
        raise ValueError(f"model must be a torch module or a callable; got {type(model).__name__}")
    if (
        not isinstance(model, torch.nn.Module)
        and not callable(settings.output)
        and settings.output not in (None, "raw")
    ):
        raise ValueError(
            f"output={settings.output!r} is not valid for a callable model: its scores are used as "
            "returned (output='raw'); apply softmax/log inside the callable if needed"
        )


def explain_input(model: Any, x: Any, target: int | None, settings: ExplainSettings) -> Explanation:
    """One explanation of ``model`` at ``x`` for ``target`` with checked ``settings``: ``check_model``, then
    ``explain_checked`` (torch's thread count is the caller's to set)."""
    check_model(model, settings)
    return explain_checked(model, x, target, settings)


def bind_for(model: Any, x: Any, settings: ExplainSettings, seed: int | None) -> BoundInput:
    """``x`` bound once for ``model`` and ``settings`` (``trace_opt.models.oracles.bind_input``: converted as the
    oracle holds it, with its features and its reference, a random one drawn from ``seed``), and the solver's
    size limit checked on its features: every cheap check of an input, before its first forward pass."""
    s = settings
    bound = bind_input(
        model, x, features=s.input_features(x), reference=s.reference, device=s.device, **s.reference_options, seed=seed
    )
    s.check_size(bound.features.t)  # e.g. the exact solver at t = 49
    return bound


def explain_checked(
    model: Any,
    x: Any,
    target: int | None,
    settings: ExplainSettings,
    *,
    seed: int | None = None,
    backend: bool = True,
    bound: BoundInput | None = None,
) -> Explanation:
    """The pipeline of one explanation, for a model the caller has checked (``check_model``), each object built
    once: the input bound with its features and reference (``bind_for``; ``bound``: already bound by the
    caller), the backend (``backend=False``: ``model`` already is what runs the passes), the oracle and its
    probe pass, the search with ``settings``' solver and ``seed`` (None: ``settings.seed``), the fp32
    measures, the warning for a degenerate explanation."""
    s = settings
    seed = s.seed if seed is None else seed
    if bound is None:
        bound = bind_for(model, x, s, seed)
    if backend:
        model = with_backend(model, s.backend, x)  # ONNX Runtime: exported once per model and shape, checked
    # target=None: a torch model's oracle takes the predicted class from its probe pass on x
    oracle = cast(
        ExplanationOracle,
        make_oracle(
            model, bound, target, output=s.output, batch_size=s.batch_size, device=s.device, precision=s.precision
        ),
    )
    problem = TraceProblem(oracle, s.objective)
    # a shallow copy per search: a solver may keep its search's state on itself (the surrogate does), and
    # lockstep runs several searches of one settings object at once
    solver = copy.copy(s.solver_object())
    result = solver.solve(problem, budget=s.budget_object(), seed=seed, progress=s.progress)
    score, value, curves = _fp32_measures(oracle, result, s)
    _warn_degenerate(oracle, result)
    return Explanation(
        trajectory=result.trajectory,
        score=score,
        value=value,
        objective=s.objective,
        output=function_name(s.output) if callable(s.output) else oracle.output,
        target=oracle.target,
        curves=curves,
        heatmap=trajectory_to_heatmap(result.trajectory, oracle.features, alpha=s.heatmap_alpha),
        counters=oracle.counters(),
        result=result,
        oracle=oracle,
        precision=s.precision,
        search_score=result.score,
    )


def _fp32_measures(oracle: ExplanationOracle, result: Result, settings: ExplainSettings) -> tuple[float, float, Curves]:
    """``(score, value, curves)`` of the searched trajectory in fp32: the search's own when it ran in fp32,
    else re-scored by an fp32 view of the oracle (its passes counted by the oracle; low precision needs a torch
    module, so a ``ModelOracle``)."""
    if settings.precision == "fp32":
        assert result.curves is not None  # solve() computes them
        return result.score, result.value, result.curves
    assert isinstance(oracle, ModelOracle)
    with oracle.output_view(precision="fp32") as exact:
        fp32 = TraceProblem(exact, settings.objective)
        curves = fp32.curves(result.trajectory)
        score = fp32.score(result.trajectory)
        return score, fp32.to_paper_units(score), curves
