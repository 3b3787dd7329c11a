"""Capability checks (07_capability): MMLU by letter log-likelihood and GSM8K greedy accuracy.

MMLU follows the lm-evaluation-harness convention: raw text (no chat template), a subject line, the
question, the four choices as "A. …" to "D. …", then "Answer:"; the model's pick is the letter among
" A", " B", " C", " D" with the highest log-likelihood as the continuation. Chance is 25%.

A model that prefers one letter scores by where the answers happen to sit. The option-permutation-averaged
score removes that prior: each question is also scored with its options cyclically shifted (the four
shifts of A–D put every option under every letter once) and its score is the mean correctness over the
shifts. Shift 0 is the harness prompt itself, read from the same cache entry, so nothing is scored twice.

Beside MMLU and GSM8K, 07 measures instruction following (lib.ifbench), strict formats (lib.formats) and
the calibration of the letter probabilities (lib.calibration); lib.capability_verdicts puts every measure
in one vocabulary: a value with its CI per condition, trained − vanilla paired by item with its CI, test
and minimum detectable difference, and a verdict per area.
"""
from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from lib import data, formats, ifbench, reasoning
from lib.sampling import SamplingParams
from lib.capability_verdicts import ECE, Measure, detectable_from_standard_error
from lib.tables import condition_label

LETTERS = ("A", "B", "C", "D")
CHANCE = 0.25
PERMUTATIONS = {"none": (0,), "cyclic": (0, 1, 2, 3)}     # params' mmlu_permutations -> the shifts scored


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


def rotate(question: Question, shift: int) -> Question:
    """The question with its options cyclically shifted by `shift`: option i moves to letter i − shift."""
    shift %= len(LETTERS)
    choices = question.choices[shift:] + question.choices[:shift]
    return Question(question.index, question.subject, question.question, choices, (question.answer - shift) % 4)


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


def mmlu_scores(condition, questions: Sequence[Question], shifts: Sequence[int] = (0,)) -> pd.DataFrame:
    """Per question and shift: the letter scores of the question with its options shifted (rotate), through
    the one cache. Shift 0 is the harness prompt, the entry `evaluate` reads and writes."""
    frames = []
    for shift in shifts:
        rotated = [rotate(q, shift) for q in questions]
        rows = condition.cached("mmlu", [mmlu_prompt(q) for q in rotated],
                                lambda backend: score_mmlu(backend, rotated).to_dict("records"))
        frames.append(pd.DataFrame(rows).assign(shift=shift))
    return pd.concat(frames, ignore_index=True)


def permutation_averaged(scores: pd.DataFrame) -> pd.DataFrame:
    """Per question: `correct`, the mean correctness over the scored shifts (0, 1/4, … 1 for four), and how
    many shifts were scored."""
    grouped = scores.groupby("question", sort=False)["correct"]
    return pd.DataFrame(dict(question=grouped.mean().index, correct=grouped.mean().to_numpy(),
                             shifts=grouped.size().to_numpy()))


def pick_shares(scores: dict) -> pd.DataFrame:
    """Share of each letter among the picks, per condition: over the harness prompts (shift 0), and over
    every scored shift (where the answers sit under each letter equally often, so a flat model picks 25%
    each). `scores`: {(condition, train_seed): mmlu_scores frame}."""
    rows = []
    for (condition, train_seed), frame in scores.items():
        scopes = {"harness (shift 0)": frame[frame["shift"] == 0]}
        if frame["shift"].nunique() > 1:
            scopes["all shifts"] = frame
        for scope, part in scopes.items():
            counts = part["pick"].value_counts()
            for letter in LETTERS:
                rows.append(dict(condition=condition, train_seed=train_seed, task=scope, metric="pick_share",
                                 answer=letter, value=counts.get(letter, 0) / len(part), n=len(part)))
    return pd.DataFrame(rows)


def confidence_and_correct(scores: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Harness (shift 0) MMLU rows → (confidence: the largest letter probability renormalized over A–D,
    correct: whether that letter is the answer), in question order."""
    from lib.calibration import letter_probabilities
    rows = scores[scores["shift"] == 0].sort_values("question") if "shift" in scores else scores.sort_values("question")
    probabilities = letter_probabilities(rows[[f"logprob_{letter}" for letter in LETTERS]].to_numpy())
    return probabilities.max(axis=1), rows["correct"].astype(bool).to_numpy()


def calibration_tables(scores: dict, n_boot: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(score rows, comparison rows) for the ECE of the MMLU letter probabilities (lib.calibration): per
    condition with its bias-corrected bootstrap CI, and trained − vanilla on the same resampled questions,
    with the difference a test at 80% power detects given the bootstrap's standard error. No p-value: the
    verdict reads the interval."""
    from lib.calibration import ece_difference, ece_interval, expected_calibration_error
    measure = dict(area=ECE.area, benchmark=ECE.benchmark, metric=ECE.metric)
    values, comparisons = [], []
    base = confidence_and_correct(scores[("vanilla", None)])
    for (condition, train_seed), frame in scores.items():
        confidence, correct = confidence_and_correct(frame)
        ece, low, high = ece_interval(confidence, correct, n_boot, seed)
        values.append(dict(measure, condition=condition, train_seed=train_seed, n=len(correct), value=ece,
                           ci_low=low, ci_high=high, interval="bias-corrected bootstrap over items"))
        if condition == "vanilla":
            continue
        difference, low, high, standard_error = ece_difference((confidence, correct), base, n_boot, seed)
        comparisons.append(dict(measure, condition=condition, train_seed=train_seed, n=len(correct),
                                vanilla=expected_calibration_error(*base), trained=ece, difference=difference,
                                ci_low=low, ci_high=high, only_vanilla=float("nan"), only_trained=float("nan"),
                                p_value=float("nan"), test="paired bootstrap interval",
                                mdd=detectable_from_standard_error(standard_error) if standard_error > 0
                                else float("nan")))
    return pd.DataFrame(values), pd.DataFrame(comparisons)


# -- one condition, every benchmark --------------------------------------------------------------------
@dataclass(frozen=True)
class Measured:
    """What one condition did on every 07 benchmark, per item."""
    mmlu: pd.DataFrame          # per question and shift (mmlu_scores)
    gsm8k: pd.DataFrame         # per problem (gsm8k_greedy)
    ifbench: pd.DataFrame       # per prompt and instruction (ifbench.instruction_table)
    formats: pd.DataFrame       # per format item (formats.item_table)
    seconds: float              # wall time to measure it (cache reads included)

    @property
    def harness(self) -> pd.DataFrame:
        """The harness-convention MMLU rows (shift 0), one per question."""
        return self.mmlu[self.mmlu["shift"] == 0].drop(columns="shift").reset_index(drop=True)


def measure_condition(condition, questions: Sequence[Question], problems: Sequence[reasoning.Problem],
                      prompts: Sequence[ifbench.IFPrompt], items: Sequence[formats.FormatItem], cfg) -> Measured:
    """Every 07 benchmark for one condition, through the one cache; the model loads once, and only when
    something is missing. Sizes from cfg: mmlu_permutations, max_new_tokens, ifbench_max_new_tokens,
    format_max_new_tokens."""
    start = time.perf_counter()
    _, gsm8k = evaluate(condition, questions, problems, cfg.max_new_tokens)
    mmlu = mmlu_scores(condition, questions, PERMUTATIONS[cfg.mmlu_permutations])
    instructions = ifbench.instruction_table(prompts, ifbench.replies(condition, prompts, cfg.ifbench_max_new_tokens))
    in_format = formats.item_table(items, formats.replies(condition, items, cfg.format_max_new_tokens))
    return Measured(mmlu, gsm8k, instructions, in_format, time.perf_counter() - start)


def measure_items(measured: Measured) -> dict[Measure, pd.DataFrame]:
    """Every accuracy-like measure of one condition as items (`item`, `correct`), for score_table and
    comparison_table."""
    item = lambda frame, key: frame.rename(columns={key: "item"})[["item", "correct"]]  # noqa: E731
    out = {Measure("knowledge", "MMLU", "mmlu_accuracy"): item(measured.harness, "question")}
    if measured.mmlu["shift"].nunique() > 1:
        out[Measure("knowledge", "MMLU", "mmlu_permuted_accuracy")] = item(permutation_averaged(measured.mmlu),
                                                                          "question")
    out[Measure("reasoning", "GSM8K", "gsm8k_accuracy")] = item(measured.gsm8k, "problem")
    for level in ("prompt", "instruction"):
        for mode in ("strict", "loose"):
            out[Measure("instruction following", "IFBench", f"ifbench_{level}_{mode}")] = \
                ifbench.level_items(measured.ifbench, level, mode)[["item", "correct"]]
    in_format = measured.formats
    for name in formats.FORMATS:
        out[Measure("formats", f"formats: {name}", "format_pass_rate")] = item(in_format[in_format["format"] == name],
                                                                              "item")
    out[Measure("formats", "formats: all", "format_pass_rate")] = item(in_format, "item")
    return out


def stacked(measured: dict, part: str) -> pd.DataFrame:
    """One Measured part ("harness", "mmlu", "gsm8k", "ifbench", "formats") of every condition, stacked with
    its condition and train_seed (the per-item result tables)."""
    return pd.concat([getattr(m, part).assign(condition=condition, train_seed=seed)
                      for (condition, seed), m in measured.items()], ignore_index=True)


def readable_letters(letters: pd.DataFrame) -> pd.DataFrame:
    """pick_shares as one row per condition and scope, one column per letter (shares as percentages)."""
    frame = letters.assign(condition_label=[condition_label(c, s)
                                            for c, s in zip(letters["condition"], letters["train_seed"])])
    wide = frame.pivot_table(index=["condition_label", "task"], columns="answer", values="value", aggfunc="first",
                             sort=False)
    return (wide * 100).round(0).astype(int).astype(str).add("%").reset_index().rename(
        columns={"condition_label": "condition", "task": "prompts"}).rename_axis(columns=None)
