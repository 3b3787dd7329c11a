"""report/index.html, the model ladder: one row per CPU profile, smallest model first, each cell read
from that profile's published result tables (report/<profile>/results/) and linked to the page it comes
from. A profile with no report gets a row saying so; a missing or old table turns its cell into a dash
with a muted note, never failing the page. The sentence under the table is computed from the same values."""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from lib import artifacts, site, tasks
from lib.ladder_arms import arms_html, page_href
from lib.site_sections import number, read_table


@dataclass(frozen=True)
class Rung:
    profile: str
    model: str      # the model as a reader knows it
    size: str       # its parameter count: the ladder's axis


LADDER: tuple[Rung, ...] = (Rung("smollm2-cpu", "SmolLM2-135M", "135M"),
                            Rung("qwen2.5-0.5b-cpu", "Qwen2.5-Coder-0.5B", "0.5B"),
                            Rung("qwen2.5-1.5b-cpu", "Qwen2.5-Coder-1.5B", "1.5B"))
GAP_TEMPERATURE = 1.5     # the seed's "T=1.5 closes about a quarter of the gap"
UNTRAINED = [t for t in tasks.TASK_IDS if t != tasks.TRAINED_TASK]


# Readers: one profile's results dir → the numbers of one column (LookupError names what is missing)

def _tables(results_dir: Path, *names: str) -> list[pd.DataFrame]:
    frames = [read_table(results_dir, name) for name in names]
    missing = [f"{name}.csv" for name, frame in zip(names, frames) if frame is None]
    if missing:
        raise LookupError("no " + ", ".join(missing))
    return frames


def _nonempty(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    if frame.empty:
        raise LookupError(f"no rows for {what}")
    return frame


def vanilla_mean(metric: str) -> Callable[[Path], dict]:
    """Mean of vanilla's `metric` over the panel's tasks (01_baseline.csv)."""
    def read(results_dir: Path) -> dict:
        [base] = _tables(results_dir, "01_baseline")
        rows = _nonempty(base[(base["condition"] == "vanilla") & (base["metric"] == metric)
                              & base["task"].isin(tasks.TASK_IDS)], f"vanilla {metric}")
        return dict(value=rows["value"].mean(), tasks=rows["task"].nunique())
    return read


def _selected_differences(results_dir: Path, baseline: str, metric: str) -> pd.DataFrame:
    """05_differences.csv rows of the selected recipe against `baseline` ("vanilla" or the control's recipe)."""
    diffs, _ = _tables(results_dir, "05_differences", "04_selection")
    recipe = artifacts.selected_recipe(results_dir)
    return diffs[(diffs["comparison"] == f"{recipe} − {baseline}") & (diffs["metric"] == metric)]


def trained_effect(metric: str) -> Callable[[Path], dict]:
    """The selected recipe's change in `metric` on the trained task, against vanilla, with its interval."""
    def read(results_dir: Path) -> dict:
        rows = _selected_differences(results_dir, "vanilla", metric)
        row = _nonempty(rows[rows["task"] == tasks.TRAINED_TASK], f"{tasks.TRAINED_TASK} vs vanilla").iloc[0]
        return dict(value=row["value"], low=row["ci_low"], high=row["ci_high"])
    return read


def transfer_beyond_control(results_dir: Path) -> dict:
    """Untrained tasks that spread / narrowed beyond the control (behavioural headline, Holm)."""
    from lib import transfer
    control = artifacts.control_recipe(results_dir)
    diffs, _ = _tables(results_dir, "05_differences", "04_selection")
    rows = _nonempty(diffs[diffs["comparison"] == f"{artifacts.selected_recipe(results_dir)} − {control}"],
                     "comparison with the control")
    v = transfer.verdict(rows, tasks.TRAINED_TASK)
    panel = lambda names: [t for t in names if t in UNTRAINED]  # noqa: E731  (held-out tasks are not the seed's)
    measured = rows.loc[rows["metric"] == transfer.HEADLINE, "task"]
    return dict(better=len(panel(v.improved)), worse=len(panel(v.worse)), of=len(panel(set(measured))))


def gap_closed(metric: str) -> Callable[[Path], dict]:
    """Median over tasks of the fraction of the gap vanilla closes at the swept T nearest GAP_TEMPERATURE
    (`gap_closed`: exact TV; `gap_closed_effective_share`: the behavioural measure)."""
    def read(results_dir: Path) -> dict:
        [sweep] = _tables(results_dir, "03_temperature_sweep")
        rows = _nonempty(sweep[(sweep["metric"] == metric) & (sweep["condition"] == "vanilla")
                               & sweep["task"].isin(tasks.TASK_IDS)].dropna(subset=["value"]), metric)
        temperature = min(rows["temperature"].unique(), key=lambda t: (abs(t - GAP_TEMPERATURE), t))
        at = rows[rows["temperature"] == temperature]
        return dict(value=at["value"].median(), temperature=temperature, tasks=at["task"].nunique())
    return read


def accuracy(benchmark: str) -> Callable[[Path], dict]:
    """`benchmark` accuracy of vanilla and the mean over the selected recipe's trained seeds (07_accuracy.csv)."""
    def read(results_dir: Path) -> dict:
        acc, _ = _tables(results_dir, "07_accuracy", "04_selection")
        acc = acc[acc["benchmark"] == benchmark]
        before = _nonempty(acc[acc["condition"] == "vanilla"], f"vanilla {benchmark}")
        after = _nonempty(acc[acc["condition"] == artifacts.selected_recipe(results_dir)], f"trained {benchmark}")
        return dict(before=before["accuracy"].mean(), after=after["accuracy"].mean(), n=before["n"].iloc[0],
                    seeds=len(after))
    return read


def held(results_dir: Path) -> pd.DataFrame:
    """07_held.csv's rows for the selected recipe: per capability area and trained seed, the headline measure's
    paired difference with its CI, minimum detectable difference and verdict."""
    rows, _ = _tables(results_dir, "07_held", "04_selection")
    return _nonempty(rows[rows["condition"] == artifacts.selected_recipe(results_dir)], "trained seeds in 07_held")


def show_held(rows: pd.DataFrame) -> str:
    """One area's cell: vanilla → trained, then per seed the difference [CI], mdd and verdict."""
    first = rows.iloc[0]
    seeds = "<br>".join(
        f"seed {number(r.train_seed, '.0f')}: {number(r.difference, '+.3f')} [{number(r.ci_low, '+.3f')}, "
        f"{number(r.ci_high, '+.3f')}], mdd {number(r.mdd, '.3f')}: <strong>{html.escape(str(r.verdict))}</strong>"
        for r in rows.itertuples())
    return (f"{number(first['vanilla'])} → {number(rows['trained'].mean())}"
            + _muted(f"{first['benchmark']}, {first['metric']}, n={number(first['n'], '.0f')}") + f"<br>{seeds}")


def capability_html(report_dir: Path) -> str:
    """The capability table: one row per rung, one cell per area (knowledge, reasoning, instruction following,
    formats, calibration) saying whether it held after training, with CI and power; a dash where 07 has
    not written its tables."""
    areas = ("knowledge", "reasoning", "instruction following", "formats", "calibration")
    rows = []
    for rung in LADDER:
        results_dir = Path(report_dir) / rung.profile / "results"
        if not results_dir.is_dir():
            continue
        href = page_href(report_dir, rung.profile, "07")
        try:
            found = held(results_dir)
            cells = [show_held(found[found["area"] == area]) if (found["area"] == area).any()
                     else "—" + _muted("not measured") for area in areas]
        except Exception as err:  # a missing or old table mutes the row, never the page
            note = str(err) if type(err) is LookupError else f"{type(err).__name__}: {err}"
            cells = ["—" + _muted(note)] * len(areas)
        rows.append(f"<tr><td>{html.escape(rung.model)}{_muted(rung.size)}</td>"
                    + "".join(f'<td class=num><a href="{html.escape(href)}">{c}</a></td>' for c in cells) + "</tr>")
    if not rows:
        return ""
    header = "".join(f"<th>{html.escape(h)}</th>" for h in ["model", *areas])
    return ("<h2>Knowledge, reasoning, instruction following, formats, calibration: held or not</h2>"
            f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            "<p class=muted>Trained − vanilla on each area's headline measure, paired by item, with its 95% CI and "
            "the minimum detectable difference (mdd) at 80% power. Held: no loss detected (paired test at α = 0.05, "
            "Holm-adjusted over the arms 07 compared; for ECE, lower is better, the interval); a loss smaller than "
            "the mdd would go unseen at this size.</p>")


# Columns: heading, the notebook page its numbers come from, reader, and how the numbers print

def _muted(text: str) -> str:
    return f" <span class=muted>({html.escape(text)})</span>"


def show_effect(v: dict) -> str:
    return f"{number(v['value'], '+.3f')} [{number(v['low'], '+.3f')}, {number(v['high'], '+.3f')}]"


def show_transfer(v: dict) -> str:
    return f"{v['better']} of {v['of']} more spread, {v['worse']} narrower"


def show_accuracy(v: dict) -> str:
    seeds = "1 seed" if v["seeds"] == 1 else f"mean of {v['seeds']} seeds"
    return f"{number(v['before'], '.1%')} → {number(v['after'], '.1%')}" + _muted(f"n={number(v['n'], '.0f')}, {seeds}")


@dataclass(frozen=True)
class Column:
    key: str
    heading: str
    notebook: str                       # a config.NOTEBOOKS key
    read: Callable[[Path], dict]
    show: Callable[[dict], str]


Found = dict[str, dict[str, dict | Exception] | None]      # profile → column key → numbers or error

COLUMNS: tuple[Column, ...] = (
    Column("behaviour", "vanilla spread, behavioural: mean effective share of the answer set", "01",
           vanilla_mean("behav_effective_share"), lambda v: number(v["value"], ".2f") + _muted(f"{v['tasks']} tasks")),
    Column("spread", "vanilla spread, exact: mean exact TV given a bare reply", "01", vanilla_mean("exact_tv"),
           lambda v: number(v["value"]) + _muted(f"{v['tasks']} tasks")),
    Column("raw_mass", "raw valid mass: mean over the panel", "01", vanilla_mean("raw_mass"),
           lambda v: number(v["value"], ".1%")),
    Column("effect", f"trained-task effect: effective share, trained − vanilla on "
           f"{tasks.display_name(tasks.TRAINED_TASK)} [95% CI]", "05", trained_effect("behav_effective_share"),
           show_effect),
    Column("effect_exact", "trained-task effect: exact TV, trained − vanilla [95% CI]", "05",
           trained_effect("exact_tv"), show_effect),
    Column("transfer", "transfer beyond the control: untrained tasks more / less spread (behavioural, Holm)", "05",
           transfer_beyond_control, show_transfer),
    Column("gap", "fraction of the gap temperature closes, exact TV: median over tasks", "03",
           gap_closed("gap_closed"),
           lambda v: number(v["value"], ".2f") + _muted(f"at T={v['temperature']:g}, {v['tasks']} tasks")),
    Column("gap_behaviour", "fraction of the gap temperature closes, behavioural: median over tasks", "03",
           gap_closed("gap_closed_effective_share"),
           lambda v: number(v["value"], ".2f") + _muted(f"at T={v['temperature']:g}, {v['tasks']} tasks")),
    Column("mmlu", "MMLU accuracy, vanilla → trained", "07", accuracy("MMLU"), show_accuracy),
    Column("gsm8k", "GSM8K accuracy, vanilla → trained", "07", accuracy("GSM8K"), show_accuracy),
)


def measure(report_dir: Path) -> Found:
    """Per ladder profile, each column's numbers (or the error that stopped them); None: no report yet."""
    found: Found = {}
    for rung in LADDER:
        results_dir = Path(report_dir) / rung.profile / "results"
        found[rung.profile] = {c.key: _attempt(c, results_dir) for c in COLUMNS} if results_dir.is_dir() else None
    return found


def _attempt(column: Column, results_dir: Path) -> dict | Exception:
    try:
        value = column.read(results_dir)
        column.show(value)          # numbers that cannot print are as unusable as missing ones
        return value
    except Exception as err:  # a missing or old table mutes its cell, never the page
        return err


# The page

def cell_html(report_dir: Path, rung: Rung, column: Column, value: dict | Exception) -> str:
    href = page_href(report_dir, rung.profile, column.notebook)
    if isinstance(value, Exception):
        text = "—" + _muted(str(value) if type(value) is LookupError else f"{type(value).__name__}: {value}")
    else:
        text = column.show(value)
    return f'<td class=num><a href="{html.escape(href)}">{text}</a></td>'


def size_sentence(found: Found) -> str:
    """Does the effect change with model size? Read off the effect and transfer columns."""
    rungs = [r for r in LADDER if found[r.profile] and isinstance(found[r.profile]["effect"], dict)]
    waiting = " and ".join(r.size for r in LADDER if r not in rungs)
    if not rungs:
        return "No rung has a trained-task effect yet, so the ladder cannot say whether it changes with model size."

    def effect(r: Rung) -> str:
        transfer = found[r.profile]["transfer"]
        beyond = f", {show_transfer(transfer)} beyond the control" if isinstance(transfer, dict) else ""
        return f"{show_effect(found[r.profile]['effect'])} on the trained task{beyond}"
    if len(rungs) == 1:
        return (f"There is one rung so far ({rungs[0].model}: {effect(rungs[0])}), so whether the effect changes "
                f"with model size waits for {waiting}.")
    def step(first: Rung, last: Rung) -> str:
        """One step up the ladder: larger, smaller or indistinguishable, read off the two intervals."""
        a, b = found[first.profile]["effect"], found[last.profile]["effect"]
        direction = f"{'larger' if b['value'] > a['value'] else 'smaller'} at {last.size} than at {first.size}"
        if pd.isna([a["low"], a["high"], b["low"], b["high"]]).any():
            return f"the effect is {direction}, with no interval to tell that from noise"
        if a["low"] <= b["high"] and b["low"] <= a["high"]:
            return f"the intervals at {first.size} and {last.size} overlap, so no change with size shows yet"
        return f"the effect is {direction}, beyond the intervals"     # more negative: more spread
    # Adjacent rungs, so a trend that turns (up from 135M, down at 1.5B) is not read as one comparison of the ends.
    verdict = "; ".join(step(a, b) for a, b in zip(rungs, rungs[1:]))
    waits = f" ({waiting} not reported yet)" if waiting else ""
    return f"By size: {'; '.join(f'{r.size}: {effect(r)}' for r in rungs)}{waits}. Read across, {verdict}."


def ladder_html(report_dir: Path) -> str:
    found = measure(report_dir)
    rows = []
    for rung in LADDER:
        name = f"{html.escape(rung.model)}" + _muted(f"{rung.size}, {rung.profile}")
        if found[rung.profile] is None:
            rows.append(f"<tr><td>{name}</td><td colspan={len(COLUMNS)} class=muted>no report yet: run "
                        f"<code>make report PROFILE={html.escape(rung.profile)}</code></td></tr>")
            continue
        cells = "".join(cell_html(report_dir, rung, c, found[rung.profile][c.key]) for c in COLUMNS)
        rows.append(f'<tr><td><a href="{html.escape(rung.profile)}/index.html">{name}</a></td>{cells}</tr>')
    header = "".join(f"<th>{html.escape(h)}</th>" for h in ["model"] + [c.heading for c in COLUMNS])
    intro = ("The same report run on ever larger models, one row each: exact TV from uniform (lower is more "
             "spread), measured before and after one short RL pass on one task. Every cell links to the page its "
             "number comes from; each profile's page defines the metrics.")
    return site.page_html("Respread — the model ladder", f"<p>{html.escape(intro)}</p><table><thead><tr>{header}"
                          f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
                          f"<p>{html.escape(size_sentence(found))}</p>" + arms_html(report_dir, LADDER)
                          + capability_html(report_dir))


def write(report_dir: Path) -> Path:
    """Rebuild <report_dir>/index.html from whatever report/<profile>/results exist."""
    return site.write_page(Path(report_dir) / "index.html", ladder_html(report_dir))
