"""Comparisons across training seeds, multiplicity, and what a benchmark of n items can detect.

Pure functions on numbers: no model code, no I/O, no pandas.

Why this module: training seeds are exchangeable labels, so "seed 0 of the trained recipe" has no partner
"seed 0 of the control"; pairing by seed index invents a pairing. Comparisons here are unpaired (Welch, a
permutation test), p-values over the transfer tasks are Holm-adjusted, and task-level counts treat tasks
that measure the same thing (the integer ranges) as one cluster.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from scipy import stats as sps

__all__ = [
    "Comparison",
    "PermutationTest",
    "ClusterSummary",
    "welch",
    "permutation_test",
    "holm",
    "cluster_summary",
    "min_detectable_difference",
    "min_detectable_mean_difference",
]


@dataclass(frozen=True)
class Comparison:
    """treated − baseline over training seeds: the difference in means, its interval and p-value."""
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n_treated: int
    n_baseline: int
    method: str        # "welch", "one-sample, baseline fixed", "one-sample, treated fixed", or why none


@dataclass(frozen=True)
class PermutationTest:
    difference: float  # mean(treated) − mean(baseline)
    p_value: float     # two-sided
    n_splits: int      # splits enumerated (exact) or permutations drawn (Monte Carlo)
    exact: bool


@dataclass(frozen=True)
class ClusterSummary:
    """Task-level summary in which related tasks count once."""
    cluster_values: dict[str, float]        # cluster -> mean of its tasks' values
    improved: int                           # clusters whose mean moved the better way
    worse: int
    unchanged: int
    improved_significant: int | None        # clusters with a member task significantly better (None: no p's)
    worse_significant: int | None
    worse_tasks: tuple[str, ...]            # every task whose own value moved the worse way
    clusters: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return self.improved + self.worse + self.unchanged


def _finite(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def welch(treated: Sequence[float], baseline: Sequence[float], level: float = 0.95) -> Comparison:
    """Unpaired comparison of per-seed values: ``d = mean(treated) − mean(baseline)``.

    Non-finite values are dropped. With ``n_t, n_b ≥ 2``: Welch's t-test, ``se² = s_t²/n_t + s_b²/n_b``
    (sample variances, ddof 1), Welch–Satterthwaite degrees of freedom
    ``ν = se⁴ / ((s_t²/n_t)²/(n_t−1) + (s_b²/n_b)²/(n_b−1))``, interval ``d ± t_{ν,(1+level)/2}·se`` and
    two-sided ``p = 2·P(T_ν ≥ |d|/se)`` (equals ``scipy.stats.ttest_ind(equal_var=False)``).

    With one value on one side and at least two on the other, that one value is treated as fixed: a
    one-sample t-interval and test of the other side's mean against it (``ν = n − 1``). This is exact when
    the single value has no noise of its own (vanilla's exact TV is deterministic) and too narrow when it
    does (a sampled metric of vanilla): its own variance cannot be estimated from one value. With one
    value on each side there is only the difference; interval and p are nan. They are nan too when every
    value on both sides is equal (no variance to scale by).
    """
    t, b = _finite(treated), _finite(baseline)
    nt, nb = t.size, b.size
    nan = math.nan
    if nt == 0 or nb == 0:
        return Comparison(nan, nan, nan, nan, nt, nb, "no values on one side")
    d = float(t.mean() - b.mean())
    if nt >= 2 and nb >= 2:
        vt, vb = t.var(ddof=1) / nt, b.var(ddof=1) / nb
        se = math.sqrt(vt + vb)
        df = (vt + vb) ** 2 / (vt**2 / (nt - 1) + vb**2 / (nb - 1)) if se > 0 else nan
        method = "welch"
    elif nt >= 2 or nb >= 2:
        many = t if nt >= 2 else b
        se, df = float(many.std(ddof=1) / math.sqrt(many.size)), many.size - 1
        method = "one-sample, baseline fixed" if nt >= 2 else "one-sample, treated fixed"
    else:
        return Comparison(d, nan, nan, nan, nt, nb, "one value per side: no interval or test")
    if not se > 0:
        return Comparison(d, nan, nan, nan, nt, nb, f"{method}: no variance")
    half = float(sps.t.ppf((1 + level) / 2, df)) * se
    p = float(2 * sps.t.sf(abs(d) / se, df))
    return Comparison(d, d - half, d + half, p, nt, nb, method)


def permutation_test(treated: Sequence[float], baseline: Sequence[float], n_perm: int = 10_000,
                     seed: int = 0) -> PermutationTest:
    """Two-sided permutation test for the difference in means, ``d = mean(treated) − mean(baseline)``.

    Under the null the pooled values are exchangeable between the two groups. ``p`` is the share of
    splits of the pooled values into groups of sizes ``(n_t, n_b)`` with ``|d_split| ≥ |d|`` (a relative
    tolerance of 1e-12 keeps mathematically tied splits tied). Exact when the number of splits
    ``C(n_t + n_b, n_t)`` is at most ``n_perm`` (every split enumerated, the observed one among them, so
    ``p ≥ 1/C``; 3 vs 3 seeds give 20 splits and ``p ≥ 0.1``); otherwise ``n_perm`` random permutations
    (``np.random.default_rng(seed)``) and ``p = (1 + #{|d*| ≥ |d|}) / (1 + n_perm)``. Non-finite values are
    dropped; nan when a side is empty.
    """
    t, b = _finite(treated), _finite(baseline)
    nt, nb = t.size, b.size
    if nt == 0 or nb == 0:
        return PermutationTest(math.nan, math.nan, 0, False)
    pooled = np.concatenate([t, b])
    total = pooled.sum()
    observed = float(t.mean() - b.mean())

    def differences(treated_sums: np.ndarray) -> np.ndarray:
        return treated_sums / nt - (total - treated_sums) / nb

    tolerance = 1e-12 * max(abs(observed), float(np.abs(pooled).max()), 1e-300)
    splits = math.comb(nt + nb, nt)
    if splits <= n_perm:
        index = np.array(list(itertools.combinations(range(nt + nb), nt)))
        d = differences(pooled[index].sum(axis=1))
        return PermutationTest(observed, float((np.abs(d) >= abs(observed) - tolerance).mean()), splits, True)
    rng = np.random.default_rng(seed)
    shuffled = rng.permuted(np.broadcast_to(pooled, (n_perm, pooled.size)), axis=1)
    d = differences(shuffled[:, :nt].sum(axis=1))
    extreme = int((np.abs(d) >= abs(observed) - tolerance).sum())
    return PermutationTest(observed, (1 + extreme) / (1 + n_perm), n_perm, False)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the order given.

    With the m finite p-values sorted ``p_(1) ≤ … ≤ p_(m)``:
    ``p̃_(i) = min(1, max_{j ≤ i} (m − j + 1)·p_(j))``. Rejecting where ``p̃ ≤ α`` controls the chance of
    any false rejection among the m at α, under any dependence. nan p-values stay nan and do not count in
    m. Example: ``[0.01, 0.04, 0.03, 0.005] → [0.03, 0.06, 0.06, 0.02]``.
    """
    p = np.asarray(p_values, dtype=float).ravel()
    out = np.full(p.size, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    m = finite.size
    if m:
        order = finite[np.argsort(p[finite], kind="stable")]
        scaled = (m - np.arange(m)) * p[order]
        out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))   # monotone: never below a smaller p's
    return out.tolist()


def cluster_summary(task_values: Mapping[str, float], clusters: Mapping[str, Sequence[str]],
                    p_values: Mapping[str, float] | None = None, alpha: float = 0.05,
                    lower_is_better: bool = True) -> ClusterSummary:
    """Count improvements over clusters of tasks instead of over tasks.

    ``task_values`` maps a task to its difference (treated − baseline); ``clusters`` maps a cluster name to
    its tasks (e.g. ``{"integer": ["integer_1_10", "integer_1_100", "integer_1_1000"]}``: three ranges of
    one question must not count as three pieces of evidence). Tasks in no cluster form their own cluster;
    tasks a cluster names but ``task_values`` lacks are ignored. A cluster's value is the mean of its
    tasks' finite values; clusters with none are left out of the counts.

    ``improved`` / ``worse`` / ``unchanged``: clusters whose value is below / above / equal to 0 (above /
    below with ``lower_is_better=False``, for metrics where more is better). With ``p_values`` (already
    adjusted, e.g. by ``holm`` over the tasks), a cluster is significantly improved (worse) when at least
    one of its tasks moved that way with ``p ≤ alpha``; FWER control over the tasks carries over to these
    claims. A mixed cluster can count on both sides. ``worse_tasks`` names every task that moved the
    worse way, significant or not.
    """
    sign = 1.0 if lower_is_better else -1.0
    grouped: dict[str, tuple[str, ...]] = {}
    assigned: set[str] = set()
    for name, members in clusters.items():
        present = tuple(t for t in members if t in task_values)
        assigned.update(present)
        if present:
            grouped[name] = present
    for task in task_values:
        if task not in assigned:
            grouped[task] = (task,)

    def better(task: str) -> bool:
        return sign * task_values[task] < 0

    def worse(task: str) -> bool:
        return sign * task_values[task] > 0

    values: dict[str, float] = {}
    counts = {"improved": 0, "worse": 0, "unchanged": 0}
    significant = {"improved": 0, "worse": 0}
    for name, members in grouped.items():
        finite = [task_values[t] for t in members if math.isfinite(task_values[t])]
        if not finite:
            continue
        values[name] = float(np.mean(finite))
        scaled = sign * values[name]
        counts["improved" if scaled < 0 else "worse" if scaled > 0 else "unchanged"] += 1
        if p_values is not None:
            sure = [t for t in members if p_values.get(t, math.nan) <= alpha]
            significant["improved"] += any(better(t) for t in sure)
            significant["worse"] += any(worse(t) for t in sure)
    worse_tasks = tuple(t for t in task_values if math.isfinite(task_values[t]) and worse(t))
    have_p = p_values is not None
    return ClusterSummary(values, counts["improved"], counts["worse"], counts["unchanged"],
                          significant["improved"] if have_p else None, significant["worse"] if have_p else None,
                          worse_tasks, {name: grouped[name] for name in values})


def min_detectable_difference(n: int, p0: float, alpha: float = 0.05, power: float = 0.8, paired: bool = False,
                              discordant: float | None = None) -> float:
    """Smallest accuracy difference a two-sided test at ``alpha`` detects with probability ``power``.

    Normal approximation, ``z_a = Φ⁻¹(1 − alpha/2)``, ``z_b = Φ⁻¹(power)``:
    ``δ = (z_a + z_b)·sqrt(V/n)``, with the variance of one item's difference evaluated at the baseline
    accuracy p0 (a local approximation: exact as δ → 0, slightly optimistic when p0 + δ is nearer 0.5).

    - Unpaired (two models scored on independent sets of n items each): ``V = 2·p0·(1 − p0)``.
      n = 200, p0 = 0.5 → δ ≈ 0.140.
    - ``paired=True`` (both models on the same n items, McNemar's setting): ``V = discordant``, the share of
      items on which exactly one model is right. Without ``discordant`` it assumes the models err
      independently, ``discordant = 2·p0·(1 − p0)``, which equals the unpaired answer; models of one
      family err together, discord less, and so detect smaller differences than this.
    """
    if n < 1 or not 0 <= p0 <= 1 or not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("need n >= 1, 0 <= p0 <= 1, 0 < alpha < 1 and 0 < power < 1")
    if discordant is not None and not paired:
        raise ValueError("discordant applies to paired=True only: unpaired sets have no pairs to discord")
    variance = 2 * p0 * (1 - p0)
    if discordant is not None:
        if not 0 <= discordant <= 1:
            raise ValueError("discordant is a share of items: 0 <= discordant <= 1")
        variance = discordant
    z = float(sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power))
    return z * math.sqrt(variance / n)


def min_detectable_mean_difference(differences: Sequence[float], alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest mean of paired differences a two-sided test at ``alpha`` detects with probability ``power``,
    at the spread and number of pairs observed: ``(z_a + z_b) · s / sqrt(n)`` with ``s`` the sample standard
    deviation of the finite differences (normal approximation). nan with fewer than 2 differences."""
    d = _finite(differences)
    if d.size < 2:
        return math.nan
    z = float(sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power))
    return z * float(d.std(ddof=1)) / math.sqrt(d.size)
