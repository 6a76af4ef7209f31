"""Features: which input elements form feature i.

One internal form for every kind of feature: an integer array ``ids`` whose value at each input
element is that element's feature id in ``0..t-1``. ``ids`` has the shape of the input's trailing
dimensions and broadcasts over the leading ones (an ``H x W`` map covers a ``C x H x W`` image).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from trace_opt.core.validation import check_choice, check_keywords, check_positive_int


@dataclass(frozen=True)
class Features:
    """A partition of the input into ``t`` features, checked on construction (``check``): integer ids in
    ``0..t-1``, each feature owning at least one element.

    Attributes
    ----------
    ids : int64 array, each element's feature id (``0..t-1``), broadcasting against the input.
    t : number of features.
    kind : ``"grid"``, ``"segmentation"`` or ``"tabular"``.
    grid : ``(rows, cols)`` for a grid of patches (feature id = row * cols + col), else None.
    """

    ids: np.ndarray
    t: int
    kind: str = "segmentation"
    grid: tuple[int, int] | None = None
    names: list[str] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ValueError unless ``ids`` partitions the input into exactly ``t`` non-empty features ``0..t-1``."""
        t = check_positive_int("features.t", self.t)
        ids = np.asarray(self.ids)
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"features.ids must be an integer array of feature ids 0..t-1; got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= t):
            bad = np.unique(ids[(ids < 0) | (ids >= t)])[:5].tolist()
            raise ValueError(f"features.ids must lie in 0..{t - 1} (t={t}); found ids {bad}")
        empty = np.flatnonzero(np.bincount(ids.ravel(), minlength=t) == 0)
        if len(empty):
            raise ValueError(
                f"features: every feature 0..{t - 1} must own at least one input element; "
                f"features {empty[:5].tolist()} own none (is t={t} larger than the ids use?)"
            )
        if self.names is not None and len(self.names) != t:
            raise ValueError(f"features.names has {len(self.names)} entries; expected one per feature (t={t})")
        object.__setattr__(self, "ids", ids.astype(np.int64, copy=False))
        object.__setattr__(self, "t", t)

    def counts(self) -> np.ndarray:
        """Number of elements of the feature map that belong to each feature."""
        return np.bincount(self.ids.ravel(), minlength=self.t)

    def check_covers(self, input_shape: tuple[int, ...], name: str = "features") -> None:
        """Raise ValueError unless ``ids`` broadcasts onto ``input_shape``."""
        shape = tuple(input_shape)
        if self.ids.ndim > len(shape) or shape[len(shape) - self.ids.ndim :] != self.ids.shape:
            raise ValueError(
                f"{name} map of shape {self.ids.shape} does not cover the input of shape {shape}; "
                "it must equal the input's trailing dimensions (e.g. H x W for a C x H x W image)"
            )


def _split(n: int, parts: int) -> np.ndarray:
    """Index of the part (0..parts-1) of each of n positions; uneven splits differ by at most one."""
    return (np.arange(n) * parts) // n


def grid_features(shape: Sequence[int], grid: int | np.integer | tuple[int, int]) -> Features:
    """A ``rows x cols`` grid of patches over an ``H x W`` input (uneven splits allowed).

    ``shape`` is ``(H, W)``; ``grid`` is ``(rows, cols)`` or an int for a square grid.
    Feature ids run row-major: patch ``(r, c)`` is feature ``r * cols + c``.
    """
    if len(tuple(shape)) != 2:
        raise ValueError(f"shape must be (H, W); got {shape!r}")
    H, W = (check_positive_int("shape", int(s)) for s in shape)
    if isinstance(grid, (int, np.integer)):
        grid = (int(grid), int(grid))
    if len(tuple(grid)) != 2:
        raise ValueError(f"grid must be an int or (rows, cols); got {grid!r}")
    rows, cols = (check_positive_int("grid", int(g)) for g in grid)
    if rows > H or cols > W:
        hint = (
            "; an input of height 1 looks like a batch of one row (x[None]): give one input without a batch "
            "dimension, and a 1-D row of columns for tabular data"
            if H == 1
            else ""
        )
        raise ValueError(f"grid={grid!r} has more patches than pixels in the input of shape {(H, W)}{hint}")
    ids = _split(H, rows)[:, None] * cols + _split(W, cols)[None, :]
    t = rows * cols
    if t < 2:
        raise ValueError(f"grid={grid!r} gives t={t} features; TRACE needs t >= 2")
    return Features(ids.astype(np.int64), t, kind="grid", grid=(rows, cols))


def segmentation_features(segments: ArrayLike) -> Features:
    """Features from an arbitrary integer segmentation map (superpixels, regions).

    Labels may be any integers; they are relabelled to ``0..t-1`` in increasing label order.
    """
    seg = np.asarray(segments)
    if seg.size == 0 or not np.issubdtype(seg.dtype, np.integer):
        raise ValueError(f"segments must be a non-empty integer array; got dtype {seg.dtype}, shape {seg.shape}")
    labels, ids = np.unique(seg, return_inverse=True)
    t = len(labels)
    if t < 2:
        raise ValueError(f"segments has {t} distinct label(s); TRACE needs t >= 2 features")
    return Features(
        ids.reshape(seg.shape).astype(np.int64), t, kind="segmentation", names=[str(label) for label in labels]
    )


SUPERPIXEL_METHODS = ("slic", "felzenszwalb")
#: how an image is brought to the model input's shape (as ``trace_opt.models.imagenet.RESIZE_MODES``)
RESIZE_MODES = ("stretch", "center_crop")
_SUPERPIXEL_OPTIONS = {
    "slic": ("compactness", "sigma", "max_num_iter", "enforce_connectivity", "min_size_factor", "max_size_factor"),
    "felzenszwalb": ("scale", "sigma", "min_size"),
}


def superpixel_features(
    image: ArrayLike,
    n_segments: int = 49,
    method: str = "slic",
    shape: tuple[int, int] | None = None,
    resize: str = "stretch",
    **options: Any,
) -> Features:
    """Superpixels of an image (scikit-image's segmentation) as features, on the model input's grid.

    ``image``: the displayed photo, ``H x W x 3`` (or ``H x W`` grey), uint8 or floats; the segmentation is
    computed on it at full resolution. ``method``: ``"slic"`` (k-means in colour + position; options
    ``compactness`` (default 10), ``sigma``, ...) or ``"felzenszwalb"`` (graph merging; options ``scale``,
    ``sigma`` (default 0.8), ``min_size`` (default ``H * W / (4 n_segments)``)). ``shape``: the ``(h, w)``
    of the model input (default: the image's own); the map is sampled at the input's pixel centres, by
    ``resize`` as the image was (``stretch``: the whole image scaled to ``h x w``; ``center_crop``: the
    centred square of side ``min(H, W)``).

    ``n_segments`` is the count aimed at: scikit-image gives about, not exactly, what it is asked (SLIC
    merges small disconnected pieces: asked for 9 on ``chelsea`` it returns 3), so the number asked of
    SLIC, or felzenszwalb's ``scale`` (unless given), is bisected (at most 8 segmentations) for the
    sampled count closest to ``n_segments``, the first found on ties. Deterministic (no randomness).

    Returns a ``Features`` over ``h x w`` whose ids are ``0..t-1`` contiguous (relabelled in increasing
    label order; ``names`` keeps scikit-image's labels); ``t`` is the real count.
    """
    img = np.asarray(image)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] != 3) or min(img.shape[:2]) < 2:
        raise ValueError(f"image must be an H x W x 3 (or H x W) image of at least 2 x 2 pixels; got shape {img.shape}")
    if not np.issubdtype(img.dtype, np.number) or not np.isfinite(img).all():
        raise ValueError(f"image must hold finite numbers; got dtype {img.dtype}")
    n_segments = check_positive_int("n_segments", n_segments, minimum=2)
    method = check_choice("method", method, SUPERPIXEL_METHODS)
    resize = check_choice("resize", resize, RESIZE_MODES)
    check_keywords("superpixel_features", options, _SUPERPIXEL_OPTIONS[method])
    H, W = img.shape[:2]
    rows, cols = _pixel_centres(H, W, (H, W) if shape is None else shape, resize)
    channel_axis = -1 if img.ndim == 3 else None

    def sampled(segments) -> np.ndarray:
        return segments[np.ix_(rows, cols)]

    # scikit-image is imported on use: only photo features need it, not the package's import
    if method == "slic":
        from skimage.segmentation import slic

        options.setdefault("compactness", 10.0)
        return _closest_count(
            lambda asked: sampled(
                slic(img, n_segments=int(round(asked)), start_label=0, channel_axis=channel_axis, **options)
            ),
            n_segments,
            first=n_segments,
            lo=2,
            hi=4 * n_segments,
            integer=True,
        )
    from skimage.segmentation import felzenszwalb

    options.setdefault("min_size", max(1, H * W // (4 * n_segments)))
    if "scale" in options:
        return segmentation_features(sampled(felzenszwalb(img, channel_axis=channel_axis, **options)))
    # the count falls as the scale grows: search -log10(scale) over -4..0 (scales 10^4..1)
    return _closest_count(
        lambda neg_log: sampled(felzenszwalb(img, scale=10.0**-neg_log, channel_axis=channel_axis, **options)),
        n_segments,
        first=-2.0,
        lo=-4.0,
        hi=0.0,
        integer=False,
    )


def _pixel_centres(H: int, W: int, shape: Sequence[int], resize: str) -> tuple[np.ndarray, np.ndarray]:
    """The image rows and columns under the pixel centres of a model input of ``shape`` = ``(h, w)``, the image
    (``H x W``) brought to it by ``resize`` (``stretch`` or ``center_crop``)."""
    if len(tuple(shape)) != 2:
        raise ValueError(f"shape must be (h, w) of the model input; got {shape!r}")
    h, w = (check_positive_int("shape", int(v)) for v in shape)
    top, left, side_h, side_w = 0, 0, H, W
    if resize == "center_crop":
        side = min(H, W)
        top, left, side_h, side_w = (H - side) // 2, (W - side) // 2, side, side
    rows = top + ((np.arange(h) + 0.5) * side_h / h).astype(np.int64)
    cols = left + ((np.arange(w) + 0.5) * side_w / w).astype(np.int64)
    return rows, cols


def _closest_count(segment, target: int, first, lo, hi, integer: bool, runs: int = 8) -> Features:
    """Bisect a parameter in ``[lo, hi]`` (starting at ``first``) of ``segment(p)``, a label map whose
    count of distinct labels grows with ``p`` (roughly: it need not be monotone), towards ``target``;
    at most ``runs`` segmentations. Returns the features of the closest count (the first found on ties)."""
    best, p, tried = None, first, set()
    for _ in range(runs):
        if p in tried:
            break
        tried.add(p)
        seg = segment(p)
        count = len(np.unique(seg))
        if best is None or abs(count - target) < best[0]:
            best = (abs(count - target), seg)
        if count == target:
            break
        lo, hi = (p, hi) if count < target else (lo, p)
        p = (lo + hi) // 2 if integer else (lo + hi) / 2
    assert best is not None  # runs >= 1: one segmentation at least
    return segmentation_features(best[1])


def tabular_features(
    n_columns: int, groups: Sequence[Sequence[int]] | None = None, names: Sequence[str] | None = None
) -> Features:
    """Features over tabular columns: one feature per column, or user-given groups.

    ``groups`` is a list of lists of column indices; together they must cover every column exactly
    once. Feature i is ``groups[i]``.
    """
    d = check_positive_int("n_columns", n_columns)
    n_features = d if groups is None else len(groups)
    if names is not None and len(names) != n_features:
        raise ValueError(f"names has {len(names)} entries; expected one per feature ({n_features})")
    names = [str(n) for n in names] if names is not None else None
    if groups is None:
        if d < 2:
            raise ValueError("n_columns must be >= 2 (TRACE needs t >= 2 features)")
        return Features(np.arange(d, dtype=np.int64), d, kind="tabular", names=names)
    ids = np.full(d, -1, dtype=np.int64)
    for g, cols in enumerate(groups):
        if len(cols) == 0:
            raise ValueError(f"groups: group {g} is empty; every feature needs at least one column")
        for c in cols:
            if not 0 <= int(c) < d:
                raise ValueError(f"groups: column {c} is outside 0..{d - 1}")
            if ids[c] != -1:
                raise ValueError(f"groups: column {c} appears in more than one group")
            ids[c] = g
    if (ids < 0).any():
        missing = np.flatnonzero(ids < 0).tolist()
        raise ValueError(f"groups must cover every column; columns {missing} are in no group")
    if len(groups) < 2:
        raise ValueError("groups must define at least 2 features")
    return Features(ids, len(groups), kind="tabular", names=names)


def as_features(features: Any, input_shape: tuple[int, ...]) -> Features:
    """Accept a Features object, an integer feature map (array or tensor), an int (square grid over the last 2
    dims) or a (rows, cols) grid."""
    if isinstance(features, Features):
        feats = features
        feats.check()  # again: the ids array may have been edited in place since construction
    elif isinstance(features, (int, np.integer)) or (
        isinstance(features, tuple) and len(features) == 2 and all(isinstance(v, (int, np.integer)) for v in features)
    ):
        if len(input_shape) < 2:
            raise ValueError("features given as a grid need an input with at least 2 dimensions (H, W)")
        feats = grid_features(input_shape[-2:], features)
    else:
        if (
            isinstance(features, list)
            and len(features) == 2
            and len(input_shape) >= 2
            and all(isinstance(v, (int, np.integer)) for v in features)
        ):
            raise ValueError(
                f"features={features!r} is a list, read as a feature map (one id per element); a "
                f"grid is an int or a tuple: features={tuple(features)!r}"
            )
        arr = np.asarray(features)
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(
                "features must be a Features object, a grid size (int or (rows, cols)), "
                f"or an integer feature map; got {type(features).__name__}"
            )
        feats = segmentation_features(arr)
    feats.check_covers(input_shape)
    return feats
