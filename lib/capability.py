"""Capability checks (07_capability): MMLU by letter log-likelihood and GSM8K greedy accuracy.

MMLU follows the lm-evaluation-harness convention: raw text (no chat template), a subject line, the
question, the four choices as "A. …" to "D. …", then "Answer:"; the model's pick is the letter among
" A", " B", " C", " D" with the highest log-likelihood as the continuation. Chance is 25%.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from lib import data, reasoning
from lib.metrics import wilson_ci
from lib.sampling import SamplingParams

LETTERS = ("A", "B", "C", "D")
CHANCE = 0.25


@dataclass(frozen=True)
class Question:
    index: int            # row number in the data file
    subject: str
    question: str
    choices: tuple[str, str, str, str]
    answer: int           # 0-3


def _question(index: int, row: dict) -> Question | None:
    question, subject, choices, answer = (row.get(k) for k in ("question", "subject", "choices", "answer"))
    if not (isinstance(question, str) and question.strip() and isinstance(subject, str)
            and isinstance(choices, list) and len(choices) == 4 and all(isinstance(c, str) for c in choices)
            and isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer <= 3):
        return None
    return Question(index, subject, question, tuple(choices), answer)


def load_questions(data_dir: str | None = None) -> tuple[list[Question], data.Rows]:
    """All well-formed MMLU test questions; malformed rows are skipped and added to Rows.skipped."""
    rows = data.load_rows("mmlu", data_dir)
    parsed = [_question(i, row) for i, row in enumerate(rows.rows)]
    questions = [q for q in parsed if q is not None]
    rows.skipped += len(parsed) - len(questions)
    return questions, rows


def stratified_sample(questions: Sequence[Question], n: int, seed: int) -> list[Question]:
    """n questions spread evenly over subjects: each subject's questions shuffled (seeded), then taken one
    per subject per round, subjects in a seeded order, until n are taken."""
    by_subject: dict[str, list[Question]] = defaultdict(list)
    for question in questions:
        by_subject[question.subject].append(question)
    rng = random.Random(seed)
    subjects = sorted(by_subject)
    rng.shuffle(subjects)
    for subject in subjects:
        rng.shuffle(by_subject[subject])
    picked: list[Question] = []
    for round_ in range(max((len(v) for v in by_subject.values()), default=0)):
        for subject in subjects:
            if len(picked) == n:
                return picked
            if round_ < len(by_subject[subject]):
                picked.append(by_subject[subject][round_])
    return picked


def mmlu_prompt(question: Question) -> str:
    subject = question.subject.replace("_", " ")
    lines = [f"The following are multiple choice questions (with answers) about {subject}.", "",
             question.question.strip()]
    lines += [f"{letter}. {choice}" for letter, choice in zip(LETTERS, question.choices)]
    return "\n".join(lines) + "\nAnswer:"


def score_mmlu(backend, questions: Sequence[Question], progress: bool = True) -> pd.DataFrame:
    """One row per question: the log-likelihood of each letter, the pick (argmax) and correctness."""
    from tqdm import tqdm
    rows = []
    for question in tqdm(questions, desc="MMLU", unit="question", disable=not progress, leave=False):
        scores = backend.continuation_logprobs(mmlu_prompt(question), [f" {letter}" for letter in LETTERS])
        pick = int(np.argmax(scores))
        rows.append(dict(question=question.index, subject=question.subject, answer=LETTERS[question.answer],
                         pick=LETTERS[pick], correct=pick == question.answer,
                         **{f"logprob_{letter}": float(s) for letter, s in zip(LETTERS, scores)}))
    return pd.DataFrame(rows)


def gsm8k_greedy(backend, problems: Sequence[reasoning.Problem], max_new_tokens: int,
                 progress: bool = True) -> pd.DataFrame:
    """One greedy chain per problem: predicted answer and correctness."""
    texts = backend.complete([reasoning.prompt(p.question) for p in problems],
                             SamplingParams(temperature=0, max_new_tokens=max_new_tokens), progress=progress)
    return pd.DataFrame([dict(problem=p.index, gold=p.answer, predicted=reasoning.extract_answer(t),
                              correct=reasoning.is_correct(reasoning.extract_answer(t), p.answer), text=t)
                         for p, t in zip(problems, texts)])


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs: b (only the first right), c (only the
    second right). Under H0 each discordant pair is a fair coin."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def accuracy_row(per_item: pd.DataFrame, benchmark: str, condition: str, train_seed: int | None) -> dict:
    correct, n = int(per_item["correct"].sum()), len(per_item)
    low, high = wilson_ci(correct, n)
    return dict(benchmark=benchmark, condition=condition, train_seed=train_seed, n=n, correct=correct,
                accuracy=correct / n if n else float("nan"), ci_low=low, ci_high=high)


def paired_test(vanilla: pd.DataFrame, trained: pd.DataFrame, key: str) -> dict:
    """McNemar on the items both were asked: b = only vanilla right, c = only trained right."""
    both = vanilla[[key, "correct"]].merge(trained[[key, "correct"]], on=key, suffixes=("_vanilla", "_trained"))
    b = int((both["correct_vanilla"] & ~both["correct_trained"]).sum())
    c = int((~both["correct_vanilla"] & both["correct_trained"]).sum())
    return dict(n=len(both), only_vanilla=b, only_trained=c, p_value=mcnemar_exact(b, c))


def evaluate(condition, questions: Sequence[Question], problems: Sequence[reasoning.Problem],
             max_new_tokens: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(MMLU per question, GSM8K greedy per problem) for one condition, through the one cache (keyed by the
    weights, the adapter and the items): an interrupted run keeps the conditions it finished, and a cached
    condition loads no model."""
    mmlu = condition.cached("mmlu", [mmlu_prompt(q) for q in questions],
                            lambda backend: score_mmlu(backend, questions).to_dict("records"))
    gsm8k = condition.cached("gsm8k-greedy", [reasoning.prompt(p.question) for p in problems],
                             lambda backend: gsm8k_greedy(backend, problems, max_new_tokens).to_dict("records"),
                             params=dict(temperature=0, max_new_tokens=max_new_tokens))
    return pd.DataFrame(mmlu), pd.DataFrame(gsm8k)
