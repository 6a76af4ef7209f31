"""Evaluation of TRACE against attribution baselines on a set of inputs (the paper's Table 2, Figs 5-7),
and the randomisation sanity check (Adebayo et al.; the paper's Fig. 4).

For each input every method yields a trajectory; each trajectory is scored by its deletion curves
(LeRF ``le[k] = D(P_k)`` and MoRF ``mo[k] = D(all \\ P_(t-k))``, k = 0..t) under every output
(``logit`` and ``prob``). TRACE variants are simulated annealing runs (``solvers.sa``) on each
objective (``le``, ``mo``, ``le-mo``) and output: ``trace-y-le-mo`` is the paper's TRACE-y,
``trace-p-le-mo`` its TRACE-p. Where ``t <= exact_max_t`` the complete table of 2^t values gives the
exact optimum of each objective (``exact-y-le-mo``, ...) and the complete-search (CS) bounds.

A model is a ``torch.nn.Module`` (logits out) or a ``BlackBox`` (numpy callables per output).
The search of every TRACE run is one ``ExplainSettings`` (``EvaluationConfig.explain``; default: the paper's
SA at K = 2000, ``evaluation_settings``). The batch rule: every input is searched with the settings' ``seed``
itself, and the random baselines use it too, so a record depends only on the model, the input and the settings.
Per-input records are plain JSON-able dicts, kept in a ``trace_opt.core.io.RecordStore`` (atomic, resumable,
reused only under the same settings), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import copy
import hashlib
import sys
import time
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from solvers.complete import avg_iou, complete_table, cs_bounds, exact_optimum, optimal_trajectory_count, table_scores
from trace_opt.baselines import applicable_baselines, attribute, get_baseline, make_input
from trace_opt.comparison import known_tables
from trace_opt.comparison.known_tables import load_tables
from trace_opt.core.features import Features
from trace_opt.core.fingerprint import arrays_digest
from trace_opt.core.io import RecordStore, json_values, stop_on_interrupt
from trace_opt.core.objective import OBJECTIVES
from trace_opt.core.paired import standard_error
from trace_opt.core.problem import TraceProblem, ranks_of
from trace_opt.core.stats import t_interval
from trace_opt.core.table import table_stats
from trace_opt.core.validation import check_choice, check_positive_int
from trace_opt.explanation.rankings import trajectory_to_heatmap
from trace_opt.explanation.settings import ExplainSettings
from trace_opt.models.oracles import make_oracle as build_oracle
from trace_opt.models.references import REFERENCE_OPTIONS, make_reference

OUTPUT_TAGS = {"logit": "y", "prob": "p"}
TAG_OUTPUTS = {v: k for k, v in OUTPUT_TAGS.items()}
OBJECTIVE_LABELS = {"le-mo": "(Le-Mo)", "le": "Le", "mo": "Mo"}
#: the paper's eight Table-2 baselines, in its column order (Grad, GC, IBA, RISE, EP, EBP, IG, IxG): its
#: "Gradient" is saliency, its RISE samples pixel-level masks (``rise-pixel``; ``rise`` samples the patch grid)
PAPER_BASELINES = (
    "saliency",
    "grad-cam",
    "iba",
    "rise-pixel",
    "extremal-perturbation",
    "excitation-backprop",
    "integrated-gradients",
    "input-x-gradient",
)
#: baselines that score features by deleting them with the evaluation's own operator (reference and feature map),
#: so they see the very perturbation the deletion test applies (patch ``rise`` masks the feature grid)
DELETION_OPERATOR_BASELINES = ("occlusion", "feature-ablation", "shapley-sampling", "kernel-shap", "lime", "rise")


# --------------------------------------------------------------------------- models
@dataclass
class BlackBox:
    """A model seen only through numpy callables, one per output.

    ``outputs`` maps an output name (``"logit"``, ``"prob"``) to a function from a numpy batch
    ``(B, *x.shape)`` to scores ``(B, n_classes)``. Attribution methods explain
    ``outputs[attribution_output]``. Gradient methods do not apply.
    """

    outputs: dict
    attribution_output: str = "logit"

    def __post_init__(self):
        if not self.outputs or not all(callable(f) for f in self.outputs.values()):
            raise ValueError("outputs must map output names to callables (numpy batch -> (B, n_classes) scores)")
        if self.attribution_output not in self.outputs:
            raise ValueError(f"attribution_output={self.attribution_output!r} is not one of {sorted(self.outputs)}")

    def __call__(self, batch):
        return self.outputs[self.attribution_output](batch)


def evaluation_oracle(
    model,
    x,
    target: int,
    features: Features,
    reference,
    output: str,
    batch_size: int = 256,
    device="cpu",
    precision: str = "fp32",
):
    """An oracle of D(S) for ``output`` on a torch module or a ``BlackBox`` (its callable for that
    output), built by ``trace_opt.models.oracles.make_oracle``."""
    if isinstance(model, BlackBox):
        if output not in model.outputs:
            raise ValueError(
                f"output={output!r} is not available from this black box; it offers {sorted(model.outputs)}"
            )
        model = model.outputs[output]
    elif not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module or a BlackBox; got {type(model).__name__}")
    return build_oracle(
        model,
        x,
        target,
        features=features,
        reference=reference,
        output=output,
        batch_size=batch_size,
        device=device,
        precision=precision,
    )


def trace_name(output: str, objective: str, prefix: str = "trace") -> str:
    """``trace-y-le-mo`` style method names (``prefix="exact"`` for exact optima)."""
    return f"{prefix}-{OUTPUT_TAGS[output]}-{objective}"


def method_label(name: str) -> str:
    """Short column label: ``T-y (Le-Mo)``, ``Exact-p Le``, or the baseline's label."""
    for prefix, short in (("trace-", "T"), ("exact-", "Exact")):
        if name.startswith(prefix):
            tag, obj = name[len(prefix)], name[len(prefix) + 2 :]
            return f"{short}-{tag} {OBJECTIVE_LABELS.get(obj, obj)}"
    try:
        return get_baseline(name).label
    except ValueError:
        return name


class _RowCount:
    count = 0


class count_forward_rows:
    """Context manager counting the inputs (batch rows) a torch module's ``forward`` sees, by a forward
    pre-hook: a method's forward passes (backward passes are not counted; a method that runs only part
    of the network, through its own hooks, is counted by its full-model calls)."""

    def __init__(self, model):
        self.model = model if isinstance(model, torch.nn.Module) else None
        self.rows = _RowCount()
        self._handle = None

    def __enter__(self):
        if self.model is not None:

            def hook(_module, args):
                if args and isinstance(args[0], torch.Tensor):
                    self.rows.count += int(args[0].shape[0]) if args[0].dim() else 1

            self._handle = self.model.register_forward_pre_hook(hook)
        return self.rows

    def __exit__(self, *exc):
        if self._handle is not None:
            self._handle.remove()
        return False


def _counted_input(inp, rows: _RowCount):
    """``inp`` whose black-box ``forward`` adds its batch rows to ``rows`` (a torch module is counted by
    ``count_forward_rows``' hook instead)."""
    if inp.model is not None:
        return inp
    fwd = inp.forward

    def forward(batch):
        rows.count += int(batch.shape[0])
        return fwd(batch)

    return replace(inp, forward=forward)


#: float32's machine epsilon: a torch model's D values carry relative errors of this size
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def float32_tolerance(t: int, scale: float) -> float:
    """The tolerance below which two chain-sum scores of t + 1 float32 D values of magnitude ``scale``
    (use max(1, |f(x)|)) are indistinguishable: 2 (t + 1) float32 epsilons of the scale (the scores
    being compared sum up to 2 (t + 1) values, each rounded, and identical sets evaluated in different
    batches differ in the last bits)."""
    return 2.0 * (int(t) + 1) * FLOAT32_EPS * max(1.0, abs(float(scale)))


def ci_half_width(values, level: float = 0.95) -> float:
    """Half-width of the two-sided Student-t ``level`` interval of the mean of ``values`` (nan for n < 2)."""
    return t_interval(values, level)["half_width"]


def paired(a, b, larger_better: bool, tol: float = 0.0) -> dict:
    """Paired comparison of per-input values a (TRACE) and b (a baseline), oriented so that a positive
    ``mean`` favours a: mean difference, 95 % Student-t half-width, wins / losses / ties (|d| <= tol);
    inputs where either is nan are dropped (``n``)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    d = (a - b)[ok] * (1.0 if larger_better else -1.0)
    half = ci_half_width(d)
    return {
        "n": int(ok.sum()),
        "mean": float(d.mean()) if d.size else float("nan"),
        "ci": half,
        "wins": int((d > tol).sum()),
        "losses": int((d < -tol).sum()),
        "ties": int((np.abs(d) <= tol).sum()),
        "separated": bool(d.size > 1 and np.isfinite(half) and abs(d.mean()) > half),
    }


# --------------------------------------------------------------------------- configuration
#: the study's default masked inputs per model call (``ExplainSettings``' default is 64; the committed reports
#: were computed with 256, and a float32 model's last bits depend on how its inputs are batched)
EVALUATION_BATCH_SIZE = 256
#: the paper's SA: K = 10,000 iterations cooling by eta = 0.999 per iteration
PAPER_SA_ITERATIONS, PAPER_SA_ETA = 10_000, 0.999


def paper_sa_options(iterations: int = 2000, eta: float | None = None, init: str = "greedy") -> dict:
    """The options of the paper's SA at K = ``iterations``: ``eta`` defaults to ``0.999 ** (10000 / K)``, so that T
    falls by the same factor as the paper's K = 10,000, eta = 0.999 (T0 follows the paper: 2 for logits, f(x)/10
    for probabilities); ``init`` is SA's start (``solvers.describe_start``; the evaluation has always used
    ``"greedy"``)."""
    check_positive_int("sa_iterations", iterations)
    eta = PAPER_SA_ETA ** (PAPER_SA_ITERATIONS / iterations) if eta is None else eta
    return {"iterations": int(iterations), "eta": float(eta), "init": init}


def paper_sa_iterations(settings) -> int | None:
    """K when ``settings`` (an ``ExplainSettings`` or its ``to_dict()``) search with the paper's SA at K iterations
    and its cooling (``paper_sa_options``; any start), else None."""
    d = settings if isinstance(settings, dict) else settings.to_dict()
    opts = d["solver_options"] or {}
    if d["solver"] != "sa" or set(opts) - {"iterations", "eta", "init"} or "iterations" not in opts:
        return None
    paper = paper_sa_options(opts["iterations"])
    return int(opts["iterations"]) if np.isclose(opts.get("eta", paper["eta"]), paper["eta"], rtol=1e-12) else None


def evaluation_settings(sa_iterations: int = 2000, **changes) -> ExplainSettings:
    """The evaluation's default search: the paper's SA at K = ``sa_iterations`` (``paper_sa_options``), seed 0,
    ``EVALUATION_BATCH_SIZE`` masked inputs per call; ``changes`` set any other field of ``ExplainSettings`` (the
    SA options are kept only when the solver stays ``"sa"``; ``solver_options`` given are laid over them)."""
    solver = changes.pop("solver", "sa")
    options = paper_sa_options(sa_iterations) if solver == "sa" else {}
    options.update(changes.pop("solver_options", None) or {})
    changes.setdefault("batch_size", EVALUATION_BATCH_SIZE)
    return ExplainSettings(solver=solver, solver_options=options, **changes)


def with_sa_iterations(settings: ExplainSettings, iterations: int) -> ExplainSettings:
    """``settings`` with SA's iterations set to ``iterations`` (the sanity check's shorter searches) and, where
    the cooling was the paper's rule of the old K, the paper's rule of the new one; other solvers as given."""
    if settings.solver != "sa":
        return settings
    options = dict(settings.solver_options)
    own_eta = "eta" in options and paper_sa_iterations(settings) is None
    options["iterations"] = int(iterations)
    if not own_eta:
        options["eta"] = paper_sa_options(iterations)["eta"]
    return settings.replace(solver_options=options)


@dataclass
class EvaluationConfig:
    """What the paper comparison runs for each input: the study's own settings beside one ``ExplainSettings``.

    methods : baseline names (None = every registered method that applies to the model).
    outputs : outputs on which every trajectory's curves are measured.
    trace_outputs / trace_objectives : the TRACE runs (one per pair).
    exact_max_t : compute the complete table, exact optima and CS bounds when t <= this.
    baseline_options : per-method options, e.g. ``{"rise": {"n_masks": 1000}}``.
    keep_maps : store attribution maps and heatmaps of the first ``keep_maps`` inputs (for Fig. 3).
    tables : instance files or folders (``trace_opt.comparison.known_tables``) with complete D tables computed
        earlier: an input whose table is there (same input, features, target, reference and output, and the
        model agreeing on a few sets) takes it instead of 2^t forward passes. With a budget and a complete
        table, the TRACE searches run on oracles of their own, so the budget counts real passes.
    explain : the search of every TRACE run (``ExplainSettings``: solver, solver_options, budget, seed,
        batch_size, device, precision; default ``evaluation_settings()``, the paper's SA at K = 2000).
        Its ``seed`` seeds every input's searches and random baselines alike (the batch rule: an input's record
        depends on the model, the input and the settings only, not on its place in the list); ``precision`` is
        the arithmetic of the searches (every curve and table is measured in fp32); ``device`` is where a torch
        model runs (the model must live there). Its ``features`` and ``reference`` are not read: those of the
        data (``evaluate_inputs``' arguments) are used; ``output`` and ``objective`` must stay unset, the study
        runs every pair of ``trace_outputs`` and ``trace_objectives``.
    """

    methods: list | None = None
    outputs: tuple = ("logit", "prob")
    trace_outputs: tuple = ("logit", "prob")
    trace_objectives: tuple = ("le-mo", "le", "mo")
    exact_max_t: int = 20
    baseline_options: dict = field(default_factory=dict)
    keep_maps: int = 4
    tables: tuple = ()
    explain: ExplainSettings = field(default_factory=evaluation_settings)

    def __post_init__(self):
        if not isinstance(self.explain, ExplainSettings):
            raise ValueError(f"explain must be an ExplainSettings; got {type(self.explain).__name__}")
        _check_study_search(self.explain)
        check_positive_int("exact_max_t", self.exact_max_t, minimum=0)
        check_positive_int("keep_maps", self.keep_maps, minimum=0)
        for o in tuple(self.outputs) + tuple(self.trace_outputs):
            check_choice("outputs", o, tuple(OUTPUT_TAGS))
        for o in self.trace_outputs:
            if o not in self.outputs:
                raise ValueError(f"trace_outputs contains {o!r}, which is not in outputs={self.outputs!r}")
        for obj in self.trace_objectives:
            check_choice("trace_objectives", obj, OBJECTIVES)
        tables = (self.tables,) if isinstance(self.tables, (str, Path)) else tuple(self.tables or ())
        self.tables = tuple(str(p) for p in tables)
        self.outputs, self.trace_outputs = tuple(self.outputs), tuple(self.trace_outputs)
        self.trace_objectives = tuple(self.trace_objectives)

    def to_dict(self) -> dict:
        """Every setting as JSON values, the search's under ``explain``."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "explain"}
        return json_values({**d, "explain": self.explain.to_dict()})

    def record_settings(self) -> dict:
        """What changes a record (a stored record is reused only when this matches): the study's settings but
        ``keep_maps`` (whether maps are kept is checked per record) and ``tables`` (a table read from an instance
        holds the values the model would give), and the search's ``result_config`` but the fields the study does
        not read (features, reference, output and objective come from the data and the study)."""
        d = {k: v for k, v in self.to_dict().items() if k not in ("explain", "keep_maps", "tables")}
        search = {
            k: v
            for k, v in self.explain.result_config().items()
            if k not in ("features", "reference", "output", "objective", *REFERENCE_OPTIONS)
        }
        return {**d, "search": search}


def _check_study_search(settings: ExplainSettings) -> None:
    """The settings the study cannot honour, refused by name: it runs every output and objective itself, on torch
    or a black box, and its records must be reproducible."""
    if settings.output is not None:
        raise ValueError(
            f"explain.output={settings.output!r} is not valid here: the evaluation measures every output of "
            "`outputs` and runs TRACE on each of `trace_outputs`; leave it None"
        )
    if settings.objective != "le-mo":
        raise ValueError(
            f"explain.objective={settings.objective!r} is not valid here: the evaluation runs every objective of "
            "`trace_objectives`; leave it 'le-mo'"
        )
    if settings.backend != "torch":
        raise ValueError(f"explain.backend={settings.backend!r} is not valid here: the evaluation runs torch")
    if settings.heatmap_alpha != 1.0:
        raise ValueError(
            f"explain.heatmap_alpha={settings.heatmap_alpha!r} is not valid here: the kept maps are drawn at alpha 1"
        )
    if settings.seed is None:
        raise ValueError("explain.seed=None is not valid here: the evaluation's records are reproducible; give an int")


# --------------------------------------------------------------------------- one input
def check_methods(model, methods=None) -> list:
    """The baselines to run on ``model``: every registered one that applies when ``methods`` is None,
    else ``methods`` itself, refused (ValueError) when one of them cannot run on this model."""
    usable = applicable_baselines(model)
    if methods is None:
        return usable
    methods = list(methods)
    ok = applicable_baselines(model, methods)
    bad = [n for n in methods if n not in ok]
    if bad:
        why = (
            "gradient methods need a torch.nn.Module, and this model is a black box"
            if not isinstance(model, torch.nn.Module)
            else "grad-cam needs an nn.Conv2d layer; excitation-backprop a feed-forward chain of Linear, Conv2d, "
            "ReLU, pooling and Flatten layers"
        )
        raise ValueError(f"methods: {bad} cannot run on this model ({why}); methods that apply: {usable}")
    return methods


def _curves_of(problems: dict, sigma) -> dict:
    out = {}
    for o, prob in problems.items():
        c = prob.curves(sigma)
        out[o] = {"le": c.lerf_deletion.tolist(), "mo": c.morf_deletion.tolist()}
    return out


def _map_2d(a: np.ndarray, features: Features) -> np.ndarray:
    """An attribution map reduced to the feature map's shape (leading dims summed)."""
    a = np.asarray(a, dtype=np.float64)
    while a.ndim > features.ids.ndim:
        a = a.sum(axis=0)
    return a


def evaluate_input(
    model,
    x,
    target: int,
    features: Features,
    reference,
    config: EvaluationConfig,
    index: int = 0,
    keep_maps: bool = False,
    table_instances=None,
) -> dict:
    """Run every method on one input and measure every trajectory; returns a JSON-able record.

    ``reference`` is what deletion writes and what the baselines use as their ``baselines``
    (a reference kind or a tensor of x's shape). ``index`` is the input's place in its list, recorded (and named
    in warnings) only: every search and random baseline is seeded with ``config.explain.seed`` itself, so the
    record depends on the model, the input and the settings alone. ``table_instances``: the instances of
    ``config.tables``, already loaded (None: load them here).
    """
    settings = config.explain
    seed = int(settings.seed)
    x, reference = _on_model_device(model, x, reference, settings.device)
    oracles = {o: _oracle(model, x, target, features, reference, o, settings) for o in config.outputs}
    t = features.t
    complete = t <= config.exact_max_t
    # the searches run in the settings' precision; every curve and table below is measured on the fp32 oracles.
    # After a complete table, a search with a budget runs on its own oracle: its budget then counts real passes
    own_search = settings.precision != "fp32" or (complete and settings.budget is not None)
    search_oracles = oracles
    if own_search:
        search_oracles = {
            o: _oracle(model, x, target, features, reference, o, settings, settings.precision)
            for o in config.trace_outputs
        }
    rec: dict = {
        "index": int(index),
        "target": int(target),
        "t": t,
        "seed": seed,
        "f_x": {o: oracles[o].value_full_input for o in config.outputs},
        "methods": {},
    }
    maps: dict = {}
    rec["methods"].update(_run_baselines(model, x, target, features, reference, config, maps if keep_maps else None))
    tables = {}
    if complete:
        known = load_tables(config.tables) if table_instances is None else table_instances
        rec["complete"] = {}
        for o in config.trace_outputs:
            table, rec["complete"][o], exact = _complete_search(
                oracles[o], x, target, features, reference, o, config, known, index
            )
            rec["methods"].update(exact)
            tables[o] = table
    # TRACE (after the complete table when there is one: without a budget the search reads the cached D values,
    # and SA's trajectory is the same as on the model, since its random stream ignores caching; with a budget it
    # runs on its own oracle, see own_search)
    rec["methods"].update(_run_trace(search_oracles, config, own_search))
    for o, table in tables.items():
        _score_on_table(rec, o, table, config.trace_objectives)
    problems = {o: TraceProblem(oracles[o], "le") for o in config.outputs}
    for m in rec["methods"].values():  # curves of every trajectory under every output
        m["curves"] = _curves_of(problems, np.asarray(m["trajectory"]))
    rec["forward_passes"] = {
        o: oracles[o].forward_passes + (search_oracles[o].forward_passes if own_search and o in search_oracles else 0)
        for o in config.outputs
    }
    if keep_maps:
        _keep_maps(rec, maps, x, features)
    return rec


def _on_model_device(model, x, reference, device):
    """``x`` as a tensor, and with ``reference`` (a tensor) on the device of a torch model (it lives there)."""
    x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=torch.float32)
    if isinstance(model, torch.nn.Module):
        x = x.to(device)
        reference = reference.to(device) if isinstance(reference, torch.Tensor) else reference
    return x, reference


def _oracle(model, x, target, features, reference, output, settings: ExplainSettings, precision: str = "fp32"):
    """The oracle of ``output`` under the settings' batch size and device, in ``precision``."""
    return evaluation_oracle(
        model,
        x,
        target,
        features,
        reference,
        output,
        settings.batch_size,
        device=settings.device,
        precision=precision,
    )


def _run_baselines(model, x, target, features, reference, config: EvaluationConfig, maps: dict | None) -> dict:
    """Every baseline of ``config.methods`` on one input (seeded with the settings' seed), timed and with its
    forward passes counted; their maps go into ``maps`` when it is a dict."""
    settings = config.explain
    out = {}
    inp = make_input(model, x, target, features, reference, seed=settings.seed, batch_size=settings.batch_size)
    for name in check_methods(model, config.methods):
        start = time.perf_counter()
        with count_forward_rows(model) as rows:
            att = attribute(
                name, model, x, target, features, inp=_counted_input(inp, rows), **config.baseline_options.get(name, {})
            )
        out[name] = {
            "kind": "baseline",
            "trajectory": att.trajectory.tolist(),
            "scores": att.scores.tolist(),
            "absolute": att.absolute,
            "aggregate": att.aggregate,
            "options": att.to_dict()["options"],
            "seconds": time.perf_counter() - start,
            "forward_passes": rows.count,
        }
        if maps is not None:
            maps[name] = (_map_2d(att.map, features) if att.map is not None else att.scores[features.ids]).tolist()
    return out


def _complete_search(oracle, x, target, features, reference, output, config: EvaluationConfig, known, index):
    """The complete table of ``output`` (read from a known instance when one matches, else 2^t passes), its exact
    optima and CS bounds: returns (table, the record's ``complete[output]`` entry, the exact methods)."""
    start = time.perf_counter()
    source = _use_known_table(oracle, x, target, features, reference, output, known, index, config.explain.seed)
    table = complete_table(TraceProblem(oracle, "le"))
    # inert features (deleting them never changes D, e.g. patches equal to the reference) can sit
    # in any order among themselves: each group of them multiplies the optimal trajectories
    comp = {
        "seconds_table": time.perf_counter() - start,
        "objectives": {},
        "inert_features": [int(i) for i in table_stats(table)["inert_features"]],
    }
    if source is not None:
        comp["table_source"] = source
    exact = {}
    for obj in config.trace_objectives:
        sigma, opt = exact_optimum(table, obj)
        b = cs_bounds(table, obj)
        comp["objectives"][obj] = {
            "optimum": opt,
            "random_mean": b["random_mean"],
            "bound": b["bound"],
            "level_bound": np.asarray(b["level_bound"]).tolist(),
            "avg_iou": b["avg_iou"],
            **optimal_trajectory_count(table, obj),
        }  # ties: optimal_trajectories, optimum_unique, all_orders_tie
        comp.update({k: b[k] for k in ("cs_le", "cs_mo", "cs_le_minus_cs_mo", "avg_iou_le", "avg_iou_mo")})
        comp["avg_iou_le_mo"] = b["avg_iou_le_mo"]
        exact[trace_name(output, obj, "exact")] = {
            "kind": "exact",
            "output": output,
            "objective": obj,
            "trajectory": sigma.tolist(),
            "score": opt,
        }
    comp.update(_envelopes(table, features.t))
    return table, comp, exact


def _use_known_table(oracle, x, target, features, reference, output, known, index, seed):
    """Preload ``oracle`` with the table of a known instance of this input (checked against the model on a few
    sets first) and return where it came from; None (and a warning when instances were given) when none matches."""
    inst = known_tables.matching_table(known, x, target, features, reference, output)
    if inst is not None:  # checked against the model on a few sets, then every set is a cache hit
        source = known_tables.check_table(oracle, inst, seed=seed)
        known_tables.preload_table(oracle, inst)
        return source
    if known:
        t = features.t
        ref = repr(reference) if isinstance(reference, str) else "a tensor"
        warnings.warn(
            f"tables: none of the {len(known)} instances given is the table of input {index} "
            f"(t = {t}, target {target}, output {output!r}, reference {ref}); its 2^{t} = {1 << t:,} "
            "sets are evaluated on the model",
            stacklevel=4,
        )
    return None


def _envelopes(table, t: int) -> dict:
    """The per-level envelopes of the deletion curves (k = 0..t: max D over |S| = k, min D over |S| = k), the CS
    numbers of the whole table, and the Avg.IoU of CS-Le's kept sets."""
    le_all, mo_all = cs_bounds(table, "le"), cs_bounds(table, "mo")
    out = {
        "envelope_le": np.asarray(le_all["level_bound"]).tolist(),
        "envelope_mo": (-np.asarray(mo_all["level_bound"])[::-1]).tolist(),
        "cs_le": le_all["cs_le"],
        "cs_mo": le_all["cs_mo"],
        "cs_le_minus_cs_mo": le_all["cs_le_minus_cs_mo"],
    }
    # Avg.IoU (eq. 5) of the sets the paper uses: for CS-Le its s_k are the KEPT sets of size k (eq. 4:
    # max f(x_{s_k})), the complements of the deleted sets argmax_{|S| = t-k} D(S); for CS-Mo the
    # deleted sets argmin_{|S| = k} D(S) (avg_iou_mo). avg_iou_le is the deleted sets' (they differ
    # when the sets do not nest).
    full = (1 << t) - 1
    deleted = le_all["level_sets"]
    out["avg_iou_le_kept"] = avg_iou([full ^ int(deleted[t - k]) for k in range(t + 1)], t)
    return out


def _run_trace(search_oracles: dict, config: EvaluationConfig, own_search: bool) -> dict:
    """TRACE on every pair of ``trace_outputs`` and ``trace_objectives``, all seeded with the settings' seed (SA's
    T0: the paper's rule for the output)."""
    settings = config.explain
    out = {}
    for o in config.trace_outputs:
        for obj in config.trace_objectives:
            start = time.perf_counter()
            res = settings.solver_object().solve(
                TraceProblem(search_oracles[o], obj), budget=settings.budget, seed=settings.seed, curves=False
            )
            out[trace_name(o, obj)] = {
                "kind": "trace",
                "output": o,
                "objective": obj,
                "trajectory": res.trajectory.tolist(),
                "score": res.score,
                "forward_passes": res.forward_passes,
                "iterations": res.iterations,
                "seconds": time.perf_counter() - start,
                "stopped": res.stopped,
                "own_oracle": own_search,
            }
    return out


def _score_on_table(rec: dict, output: str, table, objectives) -> None:
    """Each TRACE run's score read from the complete table, and whether it is the exact optimum."""
    for obj in objectives:
        entry = rec["complete"][output]["objectives"][obj]
        sigma = np.asarray(rec["methods"][trace_name(output, obj)]["trajectory"])
        entry["sa_score"] = float(table_scores(table, obj, sigma))
        entry["sa_is_optimal"] = bool(np.isclose(entry["sa_score"], entry["optimum"], rtol=1e-9, atol=1e-9))


def _keep_maps(rec: dict, maps: dict, x, features: Features) -> None:
    """The baselines' maps, the heatmaps of the other trajectories and the input, into the record (Fig. 3)."""
    for name, m in rec["methods"].items():
        if m["kind"] != "baseline":
            maps[name] = trajectory_to_heatmap(np.asarray(m["trajectory"]), features, alpha=1.0).tolist()
    xs = x.detach().cpu().numpy()
    rec["maps"] = maps
    rec["input"] = _map_2d(xs, features).tolist() if xs.ndim > features.ids.ndim else xs.tolist()


# --------------------------------------------------------------------------- many inputs
#: the layout version of the evaluation's records (4: one seed for every input of a batch)
RECORD_VERSION = 4
#: the layout version of the sanity check's records (4: one seed for every input of a batch)
SANITY_VERSION = 4


def record_store(directory, config: EvaluationConfig, extra: dict) -> RecordStore:
    """The store of the evaluation's per-input records under ``directory`` (None: keep nothing): a record is
    reused only under the same ``record_settings`` and ``extra`` (data set, t, resolved methods, layout)."""
    return RecordStore(directory, {**config.record_settings(), **extra})


@stop_on_interrupt()  # Ctrl-C: the input in progress is not stored (no cut-short TRACE run in a record)
def evaluate_inputs(
    model,
    inputs,
    targets,
    features: Features,
    reference,
    config: EvaluationConfig,
    cache_dir=None,
    progress: bool = True,
    log=None,
    dataset_key: str = "",
) -> list:
    """``evaluate_input`` for every input, resumable: each finished record is kept in a ``RecordStore``
    (``cache_dir/input_XXXX.json``, written atomically) and reused on a rerun when the settings, the input's values
    and its target match (``dataset_key`` should identify the model, e.g. its name and weights' fingerprint).

    ``reference`` is a reference kind, one tensor for all inputs, or a callable ``i -> tensor``. Every input is
    searched with the same seed (``config.explain.seed``), so its record does not depend on its place in the list.
    """
    if len(inputs) != len(targets):
        raise ValueError(f"inputs and targets differ in length ({len(inputs)} vs {len(targets)})")
    methods = check_methods(model, config.methods)  # before the first input's work
    # the resolved method list (methods=None grows with the registry) and the record layout version
    store = record_store(
        cache_dir, config, {"dataset": dataset_key, "t": features.t, "methods": methods, "record": RECORD_VERSION}
    )
    table_instances = load_tables(config.tables)  # once, before the first input (a bad path is refused here)
    records = []
    for i in _progress(len(inputs), "inputs", progress):
        item = _input_key(inputs[i], targets[i])
        rec = store.get(f"input_{i:04d}", item)
        if rec is not None and (i >= config.keep_maps or "maps" in rec):
            records.append(rec)
            if log:
                log(f"input {i}: cached")
            continue
        start = time.perf_counter()
        ref = reference(i) if callable(reference) else reference
        rec = evaluate_input(
            model,
            inputs[i],
            int(targets[i]),
            features,
            ref,
            config,
            index=i,
            keep_maps=i < config.keep_maps,
            table_instances=table_instances,
        )
        rec["seconds"] = time.perf_counter() - start
        records.append(store.put(f"input_{i:04d}", item, rec))
        if log:
            log(f"input {i}: done in {rec['seconds']:.1f} s")
    return records


def _progress(n: int, desc: str, show: bool):
    """``range(n)`` with a progress bar on stderr when ``show``."""
    return tqdm(range(n), desc=desc, disable=not show, file=sys.stderr, dynamic_ncols=True)


def _input_key(x, target) -> str:
    """A hash of one input's values (dtype, shape, bytes) and its target: a cached record must match it."""
    return f"{arrays_digest(x)[:16]}:{int(target)}"


def method_names(records: list) -> list:
    """Methods present in every record, TRACE and exact first, then baselines in record order."""
    if not records:
        return []
    common = [n for n in records[0]["methods"] if all(n in r["methods"] for r in records)]
    order = {"trace": 0, "exact": 1, "baseline": 2}
    return sorted(common, key=lambda n: (order[records[0]["methods"][n]["kind"]], common.index(n)))


def summarise(records: list, outputs=("logit", "prob")) -> dict:
    """Mean curves and the Table-2 numbers over inputs, per output and method.

    ``table[output][method]`` holds ``auc_le``, ``auc_mo``, ``le_mo`` (means of Riemann sums over
    inputs) and their standard errors; ``curves[output][method]`` the mean ``le``/``mo`` curves.
    """
    names = method_names(records)
    n = len(records)
    table, curves = {}, {}
    for o in outputs:
        table[o], curves[o] = {}, {}
        for name in names:
            le = np.array([r["methods"][name]["curves"][o]["le"] for r in records])
            mo = np.array([r["methods"][name]["curves"][o]["mo"] for r in records])
            a_le, a_mo = le.sum(axis=1), mo.sum(axis=1)
            se = standard_error
            table[o][name] = {
                "auc_le": float(a_le.mean()),
                "auc_mo": float(a_mo.mean()),
                "le_mo": float((a_le - a_mo).mean()),
                "se_auc_le": se(a_le),
                "se_auc_mo": se(a_mo),
                "se_le_mo": se(a_le - a_mo),
                # 95 % Student-t half-widths over the inputs
                "ci_auc_le": ci_half_width(a_le),
                "ci_auc_mo": ci_half_width(a_mo),
                "ci_le_mo": ci_half_width(a_le - a_mo),
            }
            curves[o][name] = {"le": le.mean(axis=0).tolist(), "mo": mo.mean(axis=0).tolist()}
    out = {
        "n_inputs": n,
        "methods": names,
        "labels": {m: method_label(m) for m in names},
        "table": table,
        "curves": curves,
        "forward_passes": forward_pass_summary(records, names),
    }
    if n and all("complete" in r for r in records):
        out["complete"] = _summarise_complete(records)
        for o in out["complete"]:
            c = out["complete"][o]
            table[o]["cs-bound"] = {
                "auc_le": c["cs_le"],
                "auc_mo": c["cs_mo"],
                "le_mo": c["le_mo_bound"],
                "le_mo_loose": c["cs_le_minus_cs_mo"],
            }
    out["ties"] = tie_summary(records, names)
    out["headline"] = headline(out)
    for o, h in out["headline"].items():  # paired per-input comparison with the best baseline
        d = np.array([_le_mo(r, h["trace"], o) - _le_mo(r, h["best_baseline"], o) for r in records])
        tol = np.array([float32_tolerance(r["t"], r["f_x"][o]) for r in records])  # float32 resolution
        h.update(
            {
                "inputs_trace_ahead": int((d > tol).sum()),
                "inputs_tied": int((np.abs(d) <= tol).sum()),
                "inputs_baseline_ahead": int((d < -tol).sum()),
                # paired 95 % interval of TRACE - best baseline on LeRF - MoRF over the inputs
                "paired_mean": float(d.mean()),
                "paired_ci": ci_half_width(d),
            }
        )
    return out


def tie_summary(records: list, methods=None) -> dict:
    """How often ties decided an order (the tie rule: lower feature index = less important).

    ``exact[output][objective]`` (when the complete table was computed): ``n_unique`` inputs whose exact
    optimum is unique, ``n_tied`` with several optimal trajectories, ``n_all_orders_tie`` where every
    order is optimal (a symmetric model or a constant D), ``max_optimal_trajectories``, and
    ``n_inputs_with_inert_features`` / ``max_inert_features`` (features whose deletion never changes D,
    e.g. patches equal to the reference: their order among themselves is free, a common cause of ties).
    ``baselines[method]``: ``n_inputs_with_tied_scores`` (inputs where at least two features got exactly
    equal scores, so the index rule set part of the order) and ``max_tied_features`` (the largest group
    of equal scores on one input).
    """
    names = method_names(records) if methods is None else list(methods)
    out: dict = {
        "rule": "lower feature index = less important (earlier in the trajectory)",
        "exact": {},
        "baselines": {},
    }
    if records and all("complete" in r for r in records):
        for o in records[0]["complete"]:
            out["exact"][o] = {}
            for obj in records[0]["complete"][o]["objectives"]:
                entries = [r["complete"][o]["objectives"][obj] for r in records]
                if not all("optimal_trajectories" in e for e in entries):
                    continue  # records written before ties were counted
                counts = [int(e["optimal_trajectories"]) for e in entries]
                inert = [len(r["complete"][o].get("inert_features", [])) for r in records]
                out["exact"][o][obj] = {
                    "n_inputs": len(counts),
                    "n_unique": sum(c == 1 for c in counts),
                    "n_inputs_with_inert_features": sum(k > 0 for k in inert),
                    "max_inert_features": max(inert),
                    "n_tied": sum(c > 1 for c in counts),
                    "n_all_orders_tie": sum(bool(e.get("all_orders_tie")) for e in entries),
                    "max_optimal_trajectories": max(counts),
                }
    for m in names:
        if not records or records[0]["methods"][m].get("kind") != "baseline":
            continue
        sizes = []
        for r in records:
            scores = np.asarray(r["methods"][m].get("scores", []), dtype=np.float64)
            if scores.size:
                _, counts = np.unique(scores, return_counts=True)
                sizes.append(int(counts.max()))
        if sizes:
            out["baselines"][m] = {
                "n_inputs_with_tied_scores": sum(s > 1 for s in sizes),
                "max_tied_features": max(sizes),
            }
    return out


def forward_pass_summary(records: list, methods=None) -> dict:
    """Per method, the model's forward passes per input: ``mean``, ``min``, ``max`` over the inputs whose
    record counted them (``n``; records written before baselines were counted have none). TRACE counts
    the unique masked inputs its search asked for (``forward_passes`` of its run; after the complete table
    and without a budget those were cache hits, so ``exact_table`` adds the 2^t table's own passes per output,
    and says how many tables were read from instances instead); a baseline the batch rows its full-model
    forward calls saw (``count_forward_rows``)."""
    names = method_names(records) if methods is None else list(methods)
    out: dict = {}
    for m in names:
        vals = [r["methods"][m]["forward_passes"] for r in records if "forward_passes" in r["methods"][m]]
        if vals:
            out[m] = {"mean": float(np.mean(vals)), "min": int(np.min(vals)), "max": int(np.max(vals)), "n": len(vals)}
    if records and all("complete" in r for r in records):
        reused = [c["table_source"] for r in records for c in r["complete"].values() if "table_source" in c]
        out["exact_table"] = {
            "per_output": 1 << int(records[0]["t"]),
            "outputs": len(records[0]["complete"]),
            "tables_reused": len(reused),
            "tables": sum(len(r["complete"]) for r in records),
            "checked_sets": sorted({c["checked_sets"] for c in reused}),
            "max_abs_difference": max((c["max_abs_difference"] for c in reused), default=None),
            "sources": sorted({c["path"] or c["source"] for c in reused}),
            "trace_on_own_oracle": all(
                m.get("own_oracle", False) for r in records for m in r["methods"].values() if m["kind"] == "trace"
            ),
        }
    return out


def _le_mo(record: dict, method: str, output: str) -> float:
    c = record["methods"][method]["curves"][output]
    return float(sum(c["le"]) - sum(c["mo"]))


def _summarise_complete(records: list) -> dict:
    res = {}
    for o in records[0]["complete"]:
        comps = [r["complete"][o] for r in records]
        objs = {}
        for obj in comps[0]["objectives"]:
            opt = np.array([c["objectives"][obj]["optimum"] for c in comps])
            sa = np.array([c["objectives"][obj]["sa_score"] for c in comps])
            rnd = np.array([c["objectives"][obj]["random_mean"] for c in comps])
            bound = np.array([c["objectives"][obj]["bound"] for c in comps])
            denom = opt - rnd
            ngap = np.where(denom > 0, (opt - sa) / np.where(denom > 0, denom, 1), 0.0)
            objs[obj] = {
                "mean_optimum": float(opt.mean()),
                "mean_sa_score": float(sa.mean()),
                "mean_random": float(rnd.mean()),
                "mean_bound": float(bound.mean()),
                "mean_gap": float((opt - sa).mean()),
                "max_gap": float((opt - sa).max()),
                "mean_normalised_gap": float(ngap.mean()),
                "max_normalised_gap": float(ngap.max()),
                # SA's score equal to the optimum within float32 resolution (float32_tolerance)
                "n_sa_optimal": int(
                    sum(
                        abs(c["objectives"][obj]["sa_score"] - c["objectives"][obj]["optimum"])
                        <= float32_tolerance(r["t"], r["f_x"][o])
                        for r, c in zip(records, comps)
                    )
                ),
                "n_sa_optimal_1e9": int(sum(c["objectives"][obj]["sa_is_optimal"] for c in comps)),
                "tie_tolerance": "2 (t + 1) float32 epsilons of max(1, |f(x)|) (float32_tolerance)",
                "ratio_sa_to_optimum": float(sa.mean() / opt.mean()) if opt.mean() != 0 else float("nan"),
            }
        lm = np.array([c["objectives"].get("le-mo", {}).get("bound", np.nan) for c in comps])
        ratio, iou, paper_ratio, paper_iou, kept_iou = [], [], [], [], []
        for r, c in zip(records, comps):
            denom = c["cs_le_minus_cs_mo"]
            # the paper's Fig. 7(b): AUC-Le of TRACE-Le minus AUC-Mo of TRACE-Mo (two SA trajectories) over
            # CS-Le - CS-Mo, against the Avg.IoU of the CS sets (mean of CS-Le's kept and CS-Mo's deleted sets)
            t_le, t_mo = r["methods"].get(trace_name(o, "le")), r["methods"].get(trace_name(o, "mo"))
            if t_le is not None and t_mo is not None and "avg_iou_le_kept" in c:
                diff = sum(t_le["curves"][o]["le"]) - sum(t_mo["curves"][o]["mo"])
                paper_ratio.append(diff / denom if denom else float("nan"))
                kept_iou.append(c["avg_iou_le_kept"])
                paper_iou.append(0.5 * (c["avg_iou_le_kept"] + c["avg_iou_mo"]))
            # the Le-Mo variant: Le-Mo of the one TRACE-(Le-Mo) trajectory over the same denominator,
            # against the Avg.IoU of the per-level optimal (Le-Mo) sets
            m = r["methods"].get(trace_name(o, "le-mo"))
            if m is not None:
                diff = sum(m["curves"][o]["le"]) - sum(m["curves"][o]["mo"])
                ratio.append(diff / denom if denom else float("nan"))
                iou.append(c["avg_iou_le_mo"])
        res[o] = {
            "objectives": objs,
            "cs_le": float(np.mean([c["cs_le"] for c in comps])),
            "cs_mo": float(np.mean([c["cs_mo"] for c in comps])),
            "cs_le_minus_cs_mo": float(np.mean([c["cs_le_minus_cs_mo"] for c in comps])),
            "le_mo_bound": float(np.nanmean(lm)),
            "envelope_le": np.mean([c["envelope_le"] for c in comps], axis=0).tolist(),
            "envelope_mo": np.mean([c["envelope_mo"] for c in comps], axis=0).tolist(),
            "ratio_paper": paper_ratio,
            "avg_iou_paper": paper_iou,
            "avg_iou_le_kept": kept_iou,
            "mean_ratio_paper": float(np.mean(paper_ratio)) if paper_ratio else None,
            "min_ratio_paper": float(np.min(paper_ratio)) if paper_ratio else None,
            "ratio_le_mo_variant": ratio,
            "avg_iou_le_mo": iou,
            "mean_ratio_le_mo_variant": float(np.mean(ratio)) if ratio else None,
            "avg_iou_le": [c["avg_iou_le"] for c in comps],
            "avg_iou_mo": [c["avg_iou_mo"] for c in comps],
        }
    return res


def headline(summary: dict) -> dict:
    """Per output: TRACE-(Le-Mo) of that output vs the best baseline on the LeRF - MoRF difference, over
    every baseline run (``best_baseline``, ``factor``; often a method given the deletion operator itself,
    e.g. occlusion) and over the paper's eight Table-2 baselines only (``best_paper_baseline``,
    ``paper_factor``; ``paper_baselines_run`` lists those that could run on the model)."""
    out = {}
    for o, tab in summary["table"].items():
        tr = trace_name(o, "le-mo")
        base = {
            m: v["le_mo"]
            for m, v in tab.items()
            if m in summary["methods"] and not m.startswith(("trace-", "exact-")) and m != "random"
        }
        if tr not in tab or not base:
            continue
        best = max(base, key=base.get)
        ex = tab.get(trace_name(o, "le-mo", "exact"))
        cs = tab.get("cs-bound")
        out[o] = {
            "trace": tr,
            "trace_le_mo": tab[tr]["le_mo"],
            "best_baseline": best,
            "best_baseline_le_mo": base[best],
            "factor": tab[tr]["le_mo"] / base[best] if base[best] > 0 else float("nan"),
            "beats_best_baseline": bool(tab[tr]["le_mo"] > base[best]),
            "random_le_mo": tab.get("random", {}).get("le_mo"),
            "exact_le_mo": ex["le_mo"] if ex else None,
            # no trajectory can beat the best baseline by more than this (per-level CS bound of Le-Mo)
            "max_factor": cs["le_mo"] / base[best] if cs and base[best] > 0 else None,
        }
        paper = {m: v for m, v in base.items() if m in PAPER_BASELINES}
        out[o]["paper_baselines_run"] = [m for m in PAPER_BASELINES if m in paper]
        if paper:
            pb = max(paper, key=paper.get)
            out[o].update(
                {
                    "best_paper_baseline": pb,
                    "best_paper_baseline_le_mo": paper[pb],
                    "paper_factor": tab[tr]["le_mo"] / paper[pb] if paper[pb] > 0 else float("nan"),
                }
            )
    return out


# --------------------------------------------------------------------------- sanity check
def parameter_layers(model: torch.nn.Module) -> list:
    """Names of the modules with their own parameters (conv, linear, ...), input to output."""
    return [n for n, m in model.named_modules() if n and any(True for _ in m.parameters(recurse=False))]


def randomised_model(model: torch.nn.Module, layers, seed: int) -> torch.nn.Module:
    """A deep copy of ``model`` with the parameters of ``layers`` re-initialised (``reset_parameters``);
    other layers keep their trained weights. Each layer's draw depends only on ``seed`` and the layer's
    name, so a cascade step keeps the draws of the steps before it and an independent step draws what
    the cascade drew for that layer."""
    m = copy.deepcopy(model)
    mods = dict(m.named_modules())
    with torch.random.fork_rng(devices=[]):
        for name in layers:
            mod = mods[name]
            if not hasattr(mod, "reset_parameters"):
                raise ValueError(f"layer {name!r} ({type(mod).__name__}) has no reset_parameters()")
            digest = hashlib.sha256(f"{int(seed)}:{name}".encode()).digest()
            torch.manual_seed(int.from_bytes(digest[:8], "little") >> 1)
            mod.reset_parameters()
    return m.eval()


def spearman_of_trajectories(sigma_a, sigma_b, keep=None) -> float:
    """Spearman rank correlation of the feature ranks of two trajectories (1 = same order); with ``keep``
    (a bool per feature) only over those features, ranked among themselves (nan when fewer than 2)."""
    a, b = ranks_of(np.asarray(sigma_a, dtype=np.int64)), ranks_of(np.asarray(sigma_b, dtype=np.int64))
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != a.shape:
            raise ValueError(f"keep must hold one bool per feature ({len(a)}); got shape {keep.shape}")
        if keep.sum() < 2:
            return float("nan")
        a, b = np.argsort(np.argsort(a[keep])), np.argsort(np.argsort(b[keep]))
    t = len(a)
    d2 = float(((a - b) ** 2).sum())
    return 1.0 - 6.0 * d2 / (t * (t * t - 1))


def reference_equal_features(x, reference, features: Features) -> np.ndarray:
    """A bool per feature: every element of it equals the reference (a blank patch; deleting it never
    changes the input)."""
    xt = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=torch.float32)
    ref = make_reference(reference, xt, features) if isinstance(reference, str) else torch.as_tensor(reference)
    same = xt.detach().cpu().numpy() == np.broadcast_to(ref.detach().cpu().numpy(), tuple(xt.shape))
    ids = np.broadcast_to(features.ids, same.shape).reshape(-1)
    differs = np.bincount(ids, weights=(~same).reshape(-1).astype(np.float64), minlength=features.t)
    return differs == 0


def _trajectories(model, x, target, features, reference, config: EvaluationConfig, methods: list, trace_output: str):
    """The trajectory of every baseline of ``methods`` and of TRACE-(Le-Mo) on ``trace_output``, all seeded with
    the settings' seed."""
    settings = config.explain
    out = {}
    inp = make_input(model, x, target, features, reference, seed=settings.seed, batch_size=settings.batch_size)
    for name in methods:
        out[name] = attribute(
            name, model, x, target, features, inp=inp, **config.baseline_options.get(name, {})
        ).trajectory.tolist()
    oracle = evaluation_oracle(model, x, target, features, reference, trace_output, settings.batch_size)
    res = settings.solver_object().solve(
        TraceProblem(oracle, "le-mo"), budget=settings.budget, seed=settings.seed, curves=False
    )
    out[trace_name(trace_output, "le-mo")] = res.trajectory.tolist()
    return out


def sanity_steps(model: torch.nn.Module) -> list:
    """The randomisation steps, as (mode, layers): cascade step j randomises the top j+1 parameter layers (output
    side first); independent step j randomises the j-th layer from the top alone."""
    layers = parameter_layers(model)
    return [("cascade", layers[::-1][: j + 1]) for j in range(len(layers))] + [
        ("independent", [name]) for name in layers[::-1]
    ]


@stop_on_interrupt()
def sanity_check(
    model: torch.nn.Module,
    inputs,
    targets,
    features: Features,
    reference,
    config: EvaluationConfig,
    methods=None,
    trace_output: str = "logit",
    cache_dir=None,
    progress: bool = True,
    log=None,
    dataset_key: str = "",
) -> dict:
    """Cascading and independent layer randomisation (``sanity_steps``); Spearman correlation of each method's
    trajectory ranks with those on the trained model, per step (mean over inputs). Each input's record is kept in a
    ``RecordStore`` (``cache_dir/sanity_XXXX.json``). ``reference``: as in ``evaluate_inputs``.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError("sanity_check needs a torch.nn.Module (its layers are randomised); a black box has none")
    methods = check_methods(model, methods if methods is not None else config.methods)
    steps = sanity_steps(model)
    store = record_store(
        cache_dir,
        config,
        {
            "sanity": SANITY_VERSION,
            "methods": methods,
            "trace_output": trace_output,
            "t": features.t,
            "dataset": dataset_key,
        },
    )
    per_input = []
    for i in _progress(len(inputs), "sanity", progress):
        item = _input_key(inputs[i], targets[i])
        rec = store.get(f"sanity_{i:04d}", item)
        if rec is None:
            ref = reference(i) if callable(reference) else reference
            rec = _sanity_record(model, inputs[i], int(targets[i]), features, ref, config, methods, trace_output, steps)
            rec = store.put(f"sanity_{i:04d}", item, {"index": i, **rec})
            if log:
                log(f"sanity input {i}: done")
        per_input.append(rec)
    return _sanity_summary(per_input, steps, parameter_layers(model), trace_output)


def _sanity_record(model, x, target, features, reference, config, methods, trace_output, steps) -> dict:
    """One input: the trajectories on the trained model and their Spearman correlations with those of every
    randomised model (over all features, and over those that differ from the reference)."""
    orig = _trajectories(model, x, target, features, reference, config, methods, trace_output)
    nonblank = ~reference_equal_features(x, reference, features)
    rec = {"original": orig, "steps": [], "n_nonblank": int(nonblank.sum())}
    for mode, lays in steps:
        rm = randomised_model(model, lays, seed=1_000)
        tr = _trajectories(rm, x, target, features, reference, config, methods, trace_output)
        rec["steps"].append(
            {
                "mode": mode,
                "layers": lays,
                "spearman": {m: spearman_of_trajectories(orig[m], tr[m]) for m in orig},
                "spearman_nonblank": {m: spearman_of_trajectories(orig[m], tr[m], nonblank) for m in orig},
            }
        )
    return rec


def _sanity_summary(per_input: list, steps: list, layers: list, trace_output: str) -> dict:
    """The mean (and std) Spearman correlation per step and method over the inputs."""
    names = list(per_input[0]["original"]) if per_input else []
    result = {
        "layers": layers,
        "methods": names,
        "trace_output": trace_output,
        "n_inputs": len(per_input),
        "cascade": [],
        "independent": [],
    }
    for s, (mode, lays) in enumerate(steps):
        vals = {m: [r["steps"][s]["spearman"][m] for r in per_input] for m in names}
        nb = {m: np.array([r["steps"][s]["spearman_nonblank"][m] for r in per_input], dtype=float) for m in names}
        result[mode].append(
            {
                "layers": lays,
                "label": lays[-1] if mode == "cascade" else lays[0],
                "mean": {m: float(np.mean(v)) for m, v in vals.items()},
                "std": {m: float(np.std(v)) for m, v in vals.items()},
                # over the features that differ from the reference only (blank patches, equal to
                # the reference, are ordered by ties or noise and would count as agreement)
                "mean_nonblank": {
                    m: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for m, v in nb.items()
                },
            }
        )
    result["n_nonblank"] = [r["n_nonblank"] for r in per_input]
    return result


__all__ = [
    "PAPER_BASELINES",
    "BlackBox",
    "EvaluationConfig",
    "EVALUATION_BATCH_SIZE",
    "evaluation_settings",
    "paper_sa_options",
    "paper_sa_iterations",
    "with_sa_iterations",
    "record_store",
    "sanity_steps",
    "count_forward_rows",
    "float32_tolerance",
    "paired",
    "ci_half_width",
    "forward_pass_summary",
    "evaluation_oracle",
    "evaluate_input",
    "evaluate_inputs",
    "summarise",
    "tie_summary",
    "headline",
    "method_names",
    "method_label",
    "trace_name",
    "sanity_check",
    "parameter_layers",
    "randomised_model",
    "spearman_of_trajectories",
    "reference_equal_features",
]
