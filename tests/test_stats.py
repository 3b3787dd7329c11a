"""Tests for lib.stats: each test names the property it protects."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from lib import stats

# --- Welch ----------------------------------------------------------------------------------------------------

EXAMPLES = [
    ([0.31, 0.27, 0.35], [0.42, 0.40, 0.47]),
    ([1.0, 2.0, 3.5, 2.2], [4.0, 5.0]),
    ([0.1, 0.4, 0.2, 0.9, 0.5], [0.3, 0.35, 0.33]),
]


@pytest.mark.parametrize("treated, baseline", EXAMPLES)
def test_welch_matches_scipy(treated, baseline):
    ours = stats.welch(treated, baseline)
    ref = sps.ttest_ind(treated, baseline, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert ours.method == "welch"
    assert ours.difference == pytest.approx(np.mean(treated) - np.mean(baseline))
    assert ours.p_value == pytest.approx(ref.pvalue)
    assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high))
    assert (ours.n_treated, ours.n_baseline) == (len(treated), len(baseline))


def test_welch_ignores_seed_order():
    # Seeds are labels: reordering one side must not change anything (pairing by index would).
    a, b = [0.31, 0.27, 0.35], [0.42, 0.40, 0.47]
    assert stats.welch(a, b) == stats.welch(a, b[::-1])


def test_one_baseline_value_gives_a_one_sample_t_test():
    treated, fixed = [0.31, 0.27, 0.35], 0.42
    ours = stats.welch(treated, [fixed])
    ref = sps.ttest_1samp(treated, fixed)
    ci = ref.confidence_interval(0.95)
    assert ours.method == "one-sample, baseline fixed"
    assert ours.p_value == pytest.approx(ref.pvalue)
    assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low - fixed, ci.high - fixed))
    flipped = stats.welch([fixed], treated)
    assert flipped.method == "one-sample, treated fixed"
    assert flipped.difference == pytest.approx(-ours.difference) and flipped.p_value == pytest.approx(ours.p_value)


def test_one_value_per_side_gives_only_the_difference():
    result = stats.welch([0.3], [0.5, math.nan])
    assert result.difference == pytest.approx(-0.2)
    assert math.isnan(result.ci_low) and math.isnan(result.p_value)


def test_no_variance_gives_no_interval():
    result = stats.welch([0.3, 0.3], [0.5, 0.5])
    assert result.difference == pytest.approx(-0.2) and math.isnan(result.p_value)


# --- permutation test -----------------------------------------------------------------------------------------

def test_permutation_test_enumerates_3_vs_3_exactly():
    # Pooled {1, …, 6}: C(6, 3) = 20 splits, d = (2·S − 21)/3 with S the treated sum.
    # [1,2,3] vs [4,5,6]: |d| = 3 only for S = 6 or 15 → 2/20.
    result = stats.permutation_test([1, 2, 3], [4, 5, 6])
    assert (result.difference, result.p_value, result.n_splits, result.exact) == (-3.0, 0.1, 20, True)
    # [1,2,4] vs [3,5,6]: |d| ≥ 7/3 ⇔ S ≤ 7 or S ≥ 14: {1,2,3}, {1,2,4}, {3,5,6}, {4,5,6} → 4/20
    # (the observed split ties with itself and with its mirror image, so ties must count).
    assert stats.permutation_test([1, 2, 4], [3, 5, 6]).p_value == pytest.approx(0.2)


def test_monte_carlo_permutation_agrees_with_enumeration():
    rng = np.random.default_rng(4)
    treated, baseline = rng.normal(0.5, 1, 6), rng.normal(0, 1, 6)
    exact = stats.permutation_test(treated, baseline, n_perm=1000)             # 924 splits: enumerated
    sampled = stats.permutation_test(treated, baseline, n_perm=800, seed=1)    # fewer draws than splits
    assert exact.exact and not sampled.exact
    se = math.sqrt(exact.p_value * (1 - exact.p_value) / 800)
    assert abs(sampled.p_value - exact.p_value) < 4 * se + 1 / 801


# --- Holm -----------------------------------------------------------------------------------------------------

def test_holm_textbook_example():
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_leaves_nan_out_of_m():
    # m = 3: 0.01·3 = 0.03, 0.6·2 = 1.2 → 1, 0.7·1 = 0.7 → max(1.2, 0.7) → 1.
    adjusted = stats.holm([0.6, math.nan, 0.01, 0.7])
    assert math.isnan(adjusted[1])
    assert [adjusted[i] for i in (0, 2, 3)] == pytest.approx([1.0, 0.03, 1.0])


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_is_monotone_and_never_below_the_raw_p(p):
    adjusted = np.array(stats.holm(p))
    raw = np.array(p)
    assert np.all(adjusted >= raw - 1e-15) and np.all(adjusted <= 1)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= -1e-15)


# --- clusters -------------------------------------------------------------------------------------------------

INTEGER = {"integer": ["integer_1_10", "integer_1_100", "integer_1_1000"]}


def test_integer_tasks_count_as_one_cluster():
    diffs = {"integer_1_10": -0.10, "integer_1_1000": -0.02, "color": 0.05, "fruit": -0.20}
    summary = stats.cluster_summary(diffs, INTEGER)          # integer_1_100 (trained) is absent: ignored
    assert summary.clusters["integer"] == ("integer_1_10", "integer_1_1000")
    assert summary.cluster_values["integer"] == pytest.approx(-0.06)
    assert (summary.improved, summary.worse, summary.n_clusters) == (2, 1, 3)
    assert summary.worse_tasks == ("color",)
    assert summary.improved_significant is None


def test_significance_needs_a_member_task_below_alpha():
    diffs = {"integer_1_10": -0.10, "integer_1_1000": 0.04, "color": 0.05, "fruit": -0.20}
    adjusted = {"integer_1_10": 0.01, "integer_1_1000": 0.03, "color": 0.20, "fruit": 0.30}
    summary = stats.cluster_summary(diffs, INTEGER, p_values=adjusted)
    # The integer cluster is mixed: one range significantly better, another significantly worse.
    assert (summary.improved_significant, summary.worse_significant) == (1, 1)
    assert summary.worse_tasks == ("integer_1_1000", "color")


def test_higher_is_better_flips_the_direction():
    summary = stats.cluster_summary({"a": 0.3, "b": -0.1}, {}, lower_is_better=False)
    assert (summary.improved, summary.worse, summary.worse_tasks) == (1, 1, ("b",))


# --- minimum detectable difference ---------------------------------------------------------------------------

def test_min_detectable_difference_known_value():
    # (1.960 + 0.842) · sqrt(2 · 0.25 / 200) = 0.1401
    assert stats.min_detectable_difference(200, 0.5) == pytest.approx(0.140, abs=0.001)


def test_min_detectable_difference_has_the_stated_power():
    # Simulate two arms of 200 at 0.5 and 0.5 + δ with a two-sided pooled z-test: power ≈ 0.8 (a bit more,
    # since p1(1 − p1) < 0.25). 4000 runs: SE 0.006, tolerance 0.04.
    n, delta = 200, stats.min_detectable_difference(200, 0.5)
    rng = np.random.default_rng(0)
    a, b = rng.binomial(n, 0.5, 4000) / n, rng.binomial(n, 0.5 + delta, 4000) / n
    pooled = (a + b) / 2
    z = (b - a) / np.sqrt(2 * pooled * (1 - pooled) / n)
    assert abs(np.mean(np.abs(z) > 1.959964) - 0.8) < 0.04


def test_paired_difference_depends_on_discordance():
    unpaired = stats.min_detectable_difference(500, 0.6)
    assert stats.min_detectable_difference(500, 0.6, paired=True) == pytest.approx(unpaired)
    assert stats.min_detectable_difference(500, 0.6, paired=True, discordant=0.2) < unpaired
    with pytest.raises(ValueError, match="paired"):
        stats.min_detectable_difference(500, 0.6, discordant=0.2)
