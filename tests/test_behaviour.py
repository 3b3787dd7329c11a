"""The behavioural rows (01, 03, 05 share them) and the readable tables built on them."""
import math

import numpy as np
import pandas as pd
import pytest

from lib import behaviour, distributions, results, tables, tasks
from lib.distributions import ExactDistribution, Samples


def _samples(task_id: str, replies: list[str]) -> dict[str, Samples]:
    return {task_id: Samples(tasks.get(task_id), replies)}


@pytest.mark.parametrize("task_id, draw", [
    ("integer_1_100", lambda rng, n: [str(rng.integers(1, 101)) for _ in range(n)]),
    ("integer_1_10", lambda rng, n: [str(rng.choice([3, 7, 7, 7])) for _ in range(n)]),
    ("color", lambda rng, n: [rng.choice(["red", "Blue", "doritoba", "taupe", "hm"]) for _ in range(n)]),
])
@pytest.mark.parametrize("n", [12, 50, 200])
def test_every_sampled_interval_contains_its_estimate(task_id, draw, n):
    rng = np.random.default_rng(n)
    rows = distributions.sampled_rows(_samples(task_id, draw(rng, n)), "vanilla", 1.0, 0, "behav", n_boot=200,
                                      n_sim=500)
    with_ci = [r for r in rows if "ci_low" in r and not math.isnan(r["value"])]
    assert with_ci and all(r["ci_low"] <= r["value"] <= r["ci_high"] for r in with_ci)


def test_sampled_rows_read_a_uniform_sampler_as_uniform():
    replies = [str(i % 10 + 1) for i in range(200)]          # every answer equally often
    rows = {r["metric"]: r for r in distributions.sampled_rows(_samples("integer_1_10", replies), "v", 1.0, 0,
                                                               "behav", n_boot=100, n_sim=500)}
    assert rows["behav_effective_share"]["value"] == pytest.approx(1.0, abs=0.05)   # unbiased Σp², not plug-in
    assert rows["behav_tv_p"]["value"] > 0.5 and rows["behav_tv"]["value"] == 0.0
    assert rows["behav_valid_rate"]["value"] == 1.0 and rows["behav_top_share"]["value"] == 0.1


def test_gibberish_is_invalid_not_spread():
    rows = {r["metric"]: r["value"] for r in distributions.sampled_rows(
        _samples("word", ["doritoba", "Popehsten", "ocean", "ocean"]), "v", 1.0, 0, "behav", n_boot=0, n_sim=100)}
    assert rows["behav_valid_rate"] == 0.5 and rows["behav_distinct"] == 1


def test_exact_rows_restrict_to_the_core_list():
    task = tasks.get("color")
    p = np.full(task.k, 1e-3)
    p[task.answers.index("red")] = 0.5
    rows = {r["metric"]: r for r in distributions.exact_rows({"color": ExactDistribution(task, 1.0, np.log(p))}, "v")}
    core = [task.answers.index(a) for a in tasks.answer_sets.CORE["color"]]
    q = p / p.sum()
    assert rows["core_mass"]["value"] == pytest.approx(q[core].sum())
    assert rows["core_mass"]["n"] == 11
    assert rows["exact_effective"]["value"] == pytest.approx(1 / (q ** 2).sum())
    assert rows["exact_effective_share"]["value"] == pytest.approx(1 / (q ** 2).sum() / task.k)


def test_core_lists_lie_inside_their_answer_sets():
    for task_id, core in tasks.answer_sets.CORE.items():
        assert set(core) <= set(tasks.get(task_id).answers) and len(set(core)) == len(core) >= 10


def test_lexicon_examples_count_what_the_check_turned_away():
    frame = behaviour.lexicon_examples(_samples("word", ["doritoba", "lantern", "ocean", "doritoba", "???"]))
    row = frame.iloc[0]
    assert (row["accepted"], row["rejected"]) == (1, 2)
    assert row["accepted_examples"] == "lantern" and row["rejected_examples"] == "doritoba"


def test_readable_table_writes_estimate_and_interval_in_one_cell():
    long = results.tidy([dict(condition="v", task="card_suit", metric="behav_effective_share", value=0.5412,
                              ci_low=0.46, ci_high=0.63),
                         dict(condition="v", task="card_suit", metric="behav_valid_rate", value=0.9, ci_low=0.85,
                              ci_high=0.94),
                         dict(condition="v", task="card_suit", metric="behav_tv_p", value=0.0001)])
    frame = behaviour.readable(long, {"behav_valid_rate": "valid", "behav_effective_share": "eff. share",
                                      "behav_tv_p": "p"})
    assert frame.to_dict("records") == [{"task": "card suit", "valid": "90.0% [85.0%, 94.0%]",
                                         "eff. share": "0.54 [0.46, 0.63]", "p": "< 0.001"}]
    assert tables.with_ci(3.0, 2.0, math.inf, 1) == "3.0 [2.0, ∞]" and tables.with_ci(math.nan) == "–"
