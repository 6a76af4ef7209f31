"""``ExplainSettings``: every setting of an explanation, in one frozen, validated object.

``explain``, ``explain_many``, ``explain_dataset``, ``Explainer`` and every command of the command line
build their settings here, so a setting has one name, one default and one check everywhere:

=================  ==========================================================================================
``features``       a grid size (int or (rows, cols)), an integer feature map, or a ``Features``; None: a 4 x 4
                   grid for inputs with 2 or more dims, one feature per column of a 1-D row
``reference``      what deletion writes: a kind of ``trace_opt.models.references.REFERENCE_KINDS``, a number,
                   or a tensor of the input's shape
``reference_options``  ``value`` (reference "constant"), ``sigma`` ("blur"), ``noise_std`` ("noise")
``output``         ``"logit"`` (default for torch models), ``"prob"``, ``"log_prob"``; ``"raw"`` for callables;
                   or a callable from the model's raw output batch to one score per input (a region's mean
                   logit, a detection score, a regression output; ``trace_opt.models.outputs``)
``objective``      ``"le-mo"`` (default), ``"le"`` or ``"mo"`` (DESIGN.md section 2: solvers maximise a chain sum)
``solver``         a registered solver name or a ``solvers.Solver`` instance; ``solver_options`` its parameters
``budget``         forward passes (int), a ``solvers.Budget``, or a dict (forward_passes / seconds / iterations)
``seed``           the search's seed (an int >= 0, or None for a fresh one); see the seed policy below
``batch_size``     masked inputs per model call
``device``         where a torch model runs (``"cpu"``, ``"cuda"``, ``"cuda:0"``, ...)
``precision``      arithmetic of the search's forward passes: fp32 (default), tf32, bf16, fp16
``backend``        what runs a torch module: ``"torch"`` (default) or ``"onnxruntime"`` (exported once, checked
                   against torch; CPU and fp32 only; ``trace_opt.models.backends``)
``threads``        torch intra-op threads during an explanation (default 1; None leaves torch's setting)
``heatmap_alpha``  the heatmap's exponent: ((rank + 1) / t) ** alpha
``progress``       a progress bar (forward passes and best value)
=================  ==========================================================================================

**Seed policy.** ``seed`` seeds the search (the solver's random stream) and any random reference
(``reference="noise"``, drawn once per explanation so that D stays a set function). It never retrains a
model and never re-splits a data set: the bundled data sets' split and the bundled models' weights have
their own names, ``data_seed`` and ``model_seed`` (``trace_opt.models.data``: ``load_digits_split(size,
data_seed)``, ``digits_cnn(size, model_seed)``, ``load_model_and_data(..., data_seed=, model_seed=)``; the
command line's ``--data-seed`` / ``--model-seed``), and the shipped weights are used unless asked otherwise.

**The batch rule.** Every input of a batch (``explain_many``, ``Explainer.explain_many``, ``explain_dataset``)
is searched with ``seed`` itself, not ``seed + i``: an input's explanation does not depend on its place in the
batch, so ``explain_many(model, [a, b], seed=s)[1]`` is ``explain(model, b, seed=s)``.

Constructing the object checks everything that needs no model and no input (each a ValueError naming the
setting); ``check_input(x)`` adds what needs the input (a grid larger than the input, a reference tensor of
another shape); the model's own checks (target, device, finiteness) come with the oracle's first pass.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from solvers import Solver, get_solver
from trace_opt.core.budget import Budget, as_budget
from trace_opt.core.features import as_features, tabular_features
from trace_opt.core.io import json_values
from trace_opt.core.objective import OBJECTIVES
from trace_opt.core.validation import check_choice, check_keywords, check_positive_float, check_positive_int
from trace_opt.models.backends import BACKENDS
from trace_opt.models.oracles import CALLABLE_OUTPUTS as OUTPUTS  # noqa: F401 - logit, prob, log_prob, raw
from trace_opt.models.oracles import PRECISIONS, DeviceLike, FeaturesSpec
from trace_opt.models.outputs import function_name
from trace_opt.models.references import (
    REFERENCE_KINDS,
    REFERENCE_OPTIONS,
    ReferenceSpec,
    check_reference_options,
    make_reference,
)


@dataclass(frozen=True)
class ExplainSettings:
    """The settings of one explanation (see the module docstring for each field and the seed policy).

    Frozen: ``replace(**changes)`` returns a checked copy. ``from_keywords(**kw)`` accepts the flat keywords
    of ``trace_opt.explain`` (reference options such as ``sigma=2`` beside the settings). The solver is built
    once, when the settings are checked (``solver_object()`` returns that object; each search solves with a shallow
    copy of it, since a solver may keep its search's state on itself), and a copy whose solver and solver
    options are unchanged shares it.

    ``seed`` is the search's seed only (never a data split or a model's weights: ``data_seed`` / ``model_seed``),
    and the batch rule holds: every input of a batch is searched with ``seed`` itself.
    """

    features: FeaturesSpec = None
    reference: ReferenceSpec = "zeros"
    reference_options: dict = field(default_factory=dict)
    output: str | Callable[[Any], Any] | None = None
    objective: str = "le-mo"
    solver: str | Solver = "sa"
    solver_options: dict = field(default_factory=dict)
    budget: int | Budget | dict | None = None
    #: the search's seed (and a noise reference's). The batch rule: every input of a batch (``explain_many``,
    #: ``explain_dataset``) is searched with this seed itself, so an input's explanation does not depend on
    #: its place in the batch. None draws a fresh seed per explanation (not reproducible).
    seed: int | None = 0
    batch_size: int = 64
    device: DeviceLike = "cpu"
    precision: str = "fp32"
    backend: str = "torch"
    threads: int | None = 1
    heatmap_alpha: float = 1.0
    progress: bool = False
    #: the solver object, built when the settings are checked (not a setting: ``solver_object()`` returns it)
    _solver: Solver | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._validate()

    def _validate(self, solver: Solver | None = None) -> None:
        """Normalise the option dicts and check every field (a ValueError names the setting); build the solver
        (or take ``solver``, the one of settings with the same solver and options)."""
        self._normalise_options()
        check_reference_options(self.reference, self.reference_options)  # an option the kind does not use
        _check_reference_kind(self.reference)
        _check_features(self.features)
        if self.output is not None and not callable(self.output):  # a callable scores the raw output batch
            check_choice("output", self.output, OUTPUTS)
        if callable(self.output) and self.backend == "onnxruntime":
            raise ValueError(
                "output=<callable> needs the model's raw output, which an ONNX export does not keep; "
                "use backend='torch'"
            )
        check_choice("objective", self.objective, OBJECTIVES)
        # an unknown name or option is refused here; the object is the one every explanation uses
        object.__setattr__(self, "_solver", solver or get_solver(self.solver, **self.solver_options))
        as_budget(self.budget)
        check_positive_int("seed", self.seed, minimum=0, allow_none=True)
        check_positive_int("batch_size", self.batch_size)
        _check_device(self.device)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("backend", self.backend, BACKENDS)
        self._check_backend()
        check_positive_int("threads", self.threads, allow_none=True)
        if self.threads is not None and self.threads > (os.cpu_count() or 1):
            raise ValueError(
                f"threads={self.threads} is more than this machine's {os.cpu_count()} logical cores; "
                f"expected 1..{os.cpu_count()} (or None to leave torch's setting)"
            )
        check_positive_float("heatmap_alpha", self.heatmap_alpha)
        if not isinstance(self.progress, bool):
            raise ValueError(f"progress={self.progress!r} is not valid; expected True or False")

    def _normalise_options(self) -> None:
        """``solver_options`` and ``reference_options`` as fresh dicts (None: empty; a reference option None:
        left out), each checked for its form and keys."""
        set_ = object.__setattr__
        if self.solver_options is None:
            set_(self, "solver_options", {})
        if not isinstance(self.solver_options, dict):
            raise ValueError(
                f"solver_options={self.solver_options!r} is not valid; expected a dict of the "
                "solver's hyperparameters, e.g. {'iterations': 2000}"
            )
        if self.reference_options is None:
            set_(self, "reference_options", {})
        if not isinstance(self.reference_options, dict):
            raise ValueError(
                f"reference_options={self.reference_options!r} is not valid; expected a dict with "
                f"keys among {sorted(REFERENCE_OPTIONS)}"
            )
        set_(self, "solver_options", dict(self.solver_options))
        set_(self, "reference_options", {k: v for k, v in self.reference_options.items() if v is not None})
        check_keywords(
            "reference options",
            self.reference_options,
            REFERENCE_OPTIONS,
            hint="; solver hyperparameters go in solver_options",
        )

    def _check_backend(self) -> None:
        """ONNX Runtime runs in fp32 on the CPU."""
        if self.backend == "onnxruntime" and self.precision != "fp32":
            raise ValueError(
                f"precision={self.precision!r} is not valid with backend='onnxruntime', which runs in "
                "fp32; use backend='torch' for low-precision passes"
            )
        if self.backend == "onnxruntime" and str(self.device) != "cpu":
            raise ValueError(
                f"device={self.device!r} is not valid with backend='onnxruntime', which runs on the "
                "CPU; use backend='torch' on another device"
            )

    # ----------------------------------------------------------------------------------------- building
    @classmethod
    def from_keywords(cls, **keywords: Any) -> "ExplainSettings":
        """Settings from ``explain``'s flat keywords: the fields above, plus reference options
        (``value``, ``sigma``, ``noise_std``) given directly; any other keyword is a ValueError."""
        return cls(**_fields_of_keywords(keywords))

    def replace(self, **changes: Any) -> "ExplainSettings":
        """A checked copy with ``changes`` (the same keywords as ``from_keywords``); it shares this object's
        solver when ``solver`` and ``solver_options`` are unchanged."""
        current = {name: getattr(self, name) for name in _setting_names()}
        ref_opts = dict(current.pop("reference_options"))
        if "reference" in changes and "reference_options" not in changes:
            ref_opts = {}  # options of the old reference kind do not carry over to a new one
        ref_opts.update(changes.pop("reference_options", None) or {})
        current.update(changes)
        values = _fields_of_keywords({"reference_options": ref_opts, **current})
        same_solver = (
            values["solver"] is self.solver or (isinstance(self.solver, str) and values["solver"] == self.solver)
        ) and values["solver_options"] == self.solver_options
        copy = object.__new__(ExplainSettings)  # the fields set as __init__ sets them, then checked once
        for name, value in values.items():
            object.__setattr__(copy, name, value)
        copy._validate(self._solver if same_solver else None)
        return copy

    # ----------------------------------------------------------------------------------------- using
    def solver_object(self) -> Solver:
        """The solver (``solvers.get_solver(solver, **solver_options)``, built when the settings were checked;
        an instance is returned as given)."""
        assert self._solver is not None  # set by _validate
        return self._solver

    def budget_object(self) -> Budget:
        """The budget as a ``solvers.Budget``."""
        return as_budget(self.budget)

    def oracle_options(self) -> dict[str, Any]:
        """The keywords of ``trace_opt.models.oracles.make_oracle`` these settings fix: reference and its
        options, output, batch size, device and precision."""
        return {
            "reference": self.reference,
            "output": self.output,
            "batch_size": self.batch_size,
            "device": self.device,
            "precision": self.precision,
            **self.reference_options,
        }

    def input_features(self, x: Any) -> FeaturesSpec:
        """The features of input ``x`` (checked to be one input of numbers): ``features``, or for None a 4 x 4
        grid for inputs with 2 or more dims and one feature per column for a 1-D row."""
        _check_input_type(x)
        if self.features is not None:
            return self.features
        n_dims = x.dim() if isinstance(x, torch.Tensor) else np.ndim(x)
        return 4 if n_dims >= 2 else tabular_features(int(np.shape(x)[0]) if n_dims == 1 else 0)

    def check_size(self, t: int) -> None:
        """Refuse ``t`` features when the solver cannot take them (``Solver.check_size``, e.g. the exact solver
        at t = 49), naming the solver."""
        check_size = getattr(self.solver_object(), "check_size", None)
        if check_size is None:
            return
        try:
            check_size(t)
        except ValueError as exc:
            raise ValueError(
                f"solver={self.solver if isinstance(self.solver, str) else 'the solver'!r} "
                f"cannot take these inputs ({t} features): {exc}"
            ) from None

    def check_input(self, x: Any) -> FeaturesSpec:
        """Check the settings that need an input ``x`` without a model (features and reference built on a
        float64 copy of it, the solver's size limits; nothing runs a model): what a batch checks once, on its
        first input, before any search. Returns the resolved features (``input_features``)."""
        features = self.input_features(x)
        xt = torch.as_tensor(np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x), dtype=torch.float64)
        if xt.dim() >= 1 and xt.numel() >= 2:  # a scalar input is refused by the oracle, with its own message
            feats = as_features(features, tuple(xt.shape))
            make_reference(
                self.reference, xt, feats, **self.reference_options, seed=0 if self.seed is None else self.seed
            )
            self.check_size(feats.t)
        return features

    def result_config(self) -> dict[str, Any]:
        """What makes a result what it is, as JSON values (a data-set run's files are reused only when this
        matches): everything but device, threads, progress and heatmap_alpha (how a result is computed or
        shown, not what it is). The keys are those ``explain_dataset`` has always hashed; ``precision``
        enters only when it is not fp32."""
        d = {
            "features": self.features,
            "reference": self.reference,
            "output": function_name(self.output) if callable(self.output) else self.output,
            "objective": self.objective,
            "solver": self.solver,
            "solver_options": dict(self.solver_options),
            "budget": self.budget,
            "seed": self.seed,
            "batch_size": self.batch_size,
            **self.reference_options,
        }
        if self.precision != "fp32":
            d["precision"] = self.precision
        if self.backend != "torch":
            d["backend"] = self.backend
        return json_values(d)

    def to_dict(self) -> dict[str, Any]:
        """Every setting as JSON values (a solver instance by its name and parameters)."""
        d = {name: getattr(self, name) for name in _setting_names()}
        d["device"] = str(self.device)
        features: Any = self.features
        if hasattr(features, "ids"):  # a Features object: its kind and size (the map is the explanation's)
            d["features"] = {"kind": getattr(features, "kind", "map"), "t": int(features.t)}
        elif self.features is not None and not isinstance(self.features, (int, tuple, list)):
            d["features"] = {"kind": "map", "shape": list(getattr(self.features, "shape", ()))}
        if not isinstance(self.reference, (str, int, float)):
            d["reference"] = "tensor"
        if not isinstance(self.solver, str):
            d["solver"] = getattr(self.solver, "name", type(self.solver).__name__)
        return json_values(d)


def _setting_names() -> list[str]:
    """The fields of ``ExplainSettings`` that are settings (those ``__init__`` takes), in order."""
    return [f.name for f in dataclasses.fields(ExplainSettings) if f.init]


def _fields_of_keywords(keywords: dict) -> dict:
    """The dataclass fields of ``from_keywords``'s flat keywords (reference options gathered into
    ``reference_options``); an unknown keyword is a ValueError listing the settings."""
    keywords = dict(keywords)
    names = set(_setting_names())
    ref_opts = dict(keywords.pop("reference_options", None) or {})
    unknown = [k for k in keywords if k not in names and k not in REFERENCE_OPTIONS]
    if unknown:
        raise ValueError(
            f"{unknown} {'is not a setting' if len(unknown) == 1 else 'are not settings'} of an "
            f"explanation; expected among {sorted(names - {'reference_options'})} or the reference "
            f"options {sorted(REFERENCE_OPTIONS)} (solver hyperparameters go in solver_options)"
        )
    ref_opts.update({k: keywords.pop(k) for k in list(keywords) if k in REFERENCE_OPTIONS})
    return {**keywords, "reference_options": ref_opts}


def _check_input_type(x) -> None:
    """``x`` is one input of numbers: a tensor, or an array (or nested lists) of real, non-bool numbers."""
    if isinstance(x, torch.Tensor):
        return
    try:
        dtype = np.asarray(x).dtype
        ok = np.issubdtype(dtype, np.number) and dtype != np.bool_
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"x={x!r:.60} is not valid; expected one input as a tensor or an array of numbers "
            "(e.g. C x H x W, H x W, or a 1-D row of columns)"
        )


def _check_features(features) -> None:
    """The form of ``features`` (whether it fits the input is ``check_input``'s): None, a grid size (an int >= 1 or
    two of them), or a feature map (an integer array or tensor, or a ``Features``)."""
    if features is None or hasattr(features, "ids"):
        return
    if isinstance(features, numbers.Integral) and not isinstance(features, bool):
        if int(features) >= 1:
            return
    elif isinstance(features, tuple) and len(features) == 2:  # a grid (rows, cols); a list is a feature map
        if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and int(v) >= 1 for v in features):
            return
    elif not isinstance(features, (str, bytes, numbers.Number)):
        try:
            ids = np.asarray(features)
        except (TypeError, ValueError):
            ids = None
        if ids is not None and ids.ndim >= 1 and ids.size and np.issubdtype(ids.dtype, np.integer):
            return
    raise ValueError(
        f"features={features!r} is not valid; expected None, a grid size (an integer >= 1, or "
        "(rows, cols)), or an integer feature map of the input's shape"
    )


def _check_reference_kind(reference) -> None:
    """A named reference must be one of ``REFERENCE_KINDS`` (numbers and tensors are checked on the input)."""
    if isinstance(reference, str) and reference not in REFERENCE_KINDS:
        raise ValueError(
            f"reference={reference!r} is not valid; expected one of {list(REFERENCE_KINDS)}, a number, "
            "or a tensor of the input's shape"
        )


def _check_device(device) -> None:
    """The device's form (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, or a ``torch.device``); whether this
    machine has it is checked when a model is bound (``trace_opt.models.oracles.as_device``)."""
    text = str(device)
    kind, _, index = text.partition(":")
    if not kind or not kind.replace("_", "").isalpha() or (index and not index.isdigit()):
        raise ValueError(f"device={device!r} is not valid; expected a torch device such as 'cpu', 'cuda' or 'cuda:0'")
    try:
        torch.device(text)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device={device!r} is not valid: not a device type torch knows; expected a torch device "
            "such as 'cpu', 'cuda' or 'cuda:0'"
        ) from None
