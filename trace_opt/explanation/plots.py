"""Figures of a trajectory explanation (matplotlib, Agg backend, atomic saves).

* ``plot_overlay``: the input with the trajectory's heatmap on top (rank numbers on grid patches).
* ``plot_deletion_sequence``: the input after deleting the first k features of the trajectory, for
  several k (LeRF row: least important first; MoRF row: most important first), as the paper's Fig. 1b.
* ``plot_curves``: LeRF/MoRF deletion curves (and insertion curves) with their AUCs in the legend.

Each function takes an ``Explanation`` or plain arrays, draws into a new figure (or the given axes),
saves it atomically when ``path`` is given, and returns the figure (close it with ``plt.close``).
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on these machines; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from trace_opt.core.io import atomic_savefig  # noqa: E402
from trace_opt.core.problem import Curves, ranks_of  # noqa: E402
from trace_opt.core.validation import check_choice, check_positive_int  # noqa: E402
from trace_opt.explanation.rankings import marginal_drops  # noqa: E402

DIRECTIONS = ("lerf", "morf")
_CURVE_KEYS = ("lerf_deletion", "morf_deletion", "lerf_insertion", "morf_insertion")


# ------------------------------------------------------------------------------------ helpers
def _is_explanation(obj) -> bool:
    """An ``Explanation`` (by its fields: this module is imported by ``single``'s display, so it does not
    import ``single``)."""
    return all(hasattr(obj, name) for name in ("trajectory", "curves", "heatmap", "oracle", "objective"))


def _numpy(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _as_image(x, name: str = "image") -> np.ndarray:
    """``H x W`` (grey) or ``H x W x 3`` (RGB) array from ``C x H x W``, ``H x W`` or ``H x W x 3`` input."""
    a = _numpy(x).astype(np.float64)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    elif a.ndim == 3 and a.shape[0] == 3:
        a = np.moveaxis(a, 0, -1)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] == 3)):
        raise ValueError(f"{name} must be an image (H x W, 1 x H x W, 3 x H x W or H x W x 3); got shape {a.shape}")
    if a.ndim == 3:  # RGB: scale into [0, 1] for imshow
        lo, hi = a.min(), a.max()
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a


def _finish(fig, path, dpi: int = 120):
    if path is not None:
        atomic_savefig(fig, path, dpi=dpi, bbox_inches="tight")
    return fig


def _new_or_given(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


# ------------------------------------------------------------------------------------ overlay
def plot_overlay(
    source,
    heatmap=None,
    *,
    ax=None,
    path=None,
    title: str | None = None,
    cmap: str = "jet",
    alpha: float = 0.5,
    annotate: bool = True,
    colorbar: bool = True,
    show_input: bool = True,
):
    """The input in grey (or colour) with a heatmap on top.

    ``source`` is an ``Explanation`` (its input, heatmap and, for grid features, each patch's rank
    1..t written on it, t = most important) or an image array (then ``heatmap`` is required, same H x W).
    ``show_input`` (only when ``ax`` is None) adds a panel with the plain input on the left.
    """
    image, hm, ranks, grid, title = _overlay_inputs(source, heatmap, annotate, title)
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha={alpha!r} is not valid; expected an opacity in [0, 1]")
    fig, ax = _overlay_axes(ax, image, show_input)
    H, W = hm.shape
    extent = (-0.5, W - 0.5, H - 0.5, -0.5)
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest", extent=extent)
    im = ax.imshow(hm, cmap=cmap, alpha=alpha, interpolation="nearest", extent=extent, vmin=0.0, vmax=1.0)
    if ranks is not None:
        draw_grid_ranks(ax, ranks, grid, (H, W))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        cb.solids.set_alpha(alpha)  # the bar's colours as blended in the overlay (the same alpha)
        cb.set_ticks([0.0, 1.0], labels=["least\nimportant", "most\nimportant"], fontsize=7)
        cb.set_label("((rank+1)/t)^alpha; numbers: rank+1, 1 = least important", fontsize=7)
    return _finish(fig, path)


def _overlay_inputs(source, heatmap, annotate: bool, title: str | None):
    """``(image, heatmap, ranks or None, grid or None, title)`` of ``plot_overlay``'s source: an ``Explanation``
    (ranks for grid features when ``annotate``; a default title) or an image array with its ``heatmap``."""
    ranks = grid = None
    if _is_explanation(source):
        image = _as_image(source.oracle.x, "the explanation's input")
        hm = _numpy(source.heatmap if heatmap is None else heatmap).astype(np.float64)
        feats = source.features
        if annotate and feats.kind == "grid" and feats.grid is not None:
            ranks, grid = ranks_of(np.asarray(source.trajectory)), feats.grid
        if title is None:
            title = f"TRACE-{source.objective} on {source.output}, target {source.target}"
    else:
        if heatmap is None:
            raise ValueError("heatmap is required when source is an image array rather than an Explanation")
        image = _as_image(source)
        hm = _numpy(heatmap).astype(np.float64)
    if hm.shape != image.shape[:2]:
        raise ValueError(f"heatmap must have the image's H x W shape {image.shape[:2]}; got {hm.shape}")
    return image, hm, ranks, grid, title


def _overlay_axes(ax, image: np.ndarray, show_input: bool):
    """``(figure, axes of the overlay)``: a new figure with the plain input in a panel on the left (``show_input``
    and no ``ax``), a new figure, or the given axes."""
    if ax is not None or not show_input:
        return _new_or_given(ax, (4.2, 3.6))
    fig, (ax_in, ax) = plt.subplots(1, 2, figsize=(7.4, 3.6), gridspec_kw={"width_ratios": [1, 1.2]})
    ax_in.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
    ax_in.set_xticks([])
    ax_in.set_yticks([])
    ax_in.set_title("input", fontsize=9)
    return fig, ax


def draw_grid_ranks(ax, ranks: np.ndarray, grid: tuple, shape: tuple, fontsize: int = 8, borders: bool = True) -> None:
    """Each grid patch's rank + 1 at its centre (``ranks``: position in the trajectory per feature; ``grid``:
    (rows, cols); ``shape``: the image's (H, W)), and with ``borders`` the patch borders."""
    (rows, cols), (H, W) = grid, shape
    for f in range(rows * cols):
        r, c = divmod(f, cols)
        ys = (np.arange(H) * rows // H == r).nonzero()[0]
        xs = (np.arange(W) * cols // W == c).nonzero()[0]
        ax.text(
            xs.mean(),
            ys.mean(),
            str(int(ranks[f]) + 1),
            ha="center",
            va="center",
            fontsize=fontsize,
            color="white",
            fontweight="bold",
            bbox=dict(boxstyle="round,pad=0.15", fc="black", alpha=0.45, lw=0),
        )
    if not borders:
        return
    for r in range(1, rows):
        ax.axhline(np.argmax(np.arange(H) * rows // H == r) - 0.5, color="white", lw=0.5, alpha=0.6)
    for c in range(1, cols):
        ax.axvline(np.argmax(np.arange(W) * cols // W == c) - 0.5, color="white", lw=0.5, alpha=0.6)


# -------------------------------------------------------------------------- deletion sequence
def default_steps(t: int, n_steps: int = 6) -> np.ndarray:
    """``n_steps`` distinct deletion counts spread evenly over 0..t (both ends included)."""
    t = check_positive_int("t", t, minimum=1)
    n_steps = check_positive_int("n_steps", n_steps, minimum=2)
    return np.unique(np.round(np.linspace(0, t, min(n_steps, t + 1))).astype(np.int64))


def deletion_sequence(explanation: Any, ks, direction: str = "lerf"):
    """Inputs after deleting k features of the trajectory, for each k in ``ks``, and their D values.

    ``lerf``: the k least important are deleted (``P_k``, value ``le[k]``); ``morf``: the k most
    important (``all \\ P_(t-k)``, value ``mo[k]``). Built by the oracle's ``masked_inputs``.
    Returns ``(images (len(ks), *x.shape) numpy array, values (len(ks),))``.
    """
    if not _is_explanation(explanation):
        raise ValueError(f"explanation must be an Explanation; got {type(explanation).__name__}")
    check_choice("direction", direction, DIRECTIONS)
    t = explanation.oracle.t
    ks = np.asarray(ks, dtype=np.int64).ravel()
    if ks.size == 0 or ks.min() < 0 or ks.max() > t:
        raise ValueError(f"ks must be deletion counts in 0..{t}; got {ks.tolist()}")
    ranks = ranks_of(np.asarray(explanation.trajectory, dtype=np.int64))
    if direction == "lerf":
        masks = ranks[None, :] < ks[:, None]
        values = explanation.curves.lerf_deletion[ks]
    else:
        masks = ranks[None, :] >= (t - ks)[:, None]
        values = explanation.curves.morf_deletion[ks]
    images = _numpy(explanation.oracle.masked_inputs(masks))
    return images, np.asarray(values, dtype=np.float64)


def plot_deletion_sequence(
    source,
    ks=None,
    *,
    values=None,
    n_steps: int = 6,
    directions=DIRECTIONS,
    path=None,
    title: str | None = None,
    cmap: str = "gray",
):
    """A grid of inputs with more and more features deleted (paper's Fig. 1b).

    ``source`` is an ``Explanation`` (one row per direction in ``directions``, columns at deletion
    counts ``ks``, default ``default_steps(t, n_steps)``) or an array of images ``(K, ...)`` shown as
    one row labelled by ``ks`` (default 0..K-1) and ``values`` (optional, one per image).
    """
    rows = []  # (row label, images, values)
    if _is_explanation(source):
        t = source.oracle.t
        ks = default_steps(t, n_steps) if ks is None else np.asarray(ks, dtype=np.int64).ravel()
        if isinstance(directions, str):
            directions = (directions,)
        if len(directions) == 0:
            raise ValueError(f"directions must name at least one of {list(DIRECTIONS)}")
        for d in directions:
            imgs, vals = deletion_sequence(source, ks, d)
            rows.append(
                (
                    "LeRF: least important deleted first" if d == "lerf" else "MoRF: most important deleted first",
                    imgs,
                    vals,
                )
            )
        if title is None:
            title = f"Deleting features along the trajectory (t={t}, D = {source.output} of class {source.target})"
    else:
        imgs = _numpy(source)
        if imgs.ndim < 3:
            raise ValueError(f"source must be an Explanation or an array of images (K, ...); got shape {imgs.shape}")
        K = imgs.shape[0]
        ks = np.arange(K) if ks is None else np.asarray(ks).ravel()
        if len(ks) != K:
            raise ValueError(f"ks must give one deletion count per image ({K}); got {len(ks)}")
        if values is not None and len(np.ravel(values)) != K:
            raise ValueError(f"values must give one value per image ({K}); got {len(np.ravel(values))}")
        rows.append((None, imgs, None if values is None else np.ravel(values).astype(np.float64)))
    n_cols = len(ks)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(1.6 * n_cols, 1.9 * len(rows) + 0.4), squeeze=False)
    all_imgs = np.concatenate([r[1].reshape(len(r[1]), -1) for r in rows])
    vmin, vmax = float(all_imgs.min()), float(all_imgs.max())
    for i, (label, imgs, vals) in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            img = _as_image(imgs[j], "each image")
            ax.imshow(img, cmap=cmap if img.ndim == 2 else None, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            text = f"k={int(ks[j])}"
            if vals is not None:
                text += f"\nD={vals[j]:.3g}"
            ax.set_title(text, fontsize=8)
        if label:
            axes[i, 0].set_ylabel(label.split(":")[0], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _finish(fig, path)


# ------------------------------------------------------------------------------------- curves
def _curves_of(source) -> tuple[dict, str | None]:
    if _is_explanation(source):
        c = source.curves
        return {k: np.asarray(getattr(c, k), dtype=np.float64) for k in _CURVE_KEYS}, source.output
    if isinstance(source, Curves):
        return {k: np.asarray(getattr(source, k), dtype=np.float64) for k in _CURVE_KEYS}, None
    if isinstance(source, dict):
        missing = {"lerf_deletion", "morf_deletion"} - set(source)
        if missing:
            raise ValueError(f"a dict of curves needs keys lerf_deletion and morf_deletion; missing {sorted(missing)}")
        out = {k: np.asarray(source[k], dtype=np.float64).ravel() for k in _CURVE_KEYS if k in source}
        n = {len(v) for v in out.values()}
        if len(n) != 1 or n.pop() < 2:
            raise ValueError("every curve must have the same length t+1 >= 2")
        return out, None
    raise ValueError(f"source must be an Explanation, a Curves object or a dict of arrays; got {type(source).__name__}")


def plot_curves(
    source,
    *,
    baseline=None,
    baseline_label: str = "baseline",
    insertion: bool = True,
    path=None,
    title: str | None = None,
    ylabel: str | None = None,
):
    """Deletion curves (LeRF, MoRF) and, if ``insertion`` and available, insertion curves, k = 0..t.

    AUCs (the paper's Riemann sums over the t+1 points) are in the legend. ``baseline`` (same kinds
    as ``source``) is drawn dashed for comparison, e.g. the greedy order SA started from.
    """
    curves, output = _curves_of(source)
    base = _curves_of(baseline)[0] if baseline is not None else None
    if base is not None and len(base["lerf_deletion"]) != len(curves["lerf_deletion"]):
        raise ValueError("baseline curves must have the same length as the source's")
    has_ins = insertion and "lerf_insertion" in curves and "morf_insertion" in curves
    panels = [("Deletion", ("lerf_deletion", "morf_deletion"))]
    if has_ins:
        panels.append(("Insertion", ("morf_insertion", "lerf_insertion")))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    names = {
        "lerf_deletion": ("LeRF deletion", "AUC-Le", "tab:blue"),
        "morf_deletion": ("MoRF deletion", "AUC-Mo", "tab:red"),
        "morf_insertion": ("MoRF insertion", "AUC", "tab:purple"),
        "lerf_insertion": ("LeRF insertion", "AUC", "tab:orange"),
    }
    ylabel = ylabel or (f"D ({output})" if output else "D(S)")
    for ax, (panel, keys) in zip(axes[0], panels):
        for key in keys:
            label, auc_name, colour = names[key]
            y = curves[key]
            k = np.arange(len(y))
            ax.plot(k, y, "-o", ms=3, color=colour, label=f"{label} ({auc_name} = {y.sum():.4g})")
            if base is not None and key in base:
                yb = base[key]
                ax.plot(
                    k,
                    yb,
                    "--",
                    color=colour,
                    alpha=0.6,
                    label=f"{label}, {baseline_label} ({auc_name} = {yb.sum():.4g})",
                )
        t = len(curves[keys[0]]) - 1
        ax.set_xlabel("k (features deleted)" if panel == "Deletion" else "k (features kept)")
        ax.set_ylabel(ylabel)
        ax.set_xlim(0, t)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        if panel == "Deletion":
            le_mo = curves["lerf_deletion"].sum() - curves["morf_deletion"].sum()
            text = f"Deletion curves (Le-Mo = {le_mo:.4g}"
            if base is not None:
                text += f"; {baseline_label}: {base['lerf_deletion'].sum() - base['morf_deletion'].sum():.4g}"
            ax.set_title(text + ")", fontsize=9)
        else:
            ax.set_title("Insertion curves", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _finish(fig, path)


# ------------------------------------------------------------------------------------ text
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


# ------------------------------------------------------------------------------------ a table's row
def plot_row(explanation: Any, path=None, *, top: int = 30, title: str | None = None):
    """A 1-D row's features as horizontal bars, the most important at the top: each bar is the feature's marginal
    drop along the LeRF chain (D before minus D after deleting it, in the output's units), labelled with its name
    (or column) and its importance (1 = the most important). At most ``top`` features (the most important)."""
    sigma = np.asarray(explanation.trajectory)
    t = len(sigma)
    position = ranks_of(sigma)
    drop = marginal_drops(sigma, explanation.curves.lerf_deletion)
    names = getattr(explanation.features, "names", None) if explanation.oracle is not None else None
    order = sigma[::-1][: min(top, t)]  # most important first
    labels = [f"{t - position[i]}. " + (str(names[i]) if names is not None else f"column {i}") for i in order]
    fig, ax = plt.subplots(figsize=(6.4, 0.28 * len(order) + 1.2))
    ax.barh(np.arange(len(order)), drop[order], color=["tab:red" if d > 0 else "tab:blue" for d in drop[order]])
    ax.set_yticks(np.arange(len(order)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="0.3", lw=0.6)
    ax.set_xlabel(f"marginal drop of D along the LeRF chain ({explanation.output})")
    shown = "" if len(order) == t else f", the {len(order)} most important of {t}"
    ax.set_title(title or f"TRACE-{explanation.objective}: features by importance{shown}", fontsize=9, loc="left")
    return _finish(fig, path)
