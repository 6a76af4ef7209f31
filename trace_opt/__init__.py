"""TRACE: explain a model by the trajectory (deletion order) of its input features.

Public surface: ``explain``, ``explain_many`` and ``explain_dataset``, or ``Explainer`` (a model bound to
``ExplainSettings``, the one settings object every entry point and command builds); the solvers
(``get_solver``, ``available_solvers``, ``Solver``, ``Budget``, ``Result``); features (``grid_features``,
``segmentation_features``, ``superpixel_features``, ``tabular_features``); ``make_reference``; oracles (``ModelOracle``,
``CallableOracle``, ``SetFunctionOracle``); ``TraceProblem`` and ``Curves``; ranking helpers; the warning
``DegenerateExplanationWarning``.

Layers (data flows one way; no module imports a higher one):

* ``trace_opt.core``: torch-free: validation, files, set keys and numba kernels, ``Oracle`` with the
  set-function oracle, ``Objective``, ``TraceProblem``, features, the synthetic set function.
* ``solvers`` and ``neighbourhoods`` (top-level packages): the search, on ``trace_opt.core`` only.
* ``trace_opt.models``: the torch layer: model and black-box oracles, references, bundled data and models.
* applications: ``trace_opt.explanation`` (settings, explainer, lockstep, data-set runs, rankings, plots),
  ``trace_opt.baselines`` (attribution methods), ``trace_opt.comparison`` (the paper comparison),
  ``trace_opt.faithfulness`` (tests outside the optimised metric), ``trace_opt.benchmarks`` (instances,
  families, difficulty, best-known solutions, tuning); ``trace_opt.cli``: the command line.

The names below are loaded on first use, so ``import trace_opt.core`` (and ``import solvers``) never
imports torch.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Features": "trace_opt.core.features",
    "grid_features": "trace_opt.core.features",
    "segmentation_features": "trace_opt.core.features",
    "tabular_features": "trace_opt.core.features",
    "superpixel_features": "trace_opt.core.features",
    "REFERENCE_KINDS": "trace_opt.models.references",
    "make_reference": "trace_opt.models.references",
    "BudgetExhausted": "trace_opt.core.budget",
    "Oracle": "trace_opt.core.oracle",
    "SetFunctionOracle": "trace_opt.core.oracle",
    "CallableOracle": "trace_opt.models.oracles",
    "ModelOracle": "trace_opt.models.oracles",
    "OUTPUTS": "trace_opt.models.oracles",
    "OBJECTIVES": "trace_opt.core.objective",
    "Objective": "trace_opt.core.objective",
    "Curves": "trace_opt.core.problem",
    "TraceProblem": "trace_opt.core.problem",
    "attribution_to_trajectory": "trace_opt.explanation.rankings",
    "feature_scores": "trace_opt.explanation.rankings",
    "kendall_tau_distance": "trace_opt.explanation.rankings",
    "scores_to_trajectory": "trace_opt.explanation.rankings",
    "trajectory_to_heatmap": "trace_opt.explanation.rankings",
    "Explanation": "trace_opt.explanation.single",
    "TraceAttribution": "trace_opt.explanation.integrations",
    "quantus_explain_func": "trace_opt.explanation.integrations",
    "explain_text": "trace_opt.explanation.text",
    "explain": "trace_opt.explanation.explainer",
    "explain_many": "trace_opt.explanation.lockstep",
    "explain_dataset": "trace_opt.explanation.dataset",
    "Explainer": "trace_opt.explanation.explainer",
    "ExplainSettings": "trace_opt.explanation.settings",
    "DegenerateExplanationWarning": "trace_opt.explanation.single",
    "Budget": "trace_opt.core.budget",
    "Result": "solvers.base",
    "Solver": "solvers.base",
    "get_solver": "solvers.base",
    "available_solvers": "solvers.base",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'trace_opt' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
