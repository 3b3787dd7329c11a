"""Before/after comparisons across the task panel, with statistics that hold.

- The headline is behavioural (`behav_effective_share`: how many answers a user meets, as a share of k); exact
  TV is the lens "when it answers bare", always beside raw mass and the valid rate, which measure format.
- Training seeds are exchangeable, so arms are compared unpaired (lib.stats.welch). Vanilla has no training
  seed: its exact values are fixed, and its behavioural measure comes in `replicates` disjoint sets of replies
  (i.i.d. draws of one model) so that its sampling noise enters the comparison too.
- p-values are Holm-adjusted over the untrained tasks, per comparison and metric; the three integer ranges
  count once in the task-level summary; the verdict names what improved, what got worse and what was format.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from lib import stats, tables
from lib.recipes import ARM_ROLES
from lib.tasks import display_name

HEADLINE = "behav_effective_share"
LENS = "exact_tv"
FORMAT = ("behav_valid_rate", "raw_mass")
# Metrics compared between conditions, and whether a higher value means more spread (or more valid replies).
HIGHER_IS_MORE = {"behav_effective_share": True, "exact_tv": False, "exact_effective_share": True,
                  "behav_valid_rate": True, "raw_mass": True, "behav_top_share": False,
                  "behav_core_effective_share": True, "core_exact_tv": False, "sampled_tv_excess": False}
CORE_OF = {"behav_effective_share": "behav_core_effective_share", "exact_tv": "core_exact_tv"}
CLUSTERS = {"integer": ("integer_1_10", "integer_1_100", "integer_1_1000")}
ALPHA = 0.05


# The range a measure can take. A t-interval over 2-3 units runs past it (an exact TV of 1.6, an effective share
# below 0), so a mean's interval is clipped to it; the mean lies inside, so the interval still contains it.
UNIT_RANGE_ENDINGS = ("_tv", "_tv_floor", "_rate", "raw_mass", "_top_share", "core_mass", "_core_share", "_tv_p")
NONNEGATIVE_ENDINGS = ("_effective", "_effective_share", "_entropy", "_exp_entropy", "_distinct", "_n_valid")


def metric_bounds(metric: str) -> tuple[float, float]:
    """(low, high) of the values `metric` can take; unbounded for a measure it does not know."""
    if metric.endswith(UNIT_RANGE_ENDINGS):
        return (0.0, 1.0)
    if metric.endswith(NONNEGATIVE_ENDINGS):
        return (0.0, math.inf)
    return (-math.inf, math.inf)


def seed_ci(values: Sequence[float], level: float = 0.95,
            bounds: tuple[float, float] = (-math.inf, math.inf)) -> tuple[float, float, float]:
    """Mean and t-interval over units (training seeds or replicates), clipped to `bounds`; nan interval for a
    single one."""
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(arr.mean())
    if arr.size < 2:
        return (mean, math.nan, math.nan)
    half = sps.t.ppf(0.5 + level / 2, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size)
    return (mean, max(mean - half, bounds[0]), min(mean + half, bounds[1]))


def evaluate(condition, panel, n_samples: int, n_behavioural: int, params, sample_seed: int, n_boot: int = 1000,
             replicates: int = 1, label: str | None = None, sampled: bool = True) -> tuple[list[dict], dict]:
    """Exact distributions at T=1, the seed's n-sample protocol and the behavioural measure for one condition:
    (long rows, {task: exact}). One draw of ``replicates × n_behavioural`` replies per task (the head of a longer
    stored draw where there is one: 01's replies serve vanilla); the protocol is its first ``n_samples``, and
    each disjoint block of ``n_behavioural`` is one behavioural replicate (column ``replicate``). With
    ``sampled=False`` only the exact rows (ablation arms: the sampling budget goes to the compared arms)."""
    from lib import distributions
    name = label or condition.condition
    temperature = params.temperature
    exact = distributions.exact_panel(condition, panel, temperature=temperature)
    if not sampled:
        return distributions.exact_rows(exact, name, condition.train_seed), exact
    samples = distributions.sample_panel(condition, panel, max(n_samples, replicates * n_behavioural), params,
                                         sample_seed, reuse_stored=True)
    rows = distributions.exact_rows(exact, name, condition.train_seed)
    rows += distributions.sampled_rows({t: s.head(n_samples) for t, s in samples.items()}, name, temperature,
                                       sample_seed, "sampled", n_boot, condition.train_seed)
    for r in range(replicates):
        block = {t: distributions.Samples(s.task, s.replies[r * n_behavioural:(r + 1) * n_behavioural])
                 for t, s in samples.items()}
        rows += distributions.sampled_rows(block, name, temperature, sample_seed, "behav", n_boot,
                                           condition.train_seed, replicate=r)
    return rows, exact


def condition_summary(long: pd.DataFrame) -> pd.DataFrame:
    """Per (condition, task, metric): mean over units (seeds or replicates) with a t-interval clipped to the
    measure's range (metric_bounds), and their number."""
    rows = []
    for (condition, task, metric), group in long.groupby(["condition", "task", "metric"], sort=False):
        mean, low, high = seed_ci(group["value"].tolist(), bounds=metric_bounds(metric))
        rows.append(dict(condition=condition, task=task, metric=metric, value=mean, ci_low=low, ci_high=high,
                         n=len(group)))
    return pd.DataFrame(rows)


def compare(long: pd.DataFrame, treated: str, baseline: str, name: str, trained_task: str,
            metrics: Sequence[str] = tuple(HIGHER_IS_MORE)) -> pd.DataFrame:
    """treated − baseline per task and metric, unpaired over units (lib.stats.welch), with Holm-adjusted p over
    the untrained tasks (per metric; the trained task keeps its own p). Columns: comparison, task, metric,
    value, ci_low, ci_high, p, p_holm, method, n_treated, n_baseline."""
    rows = []
    for metric in metrics:
        frame = long[long["metric"] == metric]
        for task, group in frame.groupby("task", sort=False):
            a = group.loc[group["condition"] == treated, "value"].to_numpy(dtype=float)
            b = group.loc[group["condition"] == baseline, "value"].to_numpy(dtype=float)
            if a.size == 0 or b.size == 0:
                continue
            c = stats.welch(a, b)
            rows.append(dict(comparison=name, task=task, metric=metric, value=c.difference, ci_low=c.ci_low,
                             ci_high=c.ci_high, p=c.p_value, method=c.method, n_treated=c.n_treated,
                             n_baseline=c.n_baseline))
    out = pd.DataFrame(rows, columns=["comparison", "task", "metric", "value", "ci_low", "ci_high", "p", "method",
                                      "n_treated", "n_baseline"])
    out["p_holm"] = out["p"]
    for metric, group in out[out["task"] != trained_task].groupby("metric"):
        out.loc[group.index, "p_holm"] = stats.holm(group["p"].tolist())
    return out


def arms(selection: pd.DataFrame) -> list[str]:
    """The trained arms the selected recipe is compared with (control, placebo, reverse, format control,
    non-RL reference), in ARM_ROLES order; other spread recipes are ablations, read in the ablation table."""
    roles = selection.set_index("recipe")["role"]
    return [recipe for role in ARM_ROLES for recipe in roles[roles == role].index]


def arm_of_role(selection: pd.DataFrame, role: str) -> str | None:
    """The recipe 04 trained in `role` (e.g. "placebo"); None when it trained none."""
    recipes = selection.loc[selection["role"] == role, "recipe"]
    return str(recipes.iloc[0]) if len(recipes) else None


def dose_table(estimate: pd.DataFrame) -> pd.DataFrame:
    """lib.dose.transfer_estimate for reading: per untrained task, the slope difference [CI] and Holm's p."""
    view = estimate[["task", "of_metric", "n_treated", "n_baseline"]].copy()
    view.insert(2, "slope beyond placebo [95% CI]", tables.ci_column(estimate, 3).to_numpy())
    view["p (Holm)"] = [tables.p_value(p) for p in estimate["p_holm"]]
    return tables.readable(view, {"of_metric": "measure", "n_treated": "seeds", "n_baseline": "placebo seeds"})


def compare_all(long: pd.DataFrame, spread: str, baselines: Sequence[str], trained_task: str) -> pd.DataFrame:
    """`compare` of the selected arm against vanilla, each baseline arm and (where measured) vanilla at T*."""
    named = [("vanilla", "vanilla"), *((a, a) for a in baselines), ("vanilla_T*", "vanilla at T*")]
    present = set(long["condition"])
    return pd.concat([compare(long, spread, base, f"{spread} − {label}", trained_task)
                      for base, label in named if base in present], ignore_index=True)


def verdicts(differences: pd.DataFrame, trained_task: str) -> list["Verdict"]:
    """One `verdict` per comparison of a `compare_all` table, in its order."""
    return [verdict(group, trained_task) for _, group in differences.groupby("comparison", sort=False)]


@dataclass(frozen=True)
class Verdict:
    """One comparison, read on the headline: which untrained tasks spread, which narrowed, what was format."""
    comparison: str
    improved: tuple[str, ...]         # headline moved the more-spread way, Holm p ≤ ALPHA
    worse: tuple[str, ...]            # headline moved the narrower way, Holm p ≤ ALPHA
    format_moved: tuple[str, ...]     # valid rate or raw mass changed, Holm p ≤ ALPHA
    format_only: tuple[str, ...]      # format moved, the headline did not
    lens_only: tuple[str, ...]        # exact TV (given a bare reply) improved, the headline did not
    clusters: stats.ClusterSummary    # the integer ranges count once
    list_disagreements: tuple[str, ...]   # open tasks whose verdict differs over the core list
    n_tasks: int


def _significant(diffs: pd.DataFrame, metric: str, more: bool | None) -> set[str]:
    frame = diffs[(diffs["metric"] == metric) & (diffs["p_holm"] <= ALPHA)]
    if more is None:
        return set(frame["task"])
    up = frame["value"] > 0 if HIGHER_IS_MORE[metric] else frame["value"] < 0
    return set(frame.loc[up if more else ~up, "task"])


def verdict(diffs: pd.DataFrame, trained_task: str) -> Verdict:
    """The verdict of one comparison (rows of `compare` for one name) on the untrained tasks."""
    untrained = diffs[diffs["task"] != trained_task]
    order = list(dict.fromkeys(untrained.loc[untrained["metric"] == HEADLINE, "task"]))
    pick = lambda tasks: tuple(t for t in order if t in tasks)  # noqa: E731
    improved, worse = _significant(untrained, HEADLINE, True), _significant(untrained, HEADLINE, False)
    fmt = set().union(*(_significant(untrained, m, None) for m in FORMAT))
    lens = _significant(untrained, LENS, True)
    headline = untrained[untrained["metric"] == HEADLINE].set_index("task")
    clusters = stats.cluster_summary(headline["value"].to_dict(), CLUSTERS, headline["p_holm"].to_dict(), ALPHA,
                                     lower_is_better=False)
    disagree = set()
    for metric, core in CORE_OF.items():
        on_core = untrained[untrained["metric"] == core]
        for task in on_core["task"]:
            full = ("up" if task in _significant(untrained, metric, True) else
                    "down" if task in _significant(untrained, metric, False) else "flat")
            small = ("up" if task in _significant(untrained, core, True) else
                     "down" if task in _significant(untrained, core, False) else "flat")
            if full != small:
                disagree.add(task)
    return Verdict(str(diffs["comparison"].iloc[0]) if len(diffs) else "", pick(improved), pick(worse), pick(fmt),
                   pick(fmt - improved - worse), pick(lens - improved), clusters, pick(disagree), len(order))


def verdict_table(verdicts: Sequence[Verdict]) -> pd.DataFrame:
    """One row per comparison: the named tasks of each verdict, readable."""
    names = lambda tasks: ", ".join(display_name(t) for t in tasks) or "none"  # noqa: E731
    return pd.DataFrame([dict(comparison=v.comparison, improved=names(v.improved), worse=names(v.worse),
                              **{"format only": names(v.format_only), "exact lens only": names(v.lens_only),
                                 "clusters improved / worse (significant)":
                                     f"{v.clusters.improved} / {v.clusters.worse} of {v.clusters.n_clusters} "
                                     f"({v.clusters.improved_significant} / {v.clusters.worse_significant})",
                                 "core list disagrees": names(v.list_disagreements)})
                         for v in verdicts])


def difference_table(diffs: pd.DataFrame, metric: str = HEADLINE) -> pd.DataFrame:
    """Per task, one column per comparison: "difference [CI]" and the Holm-adjusted p, for one metric."""
    frame = diffs[diffs["metric"] == metric]
    out = pd.DataFrame({"task": list(dict.fromkeys(frame["task"]))})
    for name, group in frame.groupby("comparison", sort=False):
        group = group.set_index("task").reindex(out["task"])
        out[f"{name}"] = tables.ci_column(group, 3).to_numpy()
        out[f"{name}: p (Holm)"] = [tables.p_value(p) for p in group["p_holm"]]
    return tables.readable(out)


def levels_table(summary: pd.DataFrame, conditions: Sequence[str], metric: str = HEADLINE) -> pd.DataFrame:
    """Per task, one column per condition: the metric's mean over units with its t-interval."""
    frame = summary[summary["metric"] == metric]
    out = pd.DataFrame({"task": list(dict.fromkeys(frame["task"]))})
    percent = metric in FORMAT or metric.endswith("top_share")
    for condition in conditions:
        group = frame[frame["condition"] == condition].set_index("task").reindex(out["task"])
        out[condition] = tables.ci_column(group, 1 if percent else 3, percent).to_numpy()
    return tables.readable(out)


def ablation_table(long: pd.DataFrame, selection: pd.DataFrame, trained_task: str) -> pd.DataFrame:
    """Every recipe: its trained-task numbers (what selection saw) and what it did to the untrained tasks
    against vanilla, Holm over the untrained tasks: on the behavioural headline where the arm was sampled
    (the selected recipe and the baseline arms), on the exact lens for all."""
    rows = []
    for _, recipe in selection.iterrows():
        name = recipe["recipe"]
        diffs = compare(long, name, "vanilla", f"{name} − vanilla", trained_task, [HEADLINE, LENS, *FORMAT])
        v = verdict(diffs, trained_task)
        trained_row = diffs[(diffs["task"] == trained_task) & (diffs["metric"] == HEADLINE)]
        rows.append(dict(recipe=name, role=recipe["role"], seeds=recipe["seeds"],
                         trained_task_exact_tv=recipe["exact_tv"], trained_task_raw_mass=recipe["raw_mass"],
                         trained_task_effective_share_diff=trained_row["value"].iloc[0] if len(trained_row) else math.nan,
                         untrained_improved=len(v.improved), untrained_worse=len(v.worse),
                         untrained_format_only=len(v.format_only), untrained_tasks=v.n_tasks,
                         untrained_exact_tv_lower=len(_significant(diffs[diffs["task"] != trained_task], LENS, True)),
                         untrained_exact_tv_higher=len(_significant(diffs[diffs["task"] != trained_task], LENS, False)),
                         mean_untrained_effective_share_diff=diffs.loc[(diffs["metric"] == HEADLINE)
                                                                       & (diffs["task"] != trained_task), "value"].mean()))
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
