"""An explanation as a table and as a notebook display.

``explanation_frame(explanation)`` (``Explanation.to_frame()``): a pandas DataFrame with one row per feature:
``feature`` (its id), ``name`` (a column's or token's name, if the features have names), ``importance``
(1 = the most important: deleted last by LeRF, first by MoRF), ``lerf_position`` (0 = deleted first by LeRF),
``heat`` (((rank + 1) / t), the paper's heatmap value), ``marginal_drop`` (D before minus D after deleting the
feature along the LeRF chain, in the explanation's output units), ``elements`` (how many input elements it
covers) and ``region`` (a grid patch's row and column, or the bounding box of its elements), sorted by
importance.

``explanation_html(explanation)`` (``Explanation._repr_html_``): the summary, the input with the ranked
features (or the ranked sentence of a text explanation) and the four curves, as inline PNG images.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from trace_opt.core.problem import ranks_of
from trace_opt.explanation.plots import plot_curves, plot_overlay, plot_text
from trace_opt.explanation.rankings import marginal_drops


def explanation_frame(explanation: Any) -> Any:
    """The explanation's features as a pandas DataFrame (see the module docstring)."""
    try:
        import pandas as pd
    except ImportError as exc:  # an optional dependency: the [frame] extra
        raise ImportError("Explanation.to_frame() needs pandas: `pip install pandas`") from exc
    sigma = np.asarray(explanation.trajectory)
    t = len(sigma)
    position = ranks_of(sigma)
    columns: dict[str, Any] = {
        "feature": np.arange(t),
        "importance": t - position,
        "lerf_position": position,
        "heat": (position + 1) / t,
        "marginal_drop": marginal_drops(sigma, explanation.curves.lerf_deletion),
    }
    features = explanation.features if explanation.oracle is not None else None
    if features is not None and features.names is not None:
        columns = {"feature": columns.pop("feature"), "name": list(features.names), **columns}
    if features is not None:
        ids = np.asarray(features.ids)
        columns["elements"] = np.bincount(ids.ravel(), minlength=t)
        columns["region"] = _regions(features, ids, t)
    return pd.DataFrame(columns).sort_values("importance").reset_index(drop=True)


def _regions(features, ids: np.ndarray, t: int) -> list[str]:
    """Per feature: a grid patch's row and column, else the bounding box of its elements (last two dims)."""
    if features.kind == "grid" and features.grid is not None:
        cols = features.grid[1]
        return [f"patch row {i // cols}, col {i % cols}" for i in range(t)]
    if ids.ndim == 1:
        return [f"column {i}" if features.names is None else str(features.names[i]) for i in range(t)]
    out = []
    for i in range(t):
        where = np.argwhere(ids == i)
        (r0, c0), (r1, c1) = where[:, -2:].min(axis=0), where[:, -2:].max(axis=0)
        out.append(f"rows {r0}-{r1}, cols {c0}-{c1}")
    return out


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "<img src='data:image/png;base64," + base64.b64encode(buf.getvalue()).decode() + "'/>"


def _picture(explanation: Any) -> str:
    """The ranked input: the overlay of an image-like input, or the ranked sentence of a text one."""
    if explanation.oracle is None:
        return ""
    features = explanation.features
    if features.names is not None and np.asarray(features.ids).ndim == 1 and features.kind == "tabular":
        try:
            return _png(plot_text(explanation))
        except ValueError:
            return ""
    try:
        return _png(plot_overlay(explanation))
    except ValueError:  # not an image (a tabular row)
        return ""


def explanation_html(explanation: Any) -> str:
    """The notebook display of an explanation (see the module docstring)."""
    c = explanation.counters or {}
    summary = (
        f"<b>TRACE-{html.escape(str(explanation.objective))}</b> on {html.escape(str(explanation.output))}, "
        f"target {explanation.target}: value {explanation.value:.4g}, t = {len(explanation.trajectory)}, "
        f"{c.get('forward_passes', '?')} forward passes"
    )
    return f"<div>{summary}<br/>{_picture(explanation)}{_png(plot_curves(explanation))}</div>"


__all__ = ["explanation_frame", "explanation_html"]
