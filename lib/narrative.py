"""Sentences for the notebooks and the report, computed from result tables (never typed by hand)."""
from __future__ import annotations

import pandas as pd

from lib import tasks as task_panel


def baseline_sentence(wide: pd.DataFrame, picks: pd.DataFrame) -> str:
    """One paragraph on how narrow the model is, from 01's wide table and picks table."""
    ordered = wide.sort_values("exact_tv")
    narrowest, widest = ordered.iloc[-1], ordered.iloc[0]
    top = picks[(picks["source"] == "exact")].sort_values(["task", "rank"])
    lead = top[top["rank"] == 1].set_index("task")
    above_floor = (wide["sampled_tv_ci_low"] > wide["sampled_tv_floor"]).sum()
    parts = [
        f"Mean exact TV over {len(wide)} tasks is {wide['exact_tv'].mean():.2f} "
        f"(0 = uniform); the narrowest task is {task_panel.display_name(narrowest['task'])} "
        f"(TV {narrowest['exact_tv']:.2f}, top answer {lead.loc[narrowest['task'], 'answer']!s} with "
        f"{lead.loc[narrowest['task'], 'share']:.0%} of the bare-answer mass), the widest "
        f"{task_panel.display_name(widest['task'])} (TV {widest['exact_tv']:.2f}).",
        f"Bare valid replies carry a median raw mass of {wide['raw_mass'].median():.2%} "
        f"(range {wide['raw_mass'].min():.2%}–{wide['raw_mass'].max():.2%}), so the exact distribution "
        "describes the model only when it answers in the asked format.",
        f"With the seed's protocol, the sampled TV's 95% CI lies above the uniform-sampler floor on "
        f"{above_floor} of {len(wide)} tasks; {wide['sampled_invalid_rate'].mean():.0%} of samples "
        "parse to no valid answer on average.",
    ]
    if "exact_vs_parsed_tv" in wide:
        gap = wide.dropna(subset=["exact_vs_parsed_tv"])
        if len(gap):
            worst = gap.sort_values("exact_vs_parsed_tv").iloc[-1]
            parts.append(f"Exact and parsed distributions differ by a median TV of "
                         f"{gap['exact_vs_parsed_tv'].median():.2f}, most on {task_panel.display_name(worst['task'])} "
                         f"({worst['exact_vs_parsed_tv']:.2f}).")
    return " ".join(parts)


def training_sentence(final: pd.DataFrame, selection: pd.DataFrame, task_name: str) -> str:
    """What training did to the trained task, per recipe, and which recipe was selected and why."""
    parts = []
    for recipe, group in final.groupby("recipe", sort=False):
        parts.append(f"{recipe}: exact TV {group['start_exact_tv'].mean():.2f} → {group['exact_tv'].mean():.2f}, "
                     f"raw valid mass {group['raw_mass'].mean():.2f} ({len(group)} seed(s))")
    chosen = selection[selection["role"] == "selected"].iloc[0]
    return (f"On {task_name}, " + "; ".join(parts) + f". Selected: **{chosen['recipe']}** ({chosen['reason']}). "
            "The first exact TV is measured after the first evaluation interval, not before training.")


def transfer_sentence(diffs: dict[str, pd.DataFrame], spread: str, control: str, trained_task: str,
                      t_star: float, matched_tv: float | None = None, target: float | None = None) -> str:
    """How many of the seed's untrained tasks improved, against vanilla, the control and temperature,
    with CIs; held-out tasks from params are counted apart."""
    from lib.transfer import improved_count
    seed_tasks = [t for t in task_panel.TASK_IDS if t != trained_task]
    parts = []
    for name, diff in diffs.items():
        untrained = diff[diff["task"].isin(seed_tasks)]
        better, sure, counted = improved_count(untrained)
        parts.append(f"{name}: {better} of {counted} untrained tasks have a lower mean exact TV, "
                     f"{sure} with a seed-CI that excludes 0 (mean difference {untrained['value'].mean():+.3f})")
    trained = diffs["vs vanilla"].set_index("task").loc[trained_task] if trained_task in set(diffs["vs vanilla"]["task"]) else None
    head = (f"Trained task ({task_panel.display_name(trained_task)}): exact TV changed by {trained['value']:+.3f} "
            f"[{trained['ci_low']:+.3f}, {trained['ci_high']:+.3f}]. ") if trained is not None else ""
    held_out = diffs["vs vanilla"][~diffs["vs vanilla"]["task"].isin(task_panel.TASK_IDS)]
    if len(held_out):
        parts.append("held-out tasks vs vanilla: " + ", ".join(
            f"{t} {v:+.3f} [{lo:+.3f}, {hi:+.3f}]" for t, v, lo, hi in
            held_out[["task", "value", "ci_low", "ci_high"]].itertuples(index=False)))
    vs_control = diffs.get("vs control")
    reproduced = vs_control is not None and improved_count(vs_control[vs_control["task"].isin(seed_tasks)])[1] >= 7
    verdict = ("The seed's claim (most untrained tasks become more diverse, beyond format effects) reproduces here."
               if reproduced else
               "The seed's claim does not reproduce on this model: fewer than 7 of 9 untrained tasks improve "
               "beyond the validity-only control with a CI that excludes 0.")
    matched = f" (Temperature-matched vanilla: T* = {t_star:.2f}"
    if matched_tv is not None and target is not None and abs(matched_tv - target) > 0.01:
        matched += (f"; no temperature in the searched range reaches the trained exact TV {target:.3f} on "
                    f"{task_panel.display_name(trained_task)}, the most spread one gives {matched_tv:.3f}")
    return head + "; ".join(parts) + "." + matched + ".) " + verdict


def correction_sentence(transfers: pd.DataFrame) -> str:
    """What the logit correction does on its fit task and where else it is defined (02's transfers table)."""
    fit = transfers[transfers["status"] == "fitted"].iloc[0]
    parts = [f"Fitted on {task_panel.display_name(fit['task'])}, the per-answer bias takes its exact TV from "
             f"{fit['tv_vanilla']:.2f} to {abs(fit['tv_corrected']):.3f}: exactly uniform, by construction."]
    for row in transfers[transfers["status"].isin(["defined", "partial"])].itertuples():
        scope = (f"defined on all {row.k} answers" if row.status == "defined" else
                 f"defined on only {row.n_defined} of its {row.k} answers ({row.defined_mass:.0%} of its "
                 f"bare-answer mass; the other {row.k - row.n_defined} stay undefined)")
        parts.append(f"On {task_panel.display_name(row.task)} it is {scope}; over those answers it moves TV from "
                     f"{row.tv_vanilla_defined:.2f} to {row.tv_corrected:.2f}.")
    undefined = transfers[transfers["status"] == "undefined"]
    if len(undefined):
        parts.append(f"It is undefined on {len(undefined)} task(s) ({', '.join(task_panel.display_name(t) for t in undefined['task'])}), "
                     "which share no answer with the fit task.")
    parts.append("It cannot transfer: the bias is a per-answer lookup table, so it says nothing about answers it "
                 f"was not fitted on, and where answers overlap it encodes the {task_panel.display_name(fit['task'])} prompt's "
                 "preferences, not the other prompts'.")
    return " ".join(parts)


def temperature_sentence(sweep: pd.DataFrame, tax: pd.DataFrame, gaps: pd.DataFrame | None = None) -> str:
    """How far temperature alone spreads the answers, and what it costs (03's sweep and tax tables)."""
    vanilla = sweep[sweep["condition"] == "vanilla"]
    by_t = vanilla.pivot_table(index="temperature", columns="metric", values="value", aggfunc="mean")
    hot, cold = by_t.index.max(), 1.0
    parts = [f"Averaged over {vanilla['task'].nunique()} tasks, raising T from {cold:g} to {hot:g} moves exact TV "
             f"from {by_t.loc[cold, 'exact_tv']:.2f} to {by_t.loc[hot, 'exact_tv']:.2f}, while the raw mass on bare "
             f"valid answers goes from {by_t.loc[cold, 'raw_mass']:.2%} to {by_t.loc[hot, 'raw_mass']:.2%}."]
    if len(tax):
        rate = tax[tax["metric"] == "sampled_invalid_rate"].groupby("temperature")["value"].mean()
        parts.append(f"The tax: the share of plain samples that parse to no answer goes from "
                     f"{rate.iloc[0]:.0%} at T={rate.index[0]:g} to {rate.iloc[-1]:.0%} at T={rate.index[-1]:g}.")
    if gaps is not None and len(gaps):
        best = gaps[gaps["temperature"] == hot].dropna(subset=["value"])
        if len(best):
            parts.append(f"At T={hot:g} temperature closes a median {best['value'].median():.0%} of the gap between "
                         f"vanilla and trained at T=1 ({len(best)} task(s) where training narrowed the gap).")
        else:
            parts.append("Training did not lower the exact TV on any of these tasks, so there is no gap to close.")
    else:
        parts.append("Without a trained adapter there is no gap to close yet.")
    return " ".join(parts)


def methods_sentence(comparison: pd.DataFrame) -> str:
    """Which sampled condition sits closest to its floor, at what cost (03's comparison table).

    Sampled TVs are compared by their excess over the floor (a uniform sampler with as many valid
    samples), averaged over the tasks where every sampled condition has a valid sample.
    """
    sampled = comparison[comparison["metric"].isin(["sampled_tv", "sampled_tv_floor", "sampled_invalid_rate",
                                                    "tokens_per_answer", "parse_failure_rate"])]
    if sampled.empty:
        return ""
    wide = sampled.pivot_table(index=["label", "task"], columns="metric", values="value", aggfunc="first")
    wide["excess"] = wide["sampled_tv"] - wide["sampled_tv_floor"]
    labels = wide.index.get_level_values("label").unique()
    by_task = wide["excess"].unstack("label")
    common = by_task.dropna().index
    per_label = wide.groupby(level="label").mean(numeric_only=True)
    parts = []
    if len(common):
        excess = by_task.loc[common].mean().sort_values()
        best = excess.index[0]
        parts.append(f"On the {len(common)} task(s) where every sampled condition has valid samples, {best} sits "
                     f"closest to the floor of a uniform sampler (mean sampled TV {excess.iloc[0]:+.2f} above it; "
                     f"{_label_list(excess)}).")
    else:
        parts.append("No task has valid samples under every sampled condition, so their TVs cannot be compared.")
    invalid = per_label["sampled_invalid_rate"].sort_values()
    parts.append(f"Invalid samples: from {invalid.iloc[0]:.0%} ({invalid.index[0]}) to {invalid.iloc[-1]:.0%} "
                 f"({invalid.index[-1]}), averaged over tasks.")
    verbal = [label for label in labels if label.startswith("verbalized")]
    if verbal and "parse_failure_rate" in per_label:
        v = per_label.loc[verbal[0]]
        parts.append(f"Verbalized sampling states no usable distribution in {v['parse_failure_rate']:.0%} of replies "
                     f"and costs {v['tokens_per_answer']:.0f} generated tokens per answer, against "
                     f"{per_label.drop(index=verbal)['tokens_per_answer'].mean():.0f} for plain sampling.")
    passes = comparison[(comparison["metric"] == "forward_passes") & (comparison["condition"] == "vanilla")]
    if len(passes):
        parts.append(f"Exact scoring generates nothing: {passes['value'].min():.0f}–{passes['value'].max():.0f} "
                     "batched forward passes per task score the whole answer set.")
    return " ".join(parts)


def _label_list(values: pd.Series) -> str:
    return ", ".join(f"{label} {value:+.2f}" for label, value in values.items())


def targets_sentence(logs: pd.DataFrame, selection: pd.DataFrame, diffs: dict[str, pd.DataFrame],
                     vanilla_tv: float, trained_task: str) -> str:
    """Which of the GRPO targets this run met: the trained task's exact TV falls ≥40% relative with raw
    valid mass ≥0.9; ≥7 of 9 untrained tasks beat the validity-only control (seed-CI excludes 0); 3 seeds ×
    50 steps of recipe and control in ≤30 min on 2 cores."""
    from lib.transfer import improved_count
    chosen = selection[selection["role"] == "selected"].iloc[0]
    drop = 1 - chosen["exact_tv"] / vanilla_tv
    seed_tasks = [t for t in task_panel.TASK_IDS if t != trained_task]
    vs_control = diffs["vs control"]
    beaten = improved_count(vs_control[vs_control["task"].isin(seed_tasks)])[1]
    verdict = lambda ok: "met" if ok else "not met"  # noqa: E731
    parts = [f"trained-task exact TV falls ≥40% relative: {verdict(drop >= 0.4)} "
             f"({vanilla_tv:.3f} → {chosen['exact_tv']:.3f}, {drop:.0%})",
             f"raw valid mass ≥0.9: {verdict(chosen['raw_mass'] >= 0.9)} ({chosen['raw_mass']:.3f})",
             f"≥7 of 9 untrained tasks beat the control with a CI excluding 0: {verdict(beaten >= 7)} ({beaten} of 9)"]
    control = selection.loc[selection["role"] == "control", "recipe"].item()
    if "step_time" in logs:
        seconds = logs[logs["recipe"].isin([chosen["recipe"], control])]["step_time"].sum()
        parts.append(f"training steps of the selected recipe and the control, all seeds, ≤30 min: "
                     f"{verdict(seconds <= 1800)} ({seconds / 60:.1f} min of GRPO steps, evaluation excluded)")
    return "Targets — " + "; ".join(parts) + "."


def _interval(row) -> str:
    return f"{row['difference']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"


def paths_sentence(differences: pd.DataFrame, table: pd.DataFrame) -> str:
    """06: distinct paths and correct chains, trained vs vanilla at each temperature, paired by problem."""
    k = int(table["k"].max())
    parts = []
    for (temperature, seed), group in differences.groupby(["temperature", "train_seed"], sort=False):
        by_metric = group.set_index("metric")
        paths, correct = by_metric.loc["distinct_all"], by_metric.loc["correct"]
        parts.append(f"At T={temperature:g}, {paths['condition']} (seed {int(seed)}) has {paths['treated']:.2f} "
                     f"distinct calculation paths among {k} chains vs vanilla {paths['vanilla']:.2f} "
                     f"(difference {_interval(paths)} over {int(paths['problems'])} problems) and "
                     f"{correct['treated']:.2f} vs {correct['vanilla']:.2f} correct chains of {k} "
                     f"(difference {_interval(correct)}).")
    accuracy = table["correct"].mean() / k
    parts.append(f"Chains are correct {accuracy:.0%} of the time on average over conditions, so distinct paths "
                 f"among correct chains rest on few problems (at most {int(table['n_with_correct'].max())} of "
                 f"{int(table['problems'].max())}); the all-chain numbers carry the comparison. More distinct paths "
                 "with no gain in correct chains means more varied arithmetic, not more varied good reasoning.")
    return " ".join(parts)


def capability_sentence(accuracy: pd.DataFrame, tests: pd.DataFrame) -> str:
    """07: vanilla vs each trained seed on each benchmark, with the McNemar p-values."""
    parts = []
    for benchmark, group in accuracy.groupby("benchmark", sort=False):
        vanilla = group[group["condition"] == "vanilla"].iloc[0]
        trained = group[group["condition"] != "vanilla"]
        seeds = ", ".join(f"{row.accuracy:.1%}" for row in trained.itertuples())
        ps = tests[tests["benchmark"] == benchmark]["p_value"]
        parts.append(f"{benchmark}: vanilla {vanilla['accuracy']:.1%} [{vanilla['ci_low']:.1%}, {vanilla['ci_high']:.1%}] "
                     f"of {int(vanilla['n'])}, trained {seeds} ({len(trained)} seed(s)); McNemar p "
                     f"{ps.min():.2f}–{ps.max():.2f}.")
    return " ".join(parts) + (" MMLU chance is 25%. A p-value above 0.05 says the data cannot tell the models "
                              "apart at this size; it does not prove they are equal.")


def open_ended_sentence(summary: pd.DataFrame, diffs: pd.DataFrame, judged: pd.DataFrame, threshold: float,
                        calibrated: bool, loo_agreement: float, k: int) -> str:
    """How many different answers each condition gives per NoveltyBench prompt, how training and
    temperature move that (paired over prompts), and how far the embedding judge can be trusted."""
    from lib.data import ALL_CATEGORIES as ALL
    pooled = summary[(summary["task"] == ALL) & (summary["scope"] != "seed")]
    value = pooled.pivot_table(index="label", columns="metric", values="value", sort=False)
    n_prompts = int(pooled["n"].max())
    parts = [f"Over {n_prompts} prompts, k = {k} answers per prompt fall into " + "; ".join(
        f"{v['distinct_k']:.1f} classes for {label} ({v['distinct_k_lexical']:.1f} by exact match alone)"
        for label, v in value.iterrows()) + "."]
    pooled_diffs = diffs[(diffs["task"] == ALL) & (diffs["metric"] == "distinct_k")]
    if len(pooled_diffs):
        parts.append("Paired by prompt: " + "; ".join(
            f"{r.comparison} {r.value:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
            + (" (CI excludes 0)" if r.ci_low > 0 or r.ci_high < 0 else "")
            for r in pooled_diffs.itertuples()) + ".")
    baseline = diffs["baseline"].iloc[0] if len(diffs) else pooled["label"].iloc[0]
    per_category = summary[(summary["label"] == baseline) & (summary["metric"] == "distinct_k") & (summary["task"] != ALL)]
    if len(per_category) > 1:
        ordered = per_category.sort_values("value", kind="stable")
        low, high = ordered.iloc[0], ordered.iloc[-1]
        parts.append(f"For {baseline}, every category gives {low['value']:.1f} of {k}." if low["value"] == high["value"]
                     else f"For {baseline}, {low['task']} is the least varied category ({low['value']:.1f} of {k}) "
                          f"and {high['task']} the most ({high['value']:.1f}).")
    agreement = judged["agrees"].mean()
    how = (f"chosen on {len(judged)} hand-labelled answer pairs, {agreement:.0%} of which it judges as labelled "
           f"({loo_agreement:.0%} when each pair is left out of the choice)") if calibrated else \
        f"fixed by params; it judges {agreement:.0%} of {len(judged)} hand-labelled answer pairs as labelled"
    parts.append(f"Two answers count as the same when their embeddings' cosine similarity is at least "
                 f"{threshold:.2f}, a threshold {how}. The lexical count is an upper bound that treats every "
                 "rewording as a new answer.")
    return " ".join(parts)
