"""Behavioural spread of n sampled answers: what a user sees when asking the same question n times.

Pure functions on sequences and arrays: no model code, no I/O, no pandas.

Notation (as in lib.metrics): A is the answer set, k = |A|. Answers are parsed strings; ``None`` marks an
invalid reply. A *valid* answer is any non-None answer; valid answers outside A are "others". n is the
number of valid answers unless said otherwise.

Why this module: sampled TV computed on n answers is biased upward (a perfectly uniform sampler scores
about ``metrics.tv_floor(n, k)``, e.g. 0.61 for k = 100 and n = 50), its percentile bootstrap interval can
miss its own point estimate, and "interval above the floor" is not a test. Here:

- the effective number of answers 1/Σp² rests on the unbiased collision estimator;
- sampled TV comes with a Monte-Carlo p-value against a uniform sampler with the same number of valid
  answers, and with its excess over that sampler's mean;
- every interval is a bias-corrected bootstrap interval that contains its point estimate (see
  ``_bias_corrected_interval``).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Sequence

import numpy as np

from .metrics import sampled_tv, tv_floor

__all__ = [
    "EffectiveNumber",
    "TVTest",
    "ExactEffectiveNumbers",
    "collision_probability",
    "effective_number",
    "top_share",
    "tv_null",
    "sampled_tv_test",
    "exact_effective_numbers",
]

# Largest number of cells one vectorized draw may allocate (rows x categories); bounds memory at ~32 MB.
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class EffectiveNumber:
    """The effective number of answers with its interval, and the same as a share of k."""
    value: float          # 1 / (unbiased collision estimate); capped, see `note`
    ci_low: float
    ci_high: float        # inf when the data do not bound it from above
    share: float          # value / k; nan when k is not given
    share_ci_low: float
    share_ci_high: float
    collision: float      # the unbiased estimate of Σp²
    n_valid: int
    note: str = ""        # why a value is nan or capped; empty otherwise


@dataclass(frozen=True)
class TVTest:
    """Sampled TV against a uniform sampler over A with the same number of valid answers."""
    tv: float             # metrics.sampled_tv of the answers
    p_value: float        # Monte-Carlo, (1 + #{null ≥ tv}) / (1 + n_sim)
    null_mean: float      # E[TV | uniform over A, n_valid] = metrics.tv_floor(n_valid, k), exact
    excess: float         # tv − null_mean
    excess_ci_low: float
    excess_ci_high: float
    n_valid: int
    k: int
    n_sim: int


class ExactEffectiveNumbers(NamedTuple):
    exp_entropy: float        # exp(H(p)), natural log
    inverse_collision: float  # 1 / Σp²


def collision_probability(counts: Sequence[int] | np.ndarray) -> float | np.ndarray:
    """Unbiased estimate of Σ_a p(a)², the chance that two independent answers coincide.

    ``Ĉ = Σ_a c_a (c_a − 1) / (n (n − 1))`` with ``c_a`` the count of answer a among the n valid answers
    and ``n = Σ_a c_a``: under multinomial sampling ``E[c_a (c_a − 1)] = n (n − 1) p_a²``, so ``E[Ĉ] = Σp²``
    exactly (the plug-in ``Σ (c_a/n)²`` is biased upward by ``(1 − Σp²)/n``). nan when ``n < 2``.

    ``counts`` may be a 2-D array, one count vector per row; then one estimate per row is returned.
    """
    c = np.asarray(counts, dtype=float)
    if np.any(c < 0):
        raise ValueError("counts must be nonnegative")
    n = c.sum(axis=-1)
    pairs = n * (n - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = np.where(n >= 2, (c * (c - 1)).sum(axis=-1) / np.where(pairs > 0, pairs, 1.0), np.nan)
    return float(estimate) if estimate.ndim == 0 else estimate


def _bias_corrected_interval(point: float, boot: np.ndarray, level: float) -> tuple[float, float]:
    """The percentile interval of ``boot`` shifted by the bootstrap bias, then widened to contain ``point``.

    ``[q_lo − b, q_hi − b]`` with ``b = mean(boot) − point`` and ``q`` the ``(1 ∓ level)/2`` quantiles of
    the finite bootstrap values; ``(min(lo, point), max(hi, point))`` after that.

    Why: the bootstrap world's truth is the plug-in value of the resampled data, not ``point``; for TV and
    the collision probability the resamples sit systematically above it (TV by about its floor). A plain
    percentile interval inherits that offset and can miss ``point`` altogether. Subtracting the estimated
    bias re-centres the interval while keeping the bootstrap's shape; in simulations (n = 50, k = 4…1000,
    uniform and skewed samplers) it covered the true Σp² in 94–100% of runs at level 0.95, where the plain
    percentile interval covered it in as few as 54% (uniform, k = 100). The final widening changes nothing
    unless the bootstrap distribution is degenerate (e.g. lies entirely on one side); it makes containment
    a guarantee instead of a likelihood.
    """
    boot = boot[np.isfinite(boot)]
    if boot.size == 0 or not math.isfinite(point):
        return (math.nan, math.nan)
    bias = float(boot.mean()) - point
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2]) - bias
    return (min(float(lo), point), max(float(hi), point))


def effective_number(answers: Sequence[str | None], k: int | None = None, n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> EffectiveNumber:
    """Effective number of answers ``N = 1 / Σ_a p(a)²`` from the unbiased collision estimate.

    Each distinct valid answer is its own category (others included: a user sees them as answers); invalid
    replies (None) are left out, so ``n = n_valid``. ``N̂ = 1 / Ĉ`` with ``Ĉ`` from
    ``collision_probability``. N is the number of equally likely answers that would give the same chance
    of two replies coinciding: k for a uniform sampler over A, 1 for a point mass. ``share = N̂ / k`` when k
    is given (A finite); it is not clipped at 1, because N̂ may exceed k by sampling noise and, for open
    tasks, because others count as answers.

    Interval: resample the valid answers (multinomial, n_valid fixed) ``n_boot`` times with
    ``np.random.default_rng(seed)``, compute ``Ĉ*`` on each, take the bias-corrected percentile interval
    of Ĉ (``_bias_corrected_interval``), and map it through ``1/x``: ``[1/Ĉ_high, 1/Ĉ_low]``. A lower
    bound ``Ĉ_low ≤ 0`` means the data do not bound N from above: ``ci_high = inf``. ``ci_low`` is at
    least 1 (Σp² ≤ 1).

    Degenerate cases, said in ``note``:
    - ``n_valid < 2``: everything nan ("fewer than 2 valid answers").
    - ``Ĉ = 0`` (no two valid answers coincide; 1/Ĉ is infinite): N̂ is capped at ``n(n−1)/2``, the value
      one coinciding pair would give and the largest finite value n answers can show; ``ci_high`` is inf.
      Capping (not nan) keeps the most spread samplers in the table: for a uniform sampler over 1000
      answers with n = 50 no pair coincides in about 30% of runs.
    """
    valid = [a for a in answers if a is not None]
    n = len(valid)
    nan = math.nan
    if n < 2:
        return EffectiveNumber(nan, nan, nan, nan, nan, nan, nan, n, "fewer than 2 valid answers")
    counts = np.fromiter(Counter(valid).values(), dtype=float)
    collision = collision_probability(counts)
    cap = n * (n - 1) / 2
    note = ""
    if collision > 0:
        value = 1.0 / collision
    else:
        value, note = cap, f"no two valid answers coincide: capped at n(n-1)/2 = {cap:g}"
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        boot = collision_probability(rng.multinomial(n, counts / n, size=n_boot))
        c_low, c_high = _bias_corrected_interval(collision, boot, level)
        ci_low = 1.0 / min(c_high, 1.0) if c_high > 0 else cap
        ci_high = 1.0 / c_low if c_low > 0 else math.inf
        ci_low, ci_high = min(ci_low, value), max(ci_high, value)   # the cap may sit outside 1/[Ĉ interval]
    else:
        ci_low = ci_high = nan
    scale = 1.0 / k if k else nan
    return EffectiveNumber(value, ci_low, ci_high, value * scale, ci_low * scale, ci_high * scale,
                           float(collision), n, note)


def top_share(answers: Sequence[str | None]) -> float:
    """Share of the most frequent valid answer among the valid answers (others included); nan if none valid.

    ``max_a c_a / n`` with n the number of valid answers.
    """
    counts = Counter(a for a in answers if a is not None)
    n = sum(counts.values())
    return max(counts.values()) / n if n else math.nan


def _tv_statistic(counts_in_a: np.ndarray, others: np.ndarray | int, n: np.ndarray | int, k: int) -> np.ndarray:
    """``2·n·k·TV`` as an integer: ``Σ_{a∈A} |k·c_a − n| + k·o``.

    Sampled TV is discrete, so the observed value ties with null draws often; comparing floats that were
    summed in different orders would miscount ties. Integers compare exactly.
    """
    counts_in_a = np.asarray(counts_in_a, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    return np.abs(k * counts_in_a - n[..., None]).sum(axis=-1) + k * np.asarray(others, dtype=np.int64)


@lru_cache(maxsize=256)
def _null_statistics(n_valid: int, k: int, n_sim: int, seed: int) -> np.ndarray:
    """``_tv_statistic`` of ``n_sim`` uniform samplers over A with ``n_valid`` answers (cached: a panel
    asks for the same (n_valid, k) many times)."""
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_CELLS // max(k, n_valid))
    out = []
    for start in range(0, n_sim, rows):
        m = min(rows, n_sim - start)
        if k <= n_valid:
            counts = rng.multinomial(n_valid, np.full(k, 1.0 / k), size=m)
        else:
            # Same multinomial counts from n_valid uniform draws per row; O(m·(n + k)) instead of k binomials.
            draws = rng.integers(0, k, size=(m, n_valid)) + k * np.arange(m)[:, None]
            counts = np.bincount(draws.ravel(), minlength=m * k).reshape(m, k)
        out.append(_tv_statistic(counts, 0, np.full(m, n_valid), k))
    stats = np.concatenate(out)
    stats.setflags(write=False)
    return stats


def tv_null(n_valid: int, k: int, n_sim: int = 10_000, seed: int = 0) -> np.ndarray:
    """Monte-Carlo distribution of sampled TV for a uniform sampler over A.

    ``n_sim`` draws of ``TV = ½ Σ_{a∈A} |c_a/n − 1/k|`` with ``c ~ Multinomial(n_valid, (1/k, …, 1/k))``
    (``np.random.default_rng(seed)``; vectorized, in chunks). Its mean is ``metrics.tv_floor(n_valid, k)``.
    """
    if n_valid < 1 or k < 1 or n_sim < 1:
        raise ValueError("need n_valid >= 1, k >= 1 and n_sim >= 1")
    return _null_statistics(int(n_valid), int(k), int(n_sim), int(seed)) / (2.0 * n_valid * k)


def _categories(answers: Sequence[str | None], answer_set: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Counts of the observed categories, a code per category (index in A, k = other, k + 1 = invalid), k."""
    aset = list(dict.fromkeys(answer_set))
    k = len(aset)
    if k == 0:
        raise ValueError("empty answer_set")
    index = {a: i for i, a in enumerate(aset)}
    counts = Counter(k + 1 if a is None else index.get(a, k) for a in answers)
    codes = np.array(sorted(counts), dtype=np.int64)
    return np.array([counts[c] for c in codes], dtype=np.int64), codes, k


def _tv_statistic_from_categories(counts: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(``_tv_statistic``, n_valid) for count vectors over the observed categories (one per row).

    A-answers that were never observed have count 0 and contribute ``|0 − n| = n`` each.
    """
    in_a = codes < k
    n_valid = counts[..., codes <= k].sum(axis=-1)
    others = counts[..., codes == k].sum(axis=-1)
    unseen = k - int(in_a.sum())
    return _tv_statistic(counts[..., in_a], others, n_valid, k) + unseen * n_valid, n_valid


def sampled_tv_test(answers: Sequence[str | None], answer_set: Sequence[str], n_sim: int = 10_000, seed: int = 0,
                    n_boot: int = 1000, level: float = 0.95) -> TVTest:
    """Sampled TV with a Monte-Carlo test against a uniform sampler over A, and its null-calibrated excess.

    - ``tv``: ``metrics.sampled_tv`` = ``½ (Σ_{a∈A} |f(a) − 1/k| + Σ_{o∉A} f(o))`` over the valid answers.
    - ``p_value``: ``(1 + #{null ≥ tv}) / (1 + n_sim)`` with the null from ``tv_null(n_valid, k, n_sim,
      seed)``: the chance that a uniform sampler over A with the same number of valid answers looks at
      least this far from uniform. The +1 counts the observation as one draw of the null, which keeps the
      test valid (P(p ≤ α) ≤ α) for any n_sim; ties count as "≥" (exact integer comparison), which makes
      the discrete statistic conservative rather than liberal. A uniform sampler is rejected at α in at
      most about α of runs.
    - ``null_mean``: ``metrics.tv_floor(n_valid, k)``, exact.
    - ``excess = tv − null_mean``: an unbiased estimate of ``E[TV̂_n] − E[TV̂_n | uniform]`` at this n, zero
      for a uniform sampler. Interval: resample all replies (invalid included, so n_valid varies) ``n_boot``
      times, recompute ``TV* − tv_floor(n_valid*, k)`` for each resample (resamples with no valid answer
      are dropped), and take the bias-corrected percentile interval (``_bias_corrected_interval``), which
      contains ``excess``. In simulations (n = 50, level 0.95) it covered ``E[TV̂_n] − E[TV̂_n | uniform]``
      in 93–99% of runs for uniform samplers and 88–93% for skewed ones (the bootstrap spread of TV̂ runs
      about 8% narrow at n = 50); the plain percentile interval of TV contained TV itself in 0% of runs for
      a uniform sampler over 100 answers. ``n_boot = 0`` skips the interval (nan).

    Everything is nan when no answer is valid.
    """
    answers = list(answers)
    counts, codes, k = _categories(answers, answer_set)
    stat, n_valid = _tv_statistic_from_categories(counts, codes, k)
    n_valid = int(n_valid)
    if n_valid == 0:
        nan = math.nan
        return TVTest(nan, nan, nan, nan, nan, nan, 0, k, n_sim)
    tv = sampled_tv(answers, answer_set)   # the reported value keeps its one definition; tests tie it to `stat`
    null = _null_statistics(n_valid, k, int(n_sim), int(seed))
    p_value = (1 + int((null >= stat).sum())) / (1 + n_sim)
    null_mean = tv_floor(n_valid, k)
    excess = tv - null_mean
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        boot_counts = rng.multinomial(len(answers), counts / len(answers), size=n_boot)
        boot_stat, boot_valid = _tv_statistic_from_categories(boot_counts, codes, k)
        keep = boot_valid > 0
        floors = np.array([tv_floor(int(m), k) for m in boot_valid[keep]])
        boot_excess = boot_stat[keep] / (2.0 * boot_valid[keep] * k) - floors
        low, high = _bias_corrected_interval(excess, boot_excess, level)
    else:
        low = high = math.nan
    return TVTest(tv, p_value, null_mean, excess, low, high, n_valid, k, int(n_sim))


def exact_effective_numbers(p: Sequence[float] | np.ndarray) -> ExactEffectiveNumbers:
    """Effective numbers of an exact distribution over A: ``exp(H(p))`` and ``1 / Σ_a p(a)²``.

    ``p`` holds nonnegative scores over A, renormalized to sum to 1; ``H = −Σ p log p`` (natural log,
    ``0·log 0 = 0``). Both equal k for uniform p and 1 for a point mass, and ``exp(H) ≥ 1/Σp²`` always
    (Rényi orders 1 and 2). Unlike exact TV they see moves among answers below 1/k.
    """
    arr = np.asarray(p, dtype=float).ravel()
    if arr.size == 0 or np.any(arr < 0) or not np.all(np.isfinite(arr)) or arr.sum() <= 0:
        raise ValueError("p must be nonempty, finite, nonnegative, with a positive total")
    q = arr / arr.sum()
    nz = q[q > 0]
    return ExactEffectiveNumbers(float(np.exp(-(nz * np.log(nz)).sum())), float(1.0 / (q * q).sum()))
