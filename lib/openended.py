"""Open-ended diversity on NoveltyBench prompts: how many meaningfully different answers among k samples.

Answers fall into equivalence classes in two steps:
1. exact match after `normalize` (case-folded, punctuation turned into spaces, whitespace collapsed);
2. greedy clustering of those groups by cosine similarity of sentence embeddings: in order of first
   appearance, a group joins the existing class whose representative (its first answer) is most similar,
   if that similarity reaches the threshold, else it starts a new class. Comparing with one representative
   (NoveltyBench's partitioning) rather than single linkage keeps a chain a≈b≈c from merging a with c;
   the order is the generation order, so the result is deterministic.
Two guards cover what the embedding model cannot see: emoji and other symbols are embedded by their
Unicode names (its vocabulary maps them all to one unknown token), and two answers whose numbers conflict
(both contain numbers, neither set contains the other: "42" vs "47", "7 of Diamonds" vs "8 of Diamonds")
are never merged, since the embeddings of such answers are nearly identical.
distinct_k is the number of classes among a prompt's k answers (1 = one answer repeated, k = all different).
The lexical baseline counts step 1 alone. The threshold is the one that best agrees with hand-labelled
answer pairs (lib/resources/equivalence_pairs.csv), unless params fix it.
"""
from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass
from importlib import resources
from typing import Sequence

import numpy as np
import pandas as pd

from lib import metrics, results, stats
from lib.generations import Prompt
from lib.data import ALL_CATEGORIES as ALL           # the `task` of rows pooled over categories
from lib.data import NOVELTYBENCH_CATEGORIES as CATEGORIES
THRESHOLD_GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)


def category_list(categories: str | Sequence[str]) -> list[str]:
    ids = [categories] if isinstance(categories, str) else list(categories)
    return list(CATEGORIES) if ids == [ALL] else ids


def select_prompts(rows: Sequence[dict], categories: str | Sequence[str] = ALL, per_category: int = 5,
                   seed: int = 0) -> list[Prompt]:
    """A seeded sample of up to `per_category` prompts from each category, in file order.

    Each category draws from its own generator (seeded by seed and the category's name), so asking
    for fewer categories never changes which prompts a category gets.
    """
    wanted = category_list(categories)
    pools: dict[str, list[Prompt]] = {c: [] for c in wanted}
    for row in rows:
        text = row.get("prompt")
        if row.get("category") in pools and isinstance(text, str) and text.strip():
            pools[row["category"]].append(Prompt(str(row.get("id", len(pools[row["category"]]))), row["category"], text))
    empty = [c for c, pool in pools.items() if not pool]
    if empty:
        raise ValueError(f"no prompts for categories {empty} in the data; found: "
                         f"{sorted({r.get('category') for r in rows if r.get('category')})}")
    chosen = []
    for category in wanted:
        pool = pools[category]
        rng = np.random.default_rng([seed, zlib.crc32(category.encode())])
        picked = sorted(rng.choice(len(pool), size=min(per_category, len(pool)), replace=False))
        chosen += [pool[i] for i in picked]
    return chosen


# -- equivalence classes ----------------------------------------------------------------------

def normalize(text: str) -> str:
    """Case-folded, punctuation replaced by spaces, whitespace collapsed ("Max!" == "max").
    Symbols such as emoji are kept: they are answers in their own right."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(text.split())


def embedding_text(answer: str) -> str:
    """The text given to the embedding model: symbols (emoji) spelled out by their Unicode names."""
    return "".join(f" {unicodedata.name(ch, ch).lower()} " if unicodedata.category(ch) == "So" else ch
                   for ch in answer).strip()


def numbers(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\d+", text))


def numbers_conflict(a: str, b: str) -> bool:
    """Both answers contain numbers and neither answer's numbers include the other's."""
    x, y = numbers(a), numbers(b)
    return bool(x and y) and not (x <= y or y <= x)


def lexical_classes(answers: Sequence[str]) -> list[int]:
    """Class ids (0, 1, … in order of first appearance) that merge answers equal after `normalize`."""
    ids: dict[str, int] = {}
    return [ids.setdefault(normalize(a), len(ids)) for a in answers]


def semantic_classes(answers: Sequence[str], embeddings: np.ndarray, threshold: float) -> list[int]:
    """Class ids after exact-match merging, then greedy representative clustering at a cosine threshold
    (see the module docstring). `embeddings` has one row per answer (of `embedding_text(answer)`)."""
    vectors = np.asarray(embeddings, dtype=np.float64)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    representatives: list[int] = []            # index of each class's first answer
    class_of_group: dict[int, int] = {}
    out = []
    for i, group in enumerate(lexical_classes(answers)):
        if group not in class_of_group:
            similarity = np.array([-np.inf if numbers_conflict(answers[r], answers[i]) else vectors[r] @ vectors[i]
                                   for r in representatives])
            best = int(np.argmax(similarity)) if similarity.size else -1
            if best >= 0 and similarity[best] >= threshold:
                class_of_group[group] = best
            else:
                class_of_group[group] = len(representatives)
                representatives.append(i)
        out.append(class_of_group[group])
    return out


def assign_classes(generations: pd.DataFrame, embedder, threshold: float) -> pd.DataFrame:
    """`generations` (one row per answer: label, prompt_id, sample, answer, …) with `class` and
    `lexical_class` columns; classes are formed among each condition's k answers to one prompt."""
    texts = list(dict.fromkeys(generations["answer"]))
    vectors = embedder.embed([embedding_text(t) for t in texts]) if texts else np.zeros((0, 1))
    row_of = {t: i for i, t in enumerate(texts)}
    frame = generations.sort_values(["label", "prompt_id", "sample"], kind="stable").copy()
    semantic, lexical = [], []
    for _, group in frame.groupby(["label", "prompt_id"], sort=False):
        answers = list(group["answer"])
        semantic += semantic_classes(answers, vectors[[row_of[a] for a in answers]], threshold)
        lexical += lexical_classes(answers)
    frame["class"], frame["lexical_class"] = semantic, lexical
    return frame.loc[generations.index]


# -- threshold calibration --------------------------------------------------------------------

def labelled_pairs() -> pd.DataFrame:
    """Hand-labelled answer pairs: prompt_category, prompt, a, b, same (1 = a user would call them the
    same answer)."""
    with resources.files("lib").joinpath("resources/equivalence_pairs.csv").open(encoding="utf-8") as handle:
        return pd.read_csv(handle, keep_default_na=False)


def pair_similarities(pairs: pd.DataFrame, embedder) -> np.ndarray:
    """The similarity the clustering acts on, per pair: 1.0 where the answers are equal after normalization
    (exact matching merges them first), -1.0 where their numbers conflict (never merged), else the cosine
    similarity of their embeddings."""
    a = embedder.embed([embedding_text(x) for x in pairs["a"]])
    b = embedder.embed([embedding_text(x) for x in pairs["b"]])
    cosine = np.clip((a * b).sum(axis=1), -1.0, 1.0)
    exact = np.array([normalize(x) == normalize(y) for x, y in zip(pairs["a"], pairs["b"])])
    conflict = np.array([numbers_conflict(x, y) for x, y in zip(pairs["a"], pairs["b"])])
    return np.where(exact, 1.0, np.where(conflict, -1.0, cosine))


@dataclass(frozen=True)
class Calibration:
    threshold: float
    agreement: float            # share of pairs judged as labelled, at the threshold (in-sample)
    loo_agreement: float        # each pair judged by a threshold chosen without it (out-of-sample)
    balanced_agreement: float   # mean of the agreement on "same" pairs and on "different" pairs
    n_pairs: int
    share_same: float           # class balance of the labels
    sweep: pd.DataFrame         # threshold, agreement, balanced_agreement over THRESHOLD_GRID

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "sweep"}


def _agreement(similarity: np.ndarray, same: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    judged = similarity[None, :] >= thresholds[:, None]
    correct = judged == same[None, :]
    plain = correct.mean(axis=1)
    per_label = [correct[:, same == v].mean(axis=1) for v in (True, False) if (same == v).any()]
    return plain, np.mean(per_label, axis=0)


def best_threshold(similarity: np.ndarray, same: np.ndarray) -> float:
    """The grid threshold with the highest agreement; ties go to balanced agreement, then to the
    middle of the tied thresholds (the one farthest from flipping a pair)."""
    plain, balanced = _agreement(np.asarray(similarity, float), np.asarray(same, bool), THRESHOLD_GRID)
    top = np.flatnonzero(plain == plain.max())
    top = top[balanced[top] == balanced[top].max()]
    return float(THRESHOLD_GRID[top[len(top) // 2]])


def calibrate(similarity: Sequence[float], same: Sequence[int | bool]) -> Calibration:
    """Choose the cosine threshold that best reproduces the labels, with in-sample and leave-one-out
    agreement."""
    similarity, same = np.asarray(similarity, float), np.asarray(same).astype(bool)
    if similarity.size == 0:
        raise ValueError("no labelled pairs to calibrate on")
    threshold = best_threshold(similarity, same)
    plain, balanced = _agreement(similarity, same, THRESHOLD_GRID)
    at = int(np.flatnonzero(THRESHOLD_GRID == threshold)[0])
    keep = np.ones(similarity.size, bool)
    held_out = []
    for i in range(similarity.size):
        keep[i] = False
        held_out.append((similarity[i] >= best_threshold(similarity[keep], same[keep])) == same[i])
        keep[i] = True
    sweep = pd.DataFrame({"threshold": THRESHOLD_GRID, "agreement": plain, "balanced_agreement": balanced})
    return Calibration(threshold, float(plain[at]), float(np.mean(held_out)), float(balanced[at]),
                       int(similarity.size), float(same.mean()), sweep)


def calibration_note(calibration: Calibration, judged: pd.DataFrame, threshold: float, calibrated: bool) -> str:
    """One line on the threshold in use and how well the judge reproduces the labelled pairs."""
    return (f"Threshold in use: **{threshold:.2f}** ({'calibrated' if calibrated else 'fixed by params'}); "
            f"{calibration.n_pairs} pairs, {calibration.share_same:.0%} labelled same. At the calibrated threshold "
            f"{calibration.threshold:.2f}: agreement {calibration.agreement:.1%}, balanced "
            f"{calibration.balanced_agreement:.1%}, leave-one-out {calibration.loo_agreement:.1%}; at the threshold "
            f"in use: {judged['agrees'].mean():.1%}.")


def calibration_table(calibration: Calibration, judged: pd.DataFrame, threshold: float, calibrated: bool) -> pd.DataFrame:
    """One row: the calibration's numbers, the threshold in use, where it came from and its agreement."""
    return pd.DataFrame([{**calibration.summary(), "threshold_in_use": threshold,
                          "threshold_source": "calibrated" if calibrated else "params",
                          "agreement_in_use": judged["agrees"].mean()}])


def judged_pairs(pairs: pd.DataFrame, similarity: np.ndarray, threshold: float) -> pd.DataFrame:
    """The pairs with their similarity, the judgement at the threshold and whether it matches the label."""
    frame = pairs.assign(similarity=similarity, judged_same=(similarity >= threshold).astype(int))
    return frame.assign(agrees=(frame["judged_same"] == frame["same"]).astype(int))


def agreement_by_category(judged: pd.DataFrame) -> pd.DataFrame:
    return judged.groupby("prompt_category", sort=False).agg(
        pairs=("same", "size"), share_same=("same", "mean"), agreement=("agrees", "mean")).reset_index()


# -- distinct_k per prompt and per category ---------------------------------------------------

KEYS = ["label", "condition", "temperature", "train_seed", "scope"]


def per_prompt(classes: pd.DataFrame) -> pd.DataFrame:
    """One row per (condition, prompt): distinct_k and distinct_k_lexical among its k answers, plus rows
    averaging each trained recipe's seeds (scope 'mean over seeds')."""
    keys = KEYS + ["prompt_id", "category"]
    table = classes.groupby(keys, sort=False, dropna=False).agg(
        k=("answer", "size"), distinct_k=("class", "nunique"),
        distinct_k_lexical=("lexical_class", "nunique")).reset_index()
    trained = table[table["scope"] == "seed"]
    if trained.empty:
        return table
    means = trained.groupby(["condition", "temperature", "prompt_id", "category"], sort=False).agg(
        k=("k", "mean"), distinct_k=("distinct_k", "mean"), distinct_k_lexical=("distinct_k_lexical", "mean"),
        n_seeds=("train_seed", "nunique")).reset_index()
    means["label"] = [f"{c} T={t:g} (mean of {n} seed{'s' if n > 1 else ''})" for c, t, n in
                      zip(means["condition"], means["temperature"], means["n_seeds"])]
    means = means.assign(train_seed=np.nan, scope="mean over seeds").drop(columns="n_seeds")
    return pd.concat([table, means[table.columns]], ignore_index=True)


def category_summary(prompts: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Tidy rows (results.COLUMNS + label, scope): per condition and category (and 'all'), the mean
    distinct_k over prompts with a bootstrap 95% CI over prompts; metric distinct_k or distinct_k_lexical."""
    rows = []
    for key, group in prompts.groupby(KEYS, sort=False, dropna=False):
        info = dict(zip(KEYS, key))
        for category, part in [(ALL, group)] + list(group.groupby("category", sort=False)):
            for metric in ("distinct_k", "distinct_k_lexical"):
                value, low, high = metrics.mean_ci(part[metric], n_boot, seed)
                rows.append(dict(condition=info["condition"], task=category, metric=metric, value=value,
                                 ci_low=low, ci_high=high, n=len(part), temperature=info["temperature"],
                                 train_seed=info["train_seed"], label=info["label"], scope=info["scope"], k=part["k"].mean()))
    return results.tidy(rows)


def differences(prompts: pd.DataFrame, baseline: str, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Paired by prompt: each other condition (trained recipes as their mean over seeds) minus `baseline`,
    mean over prompts with a bootstrap 95% CI, per category and for 'all', with the minimum detectable
    difference at 80% power for the prompts used (`mdd`)."""
    base = prompts[prompts["label"] == baseline].set_index("prompt_id")
    others = prompts[(prompts["label"] != baseline) & (prompts["scope"] != "seed")]
    rows = []
    for label, group in others.groupby("label", sort=False):
        group = group.set_index("prompt_id")
        shared = group.index.intersection(base.index)
        for category in [ALL] + list(dict.fromkeys(group.loc[shared, "category"])):
            ids = shared if category == ALL else shared[group.loc[shared, "category"] == category]
            for metric in ("distinct_k", "distinct_k_lexical"):
                treated = group.loc[ids, metric]
                value, low, high, n = metrics.paired_mean_difference(treated, base[metric], n_boot, seed)
                mdd = stats.min_detectable_mean_difference((treated - base[metric].reindex(treated.index)).dropna())
                rows.append(dict(comparison=f"{label} − {baseline}", label=label, baseline=baseline, task=category,
                                 metric=metric, value=value, ci_low=low, ci_high=high, n=n, mdd=mdd))
    return pd.DataFrame(rows)


def wide_summary(summary: pd.DataFrame, metric: str = "distinct_k") -> pd.DataFrame:
    """Category × condition table of 'mean [low, high]' for one metric, for reading in a notebook."""
    frame = summary[summary["metric"] == metric]
    cell = [f"{v:.2f} [{lo:.2f}, {hi:.2f}]" for v, lo, hi in zip(frame["value"], frame["ci_low"], frame["ci_high"])]
    wide = frame.assign(cell=cell).pivot_table(index="task", columns="label", values="cell", aggfunc="first", sort=False)
    return wide.reindex([ALL] + [c for c in CATEGORIES if c in wide.index]).rename_axis(index="category", columns=None)


def differences_view(diffs: pd.DataFrame) -> pd.DataFrame:
    """The differences for reading: "mean [CI]" in one cell, the minimum detectable difference beside it."""
    from lib import tables
    view = diffs[["comparison", "task", "metric", "n"]].rename(columns={"task": "category", "n": "prompts"})
    view.insert(3, "difference [95% CI]", tables.ci_column(diffs, digits=2).to_numpy())
    view["detectable at 80% power"] = [tables.with_ci(v, digits=2) for v in diffs["mdd"]]
    return view


# -- examples ---------------------------------------------------------------------------------

def example_prompts(classes: pd.DataFrame, n: int, seed: int = 0) -> list[str]:
    """n prompt ids, a seeded random one from each of n categories in turn (categories shuffled)."""
    pools = {c: sorted(set(g["prompt_id"])) for c, g in classes.groupby("category")}
    rng = np.random.default_rng(seed)
    order = [c for c in CATEGORIES if c in pools] + sorted(set(pools) - set(CATEGORIES))
    order = [order[i] for i in rng.permutation(len(order))]
    picked: list[str] = []
    while len(picked) < n and any(pools.values()):
        for category in order:
            if pools[category] and len(picked) < n:
                picked.append(pools[category].pop(int(rng.integers(len(pools[category])))))
    return picked


def example_grid(classes: pd.DataFrame, prompt_id: str, width: int = 160) -> pd.DataFrame:
    """One prompt's answers: a row per sample, a column per condition, cells '[class|lexical class] answer'."""
    frame = classes[(classes["prompt_id"] == prompt_id)]
    cell = [f"[{c}|{lc}] {_shorten(a, width)}" for c, lc, a in zip(frame["class"], frame["lexical_class"], frame["answer"])]
    grid = frame.assign(cell=cell).pivot_table(index="sample", columns="label", values="cell", aggfunc="first", sort=False)
    return grid.rename_axis(index="sample", columns=None)


def _shorten(text: str, width: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def example_view(grid: pd.DataFrame):
    """The grid as a left-aligned table whose cells wrap (a plain frame cuts them at 50 characters)."""
    return grid.style.set_properties(**{"text-align": "left", "white-space": "pre-wrap", "min-width": "16em"})
