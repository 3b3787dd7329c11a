"""Dose–response of transfer: how far each arm moved the untrained tasks per unit of spread on the trained task.

04 keeps each run's adapter after chosen steps (adapters/<recipe>/seed<k>/steps/step<N>/, the final adapter at
the last step; step 0 is the untrained model). Every task is scored exactly at each of them, through the one
cache (each checkpoint is a `conditions.checkpoint`, keyed by its adapter files' sha256). Then, per arm and
seed, a least-squares line of each untrained task's spread against the trained task's spread over the steps:
its slope says how much an untrained task moves per unit the trained task moves. An update that narrows or
spreads anything moves other tasks too, so transfer is the selected arm's slope minus the placebo's, compared
unpaired over training seeds (lib.stats.welch), Holm over the untrained tasks.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from lib import artifacts, conditions, distributions, stats
from lib.tasks import Task

STEPS_DIR = "steps"           # as lib.grpo.STEPS_DIR (kept here so reading needs no torch)
MIN_RANGE = 0.02              # a slope needs the trained task to move at least this much over the steps


def checkpoint_adapters(run_dir: Path, recipe: str, seed: int) -> dict[int, Path | None]:
    """{step: adapter directory} of one trained run: 0 → None (the untrained model), each kept step, and the
    final adapter at the run's last step (from its recipe.json)."""
    final = conditions.adapter_dir(run_dir, recipe, seed)
    identity = json.loads((final / "recipe.json").read_text())
    found = {0: None, int(identity["steps"]): final}
    for path in (final / STEPS_DIR).glob("step*/adapter_config.json"):
        found[int(path.parent.name[4:])] = path.parent
    return dict(sorted(found.items()))


def dose_rows(cfg, panel: Sequence[Task], runs: Sequence[tuple[str, int]] | None = None,
              temperature: float = 1.0, progress: bool = True) -> pd.DataFrame:
    """Exact scoring of every task in `panel` at every kept checkpoint of every (recipe, train_seed) in `runs`
    (default: every run 04 trained, from 04_final.csv). Long rows of distributions.exact_rows plus `step`;
    step 0 is the untrained model, scored once and repeated under each run so every line starts there."""
    runs = list(runs) if runs is not None else artifacts.trained_runs(cfg.results_dir)
    vanilla = distributions.exact_rows(
        distributions.exact_panel(conditions.vanilla(cfg), panel, temperature, progress), "vanilla")
    rows = []
    for recipe, seed in runs:
        for step, adapter in checkpoint_adapters(cfg.run_dir, recipe, seed).items():
            if adapter is None:
                rows += [dict(r, condition=recipe, train_seed=seed, step=0) for r in vanilla]
                continue
            condition = conditions.checkpoint(cfg, recipe, seed, adapter)
            exact = distributions.exact_panel(condition, panel, temperature, progress)
            rows += distributions.exact_rows(exact, recipe, seed, step=step)
    return pd.DataFrame(rows)


def _slope(x: np.ndarray, y: np.ndarray, min_range: float) -> float:
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 2 or np.ptp(x) < min_range:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


def dose_slopes(rows: pd.DataFrame, trained_task: str, metric: str = "exact_tv",
                min_range: float = MIN_RANGE) -> pd.DataFrame:
    """Per (condition, train_seed, untrained task): the least-squares slope of the task's `metric` against the
    trained task's over the checkpoints (d untrained / d trained; for exact TV a positive slope means the task
    spreads as the trained task spreads). nan when the trained task moved less than `min_range`: no dose.
    Columns: condition, train_seed, task, metric (dose_slope), of_metric, value (the slope), trained_range, n
    (checkpoints)."""
    frame = rows[rows["metric"] == metric]
    out = []
    for (condition, seed), run in frame.groupby(["condition", "train_seed"], sort=False):
        wide = run.pivot_table(index="step", columns="task", values="value").sort_index()
        if trained_task not in wide:
            continue
        x = wide[trained_task].to_numpy(dtype=float)
        for task in wide.columns:
            if task == trained_task:
                continue
            out.append(dict(condition=condition, train_seed=seed, task=task, metric="dose_slope", of_metric=metric,
                            value=_slope(x, wide[task].to_numpy(dtype=float), min_range),
                            trained_range=float(np.nanmax(x) - np.nanmin(x)), n=int(len(wide))))
    return pd.DataFrame(out, columns=["condition", "train_seed", "task", "metric", "of_metric", "value",
                                      "trained_range", "n"])


def transfer_estimate(slopes: pd.DataFrame, arm: str, placebo: str) -> pd.DataFrame:
    """The arm's slope minus the placebo's, per untrained task and over all of them (`task` = "all untrained":
    each seed's mean slope over the tasks), unpaired over training seeds (lib.stats.welch); p_holm over the
    untrained tasks. Columns: comparison, task, metric (dose_transfer), of_metric, value, ci_low, ci_high, p,
    p_holm, method, n_treated, n_baseline."""
    rows = []
    per_seed = slopes.groupby(["condition", "train_seed", "of_metric"], sort=False)["value"].mean().reset_index()
    groups = [(task, group) for task, group in slopes.groupby("task", sort=False)]
    groups.append(("all untrained", per_seed))
    for task, group in groups:
        for metric, by_metric in group.groupby("of_metric", sort=False):
            a = by_metric.loc[by_metric["condition"] == arm, "value"].to_numpy(dtype=float)
            b = by_metric.loc[by_metric["condition"] == placebo, "value"].to_numpy(dtype=float)
            c = stats.welch(a, b)
            rows.append(dict(comparison=f"{arm} − {placebo}", task=task, metric="dose_transfer", of_metric=metric,
                             value=c.difference,
                             ci_low=c.ci_low, ci_high=c.ci_high, p=c.p_value, method=c.method,
                             n_treated=c.n_treated, n_baseline=c.n_baseline))
    out = pd.DataFrame(rows)
    out["p_holm"] = out["p"]
    tasks = out["task"] != "all untrained"
    for _, group in out[tasks].groupby("of_metric"):
        finite = group["p"].notna()
        out.loc[group.index[finite], "p_holm"] = stats.holm(group.loc[finite, "p"].tolist())
    return out


def dose_curves(rows: pd.DataFrame, trained_task: str, metric: str = "exact_tv") -> pd.DataFrame:
    """Per (condition, step, untrained task): the trained task's and the task's `metric`, means over seeds —
    what charts.dose_response draws. Columns: condition, step, task, trained, untrained, seeds."""
    frame = rows[rows["metric"] == metric]
    x = frame[frame["task"] == trained_task][["condition", "train_seed", "step", "value"]].rename(
        columns={"value": "trained"})
    y = frame[frame["task"] != trained_task][["condition", "train_seed", "step", "task", "value"]].rename(
        columns={"value": "untrained"})
    both = y.merge(x, on=["condition", "train_seed", "step"])
    return both.groupby(["condition", "step", "task"], sort=False).agg(
        trained=("trained", "mean"), untrained=("untrained", "mean"), seeds=("train_seed", "nunique")).reset_index()
