import math

import pytest

from lib import rewards, tasks

INT100 = tasks.get("integer_1_100")


def _chat(text):
    return [{"role": "assistant", "content": text}]


def test_rewards_read_replies_strictly():
    reward = rewards.make_reward("validity", INT100, group_size=4)
    got = reward(prompts=[None] * 4, completions=[_chat("42"), _chat("My number is 42."), _chat("94, 35, 12"), _chat("1000")])
    assert got == [1.0, -1.0, -1.0, -1.0]


def test_uniqueness_reward_is_one_minus_group_share():
    scores = rewards.uniqueness_scores(["7", "7", "9", None], group_size=4)
    assert scores == [0.5, 0.5, 0.75, -1.0]


def test_uniqueness_reward_works_group_by_group():
    scores = rewards.uniqueness_scores(["1", "1", "1", "2"], group_size=2)
    assert scores == [0.0, 0.0, 0.5, 0.5]


def test_histogram_reward_prefers_rare_answers_and_updates_after_scoring():
    hist = rewards.RunningHistogram(k=100, counts={"42": 50})
    first = hist.scores(["42", "17", None])
    assert first[2] == -1.0
    assert first[1] > first[0]                               # never-seen beats heavily-seen
    assert first[1] == pytest.approx(min(1.0, -math.log(1 / 150) / math.log(100)))
    assert hist.counts["17"] == 1 and hist.counts["42"] == 51
    assert all(-1.0 <= s <= 1.0 for s in first)


def test_histogram_reward_of_a_valid_answer_is_never_below_an_invalid_one():
    hist = rewards.RunningHistogram(k=10, counts={"3": 10_000})
    assert hist.scores(["3"])[0] > -1.0


def test_histogram_state_round_trips():
    hist = rewards.RunningHistogram(k=100)
    hist.scores(["5", "5", "6"])
    again = rewards.RunningHistogram(**hist.state())
    assert again.scores(["5"]) == rewards.RunningHistogram(**hist.state()).scores(["5"])
    assert again.counts["5"] == 3


def test_reward_logs_valid_rate():
    logged = {}
    reward = rewards.make_reward("uniqueness", INT100, group_size=2)
    reward(prompts=[None] * 2, completions=[_chat("5"), _chat("hello")], log_metric=lambda k, v: logged.setdefault(k, v))
    assert logged["valid_rate"] == 0.5


def test_unknown_reward_kind_names_the_allowed_ones():
    with pytest.raises(ValueError, match="validity, uniqueness, histogram"):
        rewards.make_reward("entropy", INT100, group_size=2)
