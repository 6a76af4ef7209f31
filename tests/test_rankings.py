"""Rankings: attribution -> trajectory, trajectory -> heatmap, Kendall tau distance."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trace_opt import (
    attribution_to_trajectory,
    feature_scores,
    grid_features,
    kendall_tau_distance,
    scores_to_trajectory,
    segmentation_features,
    tabular_features,
    trajectory_to_heatmap,
)


# --------------------------------------------------------------------------- attribution -> trajectory
def loop_scores(attr, ids, t, aggregate, absolute):
    a = np.abs(attr) if absolute else attr
    full_ids = np.broadcast_to(ids, a.shape)
    out = []
    for i in range(t):
        vals = a[full_ids == i]
        out.append(vals.sum() if aggregate == "sum" else vals.mean())
    return np.array(out)


@given(
    seed=st.integers(0, 10_000), aggregate=st.sampled_from(["sum", "mean"]), absolute=st.booleans(), ties=st.booleans()
)
@settings(max_examples=40, deadline=None)
def test_attribution_to_trajectory(seed, aggregate, absolute, ties):
    rng = np.random.default_rng(seed)
    f = grid_features((7, 9), (3, 4))  # uneven patches: sum and mean order differently
    attr = rng.normal(size=(2, 7, 9))
    if ties:
        attr = np.round(attr)  # integer values: many tied feature scores
    scores = loop_scores(attr, f.ids, f.t, aggregate, absolute)
    np.testing.assert_allclose(feature_scores(attr, f, aggregate, absolute), scores, atol=1e-12)
    sigma = attribution_to_trajectory(torch.as_tensor(attr), f, aggregate, absolute)
    # ascending by score; among equal scores, ascending feature index
    expected = sorted(range(f.t), key=lambda i: (round(scores[i], 9), i))
    assert sigma.tolist() == expected


def test_signed_versus_absolute_and_sum_versus_mean():
    f = tabular_features(6, groups=[[0, 1], [2], [3, 4, 5]])
    attr = np.array([1.0, -1.0, 0.5, 0.3, 0.3, 0.3])
    # signed sums 0, 0.5, 0.9; absolute sums 2, 0.5, 0.9; means 0, 0.5, 0.3 / abs means 1, 0.5, 0.3
    assert attribution_to_trajectory(attr, f).tolist() == [0, 1, 2]
    assert attribution_to_trajectory(attr, f, absolute=True).tolist() == [1, 2, 0]
    assert attribution_to_trajectory(attr, f, aggregate="mean").tolist() == [0, 2, 1]
    assert attribution_to_trajectory(attr, f, aggregate="mean", absolute=True).tolist() == [2, 1, 0]
    assert attribution_to_trajectory(np.zeros(6), f).tolist() == [0, 1, 2]  # all tied: by index
    with pytest.raises(ValueError, match="aggregate"):
        attribution_to_trajectory(attr, f, aggregate="max")
    with pytest.raises(ValueError, match="does not cover"):
        attribution_to_trajectory(np.zeros(5), f)


def test_non_finite_attributions_are_refused():
    f = tabular_features(3)
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="attribution"):
            attribution_to_trajectory(np.array([0.1, bad, 0.2]), f)
        with pytest.raises(ValueError, match="scores"):
            scores_to_trajectory([0.1, bad, 0.2])


def test_scores_to_trajectory_ties_by_index():
    assert scores_to_trajectory([0.3, -1.0, 0.3, 2.0, -1.0]).tolist() == [1, 4, 0, 2, 3]


# --------------------------------------------------------------------------- heatmaps
def numpy_bilinear(values, H, W):
    """Bilinear upsampling with half-pixel centres and edge clamping (align_corners=False)."""
    rows, cols = values.shape

    def axis(n_out, n_in):
        src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    y0, y1, wy = axis(H, rows)
    x0, x1, wx = axis(W, cols)
    out = np.empty((H, W))
    for i in range(H):
        for j in range(W):
            top = values[y0[i], x0[j]] * (1 - wx[j]) + values[y0[i], x1[j]] * wx[j]
            bot = values[y1[i], x0[j]] * (1 - wx[j]) + values[y1[i], x1[j]] * wx[j]
            out[i, j] = top * (1 - wy[i]) + bot * wy[i]
    return out


@pytest.mark.parametrize("alpha", [1.0, 2.0, 5.0])
def test_heatmap_exact_values(alpha):
    f = grid_features((6, 10), (2, 5))
    sigma = np.random.default_rng(0).permutation(f.t)
    rank = {int(feat): pos for pos, feat in enumerate(sigma)}
    hm = trajectory_to_heatmap(sigma, f, alpha=alpha, smooth=False)
    assert hm.shape == (6, 10)
    for (r, c), i in np.ndenumerate(f.ids):
        assert hm[r, c] == pytest.approx(((rank[i] + 1) / f.t) ** alpha, rel=1e-12)
    assert hm.max() == pytest.approx(1.0) and hm.min() == pytest.approx((1 / f.t) ** alpha)


def test_heatmap_segmentation_is_painted_even_when_smooth():
    seg = np.array([[5, 5, 1], [1, 9, 9]])
    f = segmentation_features(seg)  # labels 1, 5, 9 -> features 0, 1, 2
    hm = trajectory_to_heatmap([2, 0, 1], f, alpha=2.0)  # ranks: f2 -> 0, f0 -> 1, f1 -> 2
    expected = np.array([[1.0, 1.0, (2 / 3) ** 2], [(2 / 3) ** 2, (1 / 3) ** 2, (1 / 3) ** 2]])
    np.testing.assert_allclose(hm, expected, rtol=1e-12)


@pytest.mark.parametrize("shape,grid", [((8, 8), (4, 4)), ((28, 28), (7, 7)), ((9, 12), (3, 4)), ((4, 4), (4, 4))])
def test_heatmap_bilinear_on_grids(shape, grid):  # even splits (uneven ones: the patch-centre test below)
    f = grid_features(shape, grid)
    sigma = np.random.default_rng(1).permutation(f.t)
    for alpha in (1.0, 2.0):
        values = trajectory_to_heatmap(sigma, f, alpha=alpha, smooth=False)
        patch_values = np.empty(f.t)
        patch_values[f.ids.ravel()] = values.ravel()
        expected = numpy_bilinear(patch_values.reshape(grid), *shape)
        hm = trajectory_to_heatmap(sigma, f, alpha=alpha, smooth=True)
        assert hm.shape == shape
        np.testing.assert_allclose(hm, expected, rtol=1e-12, atol=1e-14)
    if shape == grid:  # one pixel per patch: smoothing changes nothing
        np.testing.assert_allclose(trajectory_to_heatmap(sigma, f), trajectory_to_heatmap(sigma, f, smooth=False))


def test_heatmap_refusals():
    f = grid_features((4, 4), 2)
    with pytest.raises(ValueError, match="alpha"):
        trajectory_to_heatmap([0, 1, 2, 3], f, alpha=0)
    with pytest.raises(ValueError, match="trajectory"):
        trajectory_to_heatmap([0, 1, 2, 2], f)
    with pytest.raises(ValueError, match="trajectory"):
        trajectory_to_heatmap([0, 1, 2], f)


# --------------------------------------------------------------------------- Kendall tau
def brute_kendall(a, b):
    pos_a = {v: i for i, v in enumerate(a)}
    pos_b = {v: i for i, v in enumerate(b)}
    return sum(
        1 for u, v in itertools.combinations(range(len(a)), 2) if (pos_a[u] - pos_a[v]) * (pos_b[u] - pos_b[v]) < 0
    )


@given(st.integers(2, 40).flatmap(lambda t: st.tuples(st.permutations(range(t)), st.permutations(range(t)))))
@settings(max_examples=100, deadline=None)
def test_kendall_equals_brute_force(pair):
    a, b = pair
    t = len(a)
    d = kendall_tau_distance(a, b)
    assert d == brute_kendall(a, b)
    assert d == kendall_tau_distance(b, a)
    assert kendall_tau_distance(a, b, normalised=True) == pytest.approx(d / (t * (t - 1) / 2))
    assert kendall_tau_distance(a, a) == 0
    assert kendall_tau_distance(a, a[::-1]) == t * (t - 1) / 2
    assert kendall_tau_distance(a, a[::-1], normalised=True) == 1.0


def test_kendall_all_pairs_t4():
    perms = list(itertools.permutations(range(4)))
    for a in perms:
        for b in perms:
            assert kendall_tau_distance(a, b) == brute_kendall(a, b)
    # the distance is the number of adjacent swaps (bubble sort) needed: max t(t-1)/2 = 6
    assert max(kendall_tau_distance(perms[0], b) for b in perms) == math.comb(4, 2)


def test_kendall_refusals():
    with pytest.raises(ValueError, match="sigma_b"):
        kendall_tau_distance([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="sigma_a"):
        kendall_tau_distance([0, 0, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="sigma_a"):
        kendall_tau_distance(3, [0, 1, 2])
    with pytest.raises(ValueError, match="sigma_a"):
        kendall_tau_distance([0], [0])
    with pytest.raises(ValueError, match="sigma_a"):
        kendall_tau_distance([0.0, 1.5, 2.0], [0, 1, 2])  # not integers (was silently truncated)


def test_kendall_large_t_and_input_forms_match_a_vectorised_count():
    """The public function wraps the numba kernel: any integer-valued sequence, large t, exact counts."""
    rng = np.random.default_rng(7)
    t = 600
    a, b = rng.permutation(t), rng.permutation(t)
    pa, pb = np.argsort(a), np.argsort(b)
    expected = int(np.triu((pa[:, None] < pa[None, :]) != (pb[:, None] < pb[None, :]), 1).sum())
    assert kendall_tau_distance(a, b) == expected
    assert kendall_tau_distance(a.astype(np.int32), b.tolist()) == expected
    assert kendall_tau_distance(a.astype(float), torch.as_tensor(b)) == expected
    assert isinstance(kendall_tau_distance(a, b), float)


def test_smooth_heatmap_is_torch_bilinear_for_even_grids_and_puts_values_at_patch_centres():
    import torch

    rng = np.random.default_rng(3)
    for H, W, r, c in [(8, 8, 4, 4), (28, 28, 7, 7), (6, 10, 2, 5)]:
        feats = grid_features((H, W), (r, c))
        sigma = rng.permutation(r * c)
        values = ((np.argsort(sigma) + 1) / (r * c)).reshape(r, c)
        ref = torch.nn.functional.interpolate(
            torch.as_tensor(values)[None, None], size=(H, W), mode="bilinear", align_corners=False
        )[0, 0].numpy()
        np.testing.assert_allclose(trajectory_to_heatmap(sigma, feats), ref, atol=1e-12)
    # uneven split: rows (3, 2), columns (3, 2, 2); patch 0's centre is pixel (1, 1), patch 5's is (3.5, 5.5)
    feats = grid_features((5, 7), (2, 3))
    sigma = np.array([4, 1, 0, 2, 5, 3])
    hm = trajectory_to_heatmap(sigma, feats)
    value = (np.argsort(sigma) + 1) / 6
    assert hm[1, 1] == pytest.approx(value[0])
    assert hm[4, 1] == pytest.approx(value[3])  # row 4 lies past the last row centre (3.5): held constant
    # column 3 lies between the centres of patches 0 (column 1) and 1 (column 3.5): 0.2 and 0.8 of the way
    assert hm[1, 3] == pytest.approx(0.2 * value[0] + 0.8 * value[1])
    assert hm.min() >= value.min() - 1e-12 and hm.max() <= value.max() + 1e-12
