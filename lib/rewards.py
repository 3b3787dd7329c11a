"""Reward functions for GRPO on one categorical task (trl's reward-function signature).

Every reward reads a completion *strictly*: the whole reply must be one valid answer (Task.parse_strict).
Lenient parsing ("first integer anywhere") is gamed within a few steps: the model learns to emit lists.

- validity:    +1 for a strict valid reply, −1 otherwise. The control: it teaches the format only.
- uniqueness:  −1 invalid; else 1 − count_in_group / G (how rare the answer is among the G replies to the
               same prompt). Saturates once the G answers differ, so it cannot push towards all k answers.
- histogram:   −1 invalid; else min(1, −log f̂(a) / log k), f̂(a) = (count(a) + 1) / (N + k) the smoothed
               frequency of a among every valid answer sampled so far (before this batch). It is 1 for
               answers seen at most ~1/k² of the time, 0 for an answer the model always gives, and targets
               uniformity over all k answers rather than within a group.

The exact-distribution rewards read the *current policy's* exact distribution p over A (every answer scored
by teacher forcing, renormalized: p(a | bare reply), `ExactPolicy`), rescored every `refresh_every` steps:

- exact:       −log(k·p(a)), clipped to [−log k, +log k]. Positive for answers the policy gives less often
               than 1/k, negative for more often; with a group baseline this is the policy gradient of the
               entropy of p, so it targets the uniform distribution itself, not the group. The lower clip is
               never active (p ≤ 1); the upper one caps answers below p = 1/k², so one near-impossible answer
               drawn by chance cannot take the whole group's advantage.
- reverse:     +log(k·p(a)), same clip: rewards concentration (the control that narrows on purpose).
- placebo:     each valid reply scores the exact reward of an answer drawn from the current p, independently
               of what the reply said (seeded by run seed and step): the rewards the exact arm hands out, with
               the same scale and spread, carrying no information about the reply, so the update has the
               exact arm's size and no direction. (Fixed random values per answer are not a placebo: the
               policy learns to prefer the answers that drew high values and narrows, as the collapse arm does.)
Invalid replies score −(log k + 1), below every valid reply.

Every reward is rounded to a multiple of 2⁻¹² (`on_grid`) before trl sees it. trl's advantage is
(r − group mean) / (group std + 1e−4) in float32; for a group whose replies all earn the same reward the
mean of eight equal floats can miss them by one unit in the last place (−(log 100 + 1): 4.8e−7), which gives
every reply the same small advantage of one sign, and Adam scales that to a full learning-rate step: a group
with no signal (all invalid, or one answer eight times) reinforced or penalised its own replies. On the grid,
sums of a group's rewards are exact, equal rewards have advantage exactly 0 and such a group contributes no
gradient. (SmolLM2's exact, placebo and reverse arms at seed 0, whose groups were all invalid for 14 of 15
steps, trained to the same adapter that way.)

kl_uniform and self_distill are not rewards: they name the objectives of lib.direct, which trains the adapter
by gradient descent on exact scores, with no sampling.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Callable

import numpy as np

from lib.tasks import Task

EXACT_REWARDS = ("exact", "reverse", "placebo")       # read the policy's own exact distribution (ExactPolicy)
# Rewards whose meaning changed after adapters were trained with them: the revision enters the adapter's
# identity (lib.grpo.recipe_identity), so an adapter trained under the old meaning is never read back.
# placebo 2: a draw per reply (1 was fixed random values per answer); placebo 3, exact, reverse and histogram 2:
# rewards on the 2^-12 grid (uniqueness 2 as well where G is not a power of 2; validity is ±1, always on it).
REVISIONS = {"placebo": 3, "exact": 2, "reverse": 2, "histogram": 2, "uniqueness": 2}
REWARD_GRID = 2.0 ** -12
DIRECT_OBJECTIVES = ("kl_uniform", "self_distill")    # trained by lib.direct, not GRPO
REWARDS = ("validity", "uniqueness", "histogram", *EXACT_REWARDS, *DIRECT_OBJECTIVES)


def on_grid(scores: list[float]) -> list[float]:
    """Each score rounded to a multiple of REWARD_GRID: exact in float32 and in sums of a group's scores, so a
    group of equal rewards has advantage exactly 0 (see the module docstring)."""
    return [round(s / REWARD_GRID) * REWARD_GRID for s in scores]


def completion_text(completion) -> str:
    """trl passes chat completions as [{"role": "assistant", "content": ...}], plain ones as str."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def validity_scores(answers: list[str | None]) -> list[float]:
    return [1.0 if a is not None else -1.0 for a in answers]


def uniqueness_scores(answers: list[str | None], group_size: int) -> list[float]:
    scores = []
    for start in range(0, len(answers), group_size):
        group = answers[start:start + group_size]
        counts = Counter(a for a in group if a is not None)
        scores += [-1.0 if a is None else 1.0 - counts[a] / len(group) for a in group]
    return scores


class RunningHistogram:
    """Counts of every valid answer sampled so far; saved with checkpoints so a resumed run matches."""

    def __init__(self, k: int, counts: dict[str, int] | None = None):
        self.k = k
        self.counts: Counter = Counter(counts or {})

    def scores(self, answers: list[str | None]) -> list[float]:
        total = sum(self.counts.values())
        out = []
        for a in answers:
            if a is None:
                out.append(-1.0)
                continue
            freq = (self.counts[a] + 1) / (total + self.k)
            out.append(min(1.0, -math.log(freq) / math.log(self.k)))
        self.counts.update(a for a in answers if a is not None)
        return out

    def state(self) -> dict:
        return {"k": self.k, "counts": dict(self.counts)}


def exact_clip(k: int) -> float:
    """The bound of the exact-distribution rewards: log k (see the module docstring)."""
    return math.log(k)


def invalid_penalty(k: int) -> float:
    """What an invalid reply scores under the exact-distribution rewards: below every valid reply."""
    return -(exact_clip(k) + 1.0)


def surprise_values(p: np.ndarray) -> np.ndarray:
    """−log(k·p(a)) per answer, clipped to ±log k: the exact reward of every answer of A."""
    k = p.size
    with np.errstate(divide="ignore"):
        return np.clip(-np.log(k * np.asarray(p, dtype=float)), -exact_clip(k), exact_clip(k))


def placebo_draws(p: np.ndarray, size: int, seed: int, step: int) -> np.ndarray:
    """`size` exact-reward values of answers drawn from p, independent of any reply (seeded by seed and step,
    so a resumed run draws what an uninterrupted one did)."""
    picks = np.random.default_rng([seed, step]).choice(p.size, size=size, p=np.asarray(p, dtype=float) / np.sum(p))
    return surprise_values(p)[picks]


def answer_scores(values: np.ndarray, answers: list[str | None], task: Task) -> list[float]:
    """values[index of a in A] per reply; invalid replies get invalid_penalty."""
    index = {a: i for i, a in enumerate(task.answers)}
    return [invalid_penalty(task.k) if a is None else float(values[index[a]]) for a in answers]


class ExactPolicy:
    """The current policy's exact distribution over A (renormalized), for the exact-distribution rewards.

    `scorer()` scores the model being trained (lib.grpo binds it once the trainer exists). The distribution
    is rescored when `refresh_every` steps have passed since the last scoring; between scorings the last one
    is reused. The last scoring is saved with checkpoints, so a resumed run rewards exactly as an
    uninterrupted one."""

    def __init__(self, task: Task, refresh_every: int = 1, seed: int = 0, state: dict | None = None):
        self.task, self.refresh_every, self.seed = task, refresh_every, seed
        self.scorer: Callable[[], np.ndarray] | None = None
        state = state or {}
        self.p = np.array(state["p"]) if state.get("p") is not None else None
        self.scored_at: int | None = state.get("scored_at")

    def distribution(self, step: int) -> np.ndarray:
        if self.p is None or self.scored_at is None or step >= self.scored_at + self.refresh_every:
            if self.scorer is None:
                raise RuntimeError("ExactPolicy has no scorer: bind the model being trained first")
            self.p, self.scored_at = np.asarray(self.scorer(), dtype=float), step
        return self.p

    def state(self) -> dict:
        as_list = lambda a: None if a is None else [float(x) for x in a]   # noqa: E731
        return {"p": as_list(self.p), "scored_at": self.scored_at}


def exact_family_scores(kind: str, policy: ExactPolicy, answers: list[str | None], step: int) -> list[float]:
    """The exact, reverse or placebo reward of each reply at a training step."""
    p = policy.distribution(step)
    if kind == "placebo":
        draws = iter(placebo_draws(p, len(answers), policy.seed, step))
        return [invalid_penalty(policy.task.k) if a is None else float(next(draws)) for a in answers]
    values = surprise_values(p)
    return answer_scores(values if kind == "exact" else -values, answers, policy.task)


def all_processes(answers: list) -> tuple[list, int]:
    """(every training process's answers in rank order, where this process's own begin).

    One process (CPU, one GPU): the answers themselves. Under `accelerate launch` a group of G replies is
    split across processes and trl scores each slice where it was generated, so the group-wise and running-
    histogram rewards need the whole batch (and every process then keeps the same histogram).
    """
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return answers, 0
    parts: list = [None] * dist.get_world_size()
    dist.all_gather_object(parts, answers)
    return [a for part in parts for a in part], sum(len(part) for part in parts[:dist.get_rank()])


def make_reward(kind: str, task: Task, group_size: int, histogram: RunningHistogram | None = None,
                policy: ExactPolicy | None = None) -> Callable:
    """A trl reward function for `task`; it also logs the strict-valid rate and distinct answers.
    The exact-distribution rewards need `policy` (bound to the model being trained)."""
    if kind not in REWARDS or kind in DIRECT_OBJECTIVES:
        allowed = [r for r in REWARDS if r not in DIRECT_OBJECTIVES]
        raise ValueError(f"unknown reward {kind!r}; allowed: {', '.join(allowed)}"
                         + (" (this one is a lib.direct objective)" if kind in DIRECT_OBJECTIVES else ""))
    if kind == "histogram" and histogram is None:
        histogram = RunningHistogram(task.k)
    if kind in EXACT_REWARDS and policy is None:
        raise ValueError(f"the {kind} reward needs an ExactPolicy bound to the model being trained")

    def reward(prompts, completions, log_metric=None, trainer_state=None, **kwargs) -> list[float]:
        return on_grid(scores_of(completions, log_metric, trainer_state))

    def scores_of(completions, log_metric, trainer_state) -> list[float]:
        answers = [task.parse_strict(completion_text(c)) for c in completions]
        if log_metric is not None:
            log_metric("valid_rate", sum(a is not None for a in answers) / len(answers))
            log_metric("distinct_answers", len({a for a in answers if a is not None}))
        if kind == "validity":
            return validity_scores(answers)
        if kind in EXACT_REWARDS:      # per reply: no need to see the other processes' replies
            return exact_family_scores(kind, policy, answers, trainer_state.global_step if trainer_state else 0)
        everyone, start = all_processes(answers)
        scores = uniqueness_scores(everyone, group_size) if kind == "uniqueness" else histogram.scores(everyone)
        return scores[start:start + len(answers)]

    reward.__name__ = f"{kind}_reward"
    reward.histogram = histogram
    reward.policy = policy
    return reward
