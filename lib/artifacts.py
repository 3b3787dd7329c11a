"""Readers of what one notebook writes and another reads: one reader per artifact, so the layout of a
result table is decoded in one place. (Model outputs are not artifacts: later notebooks get them from
the one cache, through `lib.conditions`.)"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from lib import results


def _role(results_dir: Path, role: str) -> str:
    selection = results.read(results_dir, "04_selection")
    return selection.loc[selection["role"] == role, "recipe"].item()


def selected_recipe(results_dir: Path) -> str:
    """The recipe 04 selected (04_selection.csv, role 'selected'). FileNotFoundError before 04 has run."""
    return _role(results_dir, "selected")


def control_recipe(results_dir: Path) -> str:
    """The control recipe 04 trained beside it (role 'control')."""
    return _role(results_dir, "control")


def trained_runs(results_dir: Path) -> list[tuple[str, int]]:
    """(recipe, train_seed) of every adapter 04 trained (04_final.csv), in its order."""
    final = results.read(results_dir, "04_final")
    return [(str(r), int(s)) for r, s in final[["recipe", "train_seed"]].itertuples(index=False)]


def logit_correction(results_dir: Path) -> pd.DataFrame:
    """02's long table (02_logit_correction.csv); an empty table when 02 has not run."""
    try:
        return results.read(results_dir, "02_logit_correction")
    except FileNotFoundError:
        return results.tidy([])


def matched_temperatures(results_dir: Path, task: str) -> pd.DataFrame:
    """03's T* for one task, one row per measure (`exact_tv`, `effective_share`): the temperature (`value`),
    the target, the value there, whether it was reached, and a note (03_temperature_sweep.csv)."""
    sweep = results.read(results_dir, "03_temperature_sweep")
    rows = sweep[(sweep["task"] == task) & sweep["metric"].str.startswith("matched_temperature_")]
    if rows.empty:
        raise FileNotFoundError(f"03_temperature_sweep.csv has no matched temperature for {task!r}: run notebook 03 "
                                "after 04 (it matches vanilla's temperature to the trained model)")
    return rows.assign(measure=rows["metric"].str.removeprefix("matched_temperature_")).reset_index(drop=True)
