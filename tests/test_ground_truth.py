"""Ground-truth cases against their analytic answers: the max model of 'Interpreting Interpretations'
(with N-Ord / S-Ord of its attributions A1-A3), a saturating OR, a dummy feature, an additive model."""

import numpy as np
import pytest

from trace_opt.faithfulness.ground_truth import ADDITIVE_W, ground_truth_markdown, ground_truth_results, n_ord, s_ord


@pytest.fixture(scope="module")
def results():
    return {r["name"]: r for r in ground_truth_results()}


def _opt_sets(r, obj):
    return {tuple(o) for o in r["objectives"][obj]["optimal_orders"]}


def test_max_model_orders_and_the_papers_attributions(results):
    r = results["max"]
    # D(S) = 1 unless x0 and x1 are both deleted: LeRF must not delete both before the end
    assert _opt_sets(r, "le") == {(0, 2, 1), (1, 2, 0), (2, 0, 1), (2, 1, 0)}
    # MoRF must delete x0 and x1 first (x2 least important)
    assert _opt_sets(r, "mo") == {(2, 0, 1), (2, 1, 0)} == _opt_sets(r, "le-mo")
    assert r["objectives"]["le"]["optimal_trajectories"] == 4 and r["objectives"]["mo"]["optimal_trajectories"] == 2
    # the exact solver's pick follows the tie rule (lower index = less important)
    assert r["objectives"]["le"]["trajectory"] == [0, 2, 1] and r["objectives"]["le-mo"]["trajectory"] == [2, 0, 1]
    a = r["attributions"]
    opt = lambda name: {o: a[name]["objectives"][o]["optimal"] for o in ("le", "mo", "le-mo")}  # noqa: E731
    assert opt("A3") == {"le": True, "mo": True, "le-mo": True}
    assert opt("A2") == {"le": True, "mo": False, "le-mo": False}  # sufficiency right, necessity wrong
    assert opt("A1") == {"le": False, "mo": False, "le-mo": False}
    # N-Ord (eq. 3) and S-Ord (eq. 4) by hand: A1 removes x2, x1, x0 -> R = 1, 1, 1, 0
    assert a["A1"]["n_ord"] == pytest.approx(0.75) and a["A1"]["s_ord"] == pytest.approx(-0.5)
    assert a["A2"]["n_ord"] == pytest.approx(1.0) and a["A2"]["s_ord"] == pytest.approx(-1 / 3)
    assert a["A3"]["n_ord"] == pytest.approx(2 / 3) and a["A3"]["s_ord"] == pytest.approx(-1 / 3)
    # A2 is better than A1 on sufficiency (S-Ord), as the paper argues AOPC cannot see
    assert a["A2"]["s_ord"] > a["A1"]["s_ord"]
    # occlusion (one feature at a time) sees nothing: deleting x0 or x1 alone leaves max = 1
    assert a["occlusion"]["scores"] == [0.0, 0.0, 0.0] and not a["occlusion"]["objectives"]["mo"]["optimal"]


def test_n_ord_s_ord_on_a_hand_table():
    table = np.array([1.0, 1.0, 1.0, 0.0])  # t = 2, f = max(x0, x1): D({0, 1}) = 0
    assert n_ord([1.0, 0.5], table) == pytest.approx((1 + 1 + 0) / 3)
    assert s_ord([1.0, 0.5], table) == pytest.approx(((0 - 1) + (1 - 1) + (1 - 1)) / 3)
    assert n_ord([0.0, -1.0], table) == pytest.approx(1.0)  # no positive score: M = 0


def test_saturating_or(results):
    r = results["saturating-or"]
    a = r["attributions"]
    # the OR is saturated at x: gradient methods give x0 and x1 nothing
    for m in ("saliency", "input-x-gradient"):
        assert a[m]["scores"][:2] == [0.0, 0.0] and a[m]["scores"][2] == pytest.approx(0.3)
        assert not any(a[m]["objectives"][o]["optimal"] for o in ("le", "mo", "le-mo"))
    # IG: completeness, f(x) - f(0) = 1.3, split 0.5 / 0.5 / 0.3
    np.testing.assert_allclose(a["integrated-gradients"]["scores"], [0.5, 0.5, 0.3], atol=1e-3)
    assert a["integrated-gradients"]["objectives"]["mo"]["optimal"]
    assert not a["integrated-gradients"]["objectives"]["le"]["optimal"]  # Le keeps one of x0, x1 to the end
    assert _opt_sets(r, "mo") == {(2, 0, 1), (2, 1, 0)}
    assert _opt_sets(r, "le") == {(0, 2, 1), (1, 2, 0)}
    assert r["objectives"]["le"]["score"] == pytest.approx(1.3 + 1.3 + 1.0 + 0.0)


def test_dummy_feature(results):
    r = results["dummy"]
    table = np.asarray(r["table"])
    pairs = table.reshape(-1, 2, 1 << 2)  # sets without / with feature 2
    assert np.array_equal(pairs[:, 0], pairs[:, 1])  # deleting x2 never changes D
    for m in (
        "saliency",
        "input-x-gradient",
        "integrated-gradients",
        "occlusion",
        "feature-ablation",
        "shapley-sampling",
    ):
        assert r["attributions"][m]["scores"][2] == 0.0, m
    for obj in ("le", "le-mo"):
        assert all(o[0] == 2 for o in _opt_sets(r, obj)), obj  # least important in every optimal order
        assert r["objectives"][obj]["trajectory"][0] == 2
    assert r["objectives"]["mo"]["optimal_trajectories"] == 4


def test_additive_model(results):
    r = results["additive"]
    w = np.array(ADDITIVE_W)
    for obj in ("le", "mo", "le-mo"):
        assert r["objectives"][obj]["optimal_trajectories"] == 1
        assert r["objectives"][obj]["trajectory"] == np.argsort(w).tolist()  # ascending weights
    a = r["attributions"]
    for m in ("input-x-gradient", "integrated-gradients", "occlusion", "feature-ablation", "shapley-sampling"):
        np.testing.assert_allclose(a[m]["scores"], w, atol=1e-5)
        assert all(a[m]["objectives"][o]["optimal"] for o in ("le", "mo", "le-mo")), m
        assert not any(a[f"|{m}|"]["objectives"][o]["optimal"] for o in ("le", "mo", "le-mo")), m
    # the registered Saliency ranks |gradient|: not optimal with a negative weight
    assert not a["saliency"]["objectives"]["le-mo"]["optimal"]


def test_markdown_section(results):
    text = ground_truth_markdown(list(results.values()))
    for name in ("## max", "## saturating-or", "## dummy", "## additive", "TRACE-(Le-Mo)", "N-Ord", "A2"):
        assert name in text
