import math

import pandas as pd
import pytest

from lib import transfer


def test_temperature_matched_bisects_on_the_falling_side():
    tv = lambda t: (t - 1.5) ** 2 + 0.2                      # falls to 0.2 at T=1.5, then rises
    t_star, value = transfer.temperature_matched(tv, target=0.45)
    assert t_star == pytest.approx(1.0, abs=0.01) and value == pytest.approx(0.45, abs=1e-3)


def test_temperature_matched_reports_a_miss_instead_of_a_bound():
    tv = lambda t: (t - 1.5) ** 2 + 0.2
    t_star, value = transfer.temperature_matched(tv, target=0.1)   # below anything a temperature reaches
    assert t_star == pytest.approx(1.5, abs=0.13) and value > 0.1


def test_seed_ci_is_a_t_interval():
    mean, low, high = transfer.seed_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and high - mean == pytest.approx(4.302653 * 1 / math.sqrt(3), rel=1e-4)
    assert math.isnan(transfer.seed_ci([1.0])[1])


def test_paired_difference_pairs_by_seed():
    long = pd.DataFrame([dict(condition=c, task="t", metric="exact_tv", value=v, train_seed=s) for c, s, v in
                         [("a", 0, 0.5), ("a", 1, 0.7), ("b", 0, 0.6), ("b", 1, 0.9), ("v", None, 0.8)]])
    paired = transfer.paired_difference(long, "a", "b")
    assert paired["value"].item() == pytest.approx(-0.15)
    against_one = transfer.paired_difference(long, "a", "v")
    assert against_one["value"].item() == pytest.approx(-0.2)


def test_improved_count():
    diff = pd.DataFrame(dict(task=["x", "y", "z"], value=[-0.1, -0.2, 0.1], ci_low=[-0.2, -0.3, 0.0],
                             ci_high=[0.05, -0.1, 0.2]))
    assert transfer.improved_count(diff) == (2, 1, 3)
    assert transfer.improved_count(diff, exclude=["y"]) == (1, 0, 2)
