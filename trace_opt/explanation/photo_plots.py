"""Figures of a trajectory explanation on the original photo (matplotlib, Agg backend, atomic saves).

The model sees the photo resized to its input (``3 x h x w``, e.g. 224 x 224; ``resize`` as in
``trace_opt.models.imagenet.preprocess``) and the features live on that grid; these figures carry them
back onto the photo at its own size:

* ``photo_heatmap``: the trajectory heatmap ``((rank + 1) / t) ** alpha`` sampled onto the photo's
  ``H x W`` (each photo pixel takes the value of the input pixel it was resized into; NaN outside a
  centre crop, where the model saw nothing).
* ``plot_photo_heatmap``: the photo with that heatmap on top, the feature borders, and a colour bar that
  names its ends (least important: deleted first by LeRF; most important).
* ``photo_deletion_images`` / ``plot_photo_deletion_sequence``: what the model saw after the k least (LeRF)
  or most (MoRF) important features were deleted, for several k, shown at the photo's aspect ratio.
* ``plot_photo_explanation``: photo | heatmap | LeRF and MoRF deletion curves with their AUCs.

Each ``plot_*`` returns the figure (close it with ``plt.close``) and saves it atomically when ``path`` is given.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on these machines; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from trace_opt.core.features import Features  # noqa: E402
from trace_opt.core.io import atomic_savefig  # noqa: E402
from trace_opt.core.problem import ranks_of  # noqa: E402
from trace_opt.core.validation import check_choice, check_positive_int, check_trajectory  # noqa: E402
from trace_opt.explanation.rankings import trajectory_to_heatmap  # noqa: E402
from trace_opt.explanation.single import Explanation  # noqa: E402
from trace_opt.models.imagenet import RESIZE_MODES, center_crop_box, denormalise  # noqa: E402

DIRECTIONS = ("lerf", "morf")


# ------------------------------------------------------------------------------------ helpers
def _photo(photo) -> np.ndarray:
    a = np.asarray(photo)
    if a.ndim != 3 or a.shape[-1] != 3 or min(a.shape[:2]) < 1:
        raise ValueError(f"photo must be an H x W x 3 RGB array; got shape {a.shape}")
    return a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else np.clip(a.astype(np.float64), 0.0, 1.0)


def _photo_shape(photo_or_shape) -> tuple[int, int]:
    if isinstance(photo_or_shape, tuple) and len(photo_or_shape) == 2:
        return tuple(check_positive_int("photo shape", int(v)) for v in photo_or_shape)
    return _photo(photo_or_shape).shape[:2]


def _features(features) -> Features:
    if not isinstance(features, Features) or features.ids.ndim != 2:
        raise ValueError(
            "features must be a Features object over the model input's h x w grid (e.g. "
            "grid_features((224, 224), 7) or superpixel_features(photo, shape=(224, 224)))"
        )
    return features


def photo_to_input_index(photo_shape, input_shape, resize: str = "stretch"):
    """For each photo row and column, the input row and column it was resized into (pixel centres),
    -1 outside a centre crop: ``(rows (H,), cols (W,))`` int64."""
    check_choice("resize", resize, RESIZE_MODES)
    (H, W), (h, w) = photo_shape, input_shape
    if resize == "stretch":
        return (((np.arange(H) + 0.5) * h / H).astype(np.int64), ((np.arange(W) + 0.5) * w / W).astype(np.int64))
    top, left, side = center_crop_box((H, W))
    rows = np.floor((np.arange(H) - top + 0.5) * h / side).astype(np.int64)
    cols = np.floor((np.arange(W) - left + 0.5) * w / side).astype(np.int64)
    rows[(rows < 0) | (rows >= h)] = -1
    cols[(cols < 0) | (cols >= w)] = -1
    return rows, cols


def _to_photo(values: np.ndarray, photo_shape, resize: str, fill=np.nan) -> np.ndarray:
    rows, cols = photo_to_input_index(photo_shape, values.shape[:2], resize)
    out = values[np.ix_(np.maximum(rows, 0), np.maximum(cols, 0))].astype(np.float64)
    out[(rows < 0)[:, None] | (cols < 0)[None, :]] = fill
    return out


def _finish(fig, path, dpi: int = 120):
    if path is not None:
        atomic_savefig(fig, path, dpi=dpi, bbox_inches="tight")
    return fig


# ------------------------------------------------------------------------------------ heatmap
def photo_heatmap(
    photo_or_shape, features, trajectory, alpha: float = 1.0, resize: str = "stretch", smooth: bool = True
) -> np.ndarray:
    """The trajectory heatmap ``((rank + 1) / t) ** alpha`` (in (0, 1], 1 = most important) on the photo's
    ``H x W``: computed on the input grid (``rankings.trajectory_to_heatmap``; grid patches interpolated
    bilinearly when ``smooth``) and sampled back by ``resize``; NaN where the model saw no pixel."""
    feats = _features(features)
    sigma = check_trajectory(trajectory, feats.t)
    hm = trajectory_to_heatmap(sigma, feats, alpha=alpha, smooth=smooth)
    return _to_photo(hm, _photo_shape(photo_or_shape), resize)


#: the most features whose ranks ``plot_photo_heatmap`` writes all of; above it, the ``RANKS_SHOWN`` least and most
#: important only
ALL_RANKS_UP_TO = 64
RANKS_SHOWN = 5


def plot_photo_heatmap(
    photo,
    features,
    trajectory,
    *,
    alpha: float = 1.0,
    resize: str = "stretch",
    ax=None,
    path=None,
    title: str | None = None,
    cmap: str = "jet",
    opacity: float = 0.5,
    borders: bool = True,
    colorbar: bool = True,
    smooth: bool = False,
    ranks: bool = True,
):
    """The photo at its own size with the trajectory heatmap on top (``photo_heatmap``; one flat colour per
    feature unless ``smooth``), the feature borders in white (``borders``), each feature's rank + 1 written
    on it (``ranks``: 1 = least important; all of them up to ``ALL_RANKS_UP_TO`` features, else the
    ``RANKS_SHOWN`` least and most important) and a colour bar whose ends read *least important* (feature
    ``trajectory[0]``, deleted first by LeRF, value ``(1/t)^alpha``) and *most important* (1)."""
    from skimage.segmentation import find_boundaries

    img = _photo(photo)
    feats = _features(features)
    if not 0 <= opacity <= 1:
        raise ValueError(f"opacity={opacity!r} is not valid; expected a number in [0, 1]")
    hm = photo_heatmap(img, feats, trajectory, alpha=alpha, resize=resize, smooth=smooth)
    fig, ax = plt.subplots(figsize=(6.0, 4.6)) if ax is None else (ax.figure, ax)
    ax.imshow(img, interpolation="nearest")
    im = ax.imshow(np.ma.masked_invalid(hm), cmap=cmap, alpha=opacity, vmin=0.0, vmax=1.0, interpolation="nearest")
    if borders:
        ids = _to_photo(feats.ids, img.shape[:2], resize, fill=-1).astype(np.int64)
        edge = find_boundaries(ids, mode="inner") & (ids >= 0)
        overlay = np.zeros((*edge.shape, 4))
        overlay[edge] = (1.0, 1.0, 1.0, 0.8)
        ax.imshow(overlay, interpolation="nearest")
    if ranks:
        _write_ranks(ax, img.shape[:2], feats, check_trajectory(trajectory, feats.t), resize)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        import textwrap

        ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=9)  # wrapped: it never runs into the bar
    if colorbar:
        low = float((1.0 / feats.t) ** alpha)
        from mpl_toolkits.axes_grid1 import make_axes_locatable

        cax = make_axes_locatable(ax).append_axes("right", size="4%", pad=0.08)  # as tall as the photo
        cb = fig.colorbar(im, cax=cax, ticks=[low, 1.0])
        cb.ax.set_yticklabels(["least important\n(deleted first)", "most important"], fontsize=7)
        cb.solids.set_alpha(opacity)  # the bar shows the colours as they are blended on the photo
        cb.set_label(f"((rank+1)/t)^{alpha:g}, t = {feats.t}; numbers: rank+1", fontsize=8)
    return _finish(fig, path)


def _write_ranks(ax, photo_shape, feats: Features, sigma: np.ndarray, resize: str) -> None:
    """Each feature's rank + 1 at the centre of its pixels on the photo (1 = least important)."""
    ranks = ranks_of(sigma)
    t = feats.t
    shown = np.arange(t) if t <= ALL_RANKS_UP_TO else np.concatenate([sigma[:RANKS_SHOWN], sigma[-RANKS_SHOWN:]])
    ids = _to_photo(feats.ids, photo_shape, resize, fill=-1).astype(np.int64)
    rows, cols = np.nonzero(ids >= 0)
    labels = ids[rows, cols]
    count = np.bincount(labels, minlength=t).astype(np.float64)
    y = np.bincount(labels, weights=rows, minlength=t) / np.maximum(count, 1)
    x = np.bincount(labels, weights=cols, minlength=t) / np.maximum(count, 1)
    size = 7 if t <= 49 else 6 if t <= ALL_RANKS_UP_TO else 7
    for f in shown:
        if count[f]:
            ax.text(
                x[f],
                y[f],
                str(int(ranks[f]) + 1),
                ha="center",
                va="center",
                fontsize=size,
                color="white",
                fontweight="bold",
                bbox={"boxstyle": "round,pad=0.1", "fc": "black", "alpha": 0.45, "lw": 0},
            )


# -------------------------------------------------------------------------- deletion sequence
def photo_deletion_images(
    explanation: Explanation,
    ks,
    direction: str = "lerf",
    photo_shape=None,
    resize: str = "stretch",
    normalised: bool = True,
):
    """What the model saw with the k least (``lerf``) or most (``morf``) important features deleted, for
    each k in ``ks``: the oracle's masked inputs as ``K x h x w x 3`` RGB in [0, 1] (undoing the ImageNet
    normalisation when ``normalised``, else min-max scaled), resized to ``photo_shape`` for ``stretch``
    (the photo's aspect ratio) and left square for ``center_crop``. Returns ``(images, values)`` with the
    D values of the curves (``le[k]`` or ``mo[k]``)."""
    from skimage.transform import resize as sk_resize

    if not isinstance(explanation, Explanation):
        raise ValueError(f"explanation must be an Explanation; got {type(explanation).__name__}")
    check_choice("direction", direction, DIRECTIONS)
    check_choice("resize", resize, RESIZE_MODES)
    t = explanation.oracle.t
    ks = np.asarray(ks, dtype=np.int64).ravel()
    if ks.size == 0 or ks.min() < 0 or ks.max() > t:
        raise ValueError(f"ks must be deletion counts in 0..{t}; got {ks.tolist()}")
    ranks = ranks_of(np.asarray(explanation.trajectory, dtype=np.int64))
    masks = ranks[None, :] < ks[:, None] if direction == "lerf" else ranks[None, :] >= (t - ks)[:, None]
    values = (explanation.curves.lerf_deletion if direction == "lerf" else explanation.curves.morf_deletion)[ks]
    inputs = explanation.oracle.masked_inputs(masks)
    inputs = inputs.detach().cpu().numpy() if hasattr(inputs, "detach") else np.asarray(inputs)
    if inputs.ndim != 4 or inputs.shape[1] != 3:
        raise ValueError(f"the explanation's input must be a 3 x h x w image; got {inputs.shape[1:]}")
    if normalised:
        images = np.stack([denormalise(x) for x in inputs])
    else:
        lo, hi = inputs.min(), inputs.max()
        images = np.moveaxis((inputs - lo) / (hi - lo) if hi > lo else np.zeros_like(inputs), 1, -1)
    if photo_shape is not None and resize == "stretch":
        H, W = _photo_shape(photo_shape)
        images = np.stack([sk_resize(im, (H, W), order=0, anti_aliasing=False) for im in images])
    return images, np.asarray(values, dtype=np.float64)


def plot_photo_deletion_sequence(
    explanation: Explanation,
    photo=None,
    ks=None,
    *,
    n_steps: int = 6,
    directions=DIRECTIONS,
    resize: str = "stretch",
    normalised: bool = True,
    path=None,
    title: str | None = None,
):
    """Rows of ``photo_deletion_images`` (one per direction), columns at deletion counts ``ks`` (default
    ``n_steps`` counts spread over 0..t), each titled with k and D."""
    t = explanation.oracle.t if isinstance(explanation, Explanation) else None
    if t is None:
        raise ValueError(f"explanation must be an Explanation; got {type(explanation).__name__}")
    if ks is None:
        n_steps = check_positive_int("n_steps", n_steps, minimum=2)
        ks = np.unique(np.round(np.linspace(0, t, min(n_steps, t + 1))).astype(np.int64))
    ks = np.asarray(ks, dtype=np.int64).ravel()
    directions = (directions,) if isinstance(directions, str) else tuple(directions)
    if not directions:
        raise ValueError(f"directions must name at least one of {list(DIRECTIONS)}")
    shape = None if photo is None else _photo_shape(photo)
    rows = [(d, *photo_deletion_images(explanation, ks, d, shape, resize, normalised)) for d in directions]
    aspect = rows[0][1].shape[2] / rows[0][1].shape[1]
    fig, axes = plt.subplots(
        len(rows), len(ks), figsize=(1.7 * aspect * len(ks) + 0.6, 2.1 * len(rows) + 0.5), squeeze=False
    )
    for i, (d, images, values) in enumerate(rows):
        for j, k in enumerate(ks):
            ax = axes[i, j]
            ax.imshow(images[j], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"k={int(k)}\nD={values[j]:.3g}", fontsize=8)
        axes[i, 0].set_ylabel(
            "LeRF: least\nimportant first" if d == "lerf" else "MoRF: most\nimportant first", fontsize=8
        )
    fig.suptitle(
        title
        or f"Deleting features along the trajectory (t={t}, D = {explanation.output} of class {explanation.target})",
        fontsize=9,
    )
    fig.tight_layout()
    return _finish(fig, path)


# ----------------------------------------------------------------------------------- summary
def plot_photo_explanation(
    photo,
    explanation: Explanation,
    *,
    alpha: float = 1.0,
    resize: str = "stretch",
    class_name: str | None = None,
    path=None,
    title: str | None = None,
):
    """One row: the photo, the heatmap on it (``plot_photo_heatmap``), and the LeRF and MoRF deletion
    curves (k = 0..t features deleted) with their AUCs (the paper's Riemann sums) and Le-Mo."""
    if not isinstance(explanation, Explanation):
        raise ValueError(f"explanation must be an Explanation; got {type(explanation).__name__}")
    img = _photo(photo)
    fig, (ax_photo, ax_hm, ax_curve) = plt.subplots(1, 3, figsize=(14, 3.9), gridspec_kw={"width_ratios": [1, 1.25, 1]})
    ax_photo.imshow(img)
    ax_photo.set_xticks([])
    ax_photo.set_yticks([])
    target = f"class {explanation.target}" + (f" ({class_name})" if class_name else "")
    ax_photo.set_title(f"photo, {img.shape[0]} x {img.shape[1]}; {target}", fontsize=9)
    plot_photo_heatmap(
        img,
        explanation.features,
        explanation.trajectory,
        alpha=alpha,
        resize=resize,
        ax=ax_hm,
        title=f"TRACE-{explanation.objective} trajectory, t = {explanation.oracle.t}",
    )
    c = explanation.curves
    k = np.arange(len(c.lerf_deletion))
    ax_curve.plot(k, c.lerf_deletion, "-o", ms=3, color="tab:blue", label=f"LeRF deletion (AUC-Le = {c.auc_le:.4g})")
    ax_curve.plot(k, c.morf_deletion, "-o", ms=3, color="tab:red", label=f"MoRF deletion (AUC-Mo = {c.auc_mo:.4g})")
    ax_curve.set_xlabel("k (features deleted)")
    ax_curve.set_ylabel(f"D ({explanation.output})")
    ax_curve.set_xlim(0, len(k) - 1)
    ax_curve.grid(alpha=0.3)
    ax_curve.legend(fontsize=7)
    ax_curve.set_title(f"deletion curves (Le-Mo = {c.le_mo:.4g})", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _finish(fig, path)
