"""Tests for lib.metrics: each test names the property it protects."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lib.metrics import (
    bootstrap_ci,
    distinct_count,
    empirical_distribution,
    exact_summary,
    exact_tv,
    invalid_rate,
    normalized_entropy,
    other_rate,
    raw_mass,
    renormalize_logprobs,
    sampled_summary,
    sampled_tv,
    top_picks,
    tv_between,
    tv_floor,
    wilson_ci,
)


def test_exact_tv_is_zero_for_uniform():
    # A perfectly uniform model must score 0, whatever k.
    for k in (1, 2, 7, 100):
        assert exact_tv(np.ones(k)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, 10, 1000])
def test_exact_tv_of_point_mass_is_one_minus_one_over_k(k):
    # The maximum TV from uniform is 1 - 1/k, attained by a point mass.
    p = np.zeros(k)
    p[k // 2] = 1.0
    assert exact_tv(p) == pytest.approx(1 - 1 / k)


def test_exact_tv_ignores_scale():
    # Unnormalised scores must be normalised before comparison with uniform.
    p = np.array([0.5, 0.2, 0.2, 0.1])
    assert exact_tv(p) == pytest.approx(0.25)
    assert exact_tv(p * 1e-6) == pytest.approx(exact_tv(p))
    assert exact_tv(p * 37.0) == pytest.approx(exact_tv(p))


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(1, 50), elements=st.floats(0, 1e6)))
def test_exact_tv_within_bounds_property(p):
    # TV to uniform is always within [0, 1 - 1/k].
    if p.sum() <= 0:
        p = p + 1.0
    k = p.size
    tv = exact_tv(p)
    assert -1e-12 <= tv <= 1 - 1 / k + 1e-12


def test_tv_floor_matches_seed_values():
    # Reference values for a uniform sampler with 50 valid samples.
    expected = {4: 0.10, 10: 0.17, 100: 0.61, 1000: 0.95}
    for k, v in expected.items():
        assert tv_floor(50, k) == pytest.approx(v, abs=0.01)


def test_tv_floor_agrees_with_simulation():
    # The analytic (binomial, linearity) formula equals the multinomial expectation.
    n, k, draws = 30, 7, 20000
    rng = np.random.default_rng(12345)
    c = rng.multinomial(n, np.full(k, 1 / k), size=draws)
    mc = float(np.mean(0.5 * np.abs(c / n - 1 / k).sum(axis=1)))
    assert tv_floor(n, k) == pytest.approx(mc, abs=0.005)


def test_tv_floor_edge_cases():
    # n = 0 has no defined floor; k = 1 cannot deviate from uniform.
    assert math.isnan(tv_floor(0, 5))
    assert tv_floor(10, 1) == 0.0
    # More samples -> smaller floor.
    assert tv_floor(200, 10) < tv_floor(50, 10)


def test_sampled_tv_counts_other_answers_against_uniform():
    # Answers outside A are pure deviation from uniform over A.
    A = ["red", "blue"]
    # f = {red: .5, teal: .5}: ½(|.5-.5| + |0-.5| + .5) = 0.5
    assert sampled_tv(["red", "teal"], A) == pytest.approx(0.5)
    # All answers outside A: TV is 1 (not 1 - 1/k).
    assert sampled_tv(["teal", "pink", "teal"], A) == pytest.approx(1.0)
    # Uniform over A: 0.
    assert sampled_tv(["red", "blue", "blue", "red"], A) == pytest.approx(0.0)


def test_sampled_tv_excludes_invalid():
    # None samples are dropped before forming the empirical distribution.
    A = ["red", "blue"]
    assert sampled_tv(["red", None, "blue", None, None], A) == pytest.approx(0.0)
    assert sampled_tv(["red", None], A) == pytest.approx(0.5)
    assert math.isnan(sampled_tv([None, None], A))
    assert math.isnan(sampled_tv([], A))


def test_rates_and_distinct():
    A = ["a", "b", "c"]
    ans = ["a", "a", None, "z", "b", None]
    assert invalid_rate(ans) == pytest.approx(2 / 6)
    assert other_rate(ans, A) == pytest.approx(1 / 4)
    assert math.isnan(other_rate([None], A))
    assert distinct_count(ans) == 3


def test_empirical_distribution_ignores_invalid_and_others():
    A = ["a", "b", "c"]
    f = empirical_distribution(["a", "a", "b", None, "z"], A)
    np.testing.assert_allclose(f, [2 / 3, 1 / 3, 0.0])
    np.testing.assert_array_equal(empirical_distribution([None, "z"], A), np.zeros(3))


def test_normalized_entropy_bounds():
    for k in (2, 5, 64):
        assert normalized_entropy(np.ones(k)) == pytest.approx(1.0)
        p = np.zeros(k)
        p[0] = 3.0
        assert normalized_entropy(p) == pytest.approx(0.0, abs=1e-12)
    assert normalized_entropy(np.array([1.0])) == 0.0
    mid = normalized_entropy(np.array([0.7, 0.2, 0.1]))
    assert 0.0 < mid < 1.0


def test_renormalize_logprobs_is_stable_for_very_negative_values():
    # Naive exp() underflows to 0/0 here; logsumexp must not.
    logp = np.array([-1000.0, -1001.0, -1002.0])
    p = renormalize_logprobs(logp)
    assert np.all(np.isfinite(p))
    assert p.sum() == pytest.approx(1.0)
    w = np.exp([0.0, -1.0, -2.0])
    np.testing.assert_allclose(p, w / w.sum())
    # -inf entries (impossible answers) get probability 0.
    q = renormalize_logprobs(np.array([-np.inf, -1000.0]))
    np.testing.assert_allclose(q, [0.0, 1.0])


def test_raw_mass():
    # Raw mass is the unnormalised total probability of bare valid answers.
    assert raw_mass(np.log([0.1, 0.2, 0.3])) == pytest.approx(0.6)
    assert raw_mass(np.array([-1000.0, -1000.0])) == pytest.approx(0.0, abs=1e-300)
    assert raw_mass(np.log([1.0])) == pytest.approx(1.0)


def test_top_picks_order_and_shares():
    answers = ["a", "b", "c", "d", "e", "f"]
    counts = np.array([1, 4, 2, 4, 0, 1])
    got = top_picks(counts, answers, n=5)
    # Ties (b/d, a/f) keep answer order; shares are of the total (12).
    assert [a for a, _ in got] == ["b", "d", "c", "a", "f"]
    np.testing.assert_allclose([s for _, s in got], [4 / 12, 4 / 12, 2 / 12, 1 / 12, 1 / 12])
    assert top_picks(counts, answers, n=2) == [("b", 4 / 12), ("d", 4 / 12)]


def test_tv_between():
    assert tv_between(np.array([1, 1]), np.array([2, 2])) == pytest.approx(0.0)
    assert tv_between(np.array([1, 0]), np.array([0, 5])) == pytest.approx(1.0)
    assert tv_between(np.array([3, 1]), np.array([1, 1])) == pytest.approx(0.25)


def test_bootstrap_ci_contains_the_statistic_and_is_deterministic_by_seed():
    rng = np.random.default_rng(0)
    xs = list(rng.normal(5.0, 1.0, size=200))
    mean = lambda s: float(np.mean(s))
    lo, hi = bootstrap_ci(xs, mean, n_boot=500, seed=3)
    assert lo < mean(xs) < hi
    assert hi - lo < 0.5  # ~ 2 * 1.96 / sqrt(200) ≈ 0.28
    assert bootstrap_ci(xs, mean, n_boot=500, seed=3) == (lo, hi)
    assert bootstrap_ci(xs, mean, n_boot=500, seed=4) != (lo, hi)


def test_bootstrap_ci_ignores_nan_statistics():
    # Resamples with no valid answers give nan TV; they must not poison the CI.
    A = ["a", "b"]
    samples = ["a", None, None, None]
    lo, hi = bootstrap_ci(samples, lambda s: sampled_tv(s, A), n_boot=200, seed=0)
    assert lo == pytest.approx(0.5) and hi == pytest.approx(0.5)


def test_wilson_ci_known_value():
    lo, hi = wilson_ci(8, 10)
    assert lo == pytest.approx(0.490, abs=1e-3)
    assert hi == pytest.approx(0.943, abs=1e-3)
    lo0, hi0 = wilson_ci(0, 20)
    assert lo0 == 0.0 and 0 < hi0 < 0.2
    assert all(math.isnan(x) for x in wilson_ci(0, 0))


def test_sampled_summary_keys_and_values():
    A = ["red", "blue", "green", "yellow"]
    ans = ["red"] * 6 + ["blue"] * 2 + ["teal"] + [None]
    s = sampled_summary(ans, A)
    assert s["n"] == 10 and s["n_valid"] == 9
    assert s["invalid_rate"] == pytest.approx(0.1)
    assert s["other_rate"] == pytest.approx(1 / 9)
    # ½(|6/9-1/4| + |2/9-1/4| + 1/4 + 1/4 + 1/9)
    expected = 0.5 * (abs(6 / 9 - 0.25) + abs(2 / 9 - 0.25) + 0.25 + 0.25 + 1 / 9)
    assert s["sampled_tv"] == pytest.approx(expected)
    assert "tv_ci_low" not in s      # no percentile interval of a biased statistic
    assert s["tv_floor"] == pytest.approx(tv_floor(9, 4))
    # Entropy over in-A answers only (6:2), divided by log 4.
    p = np.array([0.75, 0.25])
    assert s["normalized_entropy"] == pytest.approx(-(p * np.log(p)).sum() / np.log(4))
    assert s["distinct"] == 3
    assert [a for a, _ in s["top5"]] == ["red", "blue", "teal"]
    assert s["top5"][0][1] == pytest.approx(6 / 9)


def test_exact_summary():
    answers = ["a", "b", "c", "d"]
    logp = np.log([0.2, 0.1, 0.05, 0.05])
    s = exact_summary(logp, answers)
    assert s["k"] == 4
    assert s["raw_mass"] == pytest.approx(0.4)
    # Renormalised: [.5, .25, .125, .125] -> TV = ½(.25 + 0 + .125 + .125)
    assert s["exact_tv"] == pytest.approx(0.25)
    assert s["top5"][0] == ("a", pytest.approx(0.5))
    assert 0 < s["normalized_entropy"] < 1
