"""Logit correction (02): a per-answer sequence-level bias b(a) = −log p(a), fitted on one task so that
p(a)·exp(b(a)) is exactly uniform there, then applied wherever another task shares answers (the integer
tasks overlap; colors share none with integers, so it is undefined there)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from lib import metrics
from lib.distributions import ExactDistribution


def fit_logit_correction(dist: ExactDistribution) -> dict[str, float]:
    """b(a) = −log p(a), p renormalized over A: p(a)·exp(b(a)) is then exactly uniform on this task."""
    logp = np.asarray(dist.logp, dtype=float)
    bias = -(logp - logsumexp(logp))
    return dict(zip(dist.task.answers, bias.tolist()))


def apply_correction(logp: Sequence[float], answers: Sequence[str],
                     bias: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """(corrected log-probs, renormalized over the answers that have a bias; mask of those answers).

    The bias is a lookup table: an answer it was not fitted on has no correction, so the corrected
    distribution exists only on the overlap (empty when there is none).
    """
    defined = np.array([a in bias for a in answers], dtype=bool)
    if not defined.any():
        return np.empty(0), defined
    shifted = np.asarray(logp, dtype=float)[defined] + np.array([bias[a] for a in np.asarray(answers)[defined]])
    return shifted - logsumexp(shifted), defined


@dataclass(frozen=True)
class Transfer:
    """What the correction fitted on `fit_task` does to one task (TVs over A or over the overlap)."""
    task: str
    fit_task: str
    status: str                   # "fitted", "defined" (all answers), "partial", "undefined"
    k: int
    n_defined: int
    tv_vanilla: float             # exact TV over all of A
    tv_vanilla_defined: float     # vanilla, renormalized over the defined answers
    tv_corrected: float           # corrected, over the defined answers (nan when undefined)
    defined_mass: float           # vanilla probability (over A) on the defined answers


def transfer_correction(bias: Mapping[str, float], dist: ExactDistribution, fit_task: str) -> Transfer:
    corrected, defined = apply_correction(dist.logp, dist.task.answers, bias)
    n_defined, k = int(defined.sum()), dist.task.k
    p = dist.p
    if n_defined == 0:
        status = "undefined"
    else:
        status = "fitted" if dist.task.id == fit_task else "defined" if n_defined == k else "partial"
    nan = float("nan")
    return Transfer(
        task=dist.task.id, fit_task=fit_task, status=status, k=k, n_defined=n_defined,
        tv_vanilla=metrics.exact_tv(p),
        tv_vanilla_defined=metrics.exact_tv(p[defined]) if n_defined and p[defined].sum() > 0 else nan,
        tv_corrected=metrics.exact_tv(np.exp(corrected)) if n_defined else nan,
        defined_mass=float(p[defined].sum()))


def correction_transfers(exact: Mapping[str, ExactDistribution], fit_task: str) -> pd.DataFrame:
    """One row per task: fit on `fit_task`, apply everywhere (the fit task first)."""
    bias = fit_logit_correction(exact[fit_task])
    order = [fit_task] + [t for t in exact if t != fit_task]
    return pd.DataFrame([transfer_correction(bias, exact[t], fit_task).__dict__ for t in order])


def correction_rows(transfers: pd.DataFrame, temperature: float = 1.0) -> list[dict]:
    """Long-format rows (with a `status` column): vanilla TV over A and over the overlap, corrected TV."""
    rows = []
    for t in transfers.itertuples():
        base = dict(task=t.task, temperature=temperature, status=t.status, fit_task=t.fit_task)
        rows += [dict(base, condition="vanilla", metric="exact_tv", value=t.tv_vanilla, n=t.k),
                 dict(base, condition="vanilla", metric="exact_tv_defined", value=t.tv_vanilla_defined, n=t.n_defined),
                 dict(base, condition="logit_correction", metric="exact_tv_defined", value=t.tv_corrected, n=t.n_defined),
                 dict(base, condition="logit_correction", metric="defined_answers", value=t.n_defined, n=t.k),
                 dict(base, condition="logit_correction", metric="defined_mass", value=t.defined_mass, n=t.k)]
    return rows


def bias_table(exact: Mapping[str, ExactDistribution], fit_task: str) -> pd.DataFrame:
    dist = exact[fit_task]
    bias = fit_logit_correction(dist)
    return pd.DataFrame({"fit_task": fit_task, "answer": list(dist.task.answers), "p_exact": dist.p,
                         "bias": [bias[a] for a in dist.task.answers]})


def correction_condition_rows(correction: pd.DataFrame, task_ids: Sequence[str]) -> list[dict]:
    """02's long table → comparison rows: corrected TV over the overlap, or 'undefined'."""
    if correction.empty:
        return []
    frame = correction[(correction["condition"] == "logit_correction") & correction["task"].isin(task_ids)]
    defined = frame.set_index("task")
    rows = []
    for task_id in dict.fromkeys(frame["task"]):
        tv = defined[(defined["metric"] == "exact_tv_defined")].loc[task_id]
        n_defined = int(tv["n"]) if not pd.isna(tv["n"]) else 0
        k = int(defined[(defined["metric"] == "defined_answers")].loc[task_id]["n"])
        note = ("undefined: no answer in common with " + str(tv["fit_task"])) if tv["status"] == "undefined" else \
            f"over the {n_defined} of {k} answers it is defined on" if tv["status"] == "partial" else tv["status"]
        rows.append(dict(condition="logit_correction", label=f"logit correction (fit: {tv['fit_task']})",
                         task=task_id, metric="exact_tv", value=tv["value"], n=n_defined,
                         temperature=tv["temperature"], status=tv["status"], note=note))
    return rows

