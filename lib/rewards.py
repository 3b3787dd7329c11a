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
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Callable

from lib.tasks import Task

REWARDS = ("validity", "uniqueness", "histogram")


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


def make_reward(kind: str, task: Task, group_size: int, histogram: RunningHistogram | None = None) -> Callable:
    """A trl reward function for `task`; it also logs the strict-valid rate and distinct answers."""
    if kind not in REWARDS:
        raise ValueError(f"unknown reward {kind!r}; allowed: {', '.join(REWARDS)}")
    if kind == "histogram" and histogram is None:
        histogram = RunningHistogram(task.k)

    def reward(prompts, completions, log_metric=None, **kwargs) -> list[float]:
        answers = [task.parse_strict(completion_text(c)) for c in completions]
        if log_metric is not None:
            log_metric("valid_rate", sum(a is not None for a in answers) / len(answers))
            log_metric("distinct_answers", len({a for a in answers if a is not None}))
        if kind == "validity":
            return validity_scores(answers)
        everyone, start = all_processes(answers)
        scores = uniqueness_scores(everyone, group_size) if kind == "uniqueness" else histogram.scores(everyone)
        return scores[start:start + len(answers)]

    reward.__name__ = f"{kind}_reward"
    reward.histogram = histogram
    return reward
