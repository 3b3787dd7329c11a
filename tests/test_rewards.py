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


# -- the exact-distribution rewards ---------------------------------------------------------------------
INT10 = tasks.get("integer_1_10")


def _skewed(k=10):
    """A skewed distribution over k answers: the first answer takes half the mass."""
    import numpy as np
    p = np.full(k, 0.5 / (k - 1))
    p[0] = 0.5
    return p


def _policy(p, refresh_every=1, seed=0):
    policy = rewards.ExactPolicy(INT10, refresh_every, seed)
    calls = []
    policy.scorer = lambda: calls.append(1) or p
    return policy, calls


def test_exact_reward_is_minus_log_k_p_with_its_sign():
    p = _skewed()
    policy, _ = _policy(p)
    reward = rewards.make_reward("exact", INT10, group_size=3, policy=policy)
    got = reward(prompts=[None] * 3, completions=[_chat("1"), _chat("2"), _chat("lots")])
    grid = rewards.REWARD_GRID / 2                                              # rewards sit on the grid
    assert got[0] == pytest.approx(-math.log(10 * 0.5), abs=grid) and got[0] < 0          # over-represented: negative
    assert got[1] == pytest.approx(-math.log(10 * 0.5 / 9), abs=grid) and got[1] > 0      # under-represented: positive
    assert got[2] == rewards.on_grid([rewards.invalid_penalty(10)])[0] < min(got[:2])


def test_exact_reward_is_zero_at_uniform_and_clipped_at_log_k():
    import numpy as np
    assert np.allclose(rewards.surprise_values(np.full(10, 0.1)), 0.0)
    tiny = np.array([1e-12] + [(1 - 1e-12) / 9] * 9)
    assert rewards.surprise_values(tiny)[0] == pytest.approx(math.log(10))


def test_exact_reward_rescores_the_policy_every_refresh_steps():
    policy, calls = _policy(_skewed(), refresh_every=2)
    reward = rewards.make_reward("exact", INT10, group_size=1, policy=policy)
    for step in range(5):
        reward(prompts=[None], completions=[_chat("3")], trainer_state=type("S", (), {"global_step": step})())
    assert len(calls) == 3                 # steps 0, 2, 4


def test_reverse_reward_is_the_exact_reward_negated_for_valid_replies():
    p = _skewed()
    exact = rewards.make_reward("exact", INT10, group_size=2, policy=_policy(p)[0])
    reverse = rewards.make_reward("reverse", INT10, group_size=2, policy=_policy(p)[0])
    replies = [_chat("1"), _chat("7")]
    assert reverse(None, replies) == [-x for x in exact(None, replies)]
    assert reverse(None, [_chat("1")])[0] > reverse(None, [_chat("7")])[0]      # rewards the mode
    assert reverse(None, [_chat("no")]) == rewards.on_grid([rewards.invalid_penalty(10)])


def test_placebo_reward_draws_the_exact_rewards_values_independently_of_the_reply():
    import numpy as np
    p = _skewed()
    values = rewards.surprise_values(p)
    draws = rewards.placebo_draws(p, 4000, seed=0, step=3)
    assert set(np.round(draws, 9)) <= set(np.round(values, 9))          # the exact reward's own values
    for v in set(np.round(values, 9)):                                  # each value as often as p gives it
        assert np.isclose(draws, v).mean() == pytest.approx(p[np.isclose(values, v)].sum(), abs=0.03)
    assert np.allclose(draws, rewards.placebo_draws(p, 4000, 0, 3))
    assert not np.allclose(draws, rewards.placebo_draws(p, 4000, 0, 4))
    policy, calls = _policy(p, refresh_every=1)
    reward = rewards.make_reward("placebo", INT10, group_size=8, policy=policy)
    state = type("S", (), {"global_step": 5})()
    same_reply = reward(None, [_chat("1")] * 8, trainer_state=state)
    assert len(set(same_reply)) > 1                                       # one answer, several rewards: no signal
    assert reward(None, [_chat("no")], trainer_state=state) == rewards.on_grid([rewards.invalid_penalty(10)])


def test_placebo_adapters_of_the_old_meaning_are_not_read_back():
    from lib import grpo
    from lib.recipes import Recipe
    placebo = Recipe(name="placebo", reward="placebo", role="placebo")
    exact = Recipe(name="exact", reward="exact")
    validity = Recipe(name="collapse", reward="validity", role="control")
    task = INT10
    model = type("Spec", (), {"source": "m"})()
    assert grpo.recipe_identity(placebo, 0, task, model)["reward_revision"] == rewards.REVISIONS["placebo"] == 3
    assert grpo.recipe_identity(exact, 0, task, model)["reward_revision"] == 2          # rewards on the grid
    assert "reward_revision" not in grpo.recipe_identity(validity, 0, task, model)      # ±1: always on it
    # every GRPO adapter trained before silent steps were skipped is retrained; the direct objectives are not GRPO
    marks = {grpo.recipe_identity(r, 0, task, model).get("silent_steps") for r in (placebo, exact, validity)}
    assert marks == {"skipped"}
    assert "silent_steps" not in grpo.recipe_identity(Recipe(name="kl", reward="kl_uniform", role="reference"), 0,
                                                      task, model)


def test_exact_policy_state_round_trips():
    policy, _ = _policy(_skewed(), refresh_every=3)
    policy.distribution(step=0)
    again = rewards.ExactPolicy(INT10, 3, 0, state=policy.state())
    assert again.scored_at == 0 and list(again.p) == pytest.approx(list(policy.p))
    again.scorer = lambda: (_ for _ in ()).throw(AssertionError("must not rescore before step 3"))
    again.distribution(2)


def test_exact_rewards_need_a_policy_and_direct_objectives_are_not_rewards():
    with pytest.raises(ValueError, match="ExactPolicy"):
        rewards.make_reward("exact", INT100, group_size=2)
    with pytest.raises(ValueError, match="lib.direct"):
        rewards.make_reward("kl_uniform", INT100, group_size=2)


def _trl_advantages(scores: list[float]) -> "torch.Tensor":
    """trl 1.16's group advantage, as GRPOTrainer computes it: float32, (r - mean) / (std + 1e-4)."""
    import torch
    r = torch.tensor(scores, dtype=torch.float32).view(-1, len(scores))
    return (r - torch.nanmean(r, dim=1, keepdim=True)) / (r.std(dim=1, keepdim=True) + 1e-4)


@pytest.mark.parametrize("kind, reply", [("exact", "no"), ("exact", "7"), ("reverse", "7"), ("histogram", "7"),
                                         ("histogram", "no"), ("uniqueness", "7"), ("validity", "no")])
def test_a_group_of_equal_rewards_has_advantage_exactly_zero(kind, reply):
    # off the grid, eight copies of -(log 100 + 1) average to a float one ulp away: every reply then gets the
    # same advantage of one sign (~5e-3), which Adam turns into a full learning-rate step
    raw = [-(math.log(100) + 1.0)] * 8
    assert _trl_advantages(raw).abs().max() > 1e-3
    policy, _ = _policy(_skewed(), refresh_every=1) if kind in rewards.EXACT_REWARDS else (None, None)
    reward = rewards.make_reward(kind, INT10, group_size=8, policy=policy)
    state = type("S", (), {"global_step": 1})()
    scores = reward(None, [_chat(reply)] * 8, trainer_state=state)
    assert len(set(scores)) == 1 and _trl_advantages(scores).abs().max() == 0


def test_rewards_sit_on_the_grid_within_half_a_step_of_their_value():
    import numpy as np
    p = _skewed()
    policy, _ = _policy(p, refresh_every=1)
    reward = rewards.make_reward("exact", INT10, group_size=8, policy=policy)
    state = type("S", (), {"global_step": 1})()
    scores = reward(None, [_chat(str(a)) for a in range(1, 9)], trainer_state=state)
    exact = rewards.surprise_values(p)[:8]
    assert np.abs(np.array(scores) - exact).max() <= rewards.REWARD_GRID / 2
    assert all((s / rewards.REWARD_GRID).is_integer() for s in scores)
