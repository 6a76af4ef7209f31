"""Explaining a model over strings, one feature per token, and the figure of a ranked sentence.

``explain_text(model, text, target=None, mask_token=None, **settings)``: see ``trace_opt.models.text`` for the
tokens and how a deleted token is removed; ``plot_text(explanation, path=None)`` draws the sentence with each
token coloured by its place in the trajectory and numbered by rank (1 = the most important, deleted first by
MoRF).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from trace_opt.core.features import tabular_features
from trace_opt.core.problem import ranks_of
from trace_opt.explanation.explainer import explain
from trace_opt.explanation.plots import _finish
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


def plot_text(explanation, path=None, *, width: int = 60, title: str | None = None, cmap: str = "RdYlBu_r"):
    """The sentence, wrapped at about ``width`` characters, each token on a patch coloured by its heat
    ((rank + 1) / t: red = most important) and numbered by importance (1 = the most important token)."""
    tokens = list(explanation.features.names or [])
    t = len(explanation.trajectory)
    if len(tokens) != t:
        raise ValueError(f"the explanation has {t} features but {len(tokens)} token names; expected a text one")
    heat = (ranks_of(explanation.trajectory) + 1) / t
    importance = t - ranks_of(explanation.trajectory)  # 1 = most important
    lines: list[list[int]] = []
    line: list[int] = []
    used = 0
    for i, tok in enumerate(tokens):
        if line and used + len(tok) > width:
            lines.append(line)
            line, used = [], 0
        line.append(i)
        used += len(tok) + 1
    lines.append(line)
    char_w, line_h = 0.13, 0.62  # inches of one monospace character at 11 pt and of one line
    fig_w = max(4.0, char_w * (max(sum(len(tokens[i]) + 1 for i in ln) for ln in lines) + 2))
    fig, ax = plt.subplots(figsize=(fig_w, line_h * len(lines) + 0.9))
    ax.set_xlim(0, fig_w / char_w)
    ax.set_ylim(len(lines), -0.6)
    ax.axis("off")
    colours = plt.get_cmap(cmap)
    for row, ln in enumerate(lines):
        x = 1.0
        for i in ln:
            ax.text(
                x, row + 0.55, tokens[i], family="monospace", fontsize=11, va="center", ha="left",
                bbox=dict(boxstyle="round,pad=0.25", facecolor=colours(heat[i]), edgecolor="none", alpha=0.85),
            )  # fmt: skip
            ax.text(x, row + 0.12, str(importance[i]), fontsize=7, va="center", ha="left", color="0.25")
            x += len(tokens[i]) + 1
    value = f"{explanation.objective} {explanation.value:.3g}"
    ax.set_title(title or f"Token ranks (1 = most important; {value}, t = {t})", fontsize=10, loc="left")
    return _finish(fig, path)


__all__ = ["explain_text", "plot_text"]
