"""Altair charts. They render as static SVG (vl-convert), so the report needs no network."""
from __future__ import annotations

import altair as alt
import pandas as pd

from lib import tasks as task_panel

alt.renderers.enable("svg")
alt.data_transformers.disable_max_rows()

TASK_NAMES = {t.id: t.name for t in task_panel.panel("all")}


def _named(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["task_name"] = frame["task"].map(lambda t: TASK_NAMES.get(t, t))
    return frame


def answer_distribution(dist: pd.DataFrame, task: str = "integer_1_100") -> alt.LayerChart:
    """Exact probability of every answer of one task (bars), with the uniform level (rule)."""
    frame = dist[dist["task"] == task].copy()
    frame["answer_order"] = range(len(frame))
    k = len(frame)
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("answer:N", sort=alt.SortField("answer_order"), title="answer",
                axis=alt.Axis(labelAngle=0, values=[a for i, a in enumerate(frame["answer"]) if i % max(1, k // 20) == 0])),
        y=alt.Y("p_exact:Q", title="exact probability (renormalized over A)"),
        tooltip=["answer", alt.Tooltip("p_exact:Q", format=".4f")])
    uniform = alt.Chart(pd.DataFrame({"u": [1 / k]})).mark_rule(color="black", strokeDash=[4, 3]).encode(y="u:Q")
    return (bars + uniform).properties(width=720, height=220, title=f"{TASK_NAMES.get(task, task)}: "
                                       "exact answer distribution at T=1 (dashed: uniform)")


def tv_by_task(wide: pd.DataFrame, n_samples: int = 50) -> alt.LayerChart:
    """Per task: exact TV (filled dot), sampled TV with 95% CI (hollow dot, bar), floor (tick).

    ``wide`` has columns task, exact_tv, sampled_tv, sampled_tv_ci_low, sampled_tv_ci_high, sampled_tv_floor.
    """
    frame = _named(wide)
    order = list(frame.sort_values("exact_tv")["task_name"])
    y = alt.Y("task_name:N", sort=order, title=None)
    x_scale = alt.Scale(domain=[0, 1])
    exact = alt.Chart(frame).mark_point(filled=True, size=90, color="#c0392b").encode(
        x=alt.X("exact_tv:Q", scale=x_scale, title="total variation from uniform (0 = perfectly spread)"),
        y=y, tooltip=["task_name", alt.Tooltip("exact_tv:Q", format=".3f")])
    ci = alt.Chart(frame).mark_rule(color="#2c7fb8").encode(
        x="sampled_tv_ci_low:Q", x2="sampled_tv_ci_high:Q", y=y)
    sampled = alt.Chart(frame).mark_point(size=70, color="#2c7fb8").encode(
        x="sampled_tv:Q", y=y, tooltip=["task_name", alt.Tooltip("sampled_tv:Q", format=".3f"),
                                        alt.Tooltip("sampled_tv_floor:Q", format=".3f")])
    floor = alt.Chart(frame).mark_tick(color="gray", thickness=2, size=14).encode(x="sampled_tv_floor:Q", y=y)
    return (ci + exact + sampled + floor).properties(
        width=560, height=28 * len(frame),
        title=f"Red: exact TV · blue: sampled TV ({n_samples} samples, 95% CI) · gray tick: floor of a uniform sampler")


def exact_vs_parsed(dist: pd.DataFrame, tasks: list[str], top: int = 8) -> alt.FacetChart:
    """Side by side, per task: the top answers' exact share vs their share among parsed samples."""
    frames = []
    for task in tasks:
        frame = dist[dist["task"] == task]
        if frame.empty or "p_parsed" not in frame:
            continue
        score = frame[["p_exact", "p_parsed"]].max(axis=1)
        frames.append(frame.loc[score.sort_values(ascending=False).index[:top]])
    if not frames:
        raise ValueError("no task with both exact and parsed distributions")
    long = _named(pd.concat(frames)).melt(id_vars=["task", "task_name", "answer"],
                                          value_vars=["p_exact", "p_parsed"], var_name="source", value_name="share")
    long["source"] = long["source"].map({"p_exact": "exact (bare replies)", "p_parsed": "parsed samples"})
    return alt.Chart(long).mark_bar().encode(
        x=alt.X("answer:N", sort="-y", title=None, axis=alt.Axis(labelAngle=-40)),
        xOffset="source:N", y=alt.Y("share:Q", title="share among answers in A"),
        color=alt.Color("source:N", legend=alt.Legend(orient="top", title=None)),
        tooltip=["answer", "source", alt.Tooltip("share:Q", format=".3f")],
    ).properties(width=210, height=160).facet(facet=alt.Facet("task_name:N", title=None), columns=3).resolve_scale(x="independent")
