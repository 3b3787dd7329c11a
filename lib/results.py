"""Tidy result tables under runs/<profile>/results/, written atomically so an interrupted run
never leaves a half-written table for a later notebook to read."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from lib.vocabulary import COLUMNS   # the long format every notebook writes: one row per (condition, task, metric)


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write(results_dir: Path, name: str, table: pd.DataFrame) -> Path:
    """Write a table as <results_dir>/<name>.csv (atomically) and return its path."""
    path = Path(results_dir) / f"{name}.csv"
    _atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return path


def read(results_dir: Path, name: str) -> pd.DataFrame:
    path = Path(results_dir) / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the notebook that writes {name!r} first")
    return pd.read_csv(path)


def write_json(path: Path, data) -> Path:
    _atomic_write(Path(path), lambda tmp: Path(tmp).write_text(json.dumps(data, ensure_ascii=False, indent=1)))
    return Path(path)


def tidy(rows: list[dict]) -> pd.DataFrame:
    """Rows with any subset of COLUMNS (missing ones become NaN), in COLUMNS order."""
    table = pd.DataFrame(rows)
    for column in COLUMNS:
        if column not in table:
            table[column] = float("nan")
    extra = [c for c in table.columns if c not in COLUMNS]
    return table[COLUMNS + extra]


def pivot(table: pd.DataFrame, condition: str | None = None) -> pd.DataFrame:
    """Long → wide: one row per task, one column per metric, plus <metric>_ci_low/_ci_high where present."""
    frame = table if condition is None else table[table["condition"] == condition]
    wide = frame.pivot_table(index="task", columns="metric", values="value", aggfunc="first", sort=False)
    for bound in ("ci_low", "ci_high"):
        extra = frame.dropna(subset=[bound]).pivot_table(index="task", columns="metric", values=bound,
                                                          aggfunc="first", sort=False)
        wide = wide.join(extra.add_suffix(f"_{bound}"))
    order = list(dict.fromkeys(frame["task"]))
    return wide.reindex(order).reset_index().rename_axis(columns=None)
