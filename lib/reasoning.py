"""GSM8K: the prompt, final-answer extraction, correctness, and the calculation path of a chain.

Prompt: zero-shot, chat-templated by the backend: the question, then "Think step by step, then give the
final answer on its own line as `#### <number>`." Zero-shot because the local data directory holds
only the test split (few-shot exemplars would come from the hub's train split).

Calculation path: the ordered sequence of distinct numbers a chain writes that are not in the question
(first occurrences only: re-using a computed value is not a new step). Two chains with the same path
computed the same intermediate values in the same order, whatever their wording.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Sequence

from lib import data

INSTRUCTION = "Think step by step, then give the final answer on its own line as '#### <number>'."

# A number: thousands groups with commas ("1,000"), or plain digits, with optional decimals. A minus
# counts as a sign only where it cannot be subtraction (not after a digit, letter or closing bracket).
_NUMBER = re.compile(r"(?:(?<![\w.)\]])-)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_FINAL = re.compile(r"####\s*(.+)")
_ANNOTATION = re.compile(r"<<[^>]*>>")      # GSM8K reference solutions carry calculator notes


@dataclass(frozen=True)
class Problem:
    index: int          # row number in the data file
    question: str
    answer: str         # the canonical final answer (see canonical)


def prompt(question: str) -> str:
    return f"{question.strip()}\n{INSTRUCTION}"


def canonical(number: str) -> str | None:
    """'1,000.50' -> '1000.5', '-3.0' -> '-3', '007' -> '7'; None when it is not a number."""
    try:
        value = Decimal(number.replace(",", "").replace("$", "").strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def numbers(text: str) -> list[str]:
    """Every number in the text, in order, canonical ("$1,200" -> "1200"; "16-3" -> "16", "3")."""
    text = _ANNOTATION.sub(" ", text).replace("$", "")
    return [c for c in (canonical(m.group()) for m in _NUMBER.finditer(text)) if c is not None]


def extract_answer(chain: str) -> str | None:
    """The final answer: the first number after the last '####', else the last number in the chain."""
    finals = _FINAL.findall(chain)
    for tail in reversed(finals):
        found = numbers(tail)
        if found:
            return found[0]
    found = numbers(chain)
    return found[-1] if found else None


def is_correct(predicted: str | None, gold: str) -> bool:
    return predicted is not None and Decimal(predicted) == Decimal(gold)


def calculation_path(chain: str, question: str) -> tuple[str, ...]:
    """The ordered distinct numbers of the chain that the question does not contain."""
    given = set(numbers(question))
    path: list[str] = []
    for number in numbers(chain):
        if number not in given and number not in path:
            path.append(number)
    return tuple(path)


def chain_words(chain: str) -> int:
    return len(chain.split())


def reference_answer(solution: str) -> str | None:
    """The final answer of a GSM8K reference solution ('... #### 72')."""
    match = _FINAL.search(solution)
    return canonical(match.group(1)) if match else None


def load_problems(data_dir: str | None = None) -> tuple[list[Problem], data.Rows]:
    """All usable GSM8K test problems, and the Rows they came from. Rows without a string question or
    a '#### <number>' answer are skipped and added to Rows.skipped (never fatal)."""
    rows = data.load_rows("gsm8k", data_dir)
    problems, bad = [], 0
    for index, row in enumerate(rows.rows):
        question, solution = row.get("question"), row.get("answer")
        gold = reference_answer(solution) if isinstance(solution, str) else None
        if not isinstance(question, str) or not question.strip() or gold is None:
            bad += 1
            continue
        problems.append(Problem(index, question, gold))
    rows.skipped += bad
    return problems, rows


def sample_problems(problems: Sequence[Problem], n: int, seed: int) -> list[Problem]:
    """A seeded sample of n problems (all of them when n is larger), in file order."""
    if n >= len(problems):
        return list(problems)
    picked = random.Random(seed).sample(range(len(problems)), n)
    return [problems[i] for i in sorted(picked)]


# -- per-chain rows and per-condition tables (06_gsm8k_paths) -------------------------------------
GROUP = ["condition", "train_seed", "temperature"]


def as_prompts(problems: Sequence[Problem]) -> list:
    """The problems as generation prompts (id gsm8k<row>), for lib.generations."""
    from lib.generations import Prompt
    return [Prompt(f"gsm8k{p.index}", "gsm8k", prompt(p.question)) for p in problems]


def chain_table(answers: "pd.DataFrame", problems: Sequence[Problem]) -> "pd.DataFrame":
    """One row per chain (from lib.generations' answers): predicted answer, correctness, calculation path
    (' > '-joined), steps and words."""
    import pandas as pd
    by_id = {f"gsm8k{p.index}": p for p in problems}
    rows = []
    for row in answers.itertuples(index=False):
        problem, chain = by_id[row.prompt_id], row.answer
        predicted = extract_answer(chain)
        path = calculation_path(chain, problem.question)
        rows.append(dict(condition=row.condition, train_seed=row.train_seed, temperature=row.temperature, problem=problem.index,
                         chain=row.sample, gold=problem.answer, predicted=predicted,
                         correct=is_correct(predicted, problem.answer), path=" > ".join(path), steps=len(path),
                         words=chain_words(chain), text=chain))
    return pd.DataFrame(rows)


def problem_table(chains: "pd.DataFrame") -> "pd.DataFrame":
    """Per condition and problem: chains, correct chains, chains that compute no new number (they all
    share the empty path) and their share of k, distinct paths among all chains, among the non-empty chains
    (NaN when every chain is empty) and among correct chains (NaN when none is correct), mean words per
    chain. Distinct paths among all chains count the empty path once, so where chains degrade into text
    without arithmetic they move with the empty share; among non-empty chains they do not."""
    import pandas as pd
    keys = GROUP + ["problem"]
    out = []
    for key, group in chains.groupby(keys, dropna=False, sort=False):
        correct, nonempty = group[group["correct"]], group[group["steps"] > 0]
        empty = int((group["steps"] == 0).sum())
        out.append(dict(zip(keys, key), k=len(group), correct=int(group["correct"].sum()),
                        empty_paths=empty, empty_share=empty / len(group), distinct_all=group["path"].nunique(),
                        distinct_nonempty=nonempty["path"].nunique() if len(nonempty) else float("nan"),
                        distinct_correct=correct["path"].nunique() if len(correct) else float("nan"),
                        words=float(group["words"].mean())))
    return pd.DataFrame(out)


def condition_table(per_problem: "pd.DataFrame", n_boot: int = 1000, seed: int = 0) -> "pd.DataFrame":
    """Per condition: means over problems with percentile-bootstrap CIs over problems. distinct_correct
    averages over the problems with at least one correct chain (n_with_correct says how many),
    distinct_nonempty over the problems with at least one non-empty chain (n_with_nonempty)."""
    import pandas as pd
    from lib.metrics import mean_ci
    out = []
    for key, group in per_problem.groupby(GROUP, dropna=False, sort=False):
        row = dict(zip(GROUP, key), problems=len(group), k=int(group["k"].max()),
                   n_with_correct=int((group["correct"] > 0).sum()),
                   n_with_nonempty=int(group["distinct_nonempty"].notna().sum()))
        for column in ("correct", "distinct_all", "distinct_nonempty", "empty_share", "distinct_correct",
                       "empty_paths", "words"):
            row[column], row[f"{column}_ci_low"], row[f"{column}_ci_high"] = \
                mean_ci(group[column].dropna(), n_boot, seed)
        out.append(row)
    return pd.DataFrame(out)


def paired_difference(per_problem: "pd.DataFrame", treated: str, column: str, n_boot: int = 1000,
                      seed: int = 0) -> "pd.DataFrame":
    """treated − vanilla on `column`, paired by problem at each temperature and treated seed, with a
    percentile-bootstrap CI over problems (problems where either side is NaN are left out), and `mdd`, the
    difference a paired test at 80% power would detect on these problems (detectable_difference)."""
    import pandas as pd
    from lib.metrics import paired_mean_difference
    base = per_problem[per_problem["condition"] == "vanilla"]
    out = []
    for (temperature, treated_seed), group in per_problem[per_problem["condition"] == treated].groupby(
            ["temperature", "train_seed"], dropna=False, sort=False):
        a = group.set_index("problem")[column]
        b = base[base["temperature"] == temperature].set_index("problem")[column]
        both = a.index.intersection(b.index)
        difference, low, high, problems = paired_mean_difference(a, b, n_boot, seed)
        out.append(dict(condition=treated, train_seed=treated_seed, temperature=temperature, metric=column,
                        problems=problems, treated=float(a.loc[both].mean()), vanilla=float(b.loc[both].mean()),
                        difference=difference, ci_low=low, ci_high=high,
                        mdd=detectable_difference((a.loc[both] - b.loc[both]).dropna().to_numpy())))
    return pd.DataFrame(out)


def detectable_difference(differences: Sequence[float]) -> float:
    """The mean paired difference a two-sided test at α = 0.05 detects with 80% power on these items:
    (z_{0.975} + z_{0.8})·sqrt(mean(d²)/n), the per-item variance under "no difference" estimated by the
    mean square of the observed differences (for right/wrong items, the discordant share, as in
    lib.stats.min_detectable_difference). NaN with no items or when every difference is 0 (no variance to
    size a test by)."""
    import numpy as np
    from lib.capability_verdicts import detectable_from_standard_error
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0 or not np.any(d):
        return float("nan")
    return detectable_from_standard_error(float(np.sqrt(np.mean(d ** 2) / d.size)))
