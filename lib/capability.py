"""Capability checks (07_capability): MMLU by letter log-likelihood and GSM8K greedy accuracy.

MMLU follows the lm-evaluation-harness convention: raw text (no chat template), a subject line, the
question, the four choices as "A. …" to "D. …", then "Answer:"; the model's pick is the letter among
" A", " B", " C", " D" with the highest log-likelihood as the continuation. Chance is 25%.

A model that prefers one letter scores by where the answers happen to sit. The option-permutation-averaged
score removes that prior: each question is also scored with its options cyclically shifted (the four
shifts of A–D put every option under every letter once) and its score is the mean correctness over the
shifts. Shift 0 is the harness prompt itself, read from the same cache entry, so nothing is scored twice.

Beside MMLU and GSM8K, 07 measures instruction following (lib.ifbench), strict formats (lib.formats) and
the calibration of the letter probabilities (lib.calibration); `score_table`, `comparison_table` and
`held_table` put every measure in one vocabulary: a value with its CI per condition, trained − vanilla
paired by item with its CI, test and minimum detectable difference, and a verdict per area.
"""
from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from lib import data, formats, ifbench, reasoning
from lib.metrics import paired_mean_difference, mean_ci, wilson_ci
from lib.sampling import SamplingParams
from lib.tables import condition_label
from lib.stats import holm, min_detectable_difference

LETTERS = ("A", "B", "C", "D")
CHANCE = 0.25
PERMUTATIONS = {"none": (0,), "cyclic": (0, 1, 2, 3)}     # params' mmlu_permutations -> the shifts scored
ALPHA, POWER = 0.05, 0.8


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


def detectable_accuracy_difference(n: int, p0: float) -> float:
    """The accuracy difference a paired two-sided test at ALPHA detects with probability POWER on n items,
    at the baseline accuracy p0, assuming the two models err independently (lib.stats; conservative for
    models of one family, which discord less). At p0 = 0 or 1 the approximation has no variance, so p0 is
    kept half an item inside (0, 1)."""
    if n < 1 or p0 != p0:
        return float("nan")
    p0 = min(max(p0, 0.5 / n), 1 - 0.5 / n)
    return min_detectable_difference(n, p0, ALPHA, POWER, paired=True)


def detectable_from_standard_error(standard_error: float) -> float:
    """(z_{1−α/2} + z_power)·SE: the difference a two-sided test at ALPHA detects with probability POWER when
    the estimate's standard error is SE (lib.stats' formula with the variance already divided by n)."""
    return min_detectable_difference(1, 0.5, ALPHA, POWER, paired=True, discordant=1.0) * standard_error


def paired_test(vanilla: pd.DataFrame, trained: pd.DataFrame, key: str) -> dict:
    """McNemar on the items both were asked: b = only vanilla right, c = only trained right; with the
    accuracy difference (trained − vanilla) and the minimum detectable difference at 80% power."""
    both = vanilla[[key, "correct"]].merge(trained[[key, "correct"]], on=key, suffixes=("_vanilla", "_trained"))
    b = int((both["correct_vanilla"] & ~both["correct_trained"]).sum())
    c = int((~both["correct_vanilla"] & both["correct_trained"]).sum())
    n = len(both)
    p0 = float(both["correct_vanilla"].mean()) if n else float("nan")
    return dict(n=n, only_vanilla=b, only_trained=c, p_value=mcnemar_exact(b, c),
                difference=(c - b) / n if n else float("nan"), mdd=detectable_accuracy_difference(n, p0))


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


def sign_flip_test(differences: Sequence[float], n_perm: int = 10_000, seed: int = 0) -> float:
    """Two-sided paired randomization test of mean difference 0: under H0 each item's difference is as
    likely positive as negative. Exact over all 2^m sign patterns of the m non-zero differences when
    m ≤ 14, else n_perm random patterns and p = (1 + #{|mean*| ≥ |mean|}) / (1 + n_perm)."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d) & (d != 0)]
    if d.size == 0:
        return 1.0
    observed = abs(d.sum()) - 1e-12 * np.abs(d).sum()
    if d.size <= 14:
        signs = np.array(np.meshgrid(*[[-1, 1]] * d.size)).reshape(d.size, -1).T
        return float((np.abs(signs @ d) >= observed).mean())
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(n_perm, d.size))
    return float((1 + (np.abs(signs @ d) >= observed).sum()) / (1 + n_perm))


# -- every capability measure in one vocabulary: values, paired comparisons, held or not ----------------
@dataclass(frozen=True)
class Measure:
    area: str            # knowledge, reasoning, instruction following, formats, calibration
    benchmark: str       # what a reader calls it: "MMLU", "IFBench", "formats: json", ...
    metric: str          # its name in lib.vocabulary.METRICS


AREAS = ("knowledge", "reasoning", "instruction following", "formats", "calibration")
# The one measure per area that says whether capability held (knowledge falls back to the harness score
# when permutations are off).
HEADLINE = {"knowledge": ("mmlu_permuted_accuracy", "mmlu_accuracy"), "reasoning": ("gsm8k_accuracy",),
            "instruction following": ("ifbench_prompt_strict",), "formats": ("format_pass_rate:formats: all",),
            "calibration": ("mmlu_ece",)}
LOWER_IS_BETTER = {"mmlu_ece"}
ECE = Measure("calibration", "MMLU", "mmlu_ece")


def _is_binary(correct: pd.Series) -> bool:
    """Right/wrong items hold booleans; averaged scores hold floats (even when every one is 0 or 1)."""
    return pd.api.types.is_bool_dtype(correct)


def _contains(value: float, low: float, high: float) -> tuple[float, float]:
    """An interval widened, if need be, to hold its point estimate (a degenerate bootstrap can miss it)."""
    return (min(low, value), max(high, value)) if value == value and low == low else (low, high)


def score_row(items: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict:
    """The mean of `correct` over items with its 95% CI: Wilson for right/wrong items, a percentile bootstrap
    over items for scores between 0 and 1 (permutation-averaged MMLU)."""
    n = len(items)
    if n == 0:
        return dict(n=0, value=float("nan"), ci_low=float("nan"), ci_high=float("nan"), interval="")
    if _is_binary(items["correct"]):
        correct = int(items["correct"].astype(bool).sum())
        return dict(n=n, value=correct / n, **dict(zip(("ci_low", "ci_high"), wilson_ci(correct, n))),
                    interval="Wilson")
    value, low, high = mean_ci(items["correct"].astype(float).to_numpy(), n_boot, seed)
    low, high = _contains(value, low, high)
    return dict(n=n, value=value, ci_low=low, ci_high=high, interval="bootstrap over items")


def score_table(items: dict, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per condition and measure. `items`: {(condition, train_seed): {Measure: frame with `item`
    and `correct`}}."""
    rows = [dict(area=m.area, benchmark=m.benchmark, metric=m.metric, condition=condition, train_seed=train_seed,
                 **score_row(frame, n_boot, seed))
            for (condition, train_seed), measures in items.items() for m, frame in measures.items()]
    return pd.DataFrame(rows)


def paired_proportion_interval(both: int, only_vanilla: int, only_trained: int, neither: int,
                               level: float = 0.95) -> tuple[float, float]:
    """95% interval for trained − vanilla accuracy on paired right/wrong items: Newcombe's hybrid score
    interval (1998, method 10), built from each side's Wilson interval and the correlation φ of the pairs,
    with Newcombe's continuity correction of a positive φ (ad − bc less n/2), without which perfectly
    agreeing pairs (φ = 1) would give an interval of width 0. Unlike a bootstrap over items it keeps its
    width when every pair agrees (the difference is then 0, but not known to be exactly 0), and it always
    contains the estimate."""
    n = both + only_vanilla + only_trained + neither
    if n == 0:
        return (float("nan"), float("nan"))
    p_v, p_t = (both + only_vanilla) / n, (both + only_trained) / n
    (l_v, u_v), (l_t, u_t) = wilson_ci(both + only_vanilla, n, level), wilson_ci(both + only_trained, n, level)
    margins = (both + only_vanilla) * (only_trained + neither) * (both + only_trained) * (only_vanilla + neither)
    association = both * neither - only_vanilla * only_trained
    if association > 0:
        association = max(association - n / 2, 0.0)
    phi = association / math.sqrt(margins) if margins else 0.0
    below = math.sqrt(max(0.0, (p_t - l_t) ** 2 - 2 * phi * (p_t - l_t) * (u_v - p_v) + (u_v - p_v) ** 2))
    above = math.sqrt(max(0.0, (u_t - p_t) ** 2 - 2 * phi * (u_t - p_t) * (p_v - l_v) + (p_v - l_v) ** 2))
    difference = p_t - p_v
    return (max(-1.0, difference - below), min(1.0, difference + above))


def compare_items(vanilla: pd.DataFrame, trained: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict:
    """trained − vanilla on the items both have, paired by `item`: the difference in mean `correct` with its
    95% CI — Newcombe's paired score interval and the exact McNemar test for right/wrong items, a bootstrap
    over items and a sign-flip test for fractional scores (permutation-averaged MMLU); only_vanilla /
    only_trained count the items where that side scored higher; mdd at vanilla's score."""
    both = vanilla[["item", "correct"]].merge(trained[["item", "correct"]], on="item", suffixes=("_v", "_t"))
    n = len(both)
    v, t = both["correct_v"].astype(float), both["correct_t"].astype(float)
    only_vanilla, only_trained = int((v > t).sum()), int((t > v).sum())
    binary = _is_binary(both["correct_v"]) and _is_binary(both["correct_t"])
    if binary:
        p = mcnemar_exact(only_vanilla, only_trained)
        difference = (only_trained - only_vanilla) / n if n else float("nan")
        agree_right = int(((v == 1) & (t == 1)).sum())
        low, high = paired_proportion_interval(agree_right, only_vanilla, only_trained,
                                               n - agree_right - only_vanilla - only_trained)
    else:
        p = sign_flip_test(t - v, seed=seed)
        difference, low, high, _ = paired_mean_difference(t.set_axis(both["item"]), v.set_axis(both["item"]),
                                                          n_boot, seed)
        low, high = _contains(difference, low, high)
    return dict(n=n, vanilla=v.mean() if n else float("nan"), trained=t.mean() if n else float("nan"),
                difference=difference, ci_low=low, ci_high=high, only_vanilla=only_vanilla,
                only_trained=only_trained, p_value=p, test="exact McNemar" if binary else "sign-flip permutation",
                mdd=detectable_accuracy_difference(n, v.mean() if n else float("nan")))


def comparison_table(items: dict, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """trained − vanilla per trained seed and measure (compare_items), paired by item."""
    vanilla = items[("vanilla", None)]
    rows = [dict(area=m.area, benchmark=m.benchmark, metric=m.metric, condition=condition, train_seed=train_seed,
                 **compare_items(vanilla[m], frame, n_boot, seed))
            for (condition, train_seed), measures in items.items() if condition != "vanilla"
            for m, frame in measures.items() if m in vanilla]
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


def verdict(row, alpha: float = ALPHA) -> str:
    """Whether capability held on one comparison row: "worse" / "better" when the test (or, without a
    p-value, the 95% interval) finds a difference; otherwise "held": no loss detected. A loss smaller than
    the row's mdd would go unseen at this size, which is why the mdd is printed beside every verdict. A row
    with `p_holm` (held_table) is read at its Holm-adjusted p-value."""
    sign = -1.0 if row["metric"] in LOWER_IS_BETTER else 1.0      # sign · difference > 0 is better
    ends = (sign * row["ci_low"], sign * row["ci_high"])
    p = row.get("p_holm", row["p_value"])
    real = p < alpha if p == p else (min(ends) > 0 or max(ends) < 0)
    if real and sign * row["difference"] < 0:
        return "worse"
    if real and sign * row["difference"] > 0:
        return "better"
    return "held"


def _headline(frame: pd.DataFrame, area: str) -> pd.DataFrame:
    """The rows of `frame` for the area's headline measure (the first of HEADLINE[area] present)."""
    for name in HEADLINE[area]:
        metric, _, benchmark = name.partition(":")
        rows = frame[(frame["area"] == area) & (frame["metric"] == metric)]
        rows = rows[rows["benchmark"] == benchmark.strip()] if benchmark else rows
        if len(rows):
            return rows
    return frame.iloc[0:0]


def held_table(scores: pd.DataFrame, comparisons: pd.DataFrame) -> pd.DataFrame:
    """Per area and trained condition, the headline measure: vanilla's and trained's values, the paired
    difference with its CI, p-value, its Holm adjustment over the area's compared conditions (one family per
    area: "did this area get worse under any of them"), minimum detectable difference, and the verdict read
    at the adjusted p (ECE has no p-value: its verdict reads the unadjusted interval)."""
    rows = []
    for area in AREAS:
        compared = _headline(comparisons, area)
        compared = compared.assign(p_holm=holm(compared["p_value"].to_numpy()))
        valued = _headline(scores, area)
        for row in compared.to_dict("records"):
            own = valued[(valued["condition"] == row["condition"]) & (valued["train_seed"] == row["train_seed"])]
            base = valued[valued["condition"] == "vanilla"]
            rows.append(dict(area=area, benchmark=row["benchmark"], metric=row["metric"], condition=row["condition"],
                             train_seed=row["train_seed"], n=row["n"],
                             **{f"vanilla{s}": base[c].iloc[0] if len(base) else float("nan")
                                for s, c in (("", "value"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high"))},
                             **{f"trained{s}": own[c].iloc[0] if len(own) else float("nan")
                                for s, c in (("", "value"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high"))},
                             difference=row["difference"], ci_low=row["ci_low"], ci_high=row["ci_high"],
                             p_value=row["p_value"], p_holm=row["p_holm"], mdd=row["mdd"], verdict=verdict(row)))
    return pd.DataFrame(rows)


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


# -- tables a person reads -------------------------------------------------------------------------------
def readable_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per measure, one column per condition: "value [low, high]" (n in the last column)."""
    from lib.tables import ci_column
    frame = scores.assign(label=[condition_label(c, s) for c, s in zip(scores["condition"], scores["train_seed"])],
                          cell=ci_column(scores, 3))
    wide = frame.pivot_table(index=["area", "benchmark", "metric"], columns="label", values="cell",
                             aggfunc="first", sort=False)
    n = frame.groupby(["area", "benchmark", "metric"], sort=False)["n"].max()
    return wide.assign(n=n).reset_index().rename_axis(columns=None)


def readable_letters(letters: pd.DataFrame) -> pd.DataFrame:
    """pick_shares as one row per condition and scope, one column per letter (shares as percentages)."""
    frame = letters.assign(condition_label=[condition_label(c, s)
                                            for c, s in zip(letters["condition"], letters["train_seed"])])
    wide = frame.pivot_table(index=["condition_label", "task"], columns="answer", values="value", aggfunc="first",
                             sort=False)
    return (wide * 100).round(0).astype(int).astype(str).add("%").reset_index().rename(
        columns={"condition_label": "condition", "task": "prompts"}).rename_axis(columns=None)


def readable_comparisons(comparisons: pd.DataFrame) -> pd.DataFrame:
    """trained − vanilla per measure and seed: the difference with its CI in one cell, p, test, mdd, and the
    verdict at the unadjusted p (the held table reads the headline measures at Holm-adjusted p)."""
    from lib.tables import ci_column
    frame = comparisons.copy()
    return pd.DataFrame(dict(
        area=frame["area"], benchmark=frame["benchmark"], metric=frame["metric"],
        trained=[condition_label(c, s) for c, s in zip(frame["condition"], frame["train_seed"])], n=frame["n"],
        difference=ci_column(frame, 3, value="difference"),
        p_value=frame["p_value"].round(3), test=frame["test"], mdd=frame["mdd"].round(3),
        verdict_unadjusted=[verdict(row) for row in frame.to_dict("records")]))


def readable_held(held: pd.DataFrame) -> pd.DataFrame:
    """The held-or-not table with each estimate and its CI in one cell."""
    from lib.tables import with_ci
    cells = lambda *columns: [with_ci(*v, digits=3) for v in held[list(columns)].to_numpy()]  # noqa: E731
    return pd.DataFrame(dict(
        area=held["area"], measure=held["benchmark"] + " · " + held["metric"],
        trained=[condition_label(c, s) for c, s in zip(held["condition"], held["train_seed"])], n=held["n"],
        vanilla=cells("vanilla", "vanilla_ci_low", "vanilla_ci_high"),
        trained_value=cells("trained", "trained_ci_low", "trained_ci_high"),
        difference=cells("difference", "ci_low", "ci_high"),
        p_value=held["p_value"].round(3), p_holm=held.get("p_holm", held["p_value"] * float("nan")).round(3),
        mdd=held["mdd"].round(3),
        verdict=held["verdict"]))
