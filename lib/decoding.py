"""Decoding-time baselines (03): temperature (exact TV and the format tax across T, the fraction of the
training gap a temperature closes) and sampler filters (min-p, top-p: transformers' own warpers, through
SamplingParams)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from lib import metrics
from lib.conditions import Condition
from lib.distributions import ExactDistribution, Samples, sample_panel
from lib.sampling import SamplingParams
from lib.tasks import Task

def trained_mean_tv(trained: Mapping[int, Mapping[str, ExactDistribution]]) -> dict[str, float]:
    """Per task, the trained model's exact TV averaged over seeds ({} without adapters)."""
    by_task: dict[str, list[float]] = {}
    for exact in trained.values():
        for task_id, dist in exact.items():
            by_task.setdefault(task_id, []).append(metrics.exact_tv(dist.p))
    return {t: float(np.mean(v)) for t, v in by_task.items()}


def gap_closed(tv_vanilla_t1, tv_vanilla_t, tv_trained_t1):
    """(TV_vanilla(T=1) − TV_vanilla(T)) / (TV_vanilla(T=1) − TV_trained(T=1)).

    1 means temperature T matches what training achieved, 0 means no change, > 1 beats it and
    < 0 makes it worse. nan where training did not lower the TV (no gap to close).
    """
    v1, vt, tr = (np.asarray(x, dtype=float) for x in (tv_vanilla_t1, tv_vanilla_t, tv_trained_t1))
    gap = v1 - tr
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(gap > 0, (v1 - vt) / np.where(gap > 0, gap, 1.0), np.nan)
    return float(value) if value.ndim == 0 else value


def gap_rows(sweep: Mapping[float, Mapping[str, ExactDistribution]], trained_tv: Mapping[str, float]) -> list[dict]:
    """gap_closed per (task, T) against the trained model's mean exact TV at T=1."""
    reference = sweep[1.0]
    rows = []
    for temperature, exact in sweep.items():
        for task_id, dist in exact.items():
            if task_id in trained_tv:
                value = gap_closed(metrics.exact_tv(reference[task_id].p), metrics.exact_tv(dist.p),
                                   trained_tv[task_id])
                rows.append(dict(condition="vanilla", task=task_id, metric="gap_closed", value=value,
                                 temperature=temperature, n=dist.task.k))
    return rows


def gap_table(sweep: Mapping[float, Mapping[str, ExactDistribution]], trained_tv: Mapping[str, float]) -> pd.DataFrame:
    """One row per task: vanilla and trained exact TV at T=1, then the fraction of the gap closed at
    each swept T (nan where training did not lower the TV: there is no gap to close)."""
    rows = []
    for task_id in trained_tv:
        row = {"task": task_id, "vanilla TV (T=1)": metrics.exact_tv(sweep[1.0][task_id].p),
               "trained TV (T=1)": trained_tv[task_id]}
        for gap in gap_rows({t: {task_id: sweep[t][task_id]} for t in sweep}, {task_id: trained_tv[task_id]}):
            row[f"closed at T={gap['temperature']:g}"] = gap["value"]
        rows.append(row)
    return pd.DataFrame(rows)


def best_temperature(sweep: Mapping[float, Mapping[str, ExactDistribution]]) -> dict[str, float]:
    """Per task, the swept T with the lowest exact TV (chosen post hoc, so an optimistic baseline)."""
    tasks_ = next(iter(sweep.values())).keys()
    return {t: min(sweep, key=lambda temp: metrics.exact_tv(sweep[temp][t].p)) for t in tasks_}


# -- sampler filters -------------------------------------------------------------------------


def min_p_filter(logits, p_base: float):
    """Keep the tokens whose probability is at least p_base × the top token's; others → −inf.

    The same rule as transformers' MinPLogitsWarper (sampling uses that, through SamplingParams.min_p);
    this copy exists to test the equivalence. Works on a torch tensor or a numpy array (last axis).
    """
    if not 0 <= p_base <= 1:
        raise ValueError(f"p_base must be in [0, 1], got {p_base}")
    if isinstance(logits, torch.Tensor):
        probs = torch.softmax(logits, dim=-1)
        drop = probs < p_base * probs.amax(dim=-1, keepdim=True)
        return logits.masked_fill(drop, float("-inf"))
    arr = np.asarray(logits, dtype=float)
    shifted = np.exp(arr - arr.max(axis=-1, keepdims=True))
    probs = shifted / shifted.sum(axis=-1, keepdims=True)
    return np.where(probs < p_base * probs.max(axis=-1, keepdims=True), -np.inf, arr)


@dataclass(frozen=True)
class Method:
    """A sampled condition of the comparison: a name (the table's `condition`), a label and its sampler."""
    condition: str
    label: str
    params: SamplingParams


def sampling_methods(min_p: Sequence[float], min_p_temperatures: Sequence[float], top_p: float,
                     top_p_temperature: float, max_new_tokens: int) -> list[Method]:
    methods = [Method(f"min_p_{p:g}", f"min-p {p:g}, T={t:g}",
                      SamplingParams(temperature=t, min_p=p, max_new_tokens=max_new_tokens))
               for p in min_p for t in min_p_temperatures]
    methods.append(Method(f"top_p_{top_p:g}", f"top-p {top_p:g}, T={top_p_temperature:g}",
                          SamplingParams(temperature=top_p_temperature, top_p=top_p, max_new_tokens=max_new_tokens)))
    return methods


def sample_methods(condition: Condition, tasks: Sequence[Task], methods: Sequence[Method], n: int,
                   seed: int) -> dict[Method, dict[str, Samples]]:
    """n replies per task under each method's sampler."""
    return {method: sample_panel(condition, tasks, n, method.params, seed) for method in methods}


def temperature_samples(condition: Condition, tasks: Sequence[Task], temperatures: Sequence[float], n: int,
                        max_new_tokens: int, seed: int) -> dict[float, dict[str, Samples]]:
    """{T: {task: n plain replies at T}}; where a longer draw with the same settings is stored (01's), its head."""
    return {float(t): sample_panel(condition, tasks, n, SamplingParams(temperature=t, max_new_tokens=max_new_tokens),
                                   seed, reuse_stored=True) for t in temperatures}
