"""Decoding-time baselines (03): temperature (exact TV and the format tax across T, the fraction of the
training gap a temperature closes, the temperature that matches the trained model) and sampler filters
(min-p, top-p: transformers' own warpers, through SamplingParams).

Spread is read two ways, always side by side: exact TV over A ("when it answers bare", lower = more spread,
with the raw mass Σ P(bare valid answer) as its cost) and the behavioural effective share of plain replies
(lib.spread.effective_number / k, higher = more spread, with the valid rate as its cost)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from lib import metrics, spread
from lib.conditions import Condition
from lib.distributions import ExactDistribution, Samples, sample_panel, sample_replies, stored_head
from lib.sampling import SamplingParams
from lib.tasks import Task


def trained_mean_tv(trained: Mapping[int, Mapping[str, ExactDistribution]]) -> dict[str, float]:
    """Per task, the trained model's exact TV averaged over seeds ({} without adapters)."""
    by_task: dict[str, list[float]] = {}
    for exact in trained.values():
        for task_id, dist in exact.items():
            by_task.setdefault(task_id, []).append(metrics.exact_tv(dist.p))
    return {t: float(np.mean(v)) for t, v in by_task.items()}


MIN_GAP = 0.01   # a smaller training effect makes the fraction a ratio of noise (e.g. −361% of a 0.0003 gap)


def gap_closed(vanilla_t1, vanilla_t, trained_t1, higher_is_more_spread: bool = False, min_gap: float = MIN_GAP):
    """(vanilla(T) − vanilla(T=1)) / (trained(T=1) − vanilla(T=1)): the fraction of the training gap that
    temperature T closes, on any measure of spread (exact TV: lower is more spread; effective share: higher).

    1 means temperature T matches what training achieved, 0 means no change, > 1 beats it and < 0 makes it
    worse. nan where training spread the answers by less than ``min_gap`` on this measure (no gap to close).
    """
    v1, vt, tr = (np.asarray(x, dtype=float) for x in (vanilla_t1, vanilla_t, trained_t1))
    gap = (tr - v1) if higher_is_more_spread else (v1 - tr)
    has_gap = (gap >= min_gap) & (gap > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(has_gap, (vt - v1) / np.where(has_gap, tr - v1, 1.0), np.nan)
    return float(value) if value.ndim == 0 else value


def gap_rows(sweep: Mapping[float, Mapping[str, ExactDistribution]], trained_tv: Mapping[str, float]) -> list[dict]:
    """gap_closed per (task, T) against the trained model's mean exact TV at T=1."""
    reference = sweep[1.0]
    rows = []
    for temperature, exact in sweep.items():
        for task_id, dist in exact.items():
            if task_id in trained_tv:
                value = gap_closed(metrics.exact_tv(reference[task_id].p), metrics.exact_tv(dist.p),
                                   trained_tv[task_id])
                rows.append(dict(condition="vanilla", task=task_id, metric="gap_closed", value=value,
                                 temperature=temperature, n=dist.task.k))
    return rows


def best_temperature(sweep: Mapping[float, Mapping[str, ExactDistribution]]) -> dict[str, float]:
    """Per task, the swept T with the lowest exact TV (chosen post hoc, so an optimistic baseline)."""
    tasks_ = next(iter(sweep.values())).keys()
    return {t: min(sweep, key=lambda temp: metrics.exact_tv(sweep[temp][t].p)) for t in tasks_}


# -- matching a temperature -------------------------------------------------------------------

def temperature_grid(low: float, high: float, step: float) -> list[float]:
    """low, low + step, …, high; rounded to 6 decimals, so that 1.3 on the grid is the 1.3 of a params file."""
    count = round((high - low) / step) if step > 0 else -1
    if not 0 < low < high or count < 1 or not math.isclose(low + count * step, high, abs_tol=1e-9):
        raise ValueError(f"match_grid: step {step} must divide [{low}, {high}] into equal steps, with 0 < low < high")
    return [round(low + i * step, 6) for i in range(count + 1)]


@dataclass(frozen=True)
class TemperatureMatch:
    """Where vanilla's spread meets a target, on a temperature grid."""
    temperature: float    # T*, a grid point
    value: float          # the measure at T*
    target: float
    reached: bool         # some grid temperature reaches the target: T* is the grid point nearer to it
    evaluations: int      # distinct temperatures at which the measure was evaluated
    note: str = ""        # why the target was not reached


def match_temperature(measure_at: Callable[[float], float], target: float, grid: Sequence[float],
                      higher_is_more_spread: bool, exhaustive: bool = False) -> TemperatureMatch:
    """The grid temperature T* at which ``measure_at(T)`` meets ``target``, with few evaluations.

    Assumption: along the grid, spread is unimodal in T: it rises to a most-spread temperature and may fall
    after it (exact TV does, as the mass moves to a few long answers; sampled measures can, as replies stop
    being answers). Under it T* lies at the first crossing on the rising side; of the two grid points that
    straddle the crossing, T* is the one whose value is nearer the target (ties: the one that reaches it).
    A nan measure (e.g. fewer than 2 valid replies) counts as the least spread value.

    Search, memoized over grid indices: the two ends first; when the highest T reaches the target, bisection
    over indices (2 + ⌈log2(len(grid) − 1)⌉ evaluations: 8 for 0.50, 0.55, …, 3.00). When it does not, a
    golden-section search for the most spread point, stopped at the first point that reaches the target,
    then bisection between it and the nearest lower point. On a noisy or non-unimodal curve the result is
    still a pair of neighbours that straddles the target, though not necessarily the first.

    ``exhaustive`` scans the grid upward instead (up to the first crossing, or all of it), for a measure that is
    cheap everywhere (exact TV: one scoring pass gives every temperature): T* is then at the first crossing
    without the unimodality assumption, and an unreached target gives the most spread grid temperature.

    Not reached: when even the lowest T is at least as spread as the target, T* is the lowest T; when no
    evaluated T reaches it, T* is the most spread temperature found (under the assumption, the most spread
    on the grid). ``reached`` is then False and ``note`` says which, with the value at T*.
    """
    temps = [float(t) for t in grid]
    if not temps or any(b <= a for a, b in zip(temps, temps[1:])):
        raise ValueError("grid must be a non-empty, increasing sequence of temperatures")
    values: dict[int, float] = {}
    sign = 1.0 if higher_is_more_spread else -1.0
    goal = sign * float(target)

    def spread_at(i: int) -> float:
        if i not in values:
            values[i] = float(measure_at(temps[i]))
        value = values[i]
        return -math.inf if math.isnan(value) else sign * value

    def result(i: int, reached: bool, note: str = "") -> TemperatureMatch:
        return TemperatureMatch(temps[i], values[i], float(target), reached, len(values), note)

    last = len(temps) - 1
    if spread_at(0) >= goal:
        reached = math.isclose(spread_at(0), goal, rel_tol=1e-9, abs_tol=1e-12)
        return result(0, reached, "" if reached else f"already as spread at the lowest T={temps[0]:g}")
    if exhaustive:
        above = next((i for i in range(1, last + 1) if spread_at(i) >= goal), None)
    else:
        above = last if spread_at(last) >= goal else _first_reaching(spread_at, 0, last, goal)
    if above is None:
        best = max(values, key=spread_at)
        return result(best, False, f"out of reach in [{temps[0]:g}, {temps[-1]:g}]: T* is the most spread T found")
    low = max(i for i in values if i < above)      # every evaluated index below `above` falls short of the goal
    while above - low > 1:
        mid = (low + above) // 2
        low, above = (low, mid) if spread_at(mid) >= goal else (mid, above)
    nearer = low if abs(spread_at(low) - goal) < abs(spread_at(above) - goal) else above
    return result(nearer, True)


_GOLDEN = (math.sqrt(5) - 1) / 2


def _first_reaching(spread_at: Callable[[int], float], low: int, high: int, goal: float) -> int | None:
    """Golden-section search for the most spread index in [low, high] (unimodal), stopped at the first
    evaluated index whose spread reaches ``goal``; None when none does (every index near the peak tried)."""
    a, b = low, high
    while b - a > 3:
        c, d = a + math.floor((b - a) * (1 - _GOLDEN)), a + math.ceil((b - a) * _GOLDEN)   # a < c < d < b
        for i in (c, d):
            if spread_at(i) >= goal:
                return i
        a, b = (a, d) if spread_at(c) >= spread_at(d) else (c, b)
    return next((i for i in range(a, b + 1) if spread_at(i) >= goal), None)


def match_exact(sweep: Mapping[float, Mapping[str, ExactDistribution]], targets: Mapping[str, float],
                grid: Sequence[float]) -> dict[str, TemperatureMatch]:
    """Per task, T* where vanilla's exact TV meets the target (the trained model's), from a sweep that holds
    every grid temperature (exact scoring gives all of them in one pass, so the whole grid is read)."""
    return {task_id: match_temperature(lambda t: metrics.exact_tv(sweep[t][task_id].p), target, grid,
                                       higher_is_more_spread=False, exhaustive=True)
            for task_id, target in targets.items() if not math.isnan(target)}


# -- the behavioural measure: plain replies at any temperature ---------------------------------

def behavioural_spread(samples: Samples, n_boot: int = 0, seed: int = 0) -> spread.EffectiveNumber:
    """The effective number of answers 1/Σp² (unbiased collision estimate) of a sample set, and its share of k."""
    return spread.effective_number(samples.answers, samples.task.k, n_boot=n_boot, seed=seed)


def valid_rate(samples: Samples) -> tuple[float, float, float]:
    """(share of replies that parse to an answer, Wilson 95% interval)."""
    n, valid = len(samples.replies), sum(a is not None for a in samples.answers)
    if not n:
        return (math.nan, math.nan, math.nan)
    return (valid / n, *metrics.wilson_ci(valid, n))


@dataclass
class PlainReplies:
    """n plain replies per (task, T) from one condition, drawn on first use and kept: the same set serves
    the tax, the gap and every temperature the behavioural match evaluates. Vanilla at T=1 reads the head of
    the longest stored draw (01's replies, always drawn first); every other set is its own draw of n, since a
    longer one can only come from a later notebook (05's adapters, vanilla at T*) and reading it would make a
    rerun of 03 differ from a run from scratch."""
    condition: Condition
    n: int
    max_new_tokens: int
    seed: int
    drawn: dict[float, dict[str, Samples]] = field(default_factory=dict)

    def at(self, task: Task, temperature: float) -> Samples:
        by_task = self.drawn.setdefault(float(temperature), {})
        if task.id not in by_task:
            params = SamplingParams(temperature=float(temperature), max_new_tokens=self.max_new_tokens)
            draw = stored_head if self.condition.adapter is None and float(temperature) == 1.0 else sample_replies
            by_task[task.id] = Samples(task, draw(self.condition, task.prompt, self.n, params, self.seed))
        return by_task[task.id]

    def panel(self, tasks: Sequence[Task], temperature: float) -> dict[str, Samples]:
        return {task.id: self.at(task, temperature) for task in tqdm(
            tasks, desc=f"{self.condition.label}: {self.n} replies per task, T={temperature:g}", unit="task")}

    def rows(self, condition: str, n_boot: int, train_seed: int | None = None) -> list[dict]:
        """The sampled rows (lib.distributions.sampled_rows, prefix "sampled") of every set drawn, by T."""
        from lib.distributions import sampled_rows
        return [row for t in sorted(self.drawn) for row in
                sampled_rows(self.drawn[t], condition, t, self.seed, "sampled", n_boot, train_seed)]


def match_behavioural(vanilla: PlainReplies, tasks: Sequence[Task], targets: Mapping[str, float],
                      grid: Sequence[float]) -> dict[str, TemperatureMatch]:
    """Per task, T* where vanilla's effective share of n plain replies meets the target (the trained model's);
    each temperature the search evaluates costs n replies (see match_temperature for how few)."""
    matches = {}
    for task in tqdm([t for t in tasks if not math.isnan(targets.get(t.id, math.nan))],
                     desc=f"behavioural match, {vanilla.n} replies per temperature", unit="task"):
        matches[task.id] = match_temperature(lambda t: behavioural_spread(vanilla.at(task, t)).share,
                                             targets[task.id], grid, higher_is_more_spread=True)
    return matches


def match_rows(matches: Mapping[str, TemperatureMatch], measure: str) -> list[dict]:
    """metric ``matched_temperature_<measure>``: T* per task, with the target, the value at T*, whether it was
    reached and how many temperatures were evaluated (extra columns)."""
    return [dict(condition="vanilla", task=task_id, metric=f"matched_temperature_{measure}", value=m.temperature,
                 target=m.target, matched_value=m.value, reached=m.reached, evaluations=m.evaluations, note=m.note)
            for task_id, m in matches.items()]


# -- the gap temperature closes, on both lenses ------------------------------------------------

_GAP_COLUMNS = ["task", "vanilla_t1", "trained_t1", "vanilla_t", "gap_closed", "cost_t1", "cost_t", "temperature"]


def trained_at_t1(trained: Sequence[Condition], tasks: Sequence[Task], n: int, max_new_tokens: int,
                  seed: int) -> tuple[dict[int, dict[str, ExactDistribution]], dict[int, PlainReplies]]:
    """Per training seed: exact distributions at T=1 and n plain replies per task at T=1; one adapter at a time,
    everything it needs before the next loads."""
    from lib.distributions import exact_panel
    exact, plain = {}, {}
    for condition in trained:
        exact[condition.train_seed] = exact_panel(condition, tasks, 1.0, progress=False)
        plain[condition.train_seed] = PlainReplies(condition, n, max_new_tokens, seed)
        plain[condition.train_seed].panel(tasks, 1.0)
    return exact, plain


def exact_gap(vanilla_t1: Mapping[str, ExactDistribution], vanilla_t: Mapping[str, ExactDistribution],
              trained_t1: Mapping[int, Mapping[str, ExactDistribution]]) -> pd.DataFrame:
    """Per task with a trained model: exact TV of vanilla at T=1 and at T, of trained at T=1 (mean over
    training seeds), the fraction of the gap T closes, and the raw mass each costs."""
    trained_tv = trained_mean_tv(trained_t1)
    rows = []
    for task_id, target in trained_tv.items():
        v1, vt = vanilla_t1[task_id], vanilla_t[task_id]
        tv1, tvt = metrics.exact_tv(v1.p), metrics.exact_tv(vt.p)
        rows.append(dict(task=task_id, vanilla_t1=tv1, trained_t1=target, vanilla_t=tvt,
                         gap_closed=gap_closed(tv1, tvt, target), cost_t1=float(np.exp(v1.logp).sum()),
                         cost_t=float(np.exp(vt.logp).sum()), temperature=vt.temperature))
    return pd.DataFrame(rows, columns=_GAP_COLUMNS)


def behavioural_gap(vanilla_t1: Mapping[str, Samples], vanilla_t: Mapping[str, Samples],
                    trained_t1: Sequence[Mapping[str, Samples]], temperature: float, n_boot: int = 1000,
                    seed: int = 0) -> pd.DataFrame:
    """Per task with a trained model: effective share of vanilla's plain replies at T=1 and at T, and of the
    trained model's at T=1 (mean over training seeds), the fraction of the gap T closes, and the valid rate
    each costs (vanilla's with Wilson intervals, effective shares with bias-corrected bootstrap intervals)."""
    rows = []
    for task_id in trained_t1[0] if trained_t1 else ():
        e1, et = (behavioural_spread(s[task_id], n_boot, seed) for s in (vanilla_t1, vanilla_t))
        shares = [x for x in (behavioural_spread(s[task_id]).share for s in trained_t1) if not math.isnan(x)]
        target = float(np.mean(shares)) if shares else math.nan
        (c1, c1_low, c1_high), (ct, ct_low, ct_high) = valid_rate(vanilla_t1[task_id]), valid_rate(vanilla_t[task_id])
        rows.append(dict(task=task_id, vanilla_t1=e1.share, vanilla_t1_low=e1.share_ci_low,
                         vanilla_t1_high=e1.share_ci_high, trained_t1=target, vanilla_t=et.share,
                         vanilla_t_low=et.share_ci_low, vanilla_t_high=et.share_ci_high,
                         gap_closed=gap_closed(e1.share, et.share, target, higher_is_more_spread=True),
                         cost_t1=c1, cost_t1_low=c1_low, cost_t1_high=c1_high, cost_t=ct, cost_t_low=ct_low,
                         cost_t_high=ct_high, temperature=float(temperature), n=len(vanilla_t[task_id].replies)))
    return pd.DataFrame(rows, columns=None if rows else _GAP_COLUMNS)


def behavioural_gap_rows(gap: pd.DataFrame) -> list[dict]:
    """metric gap_closed_effective_share per task, at the gap's temperature (n = replies per set)."""
    return [dict(condition="vanilla", task=r.task, metric="gap_closed_effective_share", value=r.gap_closed,
                 temperature=r.temperature, n=r.n) for r in gap.itertuples()]


# -- readable tables ---------------------------------------------------------------------------

def sweep_display(sweep: Mapping[float, Mapping[str, ExactDistribution]], temperatures: Sequence[float]) -> pd.DataFrame:
    """One row per task, one column per temperature: "exact TV (raw mass)", e.g. "0.62 (31%)"."""
    from lib.tables import readable
    tasks_ = list(next(iter(sweep.values())))
    rows = [{"task": task_id, **{f"T={t:g}": f"{metrics.exact_tv(sweep[t][task_id].p):.2f} "
                                            f"({mass_text(float(np.exp(sweep[t][task_id].logp).sum()))})"
                                 for t in temperatures}} for task_id in tasks_]
    return readable(pd.DataFrame(rows))


def exact_gap_display(gap: pd.DataFrame) -> pd.DataFrame:
    """The exact lens of the gap, readable: TVs, the fraction closed and the raw mass each temperature costs."""
    from lib.tables import readable
    t = f"T={gap['temperature'].iloc[0]:g}"
    frame = pd.DataFrame({"task": gap["task"], "vanilla, T=1": gap["vanilla_t1"].map("{:.2f}".format),
                          "trained, T=1": gap["trained_t1"].map("{:.2f}".format),
                          f"vanilla, {t}": gap["vanilla_t"].map("{:.2f}".format),
                          f"gap closed at {t}": gap["gap_closed"].map(fraction_text),
                          "raw mass, T=1": gap["cost_t1"].map(mass_text), f"raw mass, {t}": gap["cost_t"].map(mass_text)})
    return readable(frame)


def behavioural_gap_display(gap: pd.DataFrame) -> pd.DataFrame:
    """The behavioural lens of the gap, readable: effective shares with intervals, the fraction closed and
    the valid rate each temperature costs."""
    from lib.tables import readable, with_ci
    t = f"T={gap['temperature'].iloc[0]:g}"

    def cells(column: str, percent: bool = False) -> list[str]:
        return [with_ci(r[column], r.get(f"{column}_low"), r.get(f"{column}_high"), 0 if percent else 2, percent)
                for _, r in gap.iterrows()]
    frame = pd.DataFrame({"task": gap["task"], "vanilla, T=1": cells("vanilla_t1"),
                          "trained, T=1": gap["trained_t1"].map(lambda v: with_ci(v)),
                          f"vanilla, {t}": cells("vanilla_t"), f"gap closed at {t}": gap["gap_closed"].map(fraction_text),
                          "valid, T=1": cells("cost_t1", True), f"valid, {t}": cells("cost_t", True)})
    return readable(frame)


def match_display(exact: Mapping[str, TemperatureMatch], behavioural: Mapping[str, TemperatureMatch],
                  sweep: Mapping[float, Mapping[str, ExactDistribution]], vanilla: PlainReplies) -> pd.DataFrame:
    """One row per (task, measure): the trained model's value (the target), T*, vanilla's value there, what
    T* costs (raw mass, or valid replies), the temperatures evaluated, and whether the target was reached."""
    from lib.tables import readable, with_ci
    rows = []
    for task_id in dict.fromkeys([*exact, *behavioural]):
        if task_id in exact:
            m = exact[task_id]
            mass = float(np.exp(sweep[m.temperature][task_id].logp).sum())
            rows.append(dict(task=task_id, measure="exact TV (lower = more spread)", trained=f"{m.target:.2f}",
                             T_star=f"{m.temperature:.2f}", vanilla=f"{m.value:.2f}", cost=f"raw mass {mass_text(mass)}",
                             evaluated=m.evaluations, reached="yes" if m.reached else f"no: {m.note}"))
        if task_id in behavioural:
            m = behavioural[task_id]
            rate, low, high = valid_rate(vanilla.drawn[m.temperature][task_id])
            rows.append(dict(task=task_id, measure="effective share (higher = more spread)",
                             trained=with_ci(m.target), T_star=f"{m.temperature:.2f}", vanilla=with_ci(m.value),
                             cost="valid " + with_ci(rate, low, high, 0, True), evaluated=m.evaluations,
                             reached="yes" if m.reached else f"no: {m.note}"))
    return readable(pd.DataFrame(rows), {"trained": "trained, T=1", "T_star": "T*", "vanilla": "vanilla at T*",
                                         "cost": "cost at T*", "evaluated": "temperatures evaluated"})


def mass_text(value: float | None) -> str:
    """A raw mass as a percentage with two significant digits (masses run from ~100% down to ~0.01%)."""
    if value is None or math.isnan(value):
        return "–"
    return "<0.01%" if value < 1e-4 else f"{value * 100:.2g}%" if value < 0.1 else f"{value:.0%}"


def fraction_text(value: float | None) -> str:
    """A fraction of the gap closed as a whole percentage; "–" where there is no gap."""
    return "–" if value is None or math.isnan(value) else f"{value:.0%}"


# -- sampler filters -------------------------------------------------------------------------


def min_p_filter(logits, p_base: float):
    """Keep the tokens whose probability is at least p_base × the top token's; others → −inf.

    The same rule as transformers' MinPLogitsWarper (sampling uses that, through SamplingParams.min_p);
    this copy exists to test the equivalence. Works on a torch tensor or a numpy array (last axis).
    """
    if not 0 <= p_base <= 1:
        raise ValueError(f"p_base must be in [0, 1], got {p_base}")
    if isinstance(logits, torch.Tensor):
        probs = torch.softmax(logits, dim=-1)
        drop = probs < p_base * probs.amax(dim=-1, keepdim=True)
        return logits.masked_fill(drop, float("-inf"))
    arr = np.asarray(logits, dtype=float)
    shifted = np.exp(arr - arr.max(axis=-1, keepdims=True))
    probs = shifted / shifted.sum(axis=-1, keepdims=True)
    return np.where(probs < p_base * probs.max(axis=-1, keepdims=True), -np.inf, arr)


@dataclass(frozen=True)
class Method:
    """A sampled condition of the comparison: a name (the table's `condition`), a label and its sampler."""
    condition: str
    label: str
    params: SamplingParams


def sampling_methods(min_p: Sequence[float], min_p_temperatures: Sequence[float], top_p: float,
                     top_p_temperature: float, max_new_tokens: int) -> list[Method]:
    methods = [Method(f"min_p_{p:g}", f"min-p {p:g}, T={t:g}",
                      SamplingParams(temperature=t, min_p=p, max_new_tokens=max_new_tokens))
               for p in min_p for t in min_p_temperatures]
    methods.append(Method(f"top_p_{top_p:g}", f"top-p {top_p:g}, T={top_p_temperature:g}",
                          SamplingParams(temperature=top_p_temperature, top_p=top_p, max_new_tokens=max_new_tokens)))
    return methods


def sample_methods(condition: Condition, tasks: Sequence[Task], methods: Sequence[Method], n: int,
                   seed: int) -> dict[Method, dict[str, Samples]]:
    """n replies per task under each method's sampler."""
    return {method: sample_panel(condition, tasks, n, method.params, seed) for method in methods}
