"""The index page's per-notebook sections: each reads the result tables one notebook wrote and returns
HTML (a sentence from lib.narrative, an inline SVG chart from lib.charts, the tables). A missing table
leaves its section out or says which notebook to run; a partial one mutes the part it breaks, never
the page."""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Callable

import pandas as pd

from lib import artifacts, tasks
from lib import results as results_io


def number(value, fmt: str = ".3f") -> str:
    """`value` formatted, or a dash for anything missing or not a number."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if value != value else format(value, fmt)


# Notebooks whose tables name an adapter's training seed `train_seed`. Tables written before that name
# existed call it `seed`; they are read under the new name, so a committed report still builds.
TRAINING_SEED_NOTEBOOKS = ("03", "04", "05", "06", "07", "08")


def read_table(results_dir: Path, name: str) -> pd.DataFrame | None:
    """A result table, or None when its notebook has not written it yet."""
    path = Path(results_dir) / f"{name}.csv"
    if not path.exists():
        return None
    table = pd.read_csv(path)
    if name[:2] in TRAINING_SEED_NOTEBOOKS and "seed" in table and "train_seed" not in table:
        table = table.rename(columns={"seed": "train_seed"})
    return table


def frame_html(frame: pd.DataFrame, digits: int = 3) -> str:
    """A plain HTML table of a result frame (numbers rounded), no index."""
    return frame.round(digits).to_html(index=False, na_rep="–", border=0, classes="frame", escape=True)


def svg(chart) -> str:
    """An Altair chart as inline <svg> (vl-convert; no network, no scripts)."""
    import vl_convert
    return re.sub(r"^<\?xml[^>]*>\s*", "", vl_convert.vegalite_to_svg(chart.to_json()))


def guarded(parts: list[str], what: str, make: Callable[[], str]) -> None:
    """Append make()'s HTML, or a muted note when a partial or missing table breaks it."""
    try:
        parts.append(make())
    except Exception as err:  # a partial table must not stop the page
        parts.append(f"<p class=muted>({what} unavailable: {html.escape(str(err))})</p>")


def section_html(title: str, sentence: Callable[[], str], chart: Callable[[], object], body: str) -> str:
    """A notebook's section: heading, narrative sentence, inline chart, then `body` (its tables)."""
    parts = [f"<h2>{html.escape(title, quote=False)}</h2>"]
    guarded(parts, "summary", lambda: f"<p>{html.escape(sentence())}</p>")
    guarded(parts, "chart", lambda: f"<div class=chart>{svg(chart())}</div>")
    return "".join(parts) + body


# ---------------------------------------------------------------------------------------------
# 01: the baseline
# ---------------------------------------------------------------------------------------------

def baseline_tables(results_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """(long, wide, picks) from 01's tables, or None when 01 has not written them yet."""
    long = read_table(results_dir, "01_baseline")
    if long is None:
        return None
    condition = "vanilla" if "vanilla" in set(long["condition"]) else None
    wide = results_io.pivot(long, condition)
    picks = read_table(results_dir, "01_picks")
    if picks is None:
        picks = pd.DataFrame(columns=["condition", "task", "source", "rank", "answer", "share"])
    if condition is not None:
        long = long[long["condition"] == condition]
        if "condition" in picks:
            picks = picks[picks["condition"] == condition]
    return long, wide, picks


def baseline_table_html(long: pd.DataFrame, wide: pd.DataFrame) -> str:
    """Per task: the behavioural measure (valid rate, effective share with CI, top answer, p vs uniform) beside
    the exact lens (exact TV, raw mass)."""
    from lib import behaviour
    columns = {**{m: behaviour.BEHAVIOUR_COLUMNS[m] for m in ("behav_valid_rate", "behav_effective_share",
                                                               "behav_top_share", "behav_tv_p")},
               "exact_tv": "exact TV", "raw_mass": "raw mass"}
    return behaviour.readable(long, columns).to_html(index=False, border=0, classes="num")


def baseline_section(results_dir: Path) -> str:
    """01: how narrow the model is per task, exactly and sampled, with the headline TV-by-task chart."""
    from lib import charts, narrative
    tables = baseline_tables(results_dir)
    if tables is None:
        return ("<h2>Baseline: how narrow is the model?</h2><p class=muted>No results yet: "
                "<code>results/01_baseline.csv</code> is missing (run notebook 01).</p>")
    long, wide, picks = tables
    return section_html("Baseline: how narrow is the model?", lambda: narrative.baseline_sentence(wide, picks),
                        lambda: charts.spread_by_task(long),
                        baseline_table_html(long, wide) + "<p class=muted>Valid, eff. share, top answer and p: "
                        "the behavioural measure (free-form replies; 95% intervals, Wilson or bias-corrected "
                        "bootstrap; p against a uniform sampler with as many valid replies). Exact TV and raw mass: "
                        "the exact lens, given a bare reply, and how often one comes.</p>")


# ---------------------------------------------------------------------------------------------
# 04 and 05: the headline, transfer of one task's RL pass
# ---------------------------------------------------------------------------------------------

def transfer_section(results_dir: Path) -> str:
    """The headline: the behavioural measure before/after per task, and the verdict of every comparison (the
    selected arm against vanilla, each other arm and vanilla at T*), Holm over the untrained tasks."""
    from lib import charts, narrative, transfer
    summary, differences = read_table(results_dir, "05_summary"), read_table(results_dir, "05_differences")
    selection, matched = read_table(results_dir, "04_selection"), read_table(results_dir, "05_temperature_matched")
    if summary is None or differences is None or selection is None or matched is None:
        return ("<h2>Does one task's RL pass spread the others?</h2><p class=muted>No results yet: run notebooks "
                "04_grpo_train and 05_transfer_eval.</p>")
    spread, control = artifacts.selected_recipe(results_dir), artifacts.control_recipe(results_dir)
    trained_task = matched["task"].iloc[0]
    parts = ["<h2>Does one task's RL pass spread the others?</h2>"]
    guarded(parts, "summary", lambda: "<p>" + html.escape(narrative.transfer_sentence(
        differences, trained_task, control, matched, read_table(results_dir, "05_dose_transfer"))) + "</p>")

    def targets() -> str:
        baseline = read_table(results_dir, "01_baseline")
        vanilla_tv = baseline.query("metric == 'exact_tv' and task == @trained_task")["value"].item()
        logs = read_table(results_dir, "04_training_log")
        return (f"<p>{html.escape(narrative.targets_sentence(logs, selection, differences, vanilla_tv, trained_task))}"
                "</p>")
    guarded(parts, "targets", targets)
    guarded(parts, "chart", lambda: "<div class=chart>"
            + svg(charts.before_after(summary, "vanilla", spread, trained_task)) + "</div>")
    guarded(parts, "verdict", lambda: "<h3>Verdict per comparison (behavioural headline, Holm over the untrained "
            "tasks)</h3>" + frame_html(transfer.verdict_table(transfer.verdicts(differences, trained_task))))
    guarded(parts, "levels", lambda: "<h3>Effective share of the answer set, any reply (mean over seeds or "
            "replicates, t-interval)</h3>" + frame_html(transfer.levels_table(
                summary, ["vanilla", spread, *transfer.arms(selection)])))
    guarded(parts, "lens", lambda: "<h3>The exact lens: exact TV given a bare reply, and raw mass</h3>"
            + frame_html(transfer.levels_table(summary, ["vanilla", spread, *transfer.arms(selection)], transfer.LENS))
            + frame_html(transfer.levels_table(summary, ["vanilla", spread, *transfer.arms(selection)], "raw_mass")))
    def dose_chart() -> str:
        from lib import dose
        rows = read_table(results_dir, "05_dose")
        if rows is None or rows.empty:
            return ""
        estimate = read_table(results_dir, "05_dose_transfer")
        return ("<h3>Dose–response: untrained tasks against the trained task, checkpoint by checkpoint</h3>"
                "<div class=chart>" + svg(charts.dose_response(dose.dose_curves(rows, trained_task))) + "</div>"
                + (frame_html(transfer.dose_table(estimate)) if estimate is not None and len(estimate) else ""))
    guarded(parts, "dose", dose_chart)
    for name, title in (("04_arms", "The arms: every recipe 04 trained, its role and its trained-task result"),
                        ("05_ablation", "Every recipe tried (selection used the trained task only)"),
                        ("04_selection", "Recipe selection on the trained task")):
        frame = read_table(results_dir, name)
        if frame is not None:
            parts.append(f"<h3>{html.escape(title)}</h3>{frame_html(frame)}")
    parts.append('<p class=muted>Every difference with its interval, p and Holm-adjusted p: '
                 '<a href="results/05_differences.csv">results/05_differences.csv</a>.</p>')
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# 03, 06, 07, 08: cheaper knobs, and what training changes beyond the panel
# ---------------------------------------------------------------------------------------------

def comparison_section(results_dir: Path) -> str:
    """Cheaper knobs beside training (03): the temperature sentence and the gap-closed chart (from
    03_temperature_sweep), then two condition-by-task grids: exact TV where the condition has an exact
    distribution, and the effective share (else sampled TV minus its floor) where it is sampled."""
    from lib import charts, narrative
    table, sweep = read_table(results_dir, "03_comparison"), read_table(results_dir, "03_temperature_sweep")
    if table is None:
        return ""
    parts = ["<h2>Cheaper knobs: temperature, min-p, verbalized sampling, logit correction</h2>"]
    if sweep is not None:
        gap_t = sweep.loc[sweep["metric"] == "gap_closed_effective_share", "temperature"]
        guarded(parts, "summary", lambda: f"<p>{html.escape(narrative.temperature_sentence(sweep))}</p>")
        if len(gap_t):
            guarded(parts, "chart", lambda: f"<div class=chart>{svg(charts.gap_closed_by_task(sweep, gap_t.iloc[0]))}</div>")
    # The logit correction's TV (exact_tv_defined) is over the answers it covers; its label says so.
    exact = table[table["metric"].isin(["exact_tv", "exact_tv_defined"])].pivot_table(
        index="label", columns="task", values="value", aggfunc="first", sort=False).rename(columns=tasks.display_name)
    if not exact.empty:
        parts.append("<h3>Exact TV from uniform (lower is more spread)</h3>" + frame_html(exact.rename_axis(index="condition", columns=None).reset_index(), 2))
    share = table[table["metric"] == "sampled_effective_share"].pivot_table(
        index="label", columns="task", values="value", aggfunc="first", sort=False).rename(columns=tasks.display_name)
    sampled = table[table["metric"].isin(["sampled_tv", "sampled_tv_floor"])].pivot_table(
        index=["label", "task"], columns="metric", values="value", aggfunc="first", sort=False)
    if not share.empty:
        parts.append("<h3>Effective share of the seed's protocol replies (1/Σp² ÷ k; higher is more spread, "
                     "1 = as spread as uniform)</h3>" + frame_html(share.rename_axis(index="condition", columns=None).reset_index(), 2))
    elif {"sampled_tv", "sampled_tv_floor"} <= set(sampled.columns):
        excess = (sampled["sampled_tv"] - sampled["sampled_tv_floor"]).unstack("task").rename(columns=tasks.display_name)
        parts.append("<h3>Sampled TV minus its floor, seed's 50-sample protocol (0 = indistinguishable from a "
                     "uniform sampler)</h3>" + frame_html(excess.rename_axis(index="condition", columns=None).reset_index()))
    parts.append('<p class=muted>Every row with its CI, invalid rate and cost per answer: '
                 '<a href="results/03_comparison.csv">results/03_comparison.csv</a> and the 03 notebook.</p>')
    return "".join(parts)


def reasoning_section(results_dir: Path) -> str:
    """06: distinct calculation paths on GSM8K, trained vs vanilla."""
    from lib import charts, narrative
    table, differences = read_table(results_dir, "06_table"), read_table(results_dir, "06_differences")
    nonempty = read_table(results_dir, "06_nonempty")
    if table is None or differences is None:
        return ""
    both = differences if nonempty is None else pd.concat([nonempty, differences], ignore_index=True)
    return section_html("Reasoning paths on GSM8K (06)", lambda: narrative.paths_sentence(differences, table, nonempty),
                        lambda: charts.gsm8k_paths(table),
                        "<h3>Trained − vanilla, paired by problem (bootstrap 95% CI; mdd: minimum detectable "
                        "difference at 80% power)</h3>" + frame_html(both, 2))


def capability_section(results_dir: Path) -> str:
    """07: knowledge, reasoning, instruction following, formats, calibration — held or not after training,
    each with its CI and minimum detectable difference; then MMLU and GSM8K accuracy with McNemar tests."""
    from lib import capability, capability_verdicts, charts, narrative
    accuracy, tests = read_table(results_dir, "07_accuracy"), read_table(results_dir, "07_mcnemar")
    held, scores = read_table(results_dir, "07_held"), read_table(results_dir, "07_scores")
    comparisons, skipped = read_table(results_dir, "07_comparisons"), read_table(results_dir, "07_ifbench_skipped")
    if accuracy is None or tests is None:
        return ""
    parts = []
    if held is not None:
        parts.append("<h2>Knowledge, reasoning, instruction following, formats, calibration: held or not (07)</h2>")
        guarded(parts, "summary", lambda: f"<p>{html.escape(narrative.held_sentence(held))}</p>")
        guarded(parts, "chart", lambda: f"<div class=chart>{svg(charts.capability_held(held))}</div>")
        guarded(parts, "held table", lambda: frame_html(capability_verdicts.readable_held(held)))
    if scores is not None:
        guarded(parts, "scores", lambda: "<h3>Every measure per condition (95% CI)</h3>"
                + frame_html(capability_verdicts.readable_scores(scores)))
    if comparisons is not None:
        guarded(parts, "comparisons", lambda: "<h3>Trained − vanilla, paired by item (95% CI, test, mdd at 80% "
                "power)</h3>" + frame_html(capability_verdicts.readable_comparisons(comparisons)))
    if skipped is not None:
        vanilla_only = lambda: skipped[skipped["condition"] == "vanilla"].drop(columns=["condition", "train_seed"])  # noqa: E731
        guarded(parts, "skipped checkers", lambda: "<h3>IFBench checkers skipped here (never counted as followed)"
                "</h3>" + frame_html(vanilla_only()))
    return "".join(parts) + section_html(
        "Capability: MMLU and GSM8K (07)", lambda: narrative.capability_sentence(accuracy, tests),
        lambda: charts.capability(accuracy, {"MMLU": capability.CHANCE}),
        f"<h3>Accuracy (Wilson 95% CI)</h3>{frame_html(accuracy)}"
        f"<h3>Exact McNemar test per trained seed</h3>{frame_html(tests)}")


def open_ended_section(results_dir: Path) -> str:
    """08: distinct answers per NoveltyBench prompt and category, embedding classes beside exact matches."""
    from lib import charts, narrative
    from lib.data import ALL_CATEGORIES
    summary, diffs = read_table(results_dir, "08_open_ended"), read_table(results_dir, "08_differences")
    pairs, calibration = read_table(results_dir, "08_pairs"), read_table(results_dir, "08_calibration")
    if summary is None or diffs is None or pairs is None or calibration is None:
        return ""
    row = calibration.iloc[0]
    k = int(summary["k"].max())
    pooled = diffs[(diffs["task"] == ALL_CATEGORIES)].drop(columns=["label"])
    return section_html(
        "Open-ended prompts: NoveltyBench (08)",
        lambda: narrative.open_ended_sentence(summary, diffs, pairs, float(row["threshold_in_use"]),
                                              row["threshold_source"] == "calibrated", float(row["loo_agreement"]), k),
        lambda: charts.distinct_by_category(summary, k),
        f"<h3>Paired by prompt, all categories pooled (bootstrap 95% CI)</h3>{frame_html(pooled)}"
        '<p class=muted>Per category and per seed: <a href="results/08_open_ended.csv">results/08_open_ended.csv</a>; '
        'the example answers with their classes are in the 08 notebook.</p>')


def mechanism_section(results_dir: Path) -> str:
    """09: where in the network the change lives: the share of the effect each part of the adapter carries, the
    steering curve of the trained direction against its controls, and the logit lens."""
    from lib import charts, mechanism, narrative
    shares, steering = read_table(results_dir, "09_shares"), read_table(results_dir, "09_steering_summary")
    controls, lens = read_table(results_dir, "09_steering_controls"), read_table(results_dir, "09_lens_summary")
    if shares is None or steering is None or controls is None or lens is None:
        return ""
    recipe = str(shares["condition"].iloc[0]) if len(shares) else ""
    parts = ["<h2>Where does the change live? (09)</h2>"]
    guarded(parts, "summary", lambda: "<p>" + html.escape(narrative.mechanism_sentence(
        shares, steering, controls, lens, recipe, tasks.TRAINED_TASK)) + "</p>")
    guarded(parts, "ablation chart", lambda: f"<div class=chart>{svg(charts.ablation_shares(shares))}</div>")
    guarded(parts, "share table", lambda: "<h3>Share of the full adapter's effect each part carries (exact effective "
            "share; mean over training seeds, t-interval)</h3>" + frame_html(mechanism.share_table(shares)))
    guarded(parts, "steering chart", lambda: f"<div class=chart>{svg(charts.steering_curve(steering))}</div>")
    guarded(parts, "lens chart", lambda: f"<div class=chart>{svg(charts.logit_lens(lens))}</div>")
    parts.append('<p class=muted>Every variant per seed and task: <a href="results/09_ablation.csv">'
                 'results/09_ablation.csv</a>, <a href="results/09_steering.csv">results/09_steering.csv</a>; the '
                 'comparisons with the controls: <a href="results/09_steering_controls.csv">'
                 'results/09_steering_controls.csv</a>.</p>')
    return "".join(parts)


SECTIONS: tuple[Callable[[Path], str], ...] = (transfer_section, baseline_section, comparison_section,
                                               reasoning_section, capability_section, open_ended_section,
                                               mechanism_section)
