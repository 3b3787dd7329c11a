"""k free-text generations per prompt for each condition (vanilla at several temperatures, trained
adapters by seed), cached on disk in one file per prompt and condition: an interrupted run keeps every
prompt it finished, and a rerun loads no model when every prompt is cached."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
from tqdm import tqdm

from lib.results import write_json
from lib.sampling import SamplingParams


@dataclass(frozen=True)
class Prompt:
    """One prompt to answer k times; `category` groups prompts in tables."""
    id: str
    category: str
    text: str


@dataclass(frozen=True)
class Condition:
    condition: str            # "vanilla" or the trained recipe's name
    temperature: float
    seed: float = float("nan")   # training seed; nan for vanilla
    adapter: Path | None = None

    @property
    def label(self) -> str:
        base = f"{self.condition} T={self.temperature:g}"
        return base if self.adapter is None else f"{base} seed {int(self.seed)}"

    @property
    def scope(self) -> str:
        return "vanilla" if self.adapter is None else "seed"


def conditions(temperatures: Sequence[float], recipe: str, adapters: dict[int, Path],
               trained_temperature: float) -> list[Condition]:
    """Vanilla at each temperature, then the recipe's adapter for each seed at the trained temperature."""
    return [Condition("vanilla", float(t)) for t in temperatures] + \
        [Condition(recipe, float(trained_temperature), seed, Path(path)) for seed, path in adapters.items()]


def grid(temperatures: Sequence[float], recipe: str, adapters: dict[int, Path]) -> list[Condition]:
    """Vanilla and the recipe's adapter for each seed, each at every temperature."""
    return [Condition("vanilla", float(t)) for t in temperatures] + \
        [Condition(recipe, float(t), seed, Path(path)) for seed, path in adapters.items() for t in temperatures]


def reference(runs: Sequence[Condition], trained_temperature: float) -> Condition:
    """The vanilla condition others are compared with: vanilla at the trained temperature, else the first."""
    vanilla = [r for r in runs if r.adapter is None]
    return next((r for r in vanilla if r.temperature == trained_temperature), vanilla[0])


def adapter_fingerprint(adapter: Path | None) -> str:
    """A hash of the adapter's files, so a retrained adapter at the same path is never served stale samples."""
    if adapter is None:
        return ""
    digest = hashlib.sha256()
    for path in sorted(Path(adapter).glob("adapter_*")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_path(cache_dir: Path, model_id: str, adapter: Path | None, prompt_id: str, prompt: str,
               k: int, params: SamplingParams, seed: int) -> Path:
    blob = json.dumps([model_id, adapter_fingerprint(adapter), prompt, k, asdict(params), seed], sort_keys=True)
    return Path(cache_dir) / f"{prompt_id}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.json"


# transformers samples prompt by prompt anyway, so it gets one prompt per call (an interruption loses at most
# one); a backend that batches across prompts (vLLM) gets many, which is where its speed comes from.
PROMPTS_PER_CALL = {"transformers": 1}
DEFAULT_PROMPTS_PER_CALL = 32


def generate(load_backend: Callable[[Path | None], object], model_id: str, runs: Sequence[Condition],
             prompts: Sequence, k: int, max_new_tokens: int, seed: int, cache_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(generations, timings): one row per answer (label, condition, temperature, seed, scope, prompt_id,
    category, prompt, sample, answer), and per condition the prompts generated in this call and the seconds
    generation took (as recorded when each prompt was generated, so a cached rerun still reports it).

    `load_backend(adapter)` is called at most once per adapter, and only when a prompt is not cached;
    `model_id` names the model and backend in the cache key (the adapter's files are hashed into it too).
    """
    rows, timings = [], []
    backends: dict[Path | None, object] = {}
    for run in runs:
        params = SamplingParams(temperature=run.temperature, max_new_tokens=max_new_tokens)
        paths = {p.id: cache_path(cache_dir, model_id, run.adapter, p.id, p.text, k, params, seed) for p in prompts}
        done = {p.id: json.loads(paths[p.id].read_text(encoding="utf-8")) for p in prompts if paths[p.id].exists()}
        missing = [p for p in prompts if p.id not in done]
        if missing and run.adapter not in backends:
            backends.clear()                              # one model in memory at a time
            backends[run.adapter] = load_backend(run.adapter)
        backend = backends.get(run.adapter)
        per_call = PROMPTS_PER_CALL.get(getattr(backend, "name", ""), DEFAULT_PROMPTS_PER_CALL)
        with tqdm(total=len(missing), desc=run.label, unit="prompt") as bar:
            for start in range(0, len(missing), per_call):
                chunk = missing[start:start + per_call]
                began = time.perf_counter()
                replies = backend.sample([p.text for p in chunk], n=k, params=params, seed=seed, progress=False)
                took = (time.perf_counter() - began) / len(chunk)
                for prompt, answers in zip(chunk, replies):
                    done[prompt.id] = dict(prompt_id=prompt.id, prompt=prompt.text, model=model_id,
                                           adapter=str(run.adapter or ""), k=k, seed=seed, params=asdict(params),
                                           seconds=round(took, 2), answers=answers)
                    write_json(paths[prompt.id], done[prompt.id])
                bar.update(len(chunk))
        for prompt in prompts:
            rows += [dict(label=run.label, condition=run.condition, temperature=run.temperature, seed=run.seed,
                          scope=run.scope, prompt_id=prompt.id, category=prompt.category, prompt=prompt.text,
                          sample=i, answer=answer) for i, answer in enumerate(done[prompt.id]["answers"])]
        seconds = sum(done[p.id].get("seconds", float("nan")) for p in prompts)
        timings.append(dict(label=run.label, condition=run.condition, temperature=run.temperature, seed=run.seed,
                            prompts=len(prompts), k=k, generated_now=len(missing), seconds=round(seconds, 1),
                            seconds_per_answer=round(seconds / (len(prompts) * k), 3) if prompts else float("nan")))
    return pd.DataFrame(rows), pd.DataFrame(timings)
