"""A task's answer distribution, two ways: exact (teacher-forced scoring of every answer in A) and
sampled (free-text completions parsed to answers). Both come from a `Condition` through the one cache,
so a later notebook reuses what an earlier one computed and an interrupted one resumes where it stopped."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from scipy.special import logsumexp
from tqdm import tqdm

from lib import answer_sets, metrics, spread
from lib.conditions import Condition
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


def score_exact(backend: Backend, task: Task, temperatures: Sequence[float]) -> dict[float, ExactDistribution]:
    """{T: exact distribution} straight from a backend (no cache: the model being trained uses this), each
    answer's mass summed over its surface forms; one scoring pass for all temperatures where the backend can."""
    forms = [task.surface_forms(a) for a in task.answers]
    flat = [f for group in forms for f in group]
    if hasattr(backend, "answer_logprobs_at"):
        scores = backend.answer_logprobs_at(task.prompt, flat, list(temperatures))
    else:
        scores = np.stack([backend.answer_logprobs(task.prompt, flat, t) for t in temperatures])
    bounds = np.cumsum([0] + [len(group) for group in forms])
    return {float(t): ExactDistribution(task, float(t), np.array([logsumexp(row[a:b]) for a, b in zip(bounds, bounds[1:])]))
            for t, row in zip(temperatures, scores)}


def _exact_what(task: Task) -> dict:
    return dict(prompt=task.prompt, answers=[task.surface_forms(a) for a in task.answers])


def exact_distributions(condition: Condition, task: Task, temperatures: Sequence[float]) -> dict[float, ExactDistribution]:
    """{T: exact distribution} for a condition, from the cache where stored; the temperatures still missing
    are scored in one pass (the model loads only then)."""
    what = _exact_what(task)
    out = {}
    for t in temperatures:
        logp = condition.stored("exact", what, dict(temperature=float(t)))
        if logp is not None:
            out[float(t)] = ExactDistribution(task, float(t), np.array(logp, dtype=float))
    missing = [float(t) for t in temperatures if float(t) not in out]
    if missing:
        scored = score_exact(condition.backend, task, missing)
        for t, dist in scored.items():
            condition.store("exact", what, dist.logp.tolist(), dict(temperature=t))
        out.update(scored)
    return {float(t): out[float(t)] for t in temperatures}


def exact_distribution(condition: Condition, task: Task, temperature: float = 1.0) -> ExactDistribution:
    return exact_distributions(condition, task, [temperature])[float(temperature)]


def exact_panel(condition: Condition, tasks: Sequence[Task], temperature: float = 1.0,
                progress: bool = True) -> dict[str, ExactDistribution]:
    return {t.id: exact_distribution(condition, t, temperature)
            for t in tqdm(tasks, desc=f"{condition.label}: exact scoring T={temperature:g}", disable=not progress)}


def exact_sweep(condition: Condition, tasks: Sequence[Task], temperatures: Sequence[float],
                progress: bool = True) -> dict[float, dict[str, ExactDistribution]]:
    """{T: {task: exact distribution}}: one scoring pass per task for the temperatures not yet cached."""
    by_task = {t.id: exact_distributions(condition, t, temperatures)
               for t in tqdm(tasks, desc=f"exact scoring at {len(temperatures)} temperatures", disable=not progress)}
    return {float(t): {task_id: dists[float(t)] for task_id, dists in by_task.items()} for t in temperatures}


@dataclass
class Samples:
    task: Task
    replies: list[str]

    @property
    def answers(self) -> list[str | None]:
        return [self.task.parse(r) for r in self.replies]

    def head(self, n: int) -> "Samples":
        return Samples(self.task, self.replies[:n])

    def summary(self) -> dict:
        return metrics.sampled_summary(self.answers, self.task.answers)


def sample_replies(condition: Condition, prompt: str, n: int, params: SamplingParams, seed: int) -> list[str]:
    """n replies to one prompt, from the cache where this exact draw is stored (an interrupted run keeps
    every prompt it finished). The draws made are listed per (prompt, params, seed) for `stored_head`."""
    replies = condition.cached("samples", prompt, lambda backend: backend.sample([prompt], n, params, seed=seed,
                                                                                   progress=False)[0],
                               dict(asdict(params), n=n), seed)
    drawn = condition.stored("draws", prompt, asdict(params), seed) or []
    if n not in drawn:
        condition.store("draws", prompt, sorted(drawn + [n]), asdict(params), seed)
    return replies


def stored_head(condition: Condition, prompt: str, n: int, params: SamplingParams, seed: int) -> list[str]:
    """The first n replies of the largest stored draw with the same prompt, params and seed (i.i.d. replies, so
    its head is a sample of n: 03 reads 01's replies this way); a new draw of n when none is long enough.
    The largest, not the closest: a shorter draw made later (05's 50 replies) must not change what a rerun reads."""
    drawn = max(condition.stored("draws", prompt, asdict(params), seed) or [0])
    return sample_replies(condition, prompt, drawn if drawn >= n else n, params, seed)[:n]


def sample_task(condition: Condition, task: Task, n: int, params: SamplingParams, seed: int) -> Samples:
    return Samples(task, sample_replies(condition, task.prompt, n, params, seed))


def sample_panel(condition: Condition, tasks: Sequence[Task], n: int, params: SamplingParams, seed: int,
                 reuse_stored: bool = False) -> dict[str, Samples]:
    """n replies per task; with reuse_stored, the head of a longer stored draw where there is one."""
    draw = stored_head if reuse_stored else sample_replies
    return {task.id: Samples(task, draw(condition, task.prompt, n, params, seed))
            for task in tqdm(tasks, desc=f"{condition.label}: {n} samples per task, T={params.temperature:g}",
                             unit="task")}


# -- tidy rows: the one exact builder and the one sampled builder -------------------------------
def _core(task: Task) -> tuple[str, ...]:
    """The task's core list (lib.answer_sets.CORE) when it has one and it lies inside A; else ()."""
    core = answer_sets.CORE.get(task.id, ())
    return core if core and set(core) <= set(task.answers) else ()


def exact_rows(exact: dict[str, ExactDistribution], condition: str, train_seed: int | None = None,
               **extra) -> list[dict]:
    """Long-format rows per task: exact_tv, raw_mass, exact_entropy and the exact effective numbers (n = k);
    for tasks with a core list, the same distribution restricted to the core (n = the core's size)."""
    rows = []
    for task_id, dist in exact.items():
        s = dist.summary()
        k = s["k"]
        effective = spread.exact_effective_numbers(dist.p)
        base = dict(condition=condition, task=task_id, n=k, temperature=dist.temperature,
                    train_seed=train_seed, **extra)
        rows += [dict(base, metric="exact_tv", value=s["exact_tv"]),
                 dict(base, metric="raw_mass", value=s["raw_mass"]),
                 dict(base, metric="exact_entropy", value=s["normalized_entropy"]),
                 dict(base, metric="exact_effective", value=effective.inverse_collision),
                 dict(base, metric="exact_effective_share", value=effective.inverse_collision / k),
                 dict(base, metric="exact_exp_entropy", value=effective.exp_entropy)]
        core = _core(dist.task)
        if core:
            index = [dist.task.answers.index(a) for a in core]
            p_core = dist.p[index]
            core_base = dict(base, n=len(core))
            rows += [dict(core_base, metric="core_mass", value=float(p_core.sum())),
                     dict(core_base, metric="core_exact_tv", value=metrics.exact_tv(p_core / p_core.sum())),
                     dict(core_base, metric="core_exact_effective_share",
                          value=spread.exact_effective_numbers(p_core).inverse_collision / len(core))]
    return rows


def sampled_rows(samples: dict[str, Samples], condition: str, temperature: float, sample_seed: int,
                 prefix: str = "sampled", n_boot: int = 1000, train_seed: int | None = None,
                 n_sim: int = 10_000, **extra) -> list[dict]:
    """Long-format rows per task, read against a uniform sampler over A with as many valid answers:

    - sampled TV with its Monte-Carlo p-value, the null's mean (`tv_floor`) and the excess over it; the TV's
      interval is the excess's bias-corrected interval shifted by the null mean, so it contains the TV;
    - the effective number of answers 1/Σp² (unbiased collision estimate) and its share of k, with CIs;
    - valid and invalid rates and the top answer's share (Wilson CIs), other rate, entropy, distinct, n_valid;
    - for tasks with a core list: the effective share over the core's answers and the core's share of valid.
    """
    rows = []
    for task_id, smp in samples.items():
        answers, task = smp.answers, smp.task
        n = len(answers)
        s = metrics.sampled_summary(answers, task.answers)
        test = spread.sampled_tv_test(answers, task.answers, n_sim=n_sim, seed=sample_seed, n_boot=n_boot)
        eff = spread.effective_number(answers, task.k, n_boot=n_boot, seed=sample_seed)
        n_valid = s["n_valid"]
        top = spread.top_share(answers)
        base = dict(condition=condition, task=task_id, n=n, temperature=temperature, train_seed=train_seed,
                    sample_seed=sample_seed, **extra)
        on_valid = dict(base, n=n_valid)
        # TV lies in [0, 1]: the shifted interval is clipped there (it still holds the estimate).
        rows += [dict(base, metric=f"{prefix}_tv", value=test.tv,
                      ci_low=min(max(test.excess_ci_low + test.null_mean, 0.0), test.tv),
                      ci_high=max(min(test.excess_ci_high + test.null_mean, 1.0), test.tv)),
                 dict(on_valid, metric=f"{prefix}_tv_floor", value=test.null_mean),
                 dict(base, metric=f"{prefix}_tv_excess", value=test.excess, ci_low=test.excess_ci_low,
                      ci_high=test.excess_ci_high),
                 dict(on_valid, metric=f"{prefix}_tv_p", value=test.p_value),
                 dict(base, metric=f"{prefix}_valid_rate", value=n_valid / n if n else float("nan"),
                      **_wilson(n_valid, n)),
                 dict(base, metric=f"{prefix}_invalid_rate", value=s["invalid_rate"], **_wilson(n - n_valid, n)),
                 dict(on_valid, metric=f"{prefix}_effective", value=eff.value, ci_low=eff.ci_low, ci_high=eff.ci_high),
                 dict(on_valid, metric=f"{prefix}_effective_share", value=eff.share, ci_low=eff.share_ci_low,
                      ci_high=eff.share_ci_high),
                 dict(on_valid, metric=f"{prefix}_top_share", value=top,
                      **_wilson(round(top * n_valid) if n_valid else 0, n_valid)),
                 dict(on_valid, metric=f"{prefix}_other_rate", value=s["other_rate"]),
                 dict(on_valid, metric=f"{prefix}_entropy", value=s["normalized_entropy"]),
                 dict(on_valid, metric=f"{prefix}_distinct", value=s["distinct"]),
                 dict(base, metric=f"{prefix}_n_valid", value=n_valid)]
        core = _core(task)
        if core:
            inside = [a for a in answers if a in set(core)]
            core_eff = spread.effective_number(inside, len(core), n_boot=n_boot, seed=sample_seed)
            rows += [dict(base, n=len(inside), metric=f"{prefix}_core_effective_share", value=core_eff.share,
                          ci_low=core_eff.share_ci_low, ci_high=core_eff.share_ci_high),
                     dict(on_valid, metric=f"{prefix}_core_share",
                          value=len(inside) / n_valid if n_valid else float("nan"), **_wilson(len(inside), n_valid))]
    return rows


def _wilson(successes: int, n: int) -> dict:
    low, high = metrics.wilson_ci(successes, n) if n else (float("nan"), float("nan"))
    return dict(ci_low=low, ci_high=high)


def seed_means(rows: list[dict], keys: Sequence[str]) -> list[dict]:
    """Per-seed rows averaged over train_seed (train_seed empty; seeds, seed_min, seed_max beside the mean)."""
    import pandas as pd
    if not rows:
        return []
    frame = pd.DataFrame(rows)
    keys = [k for k in keys if k in frame]
    mean = frame.groupby(keys, sort=False, dropna=False)["value"].agg(["mean", "min", "max", "count"]).reset_index()
    return [dict({k: r[k] for k in keys}, value=r["mean"], seeds=int(r["count"]), seed_min=r["min"],
                 seed_max=r["max"]) for _, r in mean.iterrows()]


def exact_vs_parsed_rows(exact: dict[str, ExactDistribution], samples: dict[str, Samples],
                         condition: str, sample_seed: int) -> list[dict]:
    """TV between the exact distribution and the parsed-sample distribution, both over A."""
    rows = []
    for task_id, smp in samples.items():
        dist = exact[task_id]
        parsed = metrics.empirical_distribution(smp.answers, dist.task.answers)
        value = metrics.tv_between(dist.p, parsed) if parsed.sum() > 0 else float("nan")
        in_a = sum(a in set(dist.task.answers) for a in smp.answers)
        rows.append(dict(condition=condition, task=task_id, metric="exact_vs_parsed_tv", value=value,
                         n=in_a, temperature=dist.temperature, sample_seed=sample_seed))
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
                top = by_task[task_id].summary()["top5"][:n]
                rows += [dict(condition=condition, task=task_id, source=source, rank=rank, answer=a, share=s)
                         for rank, (a, s) in enumerate(top, 1)]
    return pd.DataFrame(rows)


def samples_table(samples: dict[str, Samples]) -> "pd.DataFrame":
    """Every raw reply with its parsed answer (None → empty), for inspection and reuse."""
    import pandas as pd
    return pd.DataFrame([dict(task=t, index=i, reply=r, answer=a)
                         for t, s in samples.items() for i, (r, a) in enumerate(zip(s.replies, s.answers))])
