"""Tables a person can read: an estimate and its interval in one cell ("0.54 [0.46, 0.63]"), task names
instead of ids, and headers in words. Notebooks show these; the CSVs keep the long numeric format."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import pandas as pd

from lib.tasks import display_name


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _is_inf(x) -> bool:
    try:
        return float(x) == math.inf
    except (TypeError, ValueError):
        return False


def with_ci(value, low=None, high=None, digits: int = 2, percent: bool = False) -> str:
    """"0.54 [0.46, 0.63]"; the bare value when the interval is missing; "–" when the value is.

    ``percent`` writes shares as "54% [46%, 63%]" (``digits`` then counts decimals of the percentage).
    An infinite upper bound prints as "∞" (an effective number the data do not bound from above)."""
    def fmt(x) -> str:
        if float(x) == math.inf:
            return "∞"
        return f"{float(x) * 100:.{digits}f}%" if percent else f"{float(x):.{digits}f}"
    if not _finite(value):
        return "–"
    text = fmt(value)
    if _finite(low) and (_finite(high) or _is_inf(high)):
        text += f" [{fmt(low)}, {fmt(high)}]"
    return text


def ci_column(frame: pd.DataFrame, digits: int = 2, percent: bool = False, value: str = "value",
              low: str = "ci_low", high: str = "ci_high") -> pd.Series:
    """One formatted "estimate [low, high]" cell per row of a long table."""
    lows = frame[low] if low in frame else [None] * len(frame)
    highs = frame[high] if high in frame else [None] * len(frame)
    return pd.Series([with_ci(v, lo, hi, digits, percent) for v, lo, hi in zip(frame[value], lows, highs)],
                     index=frame.index)


def condition_label(condition: str, train_seed=None) -> str:
    """A condition as tables and sentences name it: "<recipe> seed <k>" for a trained one, the name alone else."""
    return condition if train_seed is None or train_seed != train_seed else f"{condition} seed {int(train_seed)}"


def p_value(value) -> str:
    """A p-value for a table: three decimals, "< 0.001" below that, "–" when missing."""
    if not _finite(value):
        return "–"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def metric_cells(long: pd.DataFrame, metrics: Mapping[str, str], index: Sequence[str] = ("task",),
                 digits: int = 2, percent: Sequence[str] = (), p_values: Sequence[str] = ()) -> pd.DataFrame:
    """Long rows → one row per ``index``, one readable column per metric: ``{metric: header}``; each
    cell is "value [ci_low, ci_high]" (a percentage for metrics in ``percent``, a p-value for those in
    ``p_values``). Columns follow ``metrics``' order; rows keep first appearance."""
    index = list(index)
    frame = long[long["metric"].isin(list(metrics))].copy()
    frame["cell"] = [p_value(v) if m in p_values else with_ci(v, lo, hi, 1, True) if m in percent
                     else with_ci(v, lo, hi, digits) for v, lo, hi, m in
                     zip(frame["value"], frame.get("ci_low", [None] * len(frame)),
                         frame.get("ci_high", [None] * len(frame)), frame["metric"])]
    wide = frame.pivot_table(index=index, columns="metric", values="cell", aggfunc="first", sort=False)
    wide = wide.reindex(columns=[m for m in metrics if m in wide.columns]).rename(columns=dict(metrics))
    return readable(wide.reset_index().rename_axis(columns=None))


def readable(frame: pd.DataFrame, headers: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Task ids → task names (column ``task``), and headers renamed by ``headers`` (``_`` → space for the rest
    of the snake_case headers)."""
    out = frame.copy()
    if "task" in out:
        out["task"] = out["task"].map(display_name)
    rename = {c: (headers or {}).get(c, c.replace("_", " ") if isinstance(c, str) else c) for c in out.columns}
    return out.rename(columns=rename)
