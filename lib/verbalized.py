"""Verbalized sampling (03): the model states five answers with a probability each; one answer is drawn
from the stated distribution per reply (seeded)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from lib.conditions import Condition
from lib.distributions import Samples, sample_replies
from lib.sampling import SamplingParams, prompt_seed
from lib.tables import readable
from lib.tasks import Task

_PLURALS = {"word": "English words", "emoji": "emojis"}
_LIST_MARKER = r"(?:[-*•]\s*|\d{1,2}[.)]\s+)?"
_STATED_LINE = re.compile(
    rf"^\s*{_LIST_MARKER}(?P<answer>.+?)\s*(?:[:=,\-–—]\s*\(?|\()\s*"
    r"(?P<prob>\d+(?:\.\d+)?|\.\d+)(?:\s*/\s*(?P<denominator>\d+))?\s*(?P<pct>%)?\s*\)?\s*[.,;]?\s*$")


def verbalized_prompt(task: Task) -> str:
    """Ask for five answers with a probability each, one per line as '<answer>: <probability>'."""
    if task.kind == "integer":
        things, noun = f"integers between {task.answers[0]} and {task.answers[-1]}", "integer"
    else:
        things, noun = _PLURALS.get(task.id, f"{task.name}s"), task.name.split()[-1]
    return (f"List five different random {things} with a probability for each, one per line as "
            f"'<{noun}>: <probability>'.")


def parse_verbalized(reply: str, task: Task) -> dict[str, float] | None:
    """The distribution a reply states: {answer: probability}, renormalized to sum to 1.

    A line counts when it reads '<answer>: <number>' (also '-', '=', ',', '(0.2)', '20%', list
    markers, fractions '1/4') and the answer is a bare answer (the task's strict parser: "**Teal**" is teal, "I can't
    pick colors" is nothing); repeated answers add up. None when no
    line counts or the stated numbers sum to 0 (a parse failure).
    """
    stated: dict[str, float] = {}
    for line in str(reply).splitlines():
        match = _STATED_LINE.match(line)
        if not match:
            continue
        answer = task.parse_strict(match["answer"])
        if answer is None:
            continue
        weight = float(match["prob"]) / (100 if match["pct"] else 1)
        if match["denominator"]:
            weight = weight / float(match["denominator"]) if float(match["denominator"]) else 0.0
        stated[answer] = stated.get(answer, 0.0) + weight
    total = sum(stated.values())
    if not stated or not total > 0 or not math.isfinite(total):
        return None
    return {a: w / total for a, w in stated.items()}


def draw_verbalized(stated: Mapping[str, float], rng: np.random.Generator) -> str:
    answers = list(stated)
    return answers[rng.choice(len(answers), p=np.array([stated[a] for a in answers]))]


@dataclass
class VerbalizedSamples(Samples):
    """Replies to the verbalized prompt; `answers` are one draw per reply from the stated distribution
    (seeded), None where the reply states no usable distribution."""
    seed: int = 0

    @property
    def stated(self) -> list[dict[str, float] | None]:
        return [parse_verbalized(r, self.task) for r in self.replies]

    @property
    def answers(self) -> list[str | None]:
        rng = np.random.default_rng(prompt_seed(self.seed, self.task.id))
        return [draw_verbalized(s, rng) if s else None for s in self.stated]

    @property
    def parse_failure_rate(self) -> float:
        stated = self.stated
        return sum(s is None for s in stated) / len(stated) if stated else float("nan")

    def head(self, n: int) -> "VerbalizedSamples":
        return VerbalizedSamples(self.task, self.replies[:n], self.seed)


def verbalized_samples(condition: Condition, tasks: Sequence[Task], n: int, max_new_tokens: int,
                       seed: int) -> dict[str, VerbalizedSamples]:
    """n replies per task to its verbalized prompt, at T=1."""
    from tqdm import tqdm
    params = SamplingParams(temperature=1.0, max_new_tokens=max_new_tokens)
    return {task.id: VerbalizedSamples(task, sample_replies(condition, verbalized_prompt(task), n, params, seed), seed)
            for task in tqdm(tasks, desc=f"verbalized, {n} replies per task", unit="task")}


def verbalized_examples(verbalized: Mapping[str, VerbalizedSamples], per_task: int = 2) -> pd.DataFrame:
    """A few replies per task with the distribution read from them and the answer drawn."""
    rows = []
    for task_id, smp in verbalized.items():
        head = smp.head(per_task)
        for reply, stated, drawn in zip(head.replies, head.stated, head.answers):
            rows.append(dict(task=task_id, reply=reply, stated="–" if stated is None else
                             ", ".join(f"{a}: {p:.2f}" for a, p in stated.items()), drawn=drawn or "–"))
    return readable(pd.DataFrame(rows, columns=["task", "reply", "stated", "drawn"]),
                    {"stated": "stated distribution", "drawn": "answer drawn"})

