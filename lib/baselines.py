"""The baselines a trained model has to beat (notebooks 02 and 03).

- **logit correction**: a per-answer sequence-level bias b(a) = −log p(a), fitted on one task so
  that p(a)·exp(b(a)) is exactly uniform there, then applied wherever another task shares answers.
- **temperature**: exact TV and raw valid mass for vanilla across T, the unparseable-sample rate at
  each T (the tax), and the fraction of the vanilla→trained gap a temperature closes.
- **inference-time methods**: min-p and top-p sampling (transformers' own warpers, via
  SamplingParams) and verbalized sampling (the model states a distribution; we draw from it).

Everything here is reused by the comparison table of 03 (03_comparison.csv).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.special import logsumexp

from lib import metrics
from lib.distributions import (ExactDistribution, Samples, exact_distribution, exact_distributions, exact_panel,
                               exact_rows, sample_task)
from lib.sampling import Backend, SamplingParams, prompt_seed
from lib.tasks import Task

# ---------------------------------------------------------------------------------------------
# Results of earlier notebooks ("no notebook recomputes what an earlier one stored")
# ---------------------------------------------------------------------------------------------


def earlier_exact(results_dir: Path, task_list: Sequence[Task], temperature: float = 1.0,
                  condition: str = "vanilla") -> dict[str, ExactDistribution]:
    """Exact distributions stored by 01 (01_distributions.csv) at `temperature`, for the tasks it has."""
    path = Path(results_dir) / "01_distributions.csv"
    if not path.exists():
        return {}
    table = pd.read_csv(path, usecols=["condition", "task", "answer", "logp", "temperature"],
                        dtype={"answer": str, "task": str, "condition": str}, keep_default_na=False)
    table = table[(table["condition"] == condition) & np.isclose(table["temperature"].astype(float), temperature)]
    found = {}
    for task in task_list:
        rows = table[table["task"] == task.id]
        if tuple(rows["answer"]) == task.answers:      # same answer set, same order: safe to reuse
            found[task.id] = ExactDistribution(task, float(temperature), rows["logp"].astype(float).to_numpy())
    return found


def earlier_samples(results_dir: Path, task_list: Sequence[Task], n: int) -> dict[str, Samples]:
    """The first n replies per task stored by 01 (01_samples.csv), for tasks with at least n."""
    path = Path(results_dir) / "01_samples.csv"
    if not path.exists():
        return {}
    table = pd.read_csv(path, dtype={"task": str, "reply": str}, keep_default_na=False)
    found = {}
    for task in task_list:
        replies = list(table[table["task"] == task.id].sort_values("index")["reply"])
        if len(replies) >= n:
            found[task.id] = Samples(task, replies[:n])
    return found


def same_sampling(earlier, temperature: float, max_new_tokens: int, seed: int) -> bool:
    """Whether 01's samples (its config `earlier`) were drawn the way this notebook would draw them."""
    return (math.isclose(earlier.temperature, temperature) and earlier.top_p == 1.0
            and earlier.max_new_tokens == max_new_tokens and earlier.seed == seed)


def stored_or_scored(cfg, task_list: Sequence[Task], temperature: float = 1.0) -> tuple[dict[str, ExactDistribution], list[str]]:
    """Exact distributions at T: 01's where stored, the rest scored here (loading the model only then).

    Returns ({task: distribution} in task_list order, ids of the tasks scored here).
    """
    exact = earlier_exact(cfg.results_dir, task_list, temperature)
    missing = [t for t in task_list if t.id not in exact]
    if missing:
        from lib import conditions
        exact.update(exact_panel(conditions.backend_for(cfg), missing, temperature))
    return {t.id: exact[t.id] for t in task_list}, [t.id for t in missing]


def earlier_correction(cfg, exact_t1: Mapping[str, ExactDistribution]) -> pd.DataFrame:
    """02's long table (02_logit_correction.csv); if 02 has not run, the same rows computed from the
    T=1 distributions at hand (when they include 02's fit task); else an empty table."""
    from lib import config, results
    path = Path(cfg.results_dir) / "02_logit_correction.csv"
    if path.exists():
        return pd.read_csv(path)
    fit_task = config.load(cfg.profile, "02").fit_task
    if fit_task not in exact_t1:
        return results.tidy([])
    return results.tidy(correction_rows(correction_transfers(exact_t1, fit_task)))


# ---------------------------------------------------------------------------------------------
# Logit correction (02)
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Temperature (03)
# ---------------------------------------------------------------------------------------------


def exact_distributions_sweep(backend, task: Task, temperatures: Sequence[float]) -> dict[float, ExactDistribution]:
    """{T: exact distribution} for one task, all temperatures from one scoring pass."""
    return exact_distributions(backend, task, temperatures)


def exact_sweep(backend: Backend | None, task_list: Sequence[Task], temperatures: Sequence[float],
                stored: Mapping[float, Mapping[str, ExactDistribution]] | None = None,
                progress: bool = True) -> dict[float, dict[str, ExactDistribution]]:
    """{T: {task: exact distribution}}; stored ones are reused, the rest scored (one pass per task
    for all the temperatures it still needs)."""
    from tqdm import tqdm
    stored = stored or {}
    sweep: dict[float, dict[str, ExactDistribution]] = {float(t): dict(stored.get(t, {})) for t in temperatures}
    for task in tqdm(task_list, desc=f"exact scoring at {len(temperatures)} temperatures", disable=not progress):
        needed = [t for t in sweep if task.id not in sweep[t]]
        if needed:
            for temperature, dist in exact_distributions_sweep(backend, task, needed).items():
                sweep[temperature][task.id] = dist
    return {t: {task.id: by_task[task.id] for task in task_list} for t, by_task in sweep.items()}


def sweep_rows(sweep: Mapping[float, Mapping[str, ExactDistribution]], condition: str = "vanilla",
               seed: int | None = None) -> list[dict]:
    """exact_tv, raw_mass and exact_entropy per (task, T)."""
    return [row for exact in sweep.values() for row in exact_rows(exact, condition, seed)]


def sample_sweep(backend: Backend, task_list: Sequence[Task], temperatures: Sequence[float], n: int,
                 max_new_tokens: int, seed: int, cache_dir: Path | None = None, model_id: str = "",
                 stored: Mapping[float, Mapping[str, Samples]] | None = None) -> dict[float, dict[str, Samples]]:
    """{T: {task: n plain samples at T}}; stored ones (01's at T=1) are reused."""
    out = {}
    for temperature in temperatures:
        have = (stored or {}).get(temperature, {})
        params = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens)
        out[float(temperature)] = {
            t.id: have[t.id] if t.id in have else sample_task(backend, t, n, params, seed, cache_dir, model_id,
                                                              progress=False)
            for t in task_list}
    return out


def trained_exact(cfg, adapters: Mapping[int, Path], task_list: Sequence[Task],
                  temperature: float = 1.0) -> dict[int, dict[str, ExactDistribution]]:
    """{seed: {task: exact distribution}} with each seed's adapter on the profile's model and backend."""
    from lib import conditions
    out = {}
    for seed, path in adapters.items():
        scorer = conditions.backend_for(cfg, path)
        out[seed] = exact_panel(scorer, task_list, temperature, progress=False)
        del scorer
    return out


def trained_rows(trained: Mapping[int, Mapping[str, ExactDistribution]]) -> list[dict]:
    """Per-seed exact rows (condition 'trained') plus their mean over seeds (seed empty)."""
    if not trained:
        return []
    per_seed = [row for seed, exact in trained.items()
                for row in sweep_rows({1.0: exact}, "trained", seed)]
    frame = pd.DataFrame(per_seed)
    mean = frame.groupby(["task", "metric", "temperature"], sort=False)["value"].agg(["mean", "min", "max", "count"])
    return per_seed + [dict(condition="trained", task=task, metric=metric, temperature=temp, value=r["mean"],
                            seeds=int(r["count"]), seed_min=r["min"], seed_max=r["max"])
                       for (task, metric, temp), r in mean.iterrows()]


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


# ---------------------------------------------------------------------------------------------
# Inference-time methods (03)
# ---------------------------------------------------------------------------------------------


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


def sample_methods(backend: Backend, task_list: Sequence[Task], methods: Sequence[Method], n: int, seed: int,
                   cache_dir: Path | None = None, model_id: str = "") -> dict[Method, dict[str, Samples]]:
    from tqdm import tqdm
    out = {}
    for method in tqdm(methods, desc=f"methods, {n} samples per task", unit="method"):
        out[method] = {t.id: sample_task(backend, t, n, method.params, seed, cache_dir, model_id, progress=False)
                       for t in task_list}
    return out


# -- verbalized sampling ----------------------------------------------------------------------

_PLURALS = {"word": "English words", "emoji": "emojis"}
_LIST_MARKER = r"(?:[-*•]\s*|\d{1,2}[.)]\s+)?"
_STATED_LINE = re.compile(
    rf"^\s*{_LIST_MARKER}(?P<answer>.+?)\s*(?:[:=,\-–—]\s*\(?|\()\s*"
    r"(?P<prob>\d+(?:\.\d+)?|\.\d+)(?:\s*/\s*(?P<denominator>\d+))?\s*(?P<pct>%)?\s*\)?\s*[.,;]?\s*$")


def verbalized_prompt(task: Task) -> str:
    """Ask for five answers with a probability each, one per line as '<answer>: <probability>'."""
    if task.kind == "integer":
        things, noun = f"integers between {task.answers[0]} and {task.answers[-1]}", "integer"
    else:
        things, noun = _PLURALS.get(task.id, f"{task.name}s"), task.name.split()[-1]
    return (f"List five different random {things} with a probability for each, one per line as "
            f"'<{noun}>: <probability>'.")


def parse_verbalized(reply: str, task: Task) -> dict[str, float] | None:
    """The distribution a reply states: {answer: probability}, renormalized to sum to 1.

    A line counts when it reads '<answer>: <number>' (also '-', '=', ',', '(0.2)', '20%', list
    markers, fractions '1/4') and the answer is a bare answer (the task's strict parser: "**Teal**" is teal, "I can't
    pick colors" is nothing); repeated answers add up. None when no
    line counts or the stated numbers sum to 0 (a parse failure).
    """
    stated: dict[str, float] = {}
    for line in str(reply).splitlines():
        match = _STATED_LINE.match(line)
        if not match:
            continue
        answer = task.parse_strict(match["answer"])
        if answer is None:
            continue
        weight = float(match["prob"]) / (100 if match["pct"] else 1)
        if match["denominator"]:
            weight = weight / float(match["denominator"]) if float(match["denominator"]) else 0.0
        stated[answer] = stated.get(answer, 0.0) + weight
    total = sum(stated.values())
    if not stated or not total > 0 or not math.isfinite(total):
        return None
    return {a: w / total for a, w in stated.items()}


def draw_verbalized(stated: Mapping[str, float], rng: np.random.Generator) -> str:
    answers = list(stated)
    return answers[rng.choice(len(answers), p=np.array([stated[a] for a in answers]))]


@dataclass
class VerbalizedSamples(Samples):
    """Replies to the verbalized prompt; `answers` are one draw per reply from the stated distribution
    (seeded), None where the reply states no usable distribution."""
    seed: int = 0

    @property
    def stated(self) -> list[dict[str, float] | None]:
        return [parse_verbalized(r, self.task) for r in self.replies]

    @property
    def answers(self) -> list[str | None]:
        rng = np.random.default_rng(prompt_seed(self.seed, self.task.id))
        return [draw_verbalized(s, rng) if s else None for s in self.stated]

    @property
    def parse_failure_rate(self) -> float:
        stated = self.stated
        return sum(s is None for s in stated) / len(stated) if stated else float("nan")

    def head(self, n: int) -> "VerbalizedSamples":
        return VerbalizedSamples(self.task, self.replies[:n], self.seed)


def verbalized_samples(backend: Backend, task_list: Sequence[Task], n: int, max_new_tokens: int, seed: int,
                       cache_dir: Path | None = None, model_id: str = "") -> dict[str, VerbalizedSamples]:
    from tqdm import tqdm
    params = SamplingParams(temperature=1.0, max_new_tokens=max_new_tokens)
    out = {}
    for task in tqdm(task_list, desc=f"verbalized, {n} replies per task", unit="task"):
        asking = replace(task, prompt=verbalized_prompt(task))
        replies = sample_task(backend, asking, n, params, seed, cache_dir, model_id, progress=False).replies
        out[task.id] = VerbalizedSamples(task, replies, seed)
    return out


# ---------------------------------------------------------------------------------------------
# Cost and the comparison table (03)
# ---------------------------------------------------------------------------------------------


def tokens_per_answer(tokenizer, replies: Sequence[str], max_new_tokens: int) -> float:
    """Mean tokens generated per reply: the reply re-tokenized, plus its end-of-turn token, capped at
    max_new_tokens (a reply that hit the cap has none). One reply gives one answer in every method here."""
    if not replies:
        return float("nan")
    counts = [min(len(tokenizer(r, add_special_tokens=False)["input_ids"]) + 1, max_new_tokens) for r in replies]
    return float(np.mean(counts))


def scoring_passes(task: Task, score_batch_size: int) -> int:
    """Forward passes to score all of A exactly: the prompt once, then the answers in batches."""
    n_forms = sum(len(task.surface_forms(a)) for a in task.answers)
    return 1 + math.ceil(n_forms / score_batch_size)


def exact_condition_rows(exact: Mapping[str, ExactDistribution], condition: str, label: str,
                         score_batch_size: int, seed: int | None = None) -> list[dict]:
    rows = []
    for task_id, dist in exact.items():
        base = dict(condition=condition, label=label, task=task_id, temperature=dist.temperature, seed=seed,
                    n=dist.task.k)
        rows += [dict(base, metric="exact_tv", value=metrics.exact_tv(dist.p)),
                 dict(base, metric="raw_mass", value=metrics.raw_mass(dist.logp)),
                 dict(base, metric="forward_passes", value=scoring_passes(dist.task, score_batch_size))]
    return rows


def sampled_condition_rows(samples: Mapping[str, Samples], condition: str, label: str, temperature: float,
                           seed: int, n_boot: int, tokenizer, max_new_tokens: int) -> list[dict]:
    """sampled TV (bootstrap CI) with its floor, invalid rate (Wilson CI), tokens per answer and, for
    verbalized sampling, the parse-failure rate."""
    rows = []
    for task_id, smp in samples.items():
        s = smp.summary(seed=seed, n_boot=n_boot)
        low, high = metrics.wilson_ci(s["n"] - s["n_valid"], s["n"])
        base = dict(condition=condition, label=label, task=task_id, temperature=temperature, seed=seed, n=s["n"])
        rows += [dict(base, metric="sampled_tv", value=s["sampled_tv"], ci_low=s["tv_ci_low"], ci_high=s["tv_ci_high"]),
                 dict(base, metric="sampled_tv_floor", value=s["tv_floor"], n=s["n_valid"]),
                 dict(base, metric="invalid_rate", value=s["invalid_rate"], ci_low=low, ci_high=high),
                 dict(base, metric="tokens_per_answer", value=tokens_per_answer(tokenizer, smp.replies, max_new_tokens))]
        if isinstance(smp, VerbalizedSamples):
            failures = round(smp.parse_failure_rate * s["n"])
            low, high = metrics.wilson_ci(failures, s["n"])
            rows.append(dict(base, metric="parse_failure_rate", value=smp.parse_failure_rate, ci_low=low, ci_high=high))
    return rows


def tax_rows(samples: Mapping[float, Mapping[str, Samples]], seed: int) -> list[dict]:
    """The unparseable-sample rate per (task, T) with a Wilson CI."""
    rows = []
    for temperature, by_task in samples.items():
        for task_id, smp in by_task.items():
            answers = smp.answers
            invalid = sum(a is None for a in answers)
            low, high = metrics.wilson_ci(invalid, len(answers))
            rows.append(dict(condition="vanilla", task=task_id, metric="unparseable_rate",
                             value=invalid / len(answers) if answers else float("nan"),
                             ci_low=low, ci_high=high, n=len(answers), temperature=temperature, seed=seed))
    return rows


def best_temperature_rows(sweep: Mapping[float, Mapping[str, ExactDistribution]], score_batch_size: int,
                          gaps: Sequence[dict] = ()) -> list[dict]:
    best = best_temperature(sweep)
    rows = []
    for task_id, temperature in best.items():
        rows += exact_condition_rows({task_id: sweep[temperature][task_id]}, "best_temperature",
                                     "best T (exact)", score_batch_size)
        rows += [dict(g, condition="best_temperature", label="best T (exact)") for g in gaps
                 if g["task"] == task_id and g["temperature"] == temperature]
    return rows


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


def trained_condition_rows(trained: Mapping[int, Mapping[str, ExactDistribution]], score_batch_size: int) -> list[dict]:
    """Mean over seeds of the trained model's exact TV and raw mass at T=1 (seed range in extra columns)."""
    if not trained:
        return []
    per_seed = [row for seed, exact in trained.items()
                for row in exact_condition_rows(exact, "trained", "trained, T=1", score_batch_size, seed)]
    frame = pd.DataFrame(per_seed)
    keys = ["condition", "label", "task", "metric", "temperature", "n"]
    mean = frame.groupby(keys, sort=False)["value"].agg(["mean", "min", "max", "count"]).reset_index()
    return [dict({k: r[k] for k in keys}, value=r["mean"], seeds=int(r["count"]), seed_min=r["min"],
                 seed_max=r["max"]) for _, r in mean.iterrows()]


CONDITION_ORDER = ("vanilla", "best_temperature", "min_p", "top_p", "verbalized", "logit_correction", "trained")


def ordered_labels(table: pd.DataFrame) -> list[str]:
    """Labels of a comparison table in CONDITION_ORDER (min-p/top-p variants by their prefix)."""
    def rank(condition: str) -> int:
        return next((i for i, c in enumerate(CONDITION_ORDER) if condition.startswith(c)), len(CONDITION_ORDER))
    pairs = table[["condition", "label"]].drop_duplicates()
    return list(pairs.assign(r=pairs["condition"].map(rank)).sort_values("r", kind="stable")["label"])


def comparison_wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (label, task): TV (exact or sampled, with CI), floor, invalid rate, cost."""
    wide = table.pivot_table(index=["label", "task"], columns="metric", values="value", aggfunc="first", sort=False)
    ci = table.dropna(subset=["ci_low"]).pivot_table(index=["label", "task"], columns="metric",
                                                     values=["ci_low", "ci_high"], aggfunc="first", sort=False)
    for metric in ("sampled_tv", "invalid_rate"):
        if ("ci_low", metric) in ci:
            wide[f"{metric}_ci"] = [f"[{lo:.2f}, {hi:.2f}]" if not pd.isna(lo) else ""
                                    for lo, hi in zip(ci[("ci_low", metric)].reindex(wide.index),
                                                      ci[("ci_high", metric)].reindex(wide.index))]
    if "note" in table:
        notes = table.dropna(subset=["note"]).drop_duplicates(["label", "task"]).set_index(["label", "task"])["note"]
        wide["note"] = notes.reindex(wide.index).fillna("")
    wide["T"] = table.drop_duplicates(["label", "task"]).set_index(["label", "task"])["temperature"].reindex(wide.index)
    columns = [c for c in ("T", "exact_tv", "raw_mass", "sampled_tv", "sampled_tv_ci", "sampled_tv_floor", "invalid_rate",
                           "invalid_rate_ci", "parse_failure_rate", "gap_closed", "tokens_per_answer",
                           "forward_passes", "note") if c in wide]
    wide = wide[columns].reset_index()
    order = {label: i for i, label in enumerate(ordered_labels(table))}
    tasks_ = {t: i for i, t in enumerate(dict.fromkeys(table["task"]))}
    return wide.sort_values(["task", "label"], key=lambda s: s.map(tasks_ if s.name == "task" else order)) \
               .reset_index(drop=True)


def comparison_table(cfg, tokenizer, *, sweep, protocol, methods, verbalized, correction, trained,
                     gaps=()) -> pd.DataFrame:
    """The tidy comparison across conditions and tasks (03_comparison.csv): exact TV, raw mass and
    forward passes for exact conditions; sampled TV (bootstrap CI), floor, invalid rate (Wilson CI)
    and tokens per answer for sampled ones. Extra columns: label, note, seeds."""
    from lib import results
    sampled = dict(seed=cfg.seed, n_boot=cfg.n_boot, tokenizer=tokenizer)
    rows = (exact_condition_rows(sweep[1.0], "vanilla", "vanilla, T=1", cfg.score_batch_size)
            + sampled_condition_rows(protocol, "vanilla", "vanilla, T=1", 1.0, max_new_tokens=cfg.max_new_tokens,
                                     **sampled)
            + best_temperature_rows(sweep, cfg.score_batch_size, gaps))
    for method, samples in methods.items():
        rows += sampled_condition_rows(samples, method.condition, method.label, method.params.temperature,
                                       max_new_tokens=method.params.max_new_tokens, **sampled)
    rows += sampled_condition_rows(verbalized, "verbalized", "verbalized (5 stated, draw 1), T=1", 1.0,
                                   max_new_tokens=cfg.verbalized_max_new_tokens, **sampled)
    rows += correction_condition_rows(correction, list(sweep[1.0]))
    rows += trained_condition_rows(trained, cfg.score_batch_size)
    return results.tidy(rows)


def verbalized_examples(verbalized: Mapping[str, VerbalizedSamples], per_task: int = 2) -> pd.DataFrame:
    """A few replies per task with the distribution read from them and the answer drawn."""
    rows = []
    for task_id, smp in verbalized.items():
        head = smp.head(per_task)
        for reply, stated, drawn in zip(head.replies, head.stated, head.answers):
            rows.append(dict(task=task_id, reply=reply, stated=None if stated is None else
                             ", ".join(f"{a}: {p:.2f}" for a, p in stated.items()), drawn=drawn))
    return pd.DataFrame(rows)


def samples_rows(samples: Mapping[str, Samples], condition: str, temperature: float) -> list[dict]:
    """Every reply with its parsed (or drawn) answer, for inspection and reuse."""
    return [dict(condition=condition, temperature=temperature, task=t, index=i, reply=r, answer=a)
            for t, smp in samples.items() for i, (r, a) in enumerate(zip(smp.replies, smp.answers))]
