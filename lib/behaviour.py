"""The behavioural view of spread, as a user meets it: what n free-form replies contain, which off-list answers
the lexicons let through, and the readable tables that set it beside the exact lens."""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Mapping

import pandas as pd

from lib import tables

if TYPE_CHECKING:   # the report's pages use this module without loading torch
    from lib.distributions import Samples

# Readable columns: the exact lens ("when it answers bare") and the behavioural measure (any reply).
EXACT_COLUMNS = {"exact_tv": "exact TV", "raw_mass": "raw mass", "exact_effective_share": "exact eff. share",
                 "exact_entropy": "exact entropy"}
BEHAVIOUR_COLUMNS = {"behav_valid_rate": "valid", "behav_effective_share": "eff. share",
                     "behav_effective": "eff. number", "behav_top_share": "top answer", "behav_tv": "TV",
                     "behav_tv_p": "p vs uniform"}
PROTOCOL_COLUMNS = {"sampled_valid_rate": "valid", "sampled_tv": "TV", "sampled_tv_floor": "uniform's TV",
                    "sampled_tv_p": "p vs uniform", "sampled_effective_share": "eff. share"}
LIST_COLUMNS = {"exact_tv": "exact TV (A)", "core_exact_tv": "exact TV (core)", "core_mass": "core mass",
                "exact_effective_share": "exact eff. share (A)", "core_exact_effective_share": "exact eff. share (core)",
                "behav_effective_share": "eff. share (A)", "behav_core_effective_share": "eff. share (core)",
                "behav_core_share": "core share"}


def lexicon_examples(samples: Mapping[str, "Samples"], n: int = 3) -> pd.DataFrame:
    """Per open task with a lexicon: how many off-list answers the lexicon accepted and rejected, with the
    most frequent of each."""
    rows = []
    for task_id, smp in samples.items():
        task = smp.task
        if task.parse_unchecked is None:
            continue
        curated = set(task.answers)
        unchecked = [task.parse_unchecked(r) for r in smp.replies]
        checked = smp.answers
        accepted = Counter(a for a in checked if a is not None and a not in curated)
        rejected = Counter(u for u, a in zip(unchecked, checked) if u is not None and a is None)
        rows.append(dict(task=task_id, accepted=sum(accepted.values()), rejected=sum(rejected.values()),
                         accepted_examples=", ".join(a for a, _ in accepted.most_common(n)),
                         rejected_examples=", ".join(a for a, _ in rejected.most_common(n))))
    return pd.DataFrame(rows, columns=["task", "accepted", "rejected", "accepted_examples", "rejected_examples"])


def readable(long: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """One row per task, the given metrics as "value [CI]" cells (shares as percentages, p-values as such)
    with readable headers and task names."""
    shares = [m for m in columns if m.endswith(("valid_rate", "top_share", "raw_mass", "core_share", "core_mass"))]
    return tables.metric_cells(long, columns, percent=shares, p_values=[m for m in columns if m.endswith("_p")])


def tasks_with_core(long: pd.DataFrame) -> list[str]:
    """The tasks of a long table that have core-list rows."""
    return list(dict.fromkeys(long.loc[long["metric"].str.startswith("core_"), "task"]))
