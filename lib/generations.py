"""k free-text generations per prompt for each run (vanilla at several temperatures, trained adapters by
seed), through the one cache (`lib.conditions`): an interrupted run keeps every prompt it finished, and a
rerun loads no model when every prompt is cached."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Sequence

import pandas as pd
from tqdm import tqdm

from lib.conditions import Condition
from lib.sampling import SamplingParams


def greedy_replies(condition: Condition, kind: str, texts: Sequence[str], max_new_tokens: int) -> list[str]:
    """One greedy chat-templated reply per text, cached under `kind` (a cached condition loads no model)."""
    texts = list(texts)
    return condition.cached(kind, texts,
                            lambda backend: backend.complete(texts, SamplingParams(temperature=0,
                                                                                   max_new_tokens=max_new_tokens)),
                            params=dict(temperature=0, max_new_tokens=max_new_tokens))


@dataclass(frozen=True)
class Prompt:
    """One prompt to answer k times; `category` groups prompts in tables."""
    id: str
    category: str
    text: str


@dataclass(frozen=True)
class Run:
    """A condition sampled at one temperature."""
    condition: Condition
    temperature: float

    @property
    def label(self) -> str:
        return f"{self.condition.condition} T={self.temperature:g}" + (
            "" if self.condition.train_seed is None else f" seed {self.condition.train_seed}")

    @property
    def scope(self) -> str:
        return "vanilla" if self.condition.adapter is None else "seed"


def runs(vanilla: Condition, temperatures: Sequence[float], trained: Sequence[Condition],
         trained_temperature: float) -> list[Run]:
    """Vanilla at each temperature, then each trained condition at the trained temperature."""
    return [Run(vanilla, float(t)) for t in temperatures] + [Run(c, float(trained_temperature)) for c in trained]


def grid(vanilla: Condition, temperatures: Sequence[float], trained: Sequence[Condition]) -> list[Run]:
    """Vanilla and each trained condition, each at every temperature."""
    return [Run(c, float(t)) for c in (vanilla, *trained) for t in temperatures]


def reference(runs: Sequence[Run], trained_temperature: float) -> Run:
    """The vanilla run others are compared with: vanilla at the trained temperature, else the first."""
    vanilla = [r for r in runs if r.condition.adapter is None]
    return next((r for r in vanilla if r.temperature == trained_temperature), vanilla[0])


# transformers samples prompt by prompt anyway, so it gets one prompt per call (an interruption loses at most
# one); a backend that batches across prompts (vLLM) gets many, which is where its speed comes from.
PROMPTS_PER_CALL = {"transformers": 1}
DEFAULT_PROMPTS_PER_CALL = 32


def generate(runs: Sequence[Run], prompts: Sequence[Prompt], k: int, max_new_tokens: int,
             seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(generations, timings): one row per answer (label, condition, temperature, train_seed, scope, prompt_id,
    category, prompt, sample, answer), and per run the prompts generated in this call and the seconds
    generation took (as recorded when each prompt was generated, so a cached rerun still reports it).

    The cache entries are the ones `distributions.sample_replies` reads and writes (same key), so replies are
    shared between notebooks; a run's model loads only when one of its prompts is missing.
    """
    rows, timings = [], []
    for run in runs:
        condition = run.condition
        params = SamplingParams(temperature=run.temperature, max_new_tokens=max_new_tokens)
        sample_params = dict(asdict(params), n=k)
        done = {p.id: condition.stored("samples", p.text, sample_params, seed) for p in prompts}
        seconds = {p.id: condition.stored("sample-seconds", p.text, sample_params, seed) for p in prompts}
        missing = [p for p in prompts if done[p.id] is None]
        per_call = PROMPTS_PER_CALL.get(condition.backend_name, DEFAULT_PROMPTS_PER_CALL)
        with tqdm(total=len(missing), desc=run.label, unit="prompt") as bar:
            for start in range(0, len(missing), per_call):
                chunk = missing[start:start + per_call]
                began = time.perf_counter()
                replies = condition.backend.sample([p.text for p in chunk], n=k, params=params, seed=seed,
                                                   progress=False)
                took = round((time.perf_counter() - began) / len(chunk), 2)
                for prompt, answers in zip(chunk, replies):
                    done[prompt.id] = condition.store("samples", prompt.text, answers, sample_params, seed)
                    seconds[prompt.id] = condition.store("sample-seconds", prompt.text, took, sample_params, seed)
                bar.update(len(chunk))
        for prompt in prompts:
            rows += [dict(label=run.label, condition=condition.condition, temperature=run.temperature,
                          train_seed=condition.train_seed, scope=run.scope, prompt_id=prompt.id,
                          category=prompt.category, prompt=prompt.text, sample=i, answer=answer)
                     for i, answer in enumerate(done[prompt.id])]
        total = sum(float("nan") if seconds[p.id] is None else seconds[p.id] for p in prompts)
        timings.append(dict(label=run.label, condition=condition.condition, temperature=run.temperature,
                            train_seed=condition.train_seed, prompts=len(prompts), k=k, generated_now=len(missing),
                            seconds=round(total, 1),
                            seconds_per_answer=round(total / (len(prompts) * k), 3) if prompts else float("nan")))
    return pd.DataFrame(rows), pd.DataFrame(timings)
