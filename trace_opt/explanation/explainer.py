"""``explain``: one call from a model and an input to a trajectory explanation (``trace_opt.explain``)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from trace_opt.core.validation import check_choice, check_keywords, check_positive_float, check_positive_int
from trace_opt.core.features import as_features, tabular_features
from trace_opt.core.io import atomic_write_json, json_values
from trace_opt.core.oracle import Oracle
from trace_opt.models.oracles import PRECISIONS, make_oracle
from trace_opt.core.problem import Curves, TraceProblem
from trace_opt.core.objective import OBJECTIVES
from trace_opt.explanation.rankings import trajectory_to_heatmap
from trace_opt.models.references import REFERENCE_OPTIONS, check_reference_options, make_reference


class DegenerateExplanationWarning(UserWarning):
    """An explanation that says nothing about the model: D(S) does not change, the reference equals the
    input, or the search never ran (identity order returned)."""


class torch_threads:
    """Run with ``n`` torch intra-op threads (float sums depend on the split), then restore the previous
    count; ``None`` leaves torch's setting as it is."""

    def __init__(self, n: int | None):
        self.n = None if n is None else check_positive_int("threads", n)

    def __enter__(self):
        self.saved = torch.get_num_threads()
        if self.n is not None:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)


def degenerate_messages(oracle, result) -> list:
    """Why an explanation cannot tell features apart, in words (empty when it can): the reference equals
    x, D(S) is constant along the trajectory's curves, or the search never ran."""
    messages = []
    x, ref = oracle.x, oracle.reference
    same = torch.equal(x, ref) if isinstance(x, torch.Tensor) else np.array_equal(np.asarray(x), np.asarray(ref))
    if same:
        messages.append("the reference equals the input x, so deleting features changes nothing: D(S) is the "
                        "same for every set; choose another reference (e.g. 'zeros', 'blur', a constant)")
    elif result.curves is not None:
        c = result.curves
        values = np.concatenate([np.ravel(getattr(c, k)) for k in ("lerf_deletion", "morf_deletion")])
        if np.ptp(values) == 0:
            messages.append(f"D(S) is constant ({float(values[0]):.6g}) on every set evaluated along the "
                            "trajectory, from the full input to the full reference: the model's output does not "
                            "depend on these features (a model returning labels, e.g. predict instead of "
                            "predict_proba, or a saturated output), so the trajectory is arbitrary")
    if result.info.get("identity_fallback") or (result.stopped in ("budget", "time", "iterations")
                                                 and not result.history):
        messages.append(f"the search stopped ({result.stopped}) before it evaluated any trajectory: the order "
                        f"returned is its unsearched start (e.g. the identity order 0..{oracle.t - 1}); raise the "
                        "budget")
    return messages


def _warn_degenerate(oracle, result) -> list:
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
    result: object  # solvers.Result
    oracle: Oracle
    #: the arithmetic of the search (``"fp32"`` unless ``explain(precision=)`` chose another); ``score``,
    #: ``value`` and ``curves`` are always fp32 (re-scored when the search ran in another precision)
    precision: str = "fp32"
    #: the searched trajectory's score in the search's own precision (equal to ``score`` for fp32)
    search_score: float | None = None

    @property
    def features(self):
        return self.oracle.features

    def to_dict(self, heatmap: bool = False) -> dict:
        """The explanation as JSON values (with the heatmap as nested lists if ``heatmap``)."""
        d = {"objective": self.objective, "output": self.output, "target": self.target,
                "t": int(self.oracle.t), "trajectory": self.trajectory.tolist(), "score": self.score,
                "value": self.value, "auc_le": self.curves.auc_le, "auc_mo": self.curves.auc_mo,
                "le_mo": self.curves.le_mo, "curves": self.curves.to_dict(), "counters": self.counters,
                "solver": self.result.to_dict()}
        if heatmap:
            d["heatmap"] = np.asarray(self.heatmap).tolist()
        return json_values(d)

    def save(self, path):
        """Write ``to_dict(heatmap=True)`` as JSON, atomically (a reader never sees half a file)."""
        return atomic_write_json(path, self.to_dict(heatmap=True))


def check_settings(x=None, *, features=None, reference="zeros", objective: str = "le-mo", solver="sa",
                   solver_options: dict | None = None, budget=None, seed: int | None = 0, batch_size: int = 64,
                   heatmap_alpha: float = 1.0, precision: str = "fp32", **reference_options):
    """The checks of ``explain``'s settings that need no model (the model's own come with its probe
    pass): each a ValueError naming the setting. With an input ``x``, ``features`` and ``reference``
    are built on it too (a grid larger than the input, an unknown reference, ...). Batch runs call it
    once before any work. Returns ``(solver object, Budget, features)`` with ``features`` resolved
    (None: a 4 x 4 grid, or one feature per column of a 1-D row)."""
    from solvers import get_solver  # solvers sit above trace_opt's problem layer
    from solvers.base import as_budget

    solver_obj = get_solver(solver, **(solver_options or {}))
    check_choice("objective", objective, OBJECTIVES)
    check_choice("precision", precision, PRECISIONS)
    check_positive_float("heatmap_alpha", heatmap_alpha)
    check_positive_int("seed", seed, minimum=0, allow_none=True)
    check_positive_int("batch_size", batch_size)
    budget = as_budget(budget)
    check_keywords("explain", reference_options, REFERENCE_OPTIONS,
                   hint="; explain's extra keyword arguments are reference options (solver hyperparameters go "
                        "in solver_options)")
    check_reference_options(reference, reference_options)
    if x is not None:
        n_dims = x.dim() if isinstance(x, torch.Tensor) else np.ndim(x)
        if features is None:
            features = 4 if n_dims >= 2 else tabular_features(int(np.shape(x)[0]) if n_dims == 1 else 0)
        xt = torch.as_tensor(np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x), dtype=torch.float64)
        if xt.dim() >= 1 and xt.numel() >= 2:  # a scalar input is refused by the oracle, with its own message
            feats = as_features(features, tuple(xt.shape))
            make_reference(reference, xt, feats, **reference_options, seed=0 if seed is None else seed)
    return solver_obj, budget, features


def explain(model, x, target: int | None = None, *, features=None, reference="zeros", output: str | None = None,
            objective: str = "le-mo", solver="sa", solver_options: dict | None = None, budget=None,
            seed: int | None = 0, batch_size: int = 64, device="cpu", progress: bool = False,
            heatmap_alpha: float = 1.0, threads: int | None = 1, precision: str = "fp32",
            **reference_options) -> Explanation:
    """Explain ``model``'s output for input ``x`` by a searched trajectory (TRACE).

    Parameters
    ----------
    model : a torch module returning ``(B, n_classes)`` scores, or a black-box callable taking a numpy
        batch ``(B, *x.shape)`` and returning ``(B,)`` or ``(B, n_classes)`` scores.
    x : one input without batch dimension (``C x H x W`` image, ``H x W``, or a 1-D row of columns).
    target : class to explain; None takes the model's predicted class for torch models (read from the
        oracle's first pass on x, which is D({})). A callable returning ``(B, n_classes)`` scores needs an
        explicit target (the column to explain); one returning ``(B,)`` scores takes target=None.
    features : a grid size (int or (rows, cols)) over the last two dims, an integer feature map, or a
        ``Features`` object (e.g. ``tabular_features``). None: a 4 x 4 grid for an input with 2 or more
        dims, one feature per column for a 1-D row.
    reference : what deletion writes (``"zeros"``, ``"blur"``, ``"mean"``, ... or a tensor).
    output : ``"logit"`` (default), ``"prob"`` or ``"log_prob"`` for torch models; a callable's scores
        are used as returned (``"raw"``, its only accepted value).
    objective : ``"le-mo"`` (default), ``"le"`` or ``"mo"``.
    solver : a registered solver name (``solvers.available_solvers()``) or a Solver instance.
    solver_options : the solver's hyperparameters (its constructor's keyword arguments).
    budget : limits of the search: forward passes (int), or a dict with forward_passes / seconds /
        iterations. Outside it: the probe pass on x, and scoring the returned trajectory's curves when
        the search stopped before scoring it (at most 2(t+1) passes, cache hits free; reported in
        ``result.evaluation_forward_passes``). ``counters`` hold the total.
    seed : an integer >= 0, or None for a fresh random seed; seeds the solver and any random reference
        (``reference="noise"``).
    device : where a torch model runs (a ``torch.device`` or its name, e.g. ``"cpu"``, ``"cuda:0"``).
    precision : arithmetic of a torch model's forward passes during the search: ``"fp32"`` (default),
        ``"tf32"``, ``"bf16"`` or ``"fp16"`` (``trace_opt.models.oracles.precision_context``). The returned
        ``score``, ``value`` and ``curves`` are always re-scored in fp32 (2(t+1) sets at most, counted in
        ``counters``); ``search_score`` keeps the search's own figure.
    threads : torch intra-op threads during the call (default 1, as the command line uses: a small
        model's batches run fastest on one thread, and many threads on a busy CPU were 23x slower);
        torch's previous setting is restored afterwards. None leaves torch's setting alone.

    A ``DegenerateExplanationWarning`` says when the explanation cannot tell features apart: D(S)
    constant along the trajectory's curves, a reference equal to x, or a search that never ran.
    reference_options : ``value`` (reference="constant"), ``sigma`` ("blur"), ``noise_std`` ("noise").
        Any other keyword, or an option the chosen reference does not use, is a ValueError.
    """
    with torch_threads(threads):  # checked first: a bad value is refused before any work
        return _explain(model, x, target, features=features, reference=reference, output=output,
                        objective=objective, solver=solver, solver_options=solver_options, budget=budget,
                        seed=seed, batch_size=batch_size, device=device, progress=progress,
                        heatmap_alpha=heatmap_alpha, precision=precision, **reference_options)


def _explain(model, x, target, *, features, reference, output, objective, solver, solver_options, budget, seed,
             batch_size, device, progress, heatmap_alpha, precision, **reference_options) -> Explanation:
    # every cheap check before the first forward pass
    solver_obj, budget, features = check_settings(
        x, features=features, reference=reference, objective=objective, solver=solver,
        solver_options=solver_options, budget=budget, seed=seed, batch_size=batch_size,
        heatmap_alpha=heatmap_alpha, **reference_options)
    # ModelOracle / CallableOracle check device (torch models), x's finiteness and target before their probe pass
    reference_options["seed"] = seed  # a random reference is drawn once, from the explanation's seed
    if callable(model) and not isinstance(model, torch.nn.Module) and output not in (None, "raw"):
        raise ValueError(f"output={output!r} is not valid for a callable model: its scores are used as "
                         "returned (output='raw'); apply softmax/log inside the callable if needed")
    # target=None: a torch model's oracle takes the predicted class from its probe pass on x
    oracle = make_oracle(model, x, target, features=features, reference=reference, output=output,
                         batch_size=batch_size, device=device, precision=precision, **reference_options)
    output = oracle.output
    problem = TraceProblem(oracle, objective)
    result = solver_obj.solve(problem, budget=budget, seed=seed, progress=progress)
    score, value, curves = result.score, result.value, result.curves
    if precision != "fp32":  # the search ran in low precision: what is returned is measured in fp32
        with oracle.output_view(precision="fp32") as exact:
            fp32 = TraceProblem(exact, objective)
            curves = fp32.curves(result.trajectory)
            score = fp32.score(result.trajectory)
            value = fp32.to_paper_units(score)
    _warn_degenerate(oracle, result)
    heatmap = trajectory_to_heatmap(result.trajectory, oracle.features, alpha=heatmap_alpha)
    return Explanation(trajectory=result.trajectory, score=score, value=value, objective=objective, output=output,
                       target=oracle.target, curves=curves, heatmap=heatmap, counters=oracle.counters(),
                       result=result, oracle=oracle, precision=precision, search_score=result.score)
