"""Features: grids with uneven splits, segmentation relabelling, tabular groups, broadcasting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trace_opt import ModelOracle, grid_features, segmentation_features, tabular_features
from trace_opt.core.features import Features, as_features

torch.set_num_threads(1)


@given(H=st.integers(1, 40), W=st.integers(1, 40), data=st.data())
@settings(max_examples=80, deadline=None)
def test_grid_uneven_splits(H, W, data):
    rows = data.draw(st.integers(1, H))
    cols = data.draw(st.integers(1, W))
    if rows * cols < 2:
        with pytest.raises(ValueError, match="t >= 2"):
            grid_features((H, W), (rows, cols))
        return
    f = grid_features((H, W), (rows, cols))
    assert f.t == rows * cols and f.grid == (rows, cols) and f.kind == "grid"
    assert f.ids.shape == (H, W) and f.ids.dtype == np.int64
    counts = f.counts()
    assert counts.min() >= 1 and counts.sum() == H * W  # every feature non-empty, every pixel in one
    # patch (r, c) is feature r * cols + c and is a rectangle of whole rows and columns
    row_of = f.ids // cols
    col_of = f.ids % cols
    assert (row_of == row_of[:, :1]).all() and (col_of == col_of[:1, :]).all()
    heights = np.bincount(row_of[:, 0], minlength=rows)
    widths = np.bincount(col_of[0, :], minlength=cols)
    assert heights.max() - heights.min() <= 1 and widths.max() - widths.min() <= 1
    assert np.all(np.diff(row_of[:, 0]) >= 0) and np.all(np.diff(col_of[0]) >= 0)  # row-major, contiguous


def test_grid_square_int_and_even_split():
    f = grid_features((8, 8), 4)
    assert f.t == 16
    expected = np.repeat(np.repeat(np.arange(16).reshape(4, 4), 2, axis=0), 2, axis=1)
    np.testing.assert_array_equal(f.ids, expected)


def test_grid_refusals():
    with pytest.raises(ValueError, match="grid"):
        grid_features((4, 4), (5, 1))
    with pytest.raises(ValueError, match="grid"):
        grid_features((4, 4), (1, 2, 3))
    with pytest.raises(ValueError, match="shape"):
        grid_features((4,), 2)
    with pytest.raises(ValueError, match="t >= 2"):
        grid_features((4, 4), 1)
    with pytest.raises(ValueError, match="grid"):
        grid_features((4, 4), 0)


def test_segmentation_relabelling():
    seg = np.array([[7, 7, -3], [100, -3, 7]])
    f = segmentation_features(seg)
    assert f.t == 3 and f.kind == "segmentation"
    np.testing.assert_array_equal(f.ids, [[1, 1, 0], [2, 0, 1]])  # labels -3, 7, 100 in increasing order
    assert f.names == ["-3", "7", "100"]
    assert f.counts().tolist() == [2, 3, 1]


@given(st.lists(st.integers(-5, 50), min_size=2, max_size=60))
@settings(max_examples=50, deadline=None)
def test_segmentation_relabelling_property(labels):
    seg = np.array(labels)
    if len(set(labels)) < 2:
        with pytest.raises(ValueError, match="t >= 2"):
            segmentation_features(seg)
        return
    f = segmentation_features(seg)
    uniq = sorted(set(labels))
    assert f.t == len(uniq)
    np.testing.assert_array_equal(np.array(uniq)[f.ids], seg)  # same partition, order-preserving ids
    assert f.counts().min() >= 1


def test_segmentation_refusals():
    with pytest.raises(ValueError, match="segments"):
        segmentation_features(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="segments"):
        segmentation_features(np.array([], dtype=int))
    with pytest.raises(ValueError, match="t >= 2"):
        segmentation_features(np.zeros((3, 3), dtype=int))


def test_tabular_default_and_groups():
    f = tabular_features(5, names=list("abcde"))
    np.testing.assert_array_equal(f.ids, np.arange(5))
    assert f.t == 5 and f.names == list("abcde")
    g = tabular_features(6, groups=[[4, 0], [1], [2, 3, 5]])
    np.testing.assert_array_equal(g.ids, [0, 1, 2, 2, 0, 2])
    assert g.t == 3 and g.counts().tolist() == [2, 1, 3]


@given(d=st.integers(2, 20), data=st.data())
@settings(max_examples=50, deadline=None)
def test_tabular_groups_cover_each_column_exactly_once(d, data):
    n_groups = data.draw(st.integers(2, d))
    assign = np.array(
        data.draw(
            st.permutations(
                list(range(n_groups))
                + data.draw(st.lists(st.integers(0, n_groups - 1), min_size=d - n_groups, max_size=d - n_groups))
            )
        )
    )
    groups = [np.flatnonzero(assign == g).tolist() for g in range(n_groups)]
    f = tabular_features(d, groups=groups)
    np.testing.assert_array_equal(f.ids, assign)
    assert f.counts().sum() == d and f.counts().min() >= 1


def test_tabular_refusals():
    with pytest.raises(ValueError, match="more than one group"):
        tabular_features(4, groups=[[0, 1], [1, 2, 3]])
    with pytest.raises(ValueError, match="cover every column"):
        tabular_features(4, groups=[[0, 1], [2]])
    with pytest.raises(ValueError, match="outside"):
        tabular_features(4, groups=[[0, 1], [2, 3, 4]])
    with pytest.raises(ValueError, match="at least 2"):
        tabular_features(3, groups=[[0, 1, 2]])
    with pytest.raises(ValueError, match="empty"):
        tabular_features(3, groups=[[0, 1, 2], []])  # a feature with no column cannot be deleted
    with pytest.raises(ValueError, match="n_columns"):
        tabular_features(1)
    with pytest.raises(ValueError, match="n_columns"):
        tabular_features(0)


def test_tabular_groups_keep_names():
    f = tabular_features(4, groups=[[0, 1], [2, 3]], names=["size", "texture"])
    assert f.names == ["size", "texture"]
    with pytest.raises(ValueError, match="names"):
        tabular_features(4, groups=[[0, 1], [2, 3]], names=["one"])


def test_feature_map_broadcasts_over_channels():
    f = grid_features((4, 6), (2, 3))
    f.check_covers((3, 4, 6))
    f.check_covers((4, 6))
    for bad in ((3, 6, 4), (4, 5), (6,)):
        with pytest.raises(ValueError, match="does not cover"):
            f.check_covers(bad)
    # the oracle deletes a feature in every channel
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(72, 2)).eval()
    x = torch.rand(3, 4, 6) + 1.0
    oracle = ModelOracle(model, x, 0, features=f, reference="zeros")
    m = np.zeros(f.t, bool)
    m[4] = True
    xm = oracle.masked_inputs(m[None])[0]
    sel = torch.as_tensor(f.ids == 4)
    assert (xm[:, sel] == 0).all() and torch.equal(xm[:, ~sel], x[:, ~sel])


def test_as_features_forms():
    shape = (3, 8, 8)
    assert as_features(4, shape).t == 16
    assert as_features((2, 4), shape).grid == (2, 4)
    seg = np.zeros((8, 8), dtype=int)
    seg[:, 4:] = 5
    assert as_features(seg, shape).t == 2
    f = grid_features((8, 8), 2)
    assert as_features(f, shape) is f
    with pytest.raises(ValueError, match="features"):
        as_features(np.zeros((8, 8)), shape)  # float map
    with pytest.raises(ValueError, match="does not cover"):
        as_features(np.zeros((7, 8), dtype=int) + np.arange(8), shape)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        as_features(2, (30,))


def test_features_dataclass_counts():
    f = Features(np.array([[0, 1], [1, 2]]), 3)
    assert f.counts().tolist() == [1, 2, 1]


@pytest.mark.parametrize(
    "ids,t,match",
    [
        ([[0, 0, 1, 1], [2, 2, -1, -1]], 4, r"features.ids must lie in 0..3 \(t=4\); found ids \[-1\]"),  # used to wrap
        ([[0, 1], [2, 5]], 4, r"features.ids must lie in 0..3 \(t=4\); found ids \[5\]"),  # used to be an IndexError
        ([[0, 1], [0, 1]], 4, r"features: every feature 0..3 must own .* features \[2, 3\] own none"),
        (np.array([[0.0, 1.0], [0.0, 1.0]]), 2, "features.ids must be an integer array"),
        (np.array([[True, False], [True, False]]), 2, "features.ids must be an integer array"),
        ([[0, 1], [0, 1]], 0, "features.t=0"),
        ([[0, 1], [0, 1]], 2.0, "features.t=2.0"),
    ],
)
def test_features_objects_are_validated(ids, t, match):
    with pytest.raises(ValueError, match=match):
        Features(np.asarray(ids), t)


def test_features_names_and_as_features_recheck():
    with pytest.raises(ValueError, match="features.names has 1 entries"):
        Features(np.array([0, 1]), 2, names=["a"])
    f = Features([[0, 1], [1, 0]], 2)  # a nested list is accepted and stored as int64
    assert f.ids.dtype == np.int64 and f.counts().tolist() == [2, 2]
    f.ids[0, 0] = -1  # edited in place after construction: as_features checks again
    with pytest.raises(ValueError, match="features.ids must lie in 0..1"):
        as_features(f, (1, 2, 2))


def test_bad_features_are_refused_before_the_model_runs():
    """Deleting feature 3 used to zero the pixels of feature -1 as well (negative ids wrapped around)."""
    calls = []

    def model(b):
        calls.append(len(b))
        return b.flatten(1)[:, :3]

    f = Features(np.array([[0, 0, 1, 1], [2, 2, 3, 3]]), 4)
    f.ids[1, 2:] = -1
    with pytest.raises(ValueError, match="features.ids"):
        ModelOracle(model, torch.rand(1, 2, 4), 0, features=f)
    assert calls == []
