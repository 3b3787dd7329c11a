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


def _sample_count(long: pd.DataFrame, task: str, metric: str) -> str:
    rows = long[(long["task"] == task) & (long["metric"] == metric)]
    return number(rows["n"].iloc[0], ".0f") if len(rows) else "—"


def baseline_table_html(long: pd.DataFrame, wide: pd.DataFrame) -> str:
    head = ["task", "exact TV", "raw valid mass", "normalized entropy", "sampled TV [95% CI] (n)",
            "floor", "invalid rate", "parsed TV (n)", "exact-vs-parsed TV"]
    rows = []
    for _, r in wide.iterrows():
        get = lambda key: r[key] if key in r.index else float("nan")  # noqa: E731
        n_valid, n_total = number(get("sampled_n_valid"), ".0f"), _sample_count(long, r["task"], "sampled_tv")
        p_valid, p_total = number(get("parsed_n_valid"), ".0f"), _sample_count(long, r["task"], "parsed_tv")
        cells = [
            number(get("exact_tv")),
            number(get("raw_mass"), ".3%"),
            number(get("exact_entropy")),
            f"{number(get('sampled_tv'))} [{number(get('sampled_tv_ci_low'))}, {number(get('sampled_tv_ci_high'))}] "
            f"<span class=muted>(n={n_valid} valid of {n_total})</span>",
            number(get("sampled_tv_floor")),
            number(get("sampled_invalid_rate")),
            f"{number(get('parsed_tv'))} <span class=muted>(n={p_valid} valid of {p_total})</span>",
            number(get("exact_vs_parsed_tv")),
        ]
        rows.append(f"<tr><td>{html.escape(tasks.display_name(r['task']))}</td>"
                    + "".join(f"<td class=num>{c}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def baseline_section(results_dir: Path) -> str:
    """01: how narrow the model is per task, exactly and sampled, with the headline TV-by-task chart."""
    from lib import charts, narrative
    tables = baseline_tables(results_dir)
    if tables is None:
        return ("<h2>Baseline: how narrow is the model?</h2><p class=muted>No results yet: "
                "<code>results/01_baseline.csv</code> is missing (run notebook 01).</p>")
    long, wide, picks = tables
    return section_html("Baseline: how narrow is the model?", lambda: narrative.baseline_sentence(wide, picks),
                        lambda: charts.tv_by_task(wide, int(long.loc[long["metric"] == "sampled_tv", "n"].max())),
                        baseline_table_html(long, wide) + "<p class=muted>Raw valid mass is shown as a percentage; "
                        "CIs are bootstrap 95% intervals; n counts the valid samples among all samples drawn for "
                        "that estimate.</p>")


# ---------------------------------------------------------------------------------------------
# 04 and 05: the headline, transfer of one task's RL pass
# ---------------------------------------------------------------------------------------------

def transfer_section(results_dir: Path) -> str:
    """The headline: before/after exact TV per task, trained − vanilla / − control / − temperature-matched."""
    from lib import charts, narrative
    summary, differences = read_table(results_dir, "05_summary"), read_table(results_dir, "05_differences")
    selection, matched = read_table(results_dir, "04_selection"), read_table(results_dir, "05_temperature_matched")
    if summary is None or differences is None or selection is None or matched is None:
        return ("<h2>Does one task's RL pass spread the others?</h2><p class=muted>No results yet: run notebooks "
                "04_grpo_train and 05_transfer_eval.</p>")
    spread, control = artifacts.selected_recipe(results_dir), artifacts.control_recipe(results_dir)
    trained_task = matched["task"].item()
    diffs = {name: frame.drop(columns="name") for name, frame in differences.groupby("name", sort=False)}
    parts = ["<h2>Does one task's RL pass spread the others?</h2>"]
    guarded(parts, "summary", lambda: "<p>" + html.escape(narrative.transfer_sentence(
        diffs, spread, control, trained_task, matched["t_star"].item(),
        matched["vanilla_exact_tv_at_t_star"].item(), matched["target_exact_tv"].item())) + "</p>")

    def targets() -> str:
        baseline = read_table(results_dir, "01_baseline")
        vanilla_tv = baseline.query("metric == 'exact_tv' and task == @trained_task")["value"].item()
        logs = read_table(results_dir, "04_training_log")
        return f"<p>{html.escape(narrative.targets_sentence(logs, selection, diffs, vanilla_tv, trained_task))}</p>"
    guarded(parts, "targets", targets)
    guarded(parts, "chart", lambda: "<div class=chart>"
            + svg(charts.before_after(summary, "vanilla", spread, trained_task)) + "</div>")
    for name, title in (("05_table", "Exact TV per task (means over seeds, t-intervals over seeds)"),
                        ("05_ablation", "Every recipe tried (selection used the trained task only)"),
                        ("04_selection", "Recipe selection on the trained task")):
        frame = read_table(results_dir, name)
        if frame is not None:
            parts.append(f"<h3>{html.escape(title)}</h3>{frame_html(frame)}")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# 03, 06, 07, 08: cheaper knobs, and what training changes beyond the panel
# ---------------------------------------------------------------------------------------------

def comparison_section(results_dir: Path) -> str:
    """Cheaper knobs beside training (03), two task-by-condition grids: exact TV where the condition
    has an exact distribution, and sampled TV minus its uniform-sampler floor where it is sampled."""
    table = read_table(results_dir, "03_comparison")
    if table is None:
        return ""
    parts = ["<h2>Cheaper knobs: temperature, min-p, verbalized sampling, logit correction</h2>"]
    exact = table[table["metric"] == "exact_tv"].pivot_table(index="label", columns="task", values="value",
                                                              aggfunc="first", sort=False)
    if not exact.empty:
        parts.append("<h3>Exact TV from uniform (lower is more spread)</h3>" + frame_html(exact.reset_index()))
    sampled = table[table["metric"].isin(["sampled_tv", "sampled_tv_floor"])].pivot_table(
        index=["label", "task"], columns="metric", values="value", aggfunc="first", sort=False)
    if {"sampled_tv", "sampled_tv_floor"} <= set(sampled.columns):
        excess = (sampled["sampled_tv"] - sampled["sampled_tv_floor"]).unstack("task")
        parts.append("<h3>Sampled TV minus its floor, seed's 50-sample protocol (0 = indistinguishable from a "
                     "uniform sampler)</h3>" + frame_html(excess.reset_index()))
    parts.append('<p class=muted>Every row with its CI, invalid rate and cost per answer: '
                 '<a href="results/03_comparison.csv">results/03_comparison.csv</a> and the 03 notebook.</p>')
    return "".join(parts)


def reasoning_section(results_dir: Path) -> str:
    """06: distinct calculation paths on GSM8K, trained vs vanilla."""
    from lib import charts, narrative
    table, differences = read_table(results_dir, "06_table"), read_table(results_dir, "06_differences")
    if table is None or differences is None:
        return ""
    return section_html("Reasoning paths on GSM8K (06)", lambda: narrative.paths_sentence(differences, table),
                        lambda: charts.gsm8k_paths(table),
                        "<h3>Trained − vanilla, paired by problem (bootstrap 95% CI)</h3>" + frame_html(differences, 2))


def capability_section(results_dir: Path) -> str:
    """07: MMLU and GSM8K accuracy, vanilla vs each trained seed, McNemar tests."""
    from lib import capability, charts, narrative
    accuracy, tests = read_table(results_dir, "07_accuracy"), read_table(results_dir, "07_mcnemar")
    if accuracy is None or tests is None:
        return ""
    return section_html("Capability: MMLU and GSM8K (07)", lambda: narrative.capability_sentence(accuracy, tests),
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


SECTIONS: tuple[Callable[[Path], str], ...] = (transfer_section, baseline_section, comparison_section,
                                               reasoning_section, capability_section, open_ended_section)
