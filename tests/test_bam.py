"""BAM's building blocks (seed 004) on analytic cases: the saliency map and region attribution, the IDR / IIR
indicators, the data construction, the functionally null delta, TRACE's scores on an additive model and the
MCS / IDR / IIR summaries on attributions whose answers are known."""

import numpy as np
import pytest
import torch

from trace_opt.core.features import grid_features
from trace_opt.faithfulness.bam import (
    GRAY,
    SCENES,
    build_bam,
    idr_indicator,
    iir_indicator,
    make_delta,
    method_scores,
    object_region,
    region_attribution,
    saliency_map,
    scene_bank,
    summarise_bam,
)


def test_saliency_map_and_region_attribution():
    s = np.array([2.0, -1.0, 1.0, 0.0])
    assert np.array_equal(saliency_map(s), [1.0, 0.0, 0.5, 0.0])
    assert region_attribution(s, [0, 2]) == pytest.approx(0.75)
    assert region_attribution(s, [1, 3]) == 0.0
    assert np.array_equal(saliency_map(-np.ones(3)), np.zeros(3))  # nothing positive: all zero
    assert region_attribution(3 * s, [0, 2]) == region_attribution(s, [0, 2])  # scale-free
    with pytest.raises(ValueError, match="region"):
        region_attribution(s, [4])
    with pytest.raises(ValueError, match="scores"):
        saliency_map([[1.0]])


def test_idr_and_iir_indicators():
    assert np.array_equal(idr_indicator([0.1, 0.5, 0.3], [0.2, 0.5, 0.1]), [1.0, 0.0, 0.0])
    # relative change below t passes; exactly unchanged passes (also at zero); any change from zero fails
    assert np.array_equal(iir_indicator([1.05, 1.2, 0.0, 0.1], [1.0, 1.0, 0.0, 0.0], t=0.1), [1.0, 0.0, 1.0, 0.0])


def test_object_region_covers_the_aligned_patches():
    assert object_region((4, 8)).tolist() == [6, 7, 10, 11]  # rows 1-2, cols 2-3 of the 4 x 4 grid
    assert object_region((0, 0)).tolist() == [0, 1, 4, 5]
    with pytest.raises(ValueError, match="position"):
        object_region((2, 0))
    with pytest.raises(ValueError, match="position"):
        object_region((12, 0))


def test_scene_bank_is_the_same_on_every_call():
    a, b = scene_bank(), scene_bank()
    assert len(a) == len(SCENES) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert all(x.min() == 0.0 and x.max() == pytest.approx(0.6) and min(x.shape) >= 16 for x in a)


def test_build_bam_pastes_the_digit_in_its_region_only():
    rng = np.random.default_rng(0)
    bank = [rng.uniform(0, 0.6, (40, 60)) for _ in range(3)]
    digits = torch.as_tensor(rng.uniform(0, 1, (5, 1, 8, 8)), dtype=torch.float32)
    labels = torch.arange(5)
    d = build_bam(digits, labels, 12, "test", seed=3, bank=bank)
    feats = grid_features((16, 16), 4)
    for i in range(12):
        r, c = d["pos"][i]
        inside = torch.zeros(16, 16, dtype=torch.bool)
        inside[r : r + 8, c : c + 8] = True
        assert torch.equal(inside, torch.isin(torch.as_tensor(feats.ids), torch.as_tensor(object_region((r, c)))))
        a = digits[i % 5, 0]
        assert torch.equal(d["os"][i, 0][~inside], d["0s"][i, 0][~inside])
        assert torch.allclose(
            d["os"][i, 0][inside], ((1 - a) * d["0s"][i, 0][r : r + 8, c : c + 8] + a).flatten(), atol=1e-6
        )
        assert torch.all(d["og"][i, 0][~inside] == GRAY)
        assert int(d["y_obj"][i]) == i % 5 and 0 <= int(d["y_scene"][i]) < 3
    again = build_bam(digits, labels, 12, "test", seed=3, bank=bank)
    assert torch.equal(again["os"], d["os"]) and np.array_equal(again["pos"], d["pos"])
    with pytest.raises(ValueError, match="split"):
        build_bam(digits, labels, 2, "val", seed=0, bank=bank)


class _Linear(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.as_tensor(w, dtype=torch.float32))  # (classes, 16, 16)

    def forward(self, x):
        return torch.einsum("bchw,khw->bk", x, self.w)


def test_make_delta_is_null_for_a_model_blind_to_the_region():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(3, 16, 16))
    w[:, 4:12, 0:8] = 0.0  # the model ignores the object region at (4, 0)
    model = _Linear(w).eval()
    X = torch.as_tensor(rng.uniform(0, 0.6, (2, 1, 16, 16)), dtype=torch.float32)
    digits = torch.as_tensor(rng.uniform(0, 1, (2, 8, 8)), dtype=torch.float32)
    res = make_delta(model, X, digits, [(4, 0), (4, 0)], steps=5)
    assert np.all(res["change"] < 1e-6) and np.all(res["delta_norm"] > 0.5)
    outside = torch.ones(16, 16, dtype=torch.bool)
    outside[4:12, 0:8] = False
    assert torch.equal(res["xd"][:, 0][:, outside], X[:, 0][:, outside])


def test_trace_scores_are_the_exact_contributions_of_an_additive_model():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(3, 16, 16))
    model = _Linear(w).eval()
    x = torch.as_tensor(rng.uniform(0, 1, (1, 16, 16)), dtype=torch.float32)
    feats = grid_features((16, 16), 4)
    scores, passes = method_scores("trace-y-le-mo", model, x, 1, feats, seed=0, sa_iterations=30)
    contrib = (w[1] * x[0].numpy()).astype(np.float64)
    expected = np.array([contrib[feats.ids == f].sum() for f in range(16)])
    assert np.allclose(scores, expected, atol=1e-4) and passes > 0


def _scored(values):
    return {m: {"scores": v, "forward_passes": 1, "seconds": 0.0} for m, v in values.items()}


def test_bam_summary_on_known_attributions():
    hot, cold = [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]  # region [0, 1]: g_c = 1 or 0
    mcs = [
        {
            "region": [0, 1],
            "random_region": [0, 2],
            "f_o": _scored({"trace-y-le-mo": hot, "flat": hot}),
            "f_s": _scored({"trace-y-le-mo": cold, "flat": hot}),
        }
        for _ in range(4)
    ]
    idr = [
        {
            "region": [0, 1],
            "cf": _scored({"trace-y-le-mo": cold, "flat": hot}),
            "no_cf": _scored({"trace-y-le-mo": hot, "flat": hot}),
        }
        for _ in range(3)
    ]
    iir = [
        {
            "region": [0, 1],
            "delta": _scored({"trace-y-le-mo": hot, "flat": cold}),
            "plain": _scored({"trace-y-le-mo": hot, "flat": hot}),
        }
        for _ in range(3)
    ]
    res = summarise_bam({"mcs": mcs, "idr": idr, "iir": iir})
    t = res["tests"]
    assert t["mcs"]["methods"]["trace-y-le-mo"]["mean"] == 1.0 and t["mcs"]["methods"]["flat"]["mean"] == 0.0
    assert t["mcs_random"]["methods"]["trace-y-le-mo"]["mean"] == 0.0  # g = 1/2 on both models
    assert t["idr"]["methods"]["trace-y-le-mo"]["mean"] == 1.0 and t["idr"]["methods"]["flat"]["mean"] == 0.0
    assert t["iir"]["methods"]["trace-y-le-mo"]["mean"] == 1.0 and t["iir"]["methods"]["flat"]["mean"] == 0.0
    for test in ("mcs", "idr", "iir"):
        p = t[test]["paired"]["flat"]
        assert p["mean"] == 1.0 and p["wins"] == p["n"]  # positive favours TRACE
    assert res["n"] == {"mcs": 4, "idr": 3, "iir": 3} and res["passes"]["flat"] == 1.0


def test_explain_all_seeds_the_pair_alike_and_the_random_control_apart():
    """Both members of a pair are explained with the settings' seed (same model and input: same scores); the
    random control draws apart per member and per input; TRACE runs beside the baselines."""
    from trace_opt.faithfulness.bam import _explain_all
    from trace_opt.faithfulness.base import default_settings

    rng = np.random.default_rng(3)
    model = _Linear(rng.normal(size=(3, 16, 16))).eval()
    x0, x1 = (torch.as_tensor(rng.uniform(0, 1, (1, 16, 16)), dtype=torch.float32) for _ in range(2))
    feats = grid_features((16, 16), 4)
    methods = ["saliency", "random", "trace-y-le-mo"]
    settings = default_settings()
    a, b = (_explain_all(model, x0, 1, feats, methods, settings, 20, member) for member in (0, 1))
    c = _explain_all(model, x1, 1, feats, methods, settings, 20, 0)
    assert a["saliency"]["scores"] == b["saliency"]["scores"] and a["trace-y-le-mo"] and c["trace-y-le-mo"]
    assert a["trace-y-le-mo"]["scores"] == b["trace-y-le-mo"]["scores"]
    assert a["random"]["scores"] != b["random"]["scores"] and a["random"]["scores"] != c["random"]["scores"]
    assert _explain_all(model, x0, 1, feats, methods, settings, 20, 0)["random"]["scores"] == a["random"]["scores"]
