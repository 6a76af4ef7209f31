"""Explanation.to_frame() and the notebook display, on models whose marginal drops are known."""

import numpy as np
import pytest
import torch

import trace_opt

pd = pytest.importorskip("pandas")

W = np.array([0.5, -1.0, 2.0, 0.25, 1.5])
X = np.array([1.0, 2.0, -0.5, 4.0, 1.0])


def linear(batch):
    """A float64 additive black box over 5 columns: D(S) = sum of the kept columns' w_i x_i."""
    return np.asarray(batch, dtype=np.float64) @ W


def test_frame_rows_are_the_features_with_their_exact_marginal_drops():
    ex = trace_opt.explain(linear, X, solver="exact", progress=False)
    frame = ex.to_frame()
    assert list(frame["importance"]) == [1, 2, 3, 4, 5] and sorted(frame["feature"]) == list(range(5))
    by_feature = frame.set_index("feature")
    np.testing.assert_allclose(by_feature.loc[range(5), "marginal_drop"], W * X, rtol=1e-12)
    # the most important feature is deleted last by LeRF; heat is ((position + 1) / t)
    top = frame.iloc[0]
    assert top["lerf_position"] == 4 and top["heat"] == 1.0 and top["feature"] == ex.trajectory[-1]
    assert list(by_feature["elements"]) == [1] * 5 and by_feature.loc[2, "region"] == "column 2"


def test_grid_regions_and_text_names():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    ex = trace_opt.explain(net, torch.rand(1, 4, 4), 0, features=2, solver="greedy", progress=False)
    frame = ex.to_frame()
    assert set(frame["region"]) == {f"patch row {r}, col {c}" for r in (0, 1) for c in (0, 1)}
    assert list(frame["elements"]) == [4] * 4
    words = {"good": 2.0, "bad": -2.0}
    text = trace_opt.explain_text(
        lambda texts: np.array([sum(words.get(w, 0.0) for w in s.split()) for s in texts]),
        "good food bad service",
        solver="exact",
        progress=False,
    )
    tframe = text.to_frame()
    assert tframe.iloc[0]["name"] == "good" and tframe.iloc[-1]["name"] == "bad"


def test_notebook_display_has_the_pictures():
    ex = trace_opt.explain(linear, X, solver="greedy", progress=False)
    page = ex._repr_html_()
    assert page.count("<img") == 1 and "forward passes" in page  # a tabular row: curves only
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    photo = trace_opt.explain(net, torch.rand(1, 4, 4), 0, features=2, solver="greedy", progress=False)
    assert photo._repr_html_().count("<img") == 2  # the ranked input and the curves
