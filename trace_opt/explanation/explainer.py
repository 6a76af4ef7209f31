"""``Explainer``: a model bound to ``ExplainSettings`` (as Captum binds a model to an attribution method), and
``explain``, the one-call form for one input (``trace_opt.explain``)."""

from __future__ import annotations

import os
from typing import Any, Sequence

from trace_opt.explanation.dataset import explain_dataset_with_settings
from trace_opt.explanation.lockstep import explain_with_settings
from trace_opt.explanation.settings import ExplainSettings
from trace_opt.explanation.single import (  # noqa: F401 - DegenerateExplanationWarning, explain_input: re-exported
    DegenerateExplanationWarning,
    Explanation,
    check_model,
    explain_checked,
    explain_input,
    torch_threads,
)


class Explainer:
    """A model bound to explanation settings (as Captum binds a model to an attribution method).

    ``Explainer(model, settings)`` or ``Explainer(model, **keywords)`` (the keywords of ``ExplainSettings``,
    reference options included). The settings are checked here, before any forward pass; ``explain``,
    ``explain_many`` and ``explain_dataset`` use them for one input, many inputs sharing model calls, and a
    whole data set on disk (pools, Ray). ``with_settings(**changes)`` returns an explainer with changed
    settings (the model is not copied).

    ``model`` : a torch module returning ``(B, n_classes)`` scores, or a black-box callable taking a numpy
    batch ``(B, *x.shape)`` and returning ``(B,)`` or ``(B, n_classes)`` scores.
    """

    def __init__(self, model: Any, settings: ExplainSettings | None = None, **keywords: Any) -> None:
        if settings is not None and keywords:
            raise ValueError(
                f"settings were given twice: a settings object and the keywords {sorted(keywords)}; "
                "use settings.replace(...) or the keywords alone"
            )
        if settings is not None and not isinstance(settings, ExplainSettings):
            raise ValueError(f"settings={settings!r} is not valid; expected an ExplainSettings (or keywords)")
        self.model = model
        self.settings = settings if settings is not None else ExplainSettings.from_keywords(**keywords)
        check_model(model, self.settings)  # once: every explanation of this explainer uses it as checked

    def with_settings(self, **changes: Any) -> "Explainer":
        return Explainer(self.model, self.settings.replace(**changes))

    def __repr__(self) -> str:
        return f"Explainer({type(self.model).__name__}, {self.settings!r})"

    def explain(self, x: Any, target: int | None = None) -> Explanation:
        """Explain the model's output for one input ``x`` (no batch dimension) and class ``target`` (None:
        the predicted class of a torch model, or a callable's only score). See ``trace_opt.explain``."""
        with torch_threads(self.settings.threads):
            return explain_checked(self.model, x, target, self.settings)

    def explain_many(self, inputs: Sequence[Any], targets: Sequence[int | None] | None = None, **options: Any) -> list:
        """``explain`` for every input, their searches sharing model calls (``trace_opt.explain_many``;
        ``options``: lockstep, max_batch, errors, stats, seeds). Every input is searched with the settings'
        seed itself (the batch rule)."""
        return explain_with_settings(self.model, inputs, targets, self.settings, **options)

    def explain_dataset(
        self,
        inputs: Sequence[Any],
        out_dir: str | os.PathLike,
        targets: Sequence[int | None] | None = None,
        ids: Sequence[str] | None = None,
        **options: Any,
    ) -> Any:
        """One result file per input under ``out_dir``, resumable (``trace_opt.explanation.dataset``;
        ``options``: n_jobs, ray_address, chunk_size, max_retries, retry_failed, on_result, model_id, lockstep)."""
        return explain_dataset_with_settings(
            self.model, inputs, out_dir, self.settings, targets=targets, ids=ids, **options
        )


def explain(model: Any, x: Any, target: int | None = None, **settings: Any) -> Explanation:
    """Explain ``model``'s output for input ``x`` by a searched trajectory (TRACE):
    ``Explainer(model, **settings).explain(x, target)``.

    Parameters
    ----------
    model : a torch module returning ``(B, n_classes)`` scores, or a black-box callable taking a numpy
        batch ``(B, *x.shape)`` and returning ``(B,)`` or ``(B, n_classes)`` scores.
    x : one input without batch dimension (``C x H x W`` image, ``H x W``, or a 1-D row of columns).
    target : class to explain; None takes the model's predicted class for torch models (read from the
        oracle's first pass on x, which is D({})). A callable returning ``(B, n_classes)`` scores needs an
        explicit target (the column to explain); one returning ``(B,)`` scores takes target=None.
    settings : the keywords of ``ExplainSettings`` (``trace_opt.explanation.settings``, where each is
        described): features, reference (and its options value / sigma / noise_std), output, objective,
        solver, solver_options, budget, seed, batch_size, device, precision, threads, heatmap_alpha, progress.

    The budget bounds the solve: forward passes (int), or a dict with forward_passes / seconds /
    iterations. The passes include the final scoring and curves (``result.evaluation_forward_passes``, held
    back from the search until a trajectory is scored; a budget below 2t is refused); outside it only the
    probe pass on x. ``counters`` hold the total. With ``precision`` other than fp32
    the returned ``score``, ``value`` and ``curves`` are re-scored in fp32 (``search_score`` keeps the
    search's own figure). ``threads`` (default 1: a small model's batches run fastest on one thread) is
    restored afterwards.

    A ``DegenerateExplanationWarning`` says when the explanation cannot tell features apart: D(S)
    constant along the trajectory's curves, a reference equal to x, or a search that never ran.
    """
    return Explainer(model, ExplainSettings.from_keywords(**settings)).explain(x, target)
