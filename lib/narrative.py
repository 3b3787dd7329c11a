"""Sentences for the notebooks and the report, computed from result tables (never typed by hand)."""
from __future__ import annotations

import pandas as pd

from lib import tasks as task_panel
from lib.tables import condition_label


def baseline_sentence(wide: pd.DataFrame, picks: pd.DataFrame) -> str:
    """One paragraph on how narrow the model is, from 01's wide table (behavioural first) and picks table."""
    behav = wide.dropna(subset=["behav_effective_share"]).sort_values("behav_effective_share")
    narrowest, widest = behav.iloc[0], behav.iloc[-1]
    top = picks[(picks["source"] == "exact")].sort_values(["task", "rank"])
    lead = top[top["rank"] == 1].set_index("task")
    n = int(wide["behav_n_valid"].max()) if "behav_n_valid" in wide else 0
    rejected = (wide["behav_tv_p"] < 0.05).sum()
    exact_narrowest = wide.sort_values("exact_tv").iloc[-1]
    name = task_panel.display_name
    parts = [
        f"Asked the same question again and again (up to {n} valid replies per task), the model gives an "
        f"effective {narrowest['behav_effective']:.1f} answers on {name(narrowest['task'])} "
        f"({narrowest['behav_effective_share']:.0%} of the answer set; top answer {narrowest['behav_top_share']:.0%} "
        f"of replies) and {widest['behav_effective']:.1f} on {name(widest['task'])} "
        f"({widest['behav_effective_share']:.0%}); the median over {len(behav)} tasks is "
        f"{behav['behav_effective_share'].median():.0%} of the answer set.",
        f"A uniform sampler with as many valid replies is rejected at the 5% level on {rejected} of {len(wide)} tasks; "
        f"{wide['behav_valid_rate'].median():.0%} of replies are valid answers (median; range "
        f"{wide['behav_valid_rate'].min():.0%}–{wide['behav_valid_rate'].max():.0%}).",
        f"Given a bare reply (the exact lens), the narrowest task is {name(exact_narrowest['task'])} (exact TV "
        f"{exact_narrowest['exact_tv']:.2f}, top answer {lead.loc[exact_narrowest['task'], 'answer']!s} with "
        f"{lead.loc[exact_narrowest['task'], 'share']:.0%}); bare valid replies carry a median raw mass of "
        f"{wide['raw_mass'].median():.1%} (range {wide['raw_mass'].min():.1%}–{wide['raw_mass'].max():.1%}).",
    ]
    if "exact_vs_parsed_tv" in wide:
        gap = wide.dropna(subset=["exact_vs_parsed_tv"])
        if len(gap):
            worst = gap.sort_values("exact_vs_parsed_tv").iloc[-1]
            parts.append(f"Exact and behavioural distributions over A differ by a median TV of "
                         f"{gap['exact_vs_parsed_tv'].median():.2f}, most on {name(worst['task'])} "
                         f"({worst['exact_vs_parsed_tv']:.2f}).")
    return " ".join(parts)


def training_sentence(final: pd.DataFrame, selection: pd.DataFrame, task_name: str) -> str:
    """What training did to the trained task, per arm (with its role), and which recipe was selected and why."""
    roles = selection.set_index("recipe")["role"].to_dict() if "role" in selection else {}
    parts = []
    for recipe, group in final.groupby("recipe", sort=False):
        role = f" ({roles[recipe]})" if recipe in roles else ""
        parts.append(f"{recipe}{role}: exact TV {group['start_exact_tv'].mean():.2f} → {group['exact_tv'].mean():.2f}, "
                     f"raw valid mass {group['raw_mass'].mean():.2f} ({len(group)} seed(s))")
    chosen = selection[selection["role"] == "selected"].iloc[0]
    return (f"On {task_name}, before → after training: " + "; ".join(parts) +
            f". Selected among the spread recipes: **{chosen['recipe']}** ({chosen['reason']}).")


def silent_runs_sentence(logs: pd.DataFrame) -> str:
    """GRPO steps with no learning signal: every reply of the step's group got the same reward, so every
    advantage was exactly 0 (rewards sit on lib.rewards' grid) and the step left the adapter as it was
    (lib.silent_steps skips it, Adam's moments included). A run silent at every step keeps its initial,
    vanilla-equivalent weights: comparing with it is comparing with vanilla. Direct (non-RL) runs have no groups: skipped."""
    grpo_rows = logs.dropna(subset=["reward_std"]) if "reward_std" in logs else logs.iloc[0:0]
    counts = [(recipe, int(seed), int((group["reward_std"] == 0).sum()), len(group))
              for (recipe, seed), group in grpo_rows.groupby(["recipe", "train_seed"], sort=False)]
    partly = [f"{recipe} seed {seed} {silent} of {steps}" for recipe, seed, silent, steps in counts if 0 < silent < steps]
    never = [f"{recipe} seed {seed} ({steps} steps)" for recipe, seed, silent, steps in counts if silent == steps]
    if not partly and not never:
        return "Every GRPO step's group had replies with different rewards: each step carried a learning signal."
    parts = []
    if never:
        parts.append("No learning signal at any step: " + ", ".join(never) + " — every reply of every group got "
                     "the same reward, so the adapter kept its initial (vanilla-equivalent) weights and comparing "
                     "with it is comparing with vanilla.")
    if partly:
        parts.append("Steps whose group got one reward for every reply (no signal; the step was skipped, the "
                     "adapter left as it was): " + ", ".join(partly) + ".")
    return " ".join(parts)


def _names(tasks) -> str:
    return ", ".join(task_panel.display_name(t) for t in tasks) or "none"


def matched_temperature_sentence(matched: pd.DataFrame, trained_task: str) -> str:
    """Where vanilla's temperature meets the trained model on the trained task, per measure (03's T*)."""
    name = task_panel.display_name(trained_task)
    labels = {"exact_tv": "exact TV", "effective_share": "behavioural effective share"}
    parts = []
    for row in matched.itertuples():
        reached = bool(row.reached) if not isinstance(row.reached, str) else row.reached == "True"
        parts.append(f"on {labels.get(row.measure, row.measure)}, T* = {row.value:.2f} (vanilla {row.matched_value:.3f} "
                     f"there, trained {row.target:.3f})" + ("" if reached else
                                                            " — no temperature on the grid reaches the trained value"))
    return f"Temperature-matched vanilla on {name}: " + "; ".join(parts) + ". The vanilla_T* rows use the exact T*."


def transfer_sentence(differences: pd.DataFrame, trained_task: str, control: str | None,
                      matched: pd.DataFrame | None = None, dose_transfer: pd.DataFrame | None = None) -> str:
    """The verdict of every comparison in 05's differences table (transfer.compare rows), on the behavioural
    headline with Holm over the untrained tasks: which tasks spread, which narrowed, which moved only in format."""
    from lib import transfer
    name = task_panel.display_name
    parts = []
    vs_vanilla = differences[differences["comparison"] == differences["comparison"].iloc[0]]
    own = vs_vanilla[(vs_vanilla["task"] == trained_task)].set_index("metric")
    if transfer.HEADLINE in own.index:
        h, lens = own.loc[transfer.HEADLINE], own.loc[transfer.LENS] if transfer.LENS in own.index else None
        from lib.tables import with_ci
        parts.append(f"On the trained task ({name(trained_task)}) the effective share moved "
                     f"{with_ci(h['value'], h['ci_low'], h['ci_high'], 3)}" + (f" and exact TV {lens['value']:+.3f}"
                                                                             if lens is not None else "") + ".")
    seed_verdict = None
    for comparison, group in differences.groupby("comparison", sort=False):
        v = transfer.verdict(group, trained_task)
        c = v.clusters
        parts.append(f"{comparison} ({v.n_tasks} untrained tasks, Holm): more spread on {_names(v.improved)}; "
                     f"narrower on {_names(v.worse)}; format moved without spread on {_names(v.format_only)}"
                     + (f"; only the exact lens spread on {_names(v.lens_only)}" if v.lens_only else "")
                     + f"; clusters (integer ranges once) {c.improved} of {c.n_clusters} towards spread "
                     f"({c.improved_significant} significantly), {c.worse} away ({c.worse_significant})"
                     + (f"; the core lists disagree on {_names(v.list_disagreements)}" if v.list_disagreements
                        else "; the core lists agree") + ".")
        if control is not None and control in comparison:
            seed_verdict = v
    if seed_verdict is not None:
        seed_tasks = [t for t in task_panel.TASK_IDS if t != trained_task]
        spread = [t for t in seed_verdict.improved if t in seed_tasks]
        ok = len(spread) >= 7 and not seed_verdict.worse
        parts.append("The seed's claim (the untrained tasks become more diverse, beyond the control) "
                     + ("reproduces here." if ok else
                        f"does not reproduce here: {len(spread)} of {len(seed_tasks)} untrained tasks spread beyond "
                        f"the control and {len(seed_verdict.worse)} narrowed."))
    if matched is not None and len(matched):
        parts.append(matched_temperature_sentence(matched, trained_task))
    if dose_transfer is not None and len(dose_transfer):
        from lib.tables import with_ci
        pooled = dose_transfer[dose_transfer["task"] == "all untrained"]
        for row in pooled.itertuples():
            parts.append(f"Dose–response ({row.comparison}, {row.of_metric}): the untrained tasks' slope against the "
                         f"trained task's, beyond the placebo's, is {with_ci(row.value, row.ci_low, row.ci_high, 3)} "
                         f"({row.n_treated} vs {row.n_baseline} seeds; 0 = no shared knob beyond any update).")
    return " ".join(parts)


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


def temperature_sentence(table: pd.DataFrame) -> str:
    """What temperature alone does, read both ways, and what it costs (03_temperature_sweep.csv): exact TV and the
    behavioural effective share from T=1 to the gap temperature with raw mass and valid replies beside them, the
    fraction of the trained − vanilla gap that temperature closes on each, and T* on each."""
    vanilla = table[table["condition"] == "vanilla"]
    behavioural_gap = vanilla[vanilla["metric"] == "gap_closed_effective_share"].dropna(subset=["temperature"])
    exact_t = sorted(vanilla.loc[vanilla["metric"] == "exact_tv", "temperature"].dropna().unique())
    hot = float(behavioural_gap["temperature"].iloc[0]) if len(behavioural_gap) else \
        min(exact_t, key=lambda t: (abs(t - 1.5), t))

    def mean_at(metric: str, temperature: float) -> float:
        rows = vanilla[(vanilla["metric"] == metric) & ((vanilla["temperature"] - temperature).abs() < 1e-9)]
        return rows["value"].mean() if len(rows) else float("nan")

    valid = "sampled_valid_rate" if (vanilla["metric"] == "sampled_valid_rate").any() else None
    valid_at = (lambda t: mean_at(valid, t)) if valid else (lambda t: 1 - mean_at("sampled_invalid_rate", t))
    tasks_ = vanilla.loc[vanilla["metric"] == "exact_tv", "task"].nunique()
    moves = [f"exact TV {mean_at('exact_tv', 1.0):.2f} → {mean_at('exact_tv', hot):.2f}"]
    if (vanilla["metric"] == "sampled_effective_share").any():
        moves.append(f"the effective share of plain replies {mean_at('sampled_effective_share', 1.0):.2f} → "
                     f"{mean_at('sampled_effective_share', hot):.2f}")
    parts = [f"From T=1 to T={hot:g}, averaged over {tasks_} tasks, " + " and ".join(moves) + "; the cost: raw mass on "
             f"bare valid answers {mean_at('raw_mass', 1.0):.1%} → {mean_at('raw_mass', hot):.1%}, valid replies "
             f"{valid_at(1.0):.0%} → {valid_at(hot):.0%}."]
    exact_gap = vanilla[(vanilla["metric"] == "gap_closed") & ((vanilla["temperature"] - hot).abs() < 1e-9)]
    if not len(exact_gap) and not len(behavioural_gap):
        return " ".join(parts + ["Without a trained adapter there is no gap to close yet."])
    closed = []
    for name, rows, direction in (("exact TV", exact_gap, "lowered it"),
                                  ("the effective share", behavioural_gap, "raised it")):
        rows = rows.dropna(subset=["value"])
        closed.append(f"a median {rows['value'].median():.0%} on {name} ({len(rows)} task(s) where training "
                      f"{direction})" if len(rows) else
                      f"nothing measurable on {name} (training {direction} on no task)")
    parts.append(f"Training spread the answers on no task by either measure, so there is no gap for T={hot:g} to "
                 "close." if exact_gap["value"].isna().all() and behavioural_gap["value"].isna().all() else
                 f"Of the trained − vanilla gap at T=1, T={hot:g} closes " + " and ".join(closed)
                 + "; the seed reports about a quarter, on exact TV.")
    matched = []
    for name, metric in (("exact TV", "matched_temperature_exact_tv"),
                         ("the effective share", "matched_temperature_effective_share")):
        rows = vanilla[vanilla["metric"] == metric]
        if not len(rows):
            continue
        reached = rows[rows["reached"].astype(str).str.lower() == "true"] if "reached" in rows else rows.iloc[:0]
        matched.append(f"on {name} a median T* = {reached['value'].median():.2f}, reached on {len(reached)} of "
                       f"{len(rows)} tasks" if len(reached) else f"on {name} no grid temperature reaches it "
                                                                 f"({len(rows)} tasks)")
    if matched:
        parts.append("Matching the trained model with temperature alone: " + "; ".join(matched) + ".")
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


def targets_sentence(logs: pd.DataFrame, selection: pd.DataFrame, differences: pd.DataFrame,
                     vanilla_tv: float, trained_task: str) -> str:
    """Which of the GRPO targets this run met: the trained task's exact TV falls ≥40% relative with raw
    valid mass ≥0.9; ≥7 of 9 untrained tasks spread beyond the control (behavioural, Holm); 3 seeds × 50
    steps of recipe and control in ≤30 min on 2 cores."""
    from lib import transfer
    chosen = selection[selection["role"] == "selected"].iloc[0]
    control = selection.loc[selection["role"] == "control", "recipe"].item()
    drop = 1 - chosen["exact_tv"] / vanilla_tv
    seed_tasks = [t for t in task_panel.TASK_IDS if t != trained_task]
    vs_control = differences[differences["comparison"].str.contains(control, regex=False)]
    beaten = len([t for t in transfer.verdict(vs_control, trained_task).improved if t in seed_tasks]) \
        if len(vs_control) else 0
    verdict = lambda ok: "met" if ok else "not met"  # noqa: E731
    parts = [f"trained-task exact TV falls ≥40% relative: {verdict(drop >= 0.4)} "
             f"({vanilla_tv:.3f} → {chosen['exact_tv']:.3f}, {drop:.0%})",
             f"raw valid mass ≥0.9: {verdict(chosen['raw_mass'] >= 0.9)} ({chosen['raw_mass']:.3f})",
             f"≥7 of 9 untrained tasks spread beyond the control (Holm): {verdict(beaten >= 7)} ({beaten} of 9)"]
    if "step_time" in logs:
        seconds = logs[logs["recipe"].isin([chosen["recipe"], control])]["step_time"].sum()
        parts.append(f"training steps of the selected recipe and the control, all seeds, ≤30 min: "
                     f"{verdict(seconds <= 1800)} ({seconds / 60:.1f} min of GRPO steps, evaluation excluded)")
    return "Targets — " + "; ".join(parts) + "."


def _interval(row) -> str:
    return f"{row['difference']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"


def _power(row) -> str:
    """", detectable at 80% power: ±0.12" from a row's mdd, or nothing when it has none."""
    mdd = row.get("mdd", float("nan")) if hasattr(row, "get") else float("nan")
    return f"; a difference of ±{mdd:.2f} is detectable at 80% power" if mdd == mdd else ""


def paths_sentence(differences: pd.DataFrame, table: pd.DataFrame, nonempty: pd.DataFrame | None = None) -> str:
    """06: distinct paths (among non-empty chains where `nonempty` holds them, with the share of empty
    chains) and correct chains, trained vs vanilla at each temperature, paired by problem."""
    k = int(table["k"].max())
    parts = []
    for (temperature, seed), group in differences.groupby(["temperature", "train_seed"], sort=False):
        by_metric = group.set_index("metric")
        paths, correct = by_metric.loc["distinct_all"], by_metric.loc["correct"]
        extra = nonempty[(nonempty["temperature"] == temperature) & (nonempty["train_seed"] == seed)] \
            if nonempty is not None else pd.DataFrame(columns=["metric"])
        if {"distinct_nonempty", "empty_share"} <= set(extra["metric"]):
            extra = extra.set_index("metric")
            distinct, empty = extra.loc["distinct_nonempty"], extra.loc["empty_share"]
            paths_text = (f"{distinct['treated']:.2f} distinct calculation paths among its non-empty chains vs "
                          f"vanilla {distinct['vanilla']:.2f} (difference {_interval(distinct)} over "
                          f"{int(distinct['problems'])} problems{_power(distinct)}), with {empty['treated']:.0%} vs "
                          f"{empty['vanilla']:.0%} of chains computing no new number (difference "
                          f"{_interval(empty)}; all {k} chains: {paths['treated']:.2f} vs {paths['vanilla']:.2f} paths)")
        else:
            paths_text = (f"{paths['treated']:.2f} distinct calculation paths among {k} chains vs vanilla "
                          f"{paths['vanilla']:.2f} (difference {_interval(paths)} over {int(paths['problems'])} "
                          f"problems{_power(paths)})")
        parts.append(f"At T={temperature:g}, {paths['condition']} (seed {int(seed)}) has {paths_text}, and "
                     f"{correct['treated']:.2f} vs {correct['vanilla']:.2f} correct chains of {k} "
                     f"(difference {_interval(correct)}{_power(correct)}).")
    accuracy = table["correct"].mean() / k
    parts.append(f"Chains are correct {accuracy:.0%} of the time on average over conditions, so distinct paths "
                 f"among correct chains rest on few problems (at most {int(table['n_with_correct'].max())} of "
                 f"{int(table['problems'].max())}); the paths among {'non-empty' if nonempty is not None else 'all'} "
                 "chains carry the comparison. More distinct paths "
                 "with no gain in correct chains means more varied arithmetic, not more varied good reasoning.")
    return " ".join(parts)


def capability_sentence(accuracy: pd.DataFrame, tests: pd.DataFrame) -> str:
    """07: vanilla vs each trained seed on each benchmark, with the McNemar p-values."""
    parts = []
    for benchmark, group in accuracy.groupby("benchmark", sort=False):
        vanilla = group[group["condition"] == "vanilla"].iloc[0]
        trained = group[group["condition"] != "vanilla"]
        seeds = ", ".join(f"{condition_label(row.condition, row.train_seed)} {row.accuracy:.1%}"
                          for row in trained.itertuples())
        own = tests[tests["benchmark"] == benchmark]
        ps = own["p_value"]
        power = (f"; at this size a difference of ±{own['mdd'].max():.1%} is detectable at 80% power"
                 if "mdd" in own and own["mdd"].notna().any() else "")
        parts.append(f"{benchmark}: vanilla {vanilla['accuracy']:.1%} [{vanilla['ci_low']:.1%}, {vanilla['ci_high']:.1%}] "
                     f"of {int(vanilla['n'])}; {seeds}; McNemar p (unadjusted) {ps.min():.2f}–{ps.max():.2f}{power}.")
    return " ".join(parts) + (" MMLU chance is 25%. A p-value above 0.05 says the data cannot tell the models "
                              "apart at this size; it does not prove they are equal.")


def held_sentence(held: pd.DataFrame) -> str:
    """07: per area (knowledge, reasoning, instruction following, formats, calibration), whether capability
    held after training: the headline measure vanilla → trained with the paired difference, its CI, the
    minimum detectable difference and the verdict (lib.capability_verdicts.verdict)."""
    if held.empty:
        return "No trained condition to compare with vanilla."
    parts = []
    for area, group in held.groupby("area", sort=False):
        verdicts = group["verdict"].value_counts()
        first = group.iloc[0]
        seeds = "; ".join(f"{condition_label(row.condition, row.train_seed)} {row.trained:.3f} "
                          f"(difference {row.difference:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}], "
                          + (f"mdd {row.mdd:.3f}" if row.mdd == row.mdd else "no variance to size a test by")
                          + f": {row.verdict})" for row in group.itertuples())
        parts.append(f"{area.capitalize()} ({first['benchmark']}, {first['metric']}, n={int(first['n'])}): vanilla "
                     f"{first['vanilla']:.3f}; {seeds} — "
                     + ", ".join(f"{count} {name}" for name, count in verdicts.items()) + ".")
    return (" ".join(parts) + " Held means no loss was detected (paired test at α = 0.05, Holm-adjusted over each "
            "area's compared conditions, or the interval for ECE); a loss smaller than the mdd would go unseen at "
            "this size.")


def ifbench_skipped_sentence(skipped: pd.DataFrame, instructions: int, prompts: int) -> str:
    """07: which IFBench checkers could not run here, and how many instructions and prompts that leaves out."""
    if skipped.empty:
        return f"Every IFBench checker ran: {instructions} instructions in {prompts} prompts."
    left_out = int(skipped["instructions"].sum())
    names = "; ".join(f"{row.instruction} ({row.instructions}: {row.reason})" for row in skipped.itertuples())
    return (f"{left_out} of {instructions} IFBench instructions were skipped, never counted as followed: {names}. "
            f"Prompts holding one are left out of the prompt level; {prompts} prompts were asked.")


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


LENS_DEPARTURE = 0.05     # 09: a layer's lens entropy departs from vanilla's by at least this much


def _ci(value: float, low: float, high: float) -> str:
    return f"{value:+.2f}" + (f" [{low:+.2f}, {high:+.2f}]" if low == low and high == high else " (no interval)")


def mechanism_sentence(shares: pd.DataFrame, steering: pd.DataFrame, controls: pd.DataFrame, lens: pd.DataFrame,
                       recipe: str, trained_task: str, measure: str = "exact_effective_share") -> str:
    """09's conclusion: is there evidence for one internal setting behind the trained and the transfer effect, where
    it sits, and how strong the evidence is. Two tests, each passed, failed or not decidable (no interval):
    the adapter ablation (the single part that carries most of the trained effect also carries most of the untrained
    tasks', both shares' intervals above zero: a part cannot be said to carry an effect whose share it may not
    carry at all) and steering (the trained direction spreads the untrained tasks, interval above zero,
    and beats every control it was compared with). From 09_shares, 09_steering_summary, 09_steering_controls and
    09_lens_summary; the logit lens is described, not tested."""
    name = task_panel.display_name(trained_task)
    label = measure.replace("_", " ")
    parts: list[str] = []
    tests: dict[str, bool | None] = {}

    # 1. the adapter by place: a single part (not a complement) carrying both effects
    single = shares[(shares["measure"] == measure) & ~shares["part"].str.startswith("all but")]
    own = single[single["task"] == trained_task].dropna(subset=["value"])
    far = single[single["task"] != trained_task].dropna(subset=["value"])
    seeds = int(single["n"].max()) if len(single) else 0
    if own.empty or far.empty:
        moved = "the untrained tasks" if len(own) else name
        parts.append(f"The full adapter barely moves {moved} on the {label}, so no part's share is defined there.")
        tests["the adapter ablation"] = None if own.empty and far.empty else False
    else:
        top_own, top_far = own.sort_values("value").iloc[-1], far.sort_values("value").iloc[-1]
        same = top_far["part"] == top_own["part"]
        parts.append(f"Kept alone, {top_own['part']} carries the largest share of the trained effect on {name} "
                     f"({_ci(top_own['value'], top_own['ci_low'], top_own['ci_high'])} of the full adapter's, "
                     f"{label}) and {top_far['part']} the largest on the untrained tasks "
                     f"({_ci(top_far['value'], top_far['ci_low'], top_far['ci_high'])})"
                     + (": the same part." if same else ": different parts."))
        decided = top_far["ci_low"] == top_far["ci_low"] and top_own["ci_low"] == top_own["ci_low"]
        tests["the adapter ablation"] = bool(same and top_far["ci_low"] > 0 and top_own["ci_low"] > 0) \
            if decided else None

    # 2. the direction: does adding it to vanilla spread the untrained tasks, beyond its controls?
    metric = f"steered_{measure}_change"
    mine = steering[(steering["condition"] == recipe) & (steering["metric"] == metric)
                    & (steering["task"] != trained_task)]
    if mine.empty:
        tests["the steering test"] = None
    else:
        best = mine.sort_values("value").iloc[-1]
        at = controls[(controls["metric"] == metric) & (controls["layer"] == best["layer"])
                      & (controls["scale"] == best["scale"])] if len(controls) else controls
        beaten = [r.control for r in at.itertuples() if r.value > 0 and r.p <= 0.05]
        missed = [c for c in at["control"]] if len(at) else []
        missed = [c for c in missed if c not in beaten]
        parts.append(f"Adding the trained − vanilla direction to vanilla changes the untrained tasks' {label} by "
                     f"{_ci(best['value'], best['ci_low'], best['ci_high'])} at best (layer {int(best['layer'])}, "
                     f"scale {best['scale']:g}, {int(best['n'])} seeds)"
                     + (f"; there it beats {len(beaten)} of {len(at)} controls"
                        + (f" ({', '.join(beaten)})" if beaten else "")
                        + (f", not {', '.join(missed)}" if missed else "") if len(at) else "; no control was measured")
                     + ".")
        decided = best["ci_low"] == best["ci_low"] and len(at) > 0
        tests["the steering test"] = bool(best["ci_low"] > 0 and not missed) if decided else None

    # 3. the logit lens, described: where the answer-token entropy departs from vanilla's
    entropy = lens[lens["metric"] == "lens_entropy"]
    departs, stays = [], []
    for task, group in entropy.groupby("task", sort=False):
        gap = (group[group["condition"] == recipe].set_index("layer")["value"]
               - group[group["condition"] == "vanilla"].set_index("layer")["value"]).dropna()
        moved = gap[gap.abs() >= LENS_DEPARTURE]
        if len(moved):
            departs.append(f"{task_panel.display_name(task)} from layer {int(moved.index[0])}")
        else:
            stays.append(task_panel.display_name(task))
    if departs or stays:
        parts.append(f"The logit lens (entropy over the answers' first tokens) departs from vanilla's by "
                     f"≥ {LENS_DEPARTURE} on " + (", ".join(departs) or "no task")
                     + (f"; it stays within that on {', '.join(stays)}" if stays else "") + ".")

    passed = [t for t, v in tests.items() if v]
    failed = [t for t, v in tests.items() if v is False]
    open_ = [t for t, v in tests.items() if v is None]
    undecided = f" ({' and '.join(open_)} cannot be judged: no interval)" if open_ else ""
    if not passed and not failed:
        verdict = ("These numbers are descriptive: neither test has intervals (too few training seeds move the "
                   "model), so they cannot show a shared internal setting, or its absence.")
    elif passed and not failed and not open_:
        verdict = (f"Evidence for a shared internal setting, on both tests (one part of the adapter carries both "
                   f"effects; its direction spreads untrained tasks beyond its controls), over {seeds} seeds.")
    elif passed:
        verdict = (f"Partial evidence for a shared internal setting: {' and '.join(passed)} supports it"
                   + (f", {' and '.join(failed)} does not" if failed else "") + f"{undecided}, over {seeds} seeds.")
    else:
        verdict = (f"No evidence for a shared internal setting: {' and '.join(failed)} "
                   f"find{'s' if len(failed) == 1 else ''} none{undecided}.")
    return verdict + " " + " ".join(parts)
