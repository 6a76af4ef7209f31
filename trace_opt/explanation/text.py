"""Explaining a model over strings, one feature per token, and the figure of a ranked sentence.

``explain_text(model, text, target=None, mask_token=None, **settings)``: see ``trace_opt.models.text`` for the
tokens and how a deleted token is removed; ``plot_text(explanation, path=None)`` draws the sentence with each
token coloured by its place in the trajectory and numbered by rank (1 = the most important, deleted first by
MoRF).
"""

from __future__ import annotations

import numpy as np

from trace_opt.core.features import tabular_features
from trace_opt.explanation.explainer import explain
from trace_opt.explanation.plots import plot_text
from trace_opt.models.text import TextBlackBox, text_model, tokenize


def explain_text(model, text: str, target: int | None = None, mask_token: str | None = None, **settings):
    """Explain ``model`` (a callable over a list of strings, or a name of ``trace_opt.models.text.TEXT_MODELS``)
    on ``text``, one feature per token; ``settings`` as for ``trace_opt.explain`` (features and reference are
    set here: one feature per token, deletion as ``mask_token``). ``features.names`` of the result are the
    tokens."""
    for name in ("features", "reference"):
        if name in settings:
            raise ValueError(f"{name} is set by explain_text (one feature per token, deletion by mask_token)")
    if isinstance(model, str):
        model = text_model(model)
    tokens = tokenize(text)
    t = len(tokens)
    black_box = TextBlackBox(model, tokens, mask_token)
    features = tabular_features(t, names=tokens)
    return explain(black_box, np.ones(t), target, features=features, reference=np.zeros(t), **settings)


__all__ = ["explain_text", "plot_text"]
