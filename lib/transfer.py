"""Before/after comparisons across the task panel: seed means with CIs, differences from vanilla and
from the validity-only control, and the temperature-matched control."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats


def seed_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-interval over training seeds (nan interval for a single seed)."""
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(arr.mean())
    if arr.size < 2:
        return (mean, math.nan, math.nan)
    half = stats.t.ppf(0.5 + level / 2, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size)
    return (mean, mean - half, mean + half)


def evaluate(condition, panel, n_samples: int, params, sample_seed: int, n_boot: int = 1000) -> tuple[list[dict], dict]:
    """Exact distributions at T=1 and the seed's n-sample protocol for one condition: (long rows, {task: exact})."""
    from lib import distributions
    exact = distributions.exact_panel(condition, panel, temperature=1.0)
    samples = distributions.sample_panel(condition, panel, n_samples, params, sample_seed)
    rows = distributions.exact_rows(exact, condition.condition, condition.train_seed) + distributions.sampled_rows(
        samples, condition.condition, params.temperature, sample_seed, "sampled", n_boot, condition.train_seed)
    return rows, exact


def condition_summary(long: pd.DataFrame) -> pd.DataFrame:
    """Per (condition, task, metric): mean over seeds with a t-interval, and the number of seeds."""
    rows = []
    for (condition, task, metric), group in long.groupby(["condition", "task", "metric"], sort=False):
        mean, low, high = seed_ci(group["value"].tolist())
        rows.append(dict(condition=condition, task=task, metric=metric, value=mean, ci_low=low, ci_high=high,
                         n=group["train_seed"].nunique()))
    return pd.DataFrame(rows)


def paired_difference(long: pd.DataFrame, treated: str, baseline: str, metric: str = "exact_tv") -> pd.DataFrame:
    """treated − baseline per task, paired by seed when the baseline has seeds, else against its one value."""
    frame = long[long["metric"] == metric]
    rows = []
    for task, group in frame.groupby("task", sort=False):
        a = group[group["condition"] == treated].set_index("train_seed")["value"]
        b = group[group["condition"] == baseline].set_index("train_seed")["value"]
        if a.empty or b.empty:
            continue
        diffs = (a - b.reindex(a.index)).dropna() if len(b) > 1 else a - b.iloc[0]
        mean, low, high = seed_ci(diffs.tolist())
        rows.append(dict(task=task, metric=f"{metric}_diff", comparison=f"{treated} - {baseline}",
                         value=mean, ci_low=low, ci_high=high, n=len(diffs)))
    return pd.DataFrame(rows)


def improved_count(diff: pd.DataFrame, exclude: Sequence[str] = ()) -> tuple[int, int, int]:
    """(tasks whose mean difference is < 0, of which the CI excludes 0, tasks counted)."""
    frame = diff[~diff["task"].isin(exclude)]
    return int((frame["value"] < 0).sum()), int((frame["ci_high"] < 0).sum()), len(frame)


def temperature_matched(tv_at: Callable[[float], float], target: float, low: float = 0.5, high: float = 3.0,
                        grid: int = 11, tol: float = 1e-3, max_iter: int = 30) -> tuple[float, float]:
    """The temperature T* where vanilla's exact TV equals ``target``; returns (T*, TV at T*).

    Exact TV is not monotone in T (it falls, then rises again as mass spreads to a few long answers), so
    a grid finds the most-spread temperature first; T* is then bisected on the falling side. When the
    target lies below the lowest TV any temperature reaches, T* is that most-spread temperature and the
    returned TV says by how much it misses.
    """
    temps = np.linspace(low, high, grid)
    values = [tv_at(float(t)) for t in temps]
    best = int(np.argmin(values))
    if target <= values[best]:
        return float(temps[best]), float(values[best])
    if target >= values[0]:
        return float(temps[0]), float(values[0])
    left = max(i for i in range(best + 1) if values[i] >= target)
    lo, hi = float(temps[left]), float(temps[left + 1])
    for _ in range(max_iter):
        mid = (lo + hi) / 2
        value = tv_at(mid)
        if abs(value - target) < tol:
            return mid, value
        lo, hi = (mid, hi) if value > target else (lo, mid)
    mid = (lo + hi) / 2
    return mid, tv_at(mid)


def transfer_table(summary: pd.DataFrame, diffs: dict[str, pd.DataFrame], spread: str, control: str) -> pd.DataFrame:
    """One row per task: exact TV vanilla / control / trained (mean [CI]), the paired differences, and the
    seed's sampled TV (trained mean) beside its floor."""
    def column(condition: str, metric: str = "exact_tv") -> pd.Series:
        frame = summary[(summary["condition"] == condition) & (summary["metric"] == metric)]
        return frame.set_index("task")["value"]

    tasks = list(dict.fromkeys(summary["task"]))
    table = pd.DataFrame(index=tasks)
    table["vanilla"] = column("vanilla")
    table["control"] = column(control)
    table["trained"] = column(spread)
    trained = summary[(summary["condition"] == spread) & (summary["metric"] == "exact_tv")].set_index("task")
    table["trained_ci"] = [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(trained["ci_low"].reindex(tasks),
                                                                      trained["ci_high"].reindex(tasks))]
    for name, diff in diffs.items():
        frame = diff.set_index("task").reindex(tasks)
        table[f"diff {name}"] = frame["value"]
        table[f"diff {name} CI"] = [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(frame["ci_low"], frame["ci_high"])]
    if (summary["metric"] == "sampled_tv").any():
        table["sampled TV vanilla"] = column("vanilla", "sampled_tv")
        table["sampled TV trained"] = column(spread, "sampled_tv")
        table["sampled floor"] = column(spread, "sampled_tv_floor")
    table["raw mass vanilla"] = column("vanilla", "raw_mass")
    table["raw mass trained"] = column(spread, "raw_mass")
    return table.rename_axis("task").reset_index()


def ablation_table(long: pd.DataFrame, selection: pd.DataFrame, trained_task: str) -> pd.DataFrame:
    """Every recipe: its trained-task numbers (what selection saw) and its transfer numbers (what it did not)."""
    rows = []
    for _, recipe in selection.iterrows():
        name = recipe["recipe"]
        vs_vanilla = paired_difference(long, name, "vanilla")
        untrained = vs_vanilla[vs_vanilla["task"] != trained_task]
        better, sure, counted = improved_count(untrained)
        trained_row = vs_vanilla[vs_vanilla["task"] == trained_task]
        rows.append(dict(recipe=name, role=recipe["role"], seeds=recipe["seeds"],
                         trained_task_exact_tv=recipe["exact_tv"], trained_task_raw_mass=recipe["raw_mass"],
                         trained_task_diff=trained_row["value"].iloc[0] if len(trained_row) else math.nan,
                         untrained_improved=f"{better}/{counted}", untrained_improved_ci_excludes_0=f"{sure}/{counted}",
                         mean_untrained_diff=untrained["value"].mean()))
    return pd.DataFrame(rows)


def picks_table(exact_by_condition: dict, spread: str, task_ids: Sequence[str], n: int = 5) -> pd.DataFrame:
    """Top-n exact picks, vanilla vs the trained recipe (its first seed), side by side per task."""
    from lib import metrics
    trained_key = min(k for k in exact_by_condition if k[0] == spread)
    rows = []
    for task in task_ids:
        for label, key in (("vanilla", ("vanilla", None)), (f"{spread} (seed {trained_key[1]})", trained_key)):
            dist = exact_by_condition[key].get(task)
            if dist is None:
                continue
            for rank, (answer, share) in enumerate(metrics.top_picks(dist.p, dist.task.answers, n), 1):
                rows.append(dict(task=task, rank=rank, condition=label, pick=f"{answer} ({share:.0%})"))
    frame = pd.DataFrame(rows)
    return frame.pivot_table(index=["task", "rank"], columns="condition", values="pick", aggfunc="first")
