"""Sentences for the notebooks and the report, computed from result tables (never typed by hand)."""
from __future__ import annotations

import pandas as pd

from lib import tasks as task_panel


def _name(task_id: str) -> str:
    try:
        return task_panel.get(task_id).name
    except ValueError:
        return task_id


def baseline_sentence(wide: pd.DataFrame, picks: pd.DataFrame) -> str:
    """One paragraph on how narrow the model is, from 01's wide table and picks table."""
    ordered = wide.sort_values("exact_tv")
    narrowest, widest = ordered.iloc[-1], ordered.iloc[0]
    top = picks[(picks["source"] == "exact")].sort_values(["task", "rank"])
    lead = top[top["rank"] == 1].set_index("task")
    above_floor = (wide["sampled_tv_ci_low"] > wide["sampled_tv_floor"]).sum()
    parts = [
        f"Mean exact TV over {len(wide)} tasks is {wide['exact_tv'].mean():.2f} "
        f"(0 = uniform); the narrowest task is {_name(narrowest['task'])} "
        f"(TV {narrowest['exact_tv']:.2f}, top answer {lead.loc[narrowest['task'], 'answer']!s} with "
        f"{lead.loc[narrowest['task'], 'share']:.0%} of the bare-answer mass), the widest "
        f"{_name(widest['task'])} (TV {widest['exact_tv']:.2f}).",
        f"Bare valid replies carry a median raw mass of {wide['raw_mass'].median():.2%} "
        f"(range {wide['raw_mass'].min():.2%}–{wide['raw_mass'].max():.2%}), so the exact distribution "
        "describes the model only when it answers in the asked format.",
        f"With the seed's protocol, the sampled TV's 95% CI lies above the uniform-sampler floor on "
        f"{above_floor} of {len(wide)} tasks; {wide['sampled_invalid_rate'].mean():.0%} of samples "
        "parse to no valid answer on average.",
    ]
    if "exact_vs_parsed_tv" in wide:
        gap = wide.dropna(subset=["exact_vs_parsed_tv"])
        if len(gap):
            worst = gap.sort_values("exact_vs_parsed_tv").iloc[-1]
            parts.append(f"Exact and parsed distributions differ by a median TV of "
                         f"{gap['exact_vs_parsed_tv'].median():.2f}, most on {_name(worst['task'])} "
                         f"({worst['exact_vs_parsed_tv']:.2f}).")
    return " ".join(parts)
