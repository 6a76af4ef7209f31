"""trace_opt.core.stats against closed forms and definitions."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trace_opt.core.stats import holm, min_sign_test_n, paired_difference, ratio_of_means, t_interval, t_quantile


def test_t_quantiles_of_the_tables():
    assert t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-4)  # the Cornish-Fisher series gave 9.7
    assert t_quantile(0.975, 2) == pytest.approx(4.3027, abs=1e-4)
    assert t_quantile(0.975, 3) == pytest.approx(3.1824, abs=1e-4)


def test_t_interval_of_two_values():
    ci = t_interval([1.0, 3.0])
    assert ci["mean"] == 2.0 and ci["half_width"] == pytest.approx(12.7062 * np.sqrt(2) / np.sqrt(2), abs=1e-3)
    assert np.isnan(t_interval([1.0])["half_width"])


def test_sign_test_needs_six_inputs_at_five_percent():
    assert min_sign_test_n(0.05) == 6
    four = paired_difference([2, 3, 4, 5], [1, 1, 1, 1])
    assert four["wins"] == 4 and four["p_sign"] == pytest.approx(0.125)
    six = paired_difference(np.arange(6) + 2.0, np.ones(6))
    assert six["p_sign"] == pytest.approx(2 / 64) and six["p_sign"] < 0.05


def test_ties_are_counted_and_do_not_break_the_tests():
    r = paired_difference([1, 1, 2, 0], [1, 1, 1, 1])
    assert (r["wins"], r["losses"], r["ties"]) == (1, 1, 2)
    assert 0 < r["p_wilcoxon"] <= 1 and r["p_sign"] == pytest.approx(1.0)
    all_tied = paired_difference([1, 1], [1, 1])
    assert np.isnan(all_tied["p_wilcoxon"]) and np.isnan(all_tied["p_sign"])


def test_ratio_of_means_interval_covers_and_is_exact_for_a_constant_ratio():
    rng = np.random.default_rng(1)
    b = rng.uniform(1, 2, size=12)
    exact = ratio_of_means(2 * b, b, n_resamples=999)
    assert exact["ratio"] == pytest.approx(2.0) and exact["low"] == pytest.approx(2.0)
    assert exact["high"] == pytest.approx(2.0)
    a = 1.8 * b + rng.normal(0, 0.2, size=12)
    r = ratio_of_means(a, b, n_resamples=999)
    assert r["low"] < r["ratio"] < r["high"] and r["n"] == 12
    assert r == ratio_of_means(a, b, n_resamples=999)  # seeded


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=6))
def test_holm_matches_its_definition(ps):
    """Holm: adjusted p_(i) = max over j <= i of min(1, (m - j + 1) p_(j)), in sorted order."""
    adjusted = holm(ps)
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    for pos, i in enumerate(order):
        expected = max(min(1.0, (m - j) * ps[order[j]]) for j in range(pos + 1))
        assert adjusted[i] == pytest.approx(expected)
    assert all(a >= p - 1e-15 for a, p in zip(adjusted, ps))


def test_holm_keeps_nan_out_of_the_family():
    adjusted = holm([0.01, float("nan"), 0.04])
    assert np.isnan(adjusted[1]) and adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.04)


def test_sign_test_p_is_the_binomial_tail():
    r = paired_difference([3, 3, 3, 0, 3], [1, 1, 1, 1, 1])
    k, n = 4, 5
    tail = sum(1 for s in itertools.product([0, 1], repeat=n) if sum(s) >= k) / 2**n
    assert r["p_sign"] == pytest.approx(min(1.0, 2 * tail))
