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

from lib import artifacts, config, site, tasks
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


def _selected_differences(results_dir: Path, name: str) -> pd.DataFrame:
    """The selected recipe's rows of 05_differences.csv under `name` ("vs vanilla", "vs control")."""
    diffs, _ = _tables(results_dir, "05_differences", "04_selection")
    recipe = artifacts.selected_recipe(results_dir)
    return diffs[(diffs["name"] == name) & diffs["comparison"].str.startswith(f"{recipe} - ")]


def trained_effect(results_dir: Path) -> dict:
    rows = _selected_differences(results_dir, "vs vanilla")
    row = _nonempty(rows[rows["task"] == tasks.TRAINED_TASK], f"{tasks.TRAINED_TASK} vs vanilla").iloc[0]
    return dict(value=row["value"], low=row["ci_low"], high=row["ci_high"])


def transfer_beyond_control(results_dir: Path) -> dict:
    rows = _selected_differences(results_dir, "vs control")
    rows = _nonempty(rows[rows["task"].isin(UNTRAINED)], "untrained tasks vs control")
    return dict(better=int((rows["ci_high"] < 0).sum()), worse=int((rows["ci_low"] > 0).sum()), of=len(rows))


def gap_closed(results_dir: Path) -> dict:
    """Median over tasks of the fraction of the gap vanilla closes at the swept T nearest GAP_TEMPERATURE."""
    [sweep] = _tables(results_dir, "03_temperature_sweep")
    rows = _nonempty(sweep[(sweep["metric"] == "gap_closed") & (sweep["condition"] == "vanilla")
                           & sweep["task"].isin(tasks.TASK_IDS)].dropna(subset=["value"]), "gap_closed")
    temperature = min(rows["temperature"].unique(), key=lambda t: (abs(t - GAP_TEMPERATURE), t))
    at = rows[rows["temperature"] == temperature]
    return dict(value=at["value"].median(), temperature=temperature, tasks=at["task"].nunique())


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


# Columns: heading, the notebook page its numbers come from, reader, and how the numbers print

def _muted(text: str) -> str:
    return f" <span class=muted>({html.escape(text)})</span>"


def show_effect(v: dict) -> str:
    return f"{number(v['value'], '+.3f')} [{number(v['low'], '+.3f')}, {number(v['high'], '+.3f')}]"


def show_transfer(v: dict) -> str:
    return f"{v['better']} of {v['of']} better, {v['worse']} worse"


def show_accuracy(v: dict) -> str:
    return (f"{number(v['before'], '.1%')} → {number(v['after'], '.1%')}"
            + _muted(f"n={number(v['n'], '.0f')}, mean of {v['seeds']} seeds"))


@dataclass(frozen=True)
class Column:
    key: str
    heading: str
    notebook: str                       # a config.NOTEBOOKS key
    read: Callable[[Path], dict]
    show: Callable[[dict], str]


Found = dict[str, dict[str, dict | Exception] | None]      # profile → column key → numbers or error

# The behavioural spread column joins here once a table provides it.
COLUMNS: tuple[Column, ...] = (
    Column("spread", "vanilla spread: mean exact TV over the panel", "01", vanilla_mean("exact_tv"),
           lambda v: number(v["value"]) + _muted(f"{v['tasks']} tasks")),
    Column("raw_mass", "raw valid mass: mean over the panel", "01", vanilla_mean("raw_mass"),
           lambda v: number(v["value"], ".1%")),
    Column("effect", f"trained-task effect: exact TV, trained − vanilla on {tasks.display_name(tasks.TRAINED_TASK)} "
           "[95% CI]", "05", trained_effect, show_effect),
    Column("transfer", "transfer beyond the control: untrained tasks whose CI excludes 0", "05",
           transfer_beyond_control, show_transfer),
    Column("gap", "fraction of the gap temperature closes: median over tasks", "03", gap_closed,
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
    page = f"{config.NOTEBOOKS[column.notebook]}.html"
    href = f"{rung.profile}/{page if (Path(report_dir) / rung.profile / page).exists() else 'index.html'}"
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
    first, last = rungs[0], rungs[-1]
    a, b = found[first.profile]["effect"], found[last.profile]["effect"]
    direction = f"{'larger' if b['value'] < a['value'] else 'smaller'} at {last.size} than at {first.size}"
    if pd.isna([a["low"], a["high"], b["low"], b["high"]]).any():
        verdict = f"the effect is {direction}, with no interval to tell that from noise"
    elif a["low"] <= b["high"] and b["low"] <= a["high"]:
        verdict = f"the intervals at {first.size} and {last.size} overlap, so no change with size shows yet"
    else:
        verdict = f"the effect is {direction}, beyond the intervals"     # more negative: more spread
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
                          f"<p>{html.escape(size_sentence(found))}</p>")


def write(report_dir: Path) -> Path:
    """Rebuild <report_dir>/index.html from whatever report/<profile>/results exist."""
    return site.write_page(Path(report_dir) / "index.html", ladder_html(report_dir))
