"""The report's statistics: Student-t intervals, float32-sized ties, forward passes per method, and the
sanity measure that leaves blank (reference-equal) patches out."""

import numpy as np
import pytest
import torch

from trace_opt.baselines import attribute, make_input
from trace_opt.comparison.evaluation import (
    _counted_input,
    ci_half_width,
    count_forward_rows,
    float32_tolerance,
    reference_equal_features,
    spearman_of_trajectories,
)
from trace_opt.core.features import grid_features, tabular_features


def test_ci_half_width_is_students_t():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for n in (8, 50):
        v = rng.normal(size=n)
        want = scipy_stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / np.sqrt(n)
        assert ci_half_width(v) == pytest.approx(want, rel=2e-3)
    assert np.isnan(ci_half_width([1.0]))


def test_float32_tolerance_covers_float32_rounding_not_more():
    rng = np.random.default_rng(1)
    t = 16
    vals = rng.uniform(0, 1, size=(2, t + 1))
    exact = vals.sum(axis=1)
    f32 = vals.astype(np.float32).astype(np.float64).sum(axis=1)
    tol = float32_tolerance(t, 1.0)
    assert np.all(np.abs(exact - f32) <= tol)  # the same curve in float32 is a tie
    assert tol < 1e-5  # a real difference of one patch (>= 1e-4 on a probability) is not


def test_forward_rows_are_counted_per_method():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()
    x = torch.ones(4)
    feats = tabular_features(4)
    inp = make_input(model, x, 1, feats, "zeros")
    with count_forward_rows(model) as rows:
        attribute("integrated-gradients", model, x, 1, feats, inp=inp, n_steps=20)
    assert rows.count == 20  # one row per IG step (the probe in make_input came before)
    with count_forward_rows(model) as rows:
        attribute("saliency", model, x, 1, feats, inp=inp)
    assert rows.count == 1
    with count_forward_rows(model) as rows:
        attribute("occlusion", model, x, 1, feats, inp=inp)
    assert rows.count == 5  # the input and one occluded copy per feature
    model(x[None])  # the hook is gone after the block
    assert rows.count == 5
    # a black box: its numpy callable's rows
    bb = lambda a: np.asarray(a) @ np.ones((4, 2))  # noqa: E731
    binp = make_input(bb, x.numpy(), 1, feats, "zeros")
    with count_forward_rows(bb) as rows:
        attribute("feature-ablation", bb, x, 1, feats, inp=_counted_input(binp, rows))
    assert rows.count >= 5


def test_blank_patches_and_the_nonblank_spearman():
    x = torch.zeros(1, 4, 4)
    x[0, :2, :2] = 1.0  # only the top-left 2 x 2 patch differs from the zero reference
    x[0, 3, 3] = 0.5
    feats = grid_features((4, 4), 2)
    blank = reference_equal_features(x, "zeros", feats)
    assert blank.tolist() == [False, True, True, False]
    # two orders that agree on the non-blank features (0 before 3) but shuffle the blank ones
    a, b = [1, 2, 0, 3], [0, 2, 1, 3]
    assert spearman_of_trajectories(a, b, ~blank) == pytest.approx(1.0)
    assert spearman_of_trajectories(a, b) < 1.0
    # reversed on the non-blank features: -1 there, while blank agreement would lift the plain measure
    c = [3, 1, 2, 0]
    assert spearman_of_trajectories([1, 2, 0, 3], c, ~blank) == pytest.approx(-1.0)
    assert np.isnan(spearman_of_trajectories(a, b, np.array([True, False, False, False])))
    with pytest.raises(ValueError, match="keep"):
        spearman_of_trajectories(a, b, [True, False])
