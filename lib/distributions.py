"""A task's answer distribution, two ways: exact (teacher-forced scoring of every answer in A) and
sampled (free-text completions parsed to answers). Sampled replies are cached on disk per task, so
an interrupted notebook resumes where it stopped."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.special import logsumexp
from tqdm import tqdm

from lib import metrics
from lib.results import write_json
from lib.sampling import Backend, SamplingParams
from lib.tasks import Task


@dataclass(frozen=True)
class ExactDistribution:
    task: Task
    temperature: float
    logp: np.ndarray          # log P(bare reply meaning a), summed over a's surface forms, one per a in A

    @property
    def p(self) -> np.ndarray:
        """Renormalized over A: the distribution given that the model replies with a bare valid answer."""
        return metrics.renormalize_logprobs(self.logp)

    def summary(self) -> dict:
        return metrics.exact_summary(self.logp, self.task.answers)


def exact_distributions(backend: Backend, task: Task, temperatures: Sequence[float]) -> dict[float, ExactDistribution]:
    """{T: exact distribution}, each answer's mass summed over its surface forms; one scoring pass
    for all temperatures where the backend can (answer_logprobs_at), else one per temperature."""
    forms = [task.surface_forms(a) for a in task.answers]
    flat = [f for group in forms for f in group]
    if hasattr(backend, "answer_logprobs_at"):
        scores = backend.answer_logprobs_at(task.prompt, flat, list(temperatures))
    else:
        scores = np.stack([backend.answer_logprobs(task.prompt, flat, t) for t in temperatures])
    bounds = np.cumsum([0] + [len(group) for group in forms])
    return {float(t): ExactDistribution(task, float(t), np.array([logsumexp(row[a:b]) for a, b in zip(bounds, bounds[1:])]))
            for t, row in zip(temperatures, scores)}


def exact_distribution(backend: Backend, task: Task, temperature: float = 1.0) -> ExactDistribution:
    return exact_distributions(backend, task, [temperature])[float(temperature)]


def exact_panel(backend: Backend, tasks: Sequence[Task], temperature: float = 1.0,
                progress: bool = True) -> dict[str, ExactDistribution]:
    return {t.id: exact_distribution(backend, t, temperature)
            for t in tqdm(tasks, desc=f"exact scoring T={temperature}", disable=not progress)}


@dataclass
class Samples:
    task: Task
    replies: list[str]

    @property
    def answers(self) -> list[str | None]:
        return [self.task.parse(r) for r in self.replies]

    def head(self, n: int) -> "Samples":
        return Samples(self.task, self.replies[:n])

    def summary(self, seed: int = 0, n_boot: int = 1000) -> dict:
        return metrics.sampled_summary(self.answers, self.task.answers, seed=seed, n_boot=n_boot)


def _cache_key(model_id: str, prompt: str, n: int, params: SamplingParams, seed: int) -> str:
    blob = json.dumps([model_id, prompt, n, asdict(params), seed], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def sample_prompt(backend: Backend, prompt: str, n: int, params: SamplingParams, seed: int,
                  cache_dir: Path | None = None, model_id: str = "", name: str = "prompt",
                  progress: bool = True) -> list[str]:
    """n completions of one prompt, read from / written to cache_dir/<name>-<key>.json when given, so an
    interrupted run keeps every prompt it finished. model_id must tell models (and adapters) apart."""
    path = Path(cache_dir) / f"{name}-{_cache_key(model_id, prompt, n, params, seed)}.json" if cache_dir else None
    if path and path.exists():
        return json.loads(path.read_text())["replies"]
    replies = backend.sample([prompt], n, params, seed=seed, progress=progress)[0]
    if path:
        write_json(path, {"name": name, "prompt": prompt, "n": n, "seed": seed,
                          "params": asdict(params), "replies": replies})
    return replies


def sample_task(backend: Backend, task: Task, n: int, params: SamplingParams, seed: int,
                cache_dir: Path | None = None, model_id: str = "", progress: bool = True) -> Samples:
    """n completions of the task's prompt; read from / written to cache_dir when given."""
    return Samples(task, sample_prompt(backend, task.prompt, n, params, seed, cache_dir, model_id, task.id, progress))


def sample_panel(backend: Backend, tasks: Sequence[Task], n: int, params: SamplingParams, seed: int,
                 cache_dir: Path | None = None, model_id: str = "") -> dict[str, Samples]:
    out = {}
    for task in tqdm(tasks, desc=f"sampling {n} per task", unit="task"):
        out[task.id] = sample_task(backend, task, n, params, seed, cache_dir, model_id)
    return out


# -- tidy tables ------------------------------------------------------------------------------
def exact_rows(exact: dict[str, ExactDistribution], condition: str, seed: int | None = None) -> list[dict]:
    """Long-format rows: exact_tv, raw_mass, exact_entropy per task."""
    rows = []
    for task_id, dist in exact.items():
        s = dist.summary()
        base = dict(condition=condition, task=task_id, n=s["k"], temperature=dist.temperature, seed=seed)
        rows += [dict(base, metric="exact_tv", value=s["exact_tv"]),
                 dict(base, metric="raw_mass", value=s["raw_mass"]),
                 dict(base, metric="exact_entropy", value=s["normalized_entropy"])]
    return rows


def sampled_rows(samples: dict[str, Samples], condition: str, temperature: float, seed: int,
                 prefix: str = "sampled", n_boot: int = 1000) -> list[dict]:
    """Long-format rows: sampled TV (bootstrap CI) beside its floor, invalid/other rates, entropy, distinct."""
    rows = []
    for task_id, smp in samples.items():
        s = smp.summary(seed=seed, n_boot=n_boot)
        base = dict(condition=condition, task=task_id, n=s["n"], temperature=temperature, seed=seed)
        rows += [dict(base, metric=f"{prefix}_tv", value=s["sampled_tv"], ci_low=s["tv_ci_low"], ci_high=s["tv_ci_high"]),
                 dict(base, metric=f"{prefix}_tv_floor", value=s["tv_floor"]),
                 dict(base, metric=f"{prefix}_invalid_rate", value=s["invalid_rate"]),
                 dict(base, metric=f"{prefix}_other_rate", value=s["other_rate"]),
                 dict(base, metric=f"{prefix}_entropy", value=s["normalized_entropy"]),
                 dict(base, metric=f"{prefix}_distinct", value=s["distinct"]),
                 dict(base, metric=f"{prefix}_n_valid", value=s["n_valid"])]
    return rows


def exact_vs_parsed_rows(exact: dict[str, ExactDistribution], samples: dict[str, Samples],
                         condition: str, seed: int) -> list[dict]:
    """TV between the exact distribution and the parsed-sample distribution, both over A."""
    rows = []
    for task_id, smp in samples.items():
        dist = exact[task_id]
        parsed = metrics.empirical_distribution(smp.answers, dist.task.answers)
        value = metrics.tv_between(dist.p, parsed) if parsed.sum() > 0 else float("nan")
        in_a = sum(a in set(dist.task.answers) for a in smp.answers)
        rows.append(dict(condition=condition, task=task_id, metric="exact_vs_parsed_tv", value=value,
                         n=in_a, temperature=dist.temperature, seed=seed))
    return rows


def distribution_table(exact: dict[str, ExactDistribution], samples: dict[str, Samples] | None = None,
                       condition: str = "vanilla") -> "pd.DataFrame":
    """One row per (task, answer in A): exact p, exact log-prob, and the parsed-sample share."""
    import pandas as pd
    frames = []
    for task_id, dist in exact.items():
        frame = pd.DataFrame({"condition": condition, "task": task_id, "answer": list(dist.task.answers),
                              "p_exact": dist.p, "logp": dist.logp, "temperature": dist.temperature})
        if samples and task_id in samples:
            frame["p_parsed"] = metrics.empirical_distribution(samples[task_id].answers, dist.task.answers)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def picks_table(exact: dict[str, ExactDistribution], samples: dict[str, dict[str, Samples]],
                condition: str = "vanilla", n: int = 5) -> "pd.DataFrame":
    """Top-n answers per task and source ('exact', and each named sample set), with shares."""
    import pandas as pd
    rows = []
    for task_id, dist in exact.items():
        for rank, (answer, share) in enumerate(metrics.top_picks(dist.p, dist.task.answers, n), 1):
            rows.append(dict(condition=condition, task=task_id, source="exact", rank=rank, answer=answer, share=share))
        for source, by_task in samples.items():
            if task_id in by_task:
                top = by_task[task_id].summary(n_boot=1)["top5"][:n]
                rows += [dict(condition=condition, task=task_id, source=source, rank=rank, answer=a, share=s)
                         for rank, (a, s) in enumerate(top, 1)]
    return pd.DataFrame(rows)


def samples_table(samples: dict[str, Samples]) -> "pd.DataFrame":
    """Every raw reply with its parsed answer (None → empty), for inspection and reuse."""
    import pandas as pd
    return pd.DataFrame([dict(task=t, index=i, reply=r, answer=a)
                         for t, s in samples.items() for i, (r, a) in enumerate(zip(s.replies, s.answers))])
