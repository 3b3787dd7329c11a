import math

import pandas as pd
import pytest
from scipy import stats

from lib import transfer


def test_seed_ci_is_a_t_interval():
    mean, low, high = transfer.seed_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and high - mean == pytest.approx(4.302653 * 1 / math.sqrt(3), rel=1e-4)
    assert math.isnan(transfer.seed_ci([1.0])[1])


def test_a_means_interval_stays_inside_the_measures_range():
    """Three seeds, one of which broke: the t-interval of an exact TV would reach past 1 and below 0."""
    long = _long({("a", "t", "exact_tv"): [0.13, 0.97, 0.18], ("a", "t", "behav_effective_share"): [0.05, 2.0, 0.1],
                  ("a", "t", "sampled_tv_excess"): [-0.2, 0.5, 0.1]})
    rows = transfer.condition_summary(long).set_index("metric")
    tv, share, excess = rows.loc["exact_tv"], rows.loc["behav_effective_share"], rows.loc["sampled_tv_excess"]
    assert (tv["ci_low"], tv["ci_high"]) == (0.0, 1.0) and tv["ci_low"] <= tv["value"] <= tv["ci_high"]
    assert share["ci_low"] == 0.0 and share["ci_high"] > 1.0          # off-list answers can lift it past k
    assert excess["ci_low"] < 0                                         # a difference from the null: unbounded
    assert transfer.metric_bounds("raw_mass") == (0.0, 1.0) and transfer.metric_bounds("dose_slope")[0] == -math.inf


def _long(values: dict) -> pd.DataFrame:
    """{(condition, task, metric): [values, one per seed or replicate]} → long rows."""
    return pd.DataFrame([dict(condition=c, task=t, metric=m, value=v, train_seed=i if c != "vanilla" else None)
                         for (c, t, m), vs in values.items() for i, v in enumerate(vs)])


def test_compare_is_unpaired_over_seeds():
    long = _long({("a", "t", "exact_tv"): [0.5, 0.7, 0.6], ("b", "t", "exact_tv"): [0.9, 0.6]})
    row = transfer.compare(long, "a", "b", "a − b", trained_task="x", metrics=["exact_tv"]).iloc[0]
    welch = stats.ttest_ind([0.5, 0.7, 0.6], [0.9, 0.6], equal_var=False)
    assert row["value"] == pytest.approx(0.6 - 0.75) and row["p"] == pytest.approx(welch.pvalue)
    assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["method"] == "welch"


def test_compare_holm_adjusts_over_the_untrained_tasks_only():
    values = {("a", t, "exact_tv"): [0.1 * i, 0.1 * i + 0.05, 0.1 * i + 0.02] for i, t in enumerate("wxyz", 1)}
    values.update({("v", t, "exact_tv"): [0.5] for t in "wxyz"})
    diffs = transfer.compare(_long(values), "a", "v", "a − v", trained_task="w", metrics=["exact_tv"])
    untrained = diffs[diffs["task"] != "w"]
    assert untrained["p_holm"].tolist() == pytest.approx(stats_holm(untrained["p"].tolist()))
    own = diffs[diffs["task"] == "w"].iloc[0]
    assert own["p_holm"] == own["p"]


def stats_holm(p):
    from lib.stats import holm
    return holm(p)


def _diff(task, metric, value, p_holm):
    return dict(comparison="a − v", task=task, metric=metric, value=value, ci_low=value - 0.1, ci_high=value + 0.1,
                p=p_holm, p_holm=p_holm)


def test_verdict_names_improved_worse_and_format_only_tasks():
    diffs = pd.DataFrame([
        _diff("integer_1_100", "behav_effective_share", 0.5, 0.001),       # the trained task: not transfer
        _diff("integer_1_10", "behav_effective_share", 0.2, 0.01),         # spread
        _diff("integer_1_1000", "behav_effective_share", 0.1, 0.2),
        _diff("color", "behav_effective_share", -0.1, 0.02),               # narrower
        _diff("fruit", "behav_effective_share", 0.0, 0.9),
        _diff("fruit", "behav_valid_rate", 0.3, 0.001),                    # format moved, spread did not
        _diff("card_suit", "behav_effective_share", 0.05, 0.5),
        _diff("card_suit", "exact_tv", -0.2, 0.01),                        # only the exact lens spread
        _diff("color", "core_exact_tv", 0.0, 0.9), _diff("color", "exact_tv", 0.0, 0.9),
    ])
    v = transfer.verdict(diffs, "integer_1_100")
    assert v.improved == ("integer_1_10",) and v.worse == ("color",)
    assert v.format_only == ("fruit",) and v.lens_only == ("card_suit",)
    assert v.n_tasks == 5 and v.list_disagreements == ()
    # the three integer ranges are one cluster: integer (1 significant task) + color + fruit + card suit
    assert v.clusters.n_clusters == 4 and v.clusters.improved_significant == 1 and v.clusters.worse_significant == 1
    table = transfer.verdict_table([v]).iloc[0]
    assert table["improved"] == "integer 1–10" and table["worse"] == "color" and table["format only"] == "fruit"
