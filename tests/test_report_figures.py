"""Report figures: baseline colours never collide with TRACE's, Exact-y/-p differ, Fig. 3 scales, the new
figures (Fig. 1a, Appendix B, Appendix I) are drawn, and the degradation curves are normalised as Schulz et al."""

import itertools

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from trace_opt import grid_features
from trace_opt.baselines import available_baselines
from trace_opt.comparison import report_plots as rp
from trace_opt.explanation.rankings import trajectory_to_heatmap


def _dist(a, b):
    return float(np.linalg.norm(np.subtract(to_rgb(a), to_rgb(b))))


def test_baseline_colours_never_collide_with_trace_exact_or_random():
    reserved = [
        rp._style("trace-y-le-mo")["color"],
        rp._style("trace-p-le-mo")["color"],
        "grey",
        "black",
        "#6b6b6b",
        "magenta",
        "tab:pink",
    ]
    styles = {m: rp._style(m) for m in available_baselines() if m != "random"}
    for m, st in styles.items():
        for c in reserved:
            assert _dist(st["color"], c) > 0.25, (m, st["color"], c)
    # every baseline tells apart from every other by colour or dash pattern
    for (a, sa), (b, sb) in itertools.combinations(styles.items(), 2):
        assert (sa["color"], str(sa["ls"])) != (sb["color"], str(sb["ls"])), (a, b)
    # the named collisions of issue 14 are gone
    for m in ("integrated-gradients", "grad-cam", "deeplift"):
        assert rp._style(m)["color"] not in ("tab:red", "tab:purple")


def test_exact_y_and_exact_p_are_distinguishable():
    y, p = rp._style("exact-y-le-mo"), rp._style("exact-p-le-mo")
    assert (y["color"], str(y["ls"])) != (p["color"], str(p["ls"]))
    assert y["ls"] != p["ls"] and y["color"] != p["color"]


def test_fig3_normalises_each_baseline_map_to_a_shared_signed_scale(tmp_path):
    norm, scale, offset = rp._normalised_map(np.array([[-2.0, 1.0], [0.0, 0.5]]))
    assert scale == 2.0 and offset == 0 and norm.min() == -1.0 and norm.max() == 0.5
    z, s0, _ = rp._normalised_map(np.zeros((2, 2)))
    assert s0 == 0.0 and not np.any(z)
    # issue 32: a map of one sign and a narrow range (RISE's) is shown by its range, not as one flat colour
    rise = np.array([[0.50, 0.52], [0.51, 0.56]])
    norm, scale, offset = rp._normalised_map(rise)
    assert offset == 0.50 and scale == pytest.approx(0.06) and norm.min() == 0 and norm.max() == pytest.approx(1)
    wide = np.array([[0.0, 0.2], [0.5, 1.0]])  # a wide positive range keeps the shared scale
    assert rp._normalised_map(wide)[2] == 0.0
    feats = grid_features((4, 4), 2)
    rec = {
        "index": 0,
        "target": 1,
        "input": np.eye(4).tolist(),
        "maps": {
            "trace-y-le-mo": trajectory_to_heatmap(np.arange(4), feats).tolist(),
            "saliency": np.linspace(-1, 3, 16).reshape(4, 4).tolist(),
            "occlusion": np.ones((4, 4)).tolist(),
        },
    }
    path = rp.plot_heatmaps([rec], tmp_path / "fig3.png")
    assert path.stat().st_size > 1000


def test_fig3_keeps_image_pixels_square_and_stretches_tabular_strips(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    feats = grid_features((4, 4), 2)
    rec = {
        "index": 0,
        "target": 1,
        "input": np.eye(4).tolist(),
        "maps": {
            "trace-y-le-mo": trajectory_to_heatmap(np.arange(4), feats).tolist(),
            "saliency": np.linspace(-1, 3, 16).reshape(4, 4).tolist(),
        },
    }
    strip = {
        "index": 0,
        "target": 1,
        "input": list(range(6)),
        "maps": {"trace-y-le-mo": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "saliency": [1.0, -1, 0, 2, 3, 1]},
    }
    aspects = []
    monkeypatch.setattr(
        rp,
        "_save",
        lambda fig, path: aspects.append([ax.get_aspect() for ax in fig.axes if ax.images]) or plt.close(fig),
    )
    rp.plot_heatmaps([rec], tmp_path / "a.png")
    rp.plot_heatmaps([strip], tmp_path / "b.png")
    assert aspects[0] == [1.0, 1.0, 1.0] and aspects[1] == ["auto"] * 3


def _records(t=4, n=3, seed=0):
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(n):
        top, bottom = 5.0 + i, -1.0
        le = np.concatenate([[top], rng.uniform(bottom, top, t - 1), [bottom]])
        mo = np.concatenate([[top], rng.uniform(bottom, top, t - 1), [bottom]])
        recs.append(
            {
                "index": i,
                "target": 0,
                "methods": {
                    "trace-y-le-mo": {"kind": "trace", "curves": {"logit": {"le": le.tolist(), "mo": mo.tolist()}}},
                    "saliency": {"kind": "baseline", "curves": {"logit": {"le": mo.tolist(), "mo": le.tolist()}}},
                },
            }
        )
    return recs


def test_degradation_curves_are_normalised_per_input_then_averaged(tmp_path):
    recs = _records()
    le, mo = rp.degradation_curves(recs, "trace-y-le-mo", "logit")
    assert le[0] == pytest.approx(1) and le[-1] == pytest.approx(0) and mo[0] == pytest.approx(1)
    by_hand = np.mean(
        [
            (np.array(r["methods"]["trace-y-le-mo"]["curves"]["logit"]["le"]) + 1)
            / (r["methods"]["trace-y-le-mo"]["curves"]["logit"]["le"][0] + 1)
            for r in recs
        ],
        axis=0,
    )
    np.testing.assert_allclose(le, by_hand)
    assert rp.plot_degradation(recs, tmp_path / "appI.png", "logit").stat().st_size > 1000


def test_fig1a_and_appendix_b_figures_are_drawn(tmp_path):
    feats = grid_features((8, 8), 4)
    sigma = np.random.default_rng(0).permutation(16)
    heat = {a: trajectory_to_heatmap(sigma, feats, alpha=a) for a in (1, 2, 5)}
    assert heat[5].max() == pytest.approx(1) and heat[5].mean() < heat[1].mean()  # larger alpha: darker
    assert rp.plot_alpha_heatmaps([np.eye(8)], [heat], tmp_path / "fig1a.png").stat().st_size > 1000
    entries = [
        {
            "label": f"{g} x {g}",
            "heatmap": trajectory_to_heatmap(np.arange(g * g), grid_features((8, 8), g)),
            "le_mo": 1.0,
            "ranks": np.arange(g * g),
            "grid": (g, g),
        }
        for g in (2, 4, 7)
    ]
    assert rp.plot_several_t(np.eye(8), entries, tmp_path / "appB.png").stat().st_size > 1000


def test_fig3_wraps_many_methods_into_a_grid_of_lines(tmp_path, monkeypatch):
    """23 panels per input are drawn as lines of ncols panels (a readable grid), every panel in its own place."""
    import matplotlib.pyplot as plt

    feats = grid_features((4, 4), 2)
    maps = {"trace-y-le-mo": trajectory_to_heatmap(np.arange(4), feats).tolist()}
    maps.update({f"m{i}": np.linspace(-1, i, 16).reshape(4, 4).tolist() for i in range(21)})
    recs = [{"index": k, "target": 1, "input": np.eye(4).tolist(), "maps": maps} for k in range(2)]
    shapes = []

    def grab(fig, path):
        shapes.append((fig.axes[0].get_gridspec().get_geometry(), sum(bool(ax.images) for ax in fig.axes)))
        plt.close(fig)

    monkeypatch.setattr(rp, "_save", grab)
    rp.plot_heatmaps(recs, tmp_path / "c.png", ncols=8)
    (rows, cols), drawn = shapes[0]
    assert (rows, cols) == (2 * 3, 8 + 2) and drawn == 2 * 23  # 23 panels in 3 lines of 8, two colour bars
