"""The ladder page's arms table: per rung, every arm 04 trained (the selected recipe and its controls) with its
effect on the trained task and what the selected recipe did to the untrained tasks beyond it (05's comparisons),
and one computed sentence per rung on whether a shared diversity knob shows up."""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from lib import artifacts, config, tasks
from lib.recipes import ARM_ROLES
from lib.site_sections import number, read_table


def page_href(report_dir: Path, profile: str, notebook: str) -> str:
    """The link to a profile's page of `notebook` ("05"), or to its index where that page is not published."""
    page = f"{config.NOTEBOOKS[notebook]}.html"
    return f"{profile}/{page if (Path(report_dir) / profile / page).exists() else 'index.html'}"


def arms_rows(results_dir: Path) -> pd.DataFrame:
    """One row per arm (selected first, then ARM_ROLES order; ablations left out): its trained-task exact TV
    (vanilla → mean over seeds [min, max]) and raw mass (04_arms.csv), and the untrained tasks on which the
    selected recipe is more / less spread than this arm (`transfer.verdict` on 05_differences.csv, behavioural
    headline, Holm; for the selected row, than vanilla). Task names as tables show them."""
    from lib import transfer
    arms, differences = read_table(results_dir, "04_arms"), read_table(results_dir, "05_differences")
    if arms is None or differences is None:
        raise LookupError("no " + " or ".join(n for n, t in (("04_arms.csv", arms), ("05_differences.csv", differences))
                                              if t is None))
    selected = artifacts.selected_recipe(results_dir)
    names = lambda found: [tasks.display_name(t) for t in found]  # noqa: E731
    rows = []
    for role in ("selected", *ARM_ROLES):
        for arm in arms[arms["role"] == role].itertuples():
            baseline = "vanilla" if role == "selected" else arm.recipe
            compared = differences[differences["comparison"] == f"{selected} − {baseline}"]
            found = transfer.verdict(compared, tasks.TRAINED_TASK) if len(compared) else None
            rows.append(dict(role=role, recipe=arm.recipe, seeds=int(arm.seeds), start=arm.start_exact_tv,
                             exact_tv=arm.exact_tv, low=arm.exact_tv_min, high=arm.exact_tv_max, raw_mass=arm.raw_mass,
                             baseline=baseline,
                             more=names(found.improved) if found is not None else None,
                             less=names(found.worse) if found is not None else None))
    return pd.DataFrame(rows)


def knob_sentence(model: str, rows: pd.DataFrame) -> str:
    """Whether a shared diversity knob shows up on one rung: the untrained tasks that spread beyond vanilla
    and beyond the placebo (the arm that isolates "any update of this size"), read off `arms_rows`."""
    if rows.empty or not (rows["role"] == "selected").any():
        return f"{model}: no selected recipe to read."
    own = rows[rows["role"] == "selected"].iloc[0]
    placebo = rows[rows["role"] == "placebo"]
    beyond_vanilla = set(own["more"] or [])
    beyond_placebo = set(placebo.iloc[0]["more"] or []) if len(placebo) else None
    text = (f"{model}: the selected recipe ({own['recipe']}, {own['seeds']} seeds) left the trained task at exact TV "
            f"{own['exact_tv']:.3f} (vanilla {own['start']:.3f}); untrained tasks more spread than vanilla: "
            f"{', '.join(sorted(beyond_vanilla)) or 'none'}")
    if beyond_placebo is None:
        return text + "; no placebo arm was trained, so a shared knob cannot be told from any update of this size."
    both = beyond_vanilla & beyond_placebo
    text += f"; beyond the placebo: {', '.join(sorted(beyond_placebo)) or 'none'}. "
    if both:
        return text + f"A shared diversity knob shows on {', '.join(sorted(both))} (more spread than both)."
    return text + "No task is more spread than both vanilla and the placebo: no shared diversity knob shows here."


def arms_html(report_dir: Path, ladder: tuple) -> str:
    """The arms section of the ladder page: one table row per rung and arm, then a sentence per rung."""
    rows, sentences = [], []
    for rung in ladder:
        results_dir = Path(report_dir) / rung.profile / "results"
        if not results_dir.is_dir():
            continue
        href = html.escape(page_href(report_dir, rung.profile, "05"))
        try:
            found = arms_rows(results_dir)
        except Exception as err:  # a missing or old table mutes the rung, never the page
            note = str(err) if type(err) is LookupError else f"{type(err).__name__}: {err}"
            rows.append(f"<tr><td>{html.escape(rung.model)}</td><td colspan=6 class=muted>— ({html.escape(note)})"
                        "</td></tr>")
            continue
        for arm in found.itertuples():
            listed = lambda names: "—" if names is None else html.escape(", ".join(names) or "none")  # noqa: E731
            cells = [f"{html.escape(arm.role)} <span class=muted>({html.escape(arm.recipe)})</span>", str(arm.seeds),
                     f"{number(arm.start)} → {number(arm.exact_tv)} [{number(arm.low)}, {number(arm.high)}]",
                     number(arm.raw_mass, ".1%"), listed(arm.more), listed(arm.less)]
            rows.append(f"<tr><td>{html.escape(rung.model)}</td>"
                        + "".join(f'<td><a href="{href}">{c}</a></td>' for c in cells) + "</tr>")
        sentences.append(knob_sentence(rung.model, found))
    if not rows:
        return ""
    header = "".join(f"<th>{html.escape(h)}</th>" for h in (
        "model", "arm (recipe)", "seeds", "trained task: exact TV, vanilla → arm, mean [min, max] over seeds",
        "raw valid mass", "untrained tasks where the selected recipe is more spread than this arm (selected row: "
        "than vanilla; behavioural, Holm)", "… where it is narrower"))
    return ("<h2>The arms, per rung: did the others spread beyond each control?</h2>"
            f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            + "".join(f"<p>{html.escape(s)}</p>" for s in sentences))
