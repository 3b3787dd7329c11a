"""Capability measures in one vocabulary (07_capability): a value with its CI per condition
(`score_table`), trained − vanilla paired by item with its CI, test and minimum detectable difference
(`comparison_table`), whether each area held (`held_table`, Holm over the compared conditions), and the
tables a person reads. Right/wrong items get Wilson intervals, Newcombe's paired interval and the exact
McNemar test; fractional scores a bootstrap over items and a sign-flip test."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from lib.metrics import paired_mean_difference, mean_ci, wilson_ci
from lib.stats import holm, min_detectable_difference
from lib.tables import ci_column, condition_label, with_ci

ALPHA, POWER = 0.05, 0.8


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


# -- tables a person reads -------------------------------------------------------------------------------
def readable_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per measure, one column per condition: "value [low, high]" (n in the last column)."""
    frame = scores.assign(label=[condition_label(c, s) for c, s in zip(scores["condition"], scores["train_seed"])],
                          cell=ci_column(scores, 3))
    wide = frame.pivot_table(index=["area", "benchmark", "metric"], columns="label", values="cell",
                             aggfunc="first", sort=False)
    n = frame.groupby(["area", "benchmark", "metric"], sort=False)["n"].max()
    return wide.assign(n=n).reset_index().rename_axis(columns=None)


def readable_comparisons(comparisons: pd.DataFrame) -> pd.DataFrame:
    """trained − vanilla per measure and seed: the difference with its CI in one cell, p, test, mdd, and the
    verdict at the unadjusted p (the held table reads the headline measures at Holm-adjusted p)."""
    frame = comparisons.copy()
    return pd.DataFrame(dict(
        area=frame["area"], benchmark=frame["benchmark"], metric=frame["metric"],
        trained=[condition_label(c, s) for c, s in zip(frame["condition"], frame["train_seed"])], n=frame["n"],
        difference=ci_column(frame, 3, value="difference"),
        p_value=frame["p_value"].round(3), test=frame["test"], mdd=frame["mdd"].round(3),
        verdict_unadjusted=[verdict(row) for row in frame.to_dict("records")]))


def readable_held(held: pd.DataFrame) -> pd.DataFrame:
    """The held-or-not table with each estimate and its CI in one cell."""
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
