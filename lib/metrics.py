"""Diversity metrics for categorical prompts ("Pick a random color").

Pure functions on arrays / counts: no model code, no I/O.

Notation: ``A`` is the answer set, ``k = |A|``. Sampled answers are parsed
strings, with ``None`` marking an invalid (unparseable) sample. A *valid*
answer is any non-``None`` answer; valid answers not in ``A`` are "others".
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np
from scipy.special import logsumexp
from scipy.stats import binom, norm

__all__ = [
    "exact_tv",
    "renormalize_logprobs",
    "raw_mass",
    "normalized_entropy",
    "top_picks",
    "sampled_tv",
    "invalid_rate",
    "other_rate",
    "distinct_count",
    "tv_floor",
    "bootstrap_ci",
    "mean_ci",
    "sampled_summary",
    "exact_summary",
    "tv_between",
    "empirical_distribution",
    "wilson_ci",
]


def _as_nonneg_1d(p: Any) -> np.ndarray:
    arr = np.asarray(p, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError("empty distribution")
    if np.any(arr < 0) or not np.all(np.isfinite(arr)):
        raise ValueError("scores must be finite and nonnegative")
    if arr.sum() <= 0:
        raise ValueError("scores must have positive total")
    return arr


# ---------------------------------------------------------------------------
# Exact (log-prob based) metrics
# ---------------------------------------------------------------------------


def exact_tv(p: np.ndarray) -> float:
    """Total variation from uniform over A: ``½ Σ_a |p(a)/Σp − 1/k|``.

    ``p`` holds nonnegative scores over A (need not sum to 1). Range
    ``[0, 1 − 1/k]``.
    """
    arr = _as_nonneg_1d(p)
    k = arr.size
    q = arr / arr.sum()
    return float(0.5 * np.abs(q - 1.0 / k).sum())


def renormalize_logprobs(logp: np.ndarray) -> np.ndarray:
    """Sequence log-probs over A -> probabilities ``exp(logp − logsumexp(logp))``.

    Numerically stable for very negative log-probs; the result sums to 1.
    """
    arr = np.asarray(logp, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError("empty logp")
    if np.all(np.isneginf(arr)):
        raise ValueError("all log-probs are -inf")
    return np.exp(arr - logsumexp(arr))


def raw_mass(logp: np.ndarray) -> float:
    """Total probability on bare valid answers: ``Σ_a exp(logp(a))``."""
    arr = np.asarray(logp, dtype=float).ravel()
    return float(np.exp(logsumexp(arr))) if arr.size else 0.0


def normalized_entropy(p: np.ndarray) -> float:
    """``H(p/Σp) / log k`` with natural logs and ``0·log 0 = 0``; ``k = 1`` -> 0.0.

    Range ``[0, 1]``: 1 for uniform, 0 for a point mass.
    """
    arr = _as_nonneg_1d(p)
    k = arr.size
    if k == 1:
        return 0.0
    q = arr / arr.sum()
    nz = q[q > 0]
    h = float(-(nz * np.log(nz)).sum())
    return h / math.log(k)


def tv_between(p: np.ndarray, q: np.ndarray) -> float:
    """TV between two score vectors on the same support: ``½ Σ |p/Σp − q/Σq|``."""
    a = _as_nonneg_1d(p)
    b = _as_nonneg_1d(q)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    return float(0.5 * np.abs(a / a.sum() - b / b.sum()).sum())


def top_picks(
    p_or_counts: np.ndarray | Sequence[float],
    answers: Sequence[str],
    n: int = 5,
) -> list[tuple[str, float]]:
    """The ``n`` answers with the largest scores, as ``(answer, score/Σscores)``.

    Sorted by share descending; ties keep the order of ``answers``.
    """
    arr = _as_nonneg_1d(p_or_counts)
    if arr.size != len(answers):
        raise ValueError("p_or_counts and answers differ in length")
    shares = arr / arr.sum()
    order = sorted(range(arr.size), key=lambda i: (-shares[i], i))
    return [(answers[i], float(shares[i])) for i in order[: max(n, 0)]]


def exact_summary(logp: np.ndarray, answers: Sequence[str]) -> dict[str, Any]:
    """Summary of exact log-probs over A.

    Keys: ``exact_tv``, ``raw_mass`` (Σ exp logp), ``normalized_entropy``,
    ``top5`` (from the renormalised distribution), ``k``.
    """
    arr = np.asarray(logp, dtype=float).ravel()
    if arr.size != len(answers):
        raise ValueError("logp and answers differ in length")
    p = renormalize_logprobs(arr)
    return {
        "exact_tv": exact_tv(p),
        "raw_mass": raw_mass(arr),
        "normalized_entropy": normalized_entropy(p),
        "top5": top_picks(p, answers, 5),
        "k": int(arr.size),
    }


# ---------------------------------------------------------------------------
# Sample-based metrics
# ---------------------------------------------------------------------------


def invalid_rate(answers: Sequence[str | None]) -> float:
    """Fraction of samples that are ``None`` (invalid); nan for no samples."""
    n = len(answers)
    if n == 0:
        return float("nan")
    return sum(a is None for a in answers) / n


def other_rate(answers: Sequence[str | None], answer_set: Sequence[str]) -> float:
    """Fraction of valid (non-None) answers that are not in A; nan if none valid."""
    aset = set(answer_set)
    valid = [a for a in answers if a is not None]
    if not valid:
        return float("nan")
    return sum(a not in aset for a in valid) / len(valid)


def distinct_count(answers: Sequence[str | None]) -> int:
    """Number of distinct valid (non-None) answers, in A or not."""
    return len({a for a in answers if a is not None})


def sampled_tv(answers: Sequence[str | None], answer_set: Sequence[str]) -> float:
    """TV between the empirical distribution of valid answers and uniform over A.

    With ``f`` the empirical distribution over valid answers (in A or others):
    ``½ (Σ_{a∈A} |f(a) − 1/k| + Σ_{o∉A} f(o))``. ``None`` samples are
    excluded; nan if no valid answers.
    """
    aset = list(dict.fromkeys(answer_set))
    k = len(aset)
    if k == 0:
        raise ValueError("empty answer_set")
    counts = Counter(a for a in answers if a is not None)
    n = sum(counts.values())
    if n == 0:
        return float("nan")
    in_a = set(aset)
    dev = sum(abs(counts.get(a, 0) / n - 1.0 / k) for a in aset)
    other = sum(c for a, c in counts.items() if a not in in_a) / n
    return 0.5 * (dev + other)


def empirical_distribution(
    answers: Sequence[str | None], answer_set: Sequence[str]
) -> np.ndarray:
    """Counts over A (in A's order) divided by the number of in-A answers.

    Invalid and other answers are ignored; all zeros if no answer is in A.
    """
    index = {a: i for i, a in reversed(list(enumerate(answer_set)))}
    counts = np.zeros(len(answer_set), dtype=float)
    for a in answers:
        if a is not None and a in index:
            counts[index[a]] += 1
    total = counts.sum()
    return counts / total if total > 0 else counts


@lru_cache(maxsize=None)
def tv_floor(n: int, k: int) -> float:
    """Expected sampled TV of a perfectly uniform sampler over A with n samples.

    ``E[½ Σ_i |c_i/n − 1/k|]`` with ``c ~ Multinomial(n, 1/k)``, computed
    exactly as ``½ · k · E|c_1/n − 1/k|`` with ``c_1 ~ Binomial(n, 1/k)``.
    nan for ``n = 0``.
    """
    if n < 0 or k < 1:
        raise ValueError("need n >= 0 and k >= 1")
    if n == 0:
        return float("nan")
    if k == 1:
        return 0.0
    c = np.arange(n + 1)
    pmf = binom.pmf(c, n, 1.0 / k)
    return float(0.5 * k * np.sum(pmf * np.abs(c / n - 1.0 / k)))


def bootstrap_ci(
    samples: Sequence[Any],
    statistic: Callable[[Sequence[Any]], float],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI for ``statistic(samples)``.

    Draws ``n_boot`` resamples of ``len(samples)`` with replacement using
    ``np.random.default_rng(seed)``; nan statistics are dropped. Returns the
    ``(1−level)/2`` and ``(1+level)/2`` percentiles, or (nan, nan) if no
    finite statistic remains or there are no samples.
    """
    items = list(samples)
    m = len(items)
    if m == 0 or n_boot <= 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, m, size=(n_boot, m))
    stats = np.array([statistic([items[j] for j in row]) for row in idx], dtype=float)
    stats = stats[~np.isnan(stats)]
    if stats.size == 0:
        return (float("nan"), float("nan"))
    alpha = 1.0 - level
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def mean_ci(values: Sequence[float], n_boot: int = 1000, seed: int = 0,
            level: float = 0.95) -> tuple[float, float, float]:
    """(mean, CI low, CI high): the mean of ``values`` with its percentile bootstrap CI (bootstrap_ci);
    all nan when there are no values."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return (float("nan"), float("nan"), float("nan"))
    low, high = bootstrap_ci(values, np.mean, n_boot=n_boot, seed=seed, level=level)
    return (float(values.mean()), low, high)


def paired_mean_difference(treated, baseline, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float, int]:
    """(mean, CI low, CI high, items) of treated − baseline paired by item: two pandas Series indexed by item;
    items missing on either side or NaN are left out; percentile-bootstrap CI over items, in treated's order."""
    diff = (treated - baseline.reindex(treated.index)).dropna()
    return (*mean_ci(diff.to_numpy(), n_boot, seed), len(diff))


def sampled_summary(
    answers: Sequence[str | None],
    answer_set: Sequence[str],
) -> dict[str, Any]:
    """Summary of parsed samples against A.

    Keys: ``n`` (all samples), ``n_valid`` (non-None), ``invalid_rate``,
    ``other_rate``, ``sampled_tv`` (no interval here: a percentile bootstrap of
    this upward-biased statistic can miss its own estimate; lib.spread gives the
    null-calibrated test and interval),
    ``tv_floor`` (for ``n_valid`` and k), ``normalized_entropy`` (entropy of the
    empirical distribution restricted to in-A answers and renormalised,
    divided by ``log k``; nan if no answer is in A; others do not enter it),
    ``distinct`` (distinct valid answers, others included), ``top5``
    (``(answer, share)`` over valid answers, others included, ties broken
    by first appearance in A then in the samples).
    """
    answers = list(answers)
    aset = list(dict.fromkeys(answer_set))
    k = len(aset)
    valid = [a for a in answers if a is not None]
    n_valid = len(valid)

    emp = empirical_distribution(answers, aset)
    ent = normalized_entropy(emp) if emp.sum() > 0 else float("nan")

    top5: list[tuple[str, float]] = []
    if n_valid:
        counts = Counter(valid)
        labels = aset + [a for a in dict.fromkeys(valid) if a not in set(aset)]
        top5 = top_picks([counts.get(a, 0) for a in labels], labels, 5)
        top5 = [(a, s) for a, s in top5 if s > 0]

    return {
        "n": len(answers),
        "n_valid": n_valid,
        "invalid_rate": invalid_rate(answers),
        "other_rate": other_rate(answers, aset),
        "sampled_tv": sampled_tv(answers, aset),
        "tv_floor": tv_floor(n_valid, k),
        "normalized_entropy": ent,
        "distinct": distinct_count(answers),
        "top5": top5,
    }


def wilson_ci(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``successes / n``.

    ``(p̂ + z²/2n ∓ z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)`` with
    ``z = Φ⁻¹((1+level)/2)``; (nan, nan) for ``n = 0``.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError("need 0 <= successes <= n")
    if n == 0:
        return (float("nan"), float("nan"))
    z = float(norm.ppf((1 + level) / 2))
    phat = successes / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    # Mathematically the interval holds p̂; clamping keeps it so when rounding (p̂ = 0 or 1) says otherwise.
    return (min(max(0.0, centre - half), phat), max(min(1.0, centre + half), phat))
