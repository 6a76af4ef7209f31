"""Explaining a model: settings, the explainer bound to a model, one input (``explain``), many inputs sharing
model calls (``explain_many``, ``lockstep``), whole data sets on disk, pools or Ray (``explain_dataset``,
``dataset``), rankings between trajectories and attribution scores, and plots.

Modules: ``settings`` (``ExplainSettings``), ``single`` (one explanation: ``Explanation``), ``explainer``
(``Explainer``, ``explain``),
``lockstep``, ``dataset``, ``rankings``, ``plots``. Names are loaded on first use.
"""

from importlib import import_module

_EXPORTS = {
    "ExplainSettings": "settings",
    "Explainer": "explainer",
    "Explanation": "single",
    "explain": "explainer",
    "DegenerateExplanationWarning": "single",
    "explain_many": "lockstep",
    "explain_dataset": "dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
