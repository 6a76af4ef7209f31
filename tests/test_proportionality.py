"""TPN / TPS ('Interpreting Interpretations', Defs. 3-6) on cases with known answers: the seed's max model
(values by hand), additive models (proportional scores give 0), and a dense-grid integral as an
independent check of the exact step integration; a trajectory's marginal scores (completeness)."""

import itertools

import numpy as np
import pytest

from trace_opt.faithfulness.proportionality import marginal_scores, proportionality, trajectory_proportionality


def _table(fn, t):
    """D(S) for every deleted set S (bit i = feature i deleted), x = ones, reference zeros."""
    masks = ((np.arange(1 << t)[:, None] >> np.arange(t)[None, :]) & 1).astype(bool)
    return np.array([fn(~m) for m in masks], dtype=np.float64)  # fn of the kept indicator


MAX = _table(lambda keep: float(max(keep[0], keep[1])), 3)  # f = max(x0, x1), x2 unused


def test_max_model_by_hand():
    # each curve is the polyline through (share of the first n scores, D); areas between them by hand
    # A1 = (1/6, 1/3, 1/2): pi+ = x2, x1, x0 (shares 1/2, 5/6, 1), reversed x0, x1, x2 (1/6, 1/2, 1).
    # Necessity: top-first is 1 until 5/6 then falls to 0 at 1; bottom-first falls from 1 at 1/6 to 0 at 1/2.
    # Area = 1/6 + 1/3 + 1/12 = 7/12, r = 1 (removing all reaches y_b = 0), y0 = 1
    a1 = proportionality([1 / 6, 1 / 3, 1 / 2], MAX)
    assert a1["tpn"] == pytest.approx(7 / 12) and a1["r"] == pytest.approx(1.0)
    # sufficiency: top-first rises from 0 at 1/2 to 1 at 5/6; bottom-first from 0 at 0 to 1 at 1/6 -> 7/12
    assert a1["tps"] == pytest.approx(7 / 12) and a1["r_prime"] == pytest.approx(1.0)
    # A3 = (2/3, 1/3, 0): pi+ = x0, x1 (shares 2/3, 1) vs x1, x0 (1/3, 1): 1/12 + 1/12 each way
    a3 = proportionality([2 / 3, 1 / 3, 0.0], MAX)
    assert a3["tpn"] == pytest.approx(1 / 6) and a3["tps"] == pytest.approx(1 / 6) and a3["m"] == 2
    # A2 = (2/3, 0, 1/3): removing x0 and x2 leaves D = 1 in both orders: area 0 (r -> 0, the penalty of an
    # attribution whose positive features are not necessary, multiplies nothing); sufficiency 1/12 + 1/6 + 1/12
    a2 = proportionality([2 / 3, 0.0, 1 / 3], MAX)
    assert a2["area_n"] == pytest.approx(0.0) and a2["tpn"] == pytest.approx(0.0) and a2["r"] < 1e-9
    assert a2["tps"] == pytest.approx(1 / 3) and a2["r_prime"] == pytest.approx(1.0)
    # the seed's reading: A3 (sufficient and necessary features first) is the most proportional
    assert a3["tpn"] < a1["tpn"] and a3["tps"] < min(a1["tps"], a2["tps"])


@pytest.mark.parametrize("w", [(0.5, 1.0, 2.0, 0.25, 1.5), (3.0, 1.0, 1.0, 2.0)])
def test_additive_model_proportional_scores_are_optimal(w):
    w = np.asarray(w)
    table = _table(lambda keep: 0.1 + float(w @ keep), len(w))  # positive output: 0.1 at the baseline
    exact = proportionality(w, table)
    assert exact["tpn"] == pytest.approx(0.0, abs=1e-12) and exact["tps"] == pytest.approx(0.0, abs=1e-12)
    # the same order with non-proportional scores is penalised; scaling the scores changes nothing
    assert proportionality(w**3, table)["tpn"] > 1e-3
    assert proportionality(5 * w, table)["tpn"] == pytest.approx(0.0, abs=1e-12)
    # additive: deleting a set lowers D by what adding it to the baseline raises it, so the areas agree
    sq = proportionality(w**2, table)
    assert sq["area_n"] == pytest.approx(sq["area_s"]) and sq["area_n"] > 1e-3


def _dense(scores, table, n_grid=200_001):
    """The areas between the two polylines of eqs. 5 and 7 on a dense grid of k (independent check of the
    exact piecewise integration)."""
    s = np.asarray(scores, float)
    t = len(s)
    pos = [i for i in sorted(range(t), key=lambda i: (-s[i], -i)) if s[i] > 0]
    tot = sum(s[i] for i in pos)
    D = lambda dele: table[sum(1 << int(i) for i in dele)]  # noqa: E731
    ks = np.linspace(0.0, 1.0, n_grid)
    curves = []
    for order in (pos, pos[::-1]):
        c = np.concatenate([[0.0], np.cumsum([s[i] for i in order]) / tot])
        nec = [D(order[:n]) for n in range(len(order) + 1)]
        suf = [D(set(range(t)) - set(order[:n])) for n in range(len(order) + 1)]
        curves.append((np.interp(ks, c, nec), np.interp(ks, c, suf)))
    return (
        np.trapezoid(np.abs(curves[0][0] - curves[1][0]), ks),
        np.trapezoid(np.abs(curves[0][1] - curves[1][1]), ks),
    )


def test_polyline_integral_matches_a_dense_grid():
    rng = np.random.default_rng(3)
    t = 5
    table = rng.uniform(0.05, 1.0, size=1 << t)
    for _ in range(4):
        scores = rng.normal(size=t)
        got = proportionality(scores, table)
        an, as_ = _dense(scores, table)
        assert got["area_n"] == pytest.approx(an, abs=1e-6) and got["area_s"] == pytest.approx(as_, abs=1e-6)


def test_marginal_scores_complete_and_additive():
    rng = np.random.default_rng(0)
    t = 5
    table = rng.normal(size=1 << t)
    for sigma in itertools.islice(itertools.permutations(range(t)), 0, 120, 17):
        for chain in ("lerf", "morf"):
            phi = marginal_scores(sigma, table, chain)
            assert phi.sum() == pytest.approx(table[0] - table[-1])  # completeness: D({}) - D(all)
    w = np.array([0.5, -1.0, 2.0, 0.25, 1.5])
    additive = _table(lambda keep: float(w @ keep), t)
    for sigma in ([0, 1, 2, 3, 4], [4, 2, 0, 1, 3]):
        np.testing.assert_allclose(marginal_scores(sigma, additive, "lerf"), w)
        np.testing.assert_allclose(marginal_scores(sigma, additive, "morf"), w)
    # on the max model the LeRF chain of (x2, x0, x1) gives x1 the whole drop, x0 nothing
    np.testing.assert_allclose(marginal_scores([2, 0, 1], MAX), [0.0, 1.0, 0.0])
    res = trajectory_proportionality([2, 0, 1], MAX)
    assert res["m"] == 1 and res["tpn"] == pytest.approx(0.0)


def test_refusals():
    with pytest.raises(ValueError, match="scores"):
        proportionality([1.0, 2.0], MAX)
    with pytest.raises(ValueError, match="positive output"):
        proportionality([1.0, 2.0, 3.0], -MAX - 1)
    with pytest.raises(ValueError, match="chain"):
        marginal_scores([0, 1, 2], MAX, "both")
    with pytest.raises(ValueError, match="permutation"):
        marginal_scores([0, 0, 2], MAX)
    assert np.isnan(proportionality([0.0, -1.0, 0.0], MAX)["tpn"])  # no positive score
