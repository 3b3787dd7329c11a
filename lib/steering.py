"""A diversity direction in the residual stream, and the logit lens.

- The direction at decoder layer l is the mean difference of that layer's output, trained minus vanilla, at the
  last prompt token of the trained task (one direction per training seed; the seeds give the interval).
- Steering adds `scale × direction` to layer l's output at every position of the vanilla model (a forward hook,
  removed after each call), then scores every answer exactly; each (layer, vector) is its own cache key.
- Controls: a random direction of the same norm at the same layer, and the directions of the reverse (and
  placebo) arms, trained the same way with another reward.
- The logit lens reads each layer's output at the last prompt token through the final norm and the output
  head: the normalized entropy of the next-token distribution over the answers' first tokens, and its mass.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from lib import distributions
from lib.conditions import Condition
from lib.tasks import Task


# -- the model's parts --------------------------------------------------------------------------------
def decoder_layers(model) -> torch.nn.ModuleList:
    """The decoder's stack of layers (Llama, Qwen and most decoder-only models keep it at get_decoder().layers)."""
    return model.get_decoder().layers


def _hidden(output):
    return output[0] if isinstance(output, tuple) else output


@contextmanager
def forward_hooks(pairs: Sequence[tuple[torch.nn.Module, Callable]]) -> Iterator[None]:
    """Forward hooks registered for the block and removed after it, also when it raises."""
    handles = [module.register_forward_hook(hook) for module, hook in pairs]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def added_to_output(vector: torch.Tensor) -> Callable:
    """A forward hook that adds `vector` to a layer's output hidden states at every position."""
    def hook(module, args, output):
        hidden = _hidden(output)
        shifted = hidden + vector.to(hidden.dtype).to(hidden.device)
        return (shifted, *output[1:]) if isinstance(output, tuple) else shifted
    return hook


@torch.inference_mode()
def last_token_states(backend, prompt: str) -> np.ndarray:
    """Every decoder layer's output at the last token of the chat-templated prompt: shape (layers, hidden)."""
    layers = decoder_layers(backend.model)
    states: list = [None] * len(layers)

    def saver(i: int) -> Callable:
        def hook(module, args, output):
            states[i] = _hidden(output)[0, -1].float().cpu().numpy()
        return hook

    with forward_hooks([(layer, saver(i)) for i, layer in enumerate(layers)]):
        backend.model(input_ids=torch.tensor([backend.prompt_ids(prompt)], device=backend.device))
    return np.stack(states).astype(np.float64)


def prompt_states(condition: Condition, prompt: str) -> np.ndarray:
    """last_token_states through the cache."""
    return np.array(condition.cached("last_token_states", prompt,
                                     lambda backend: last_token_states(backend, prompt).tolist()))


# -- directions ---------------------------------------------------------------------------------------
def direction(trained: Condition, vanilla: Condition, prompt: str) -> np.ndarray:
    """Trained minus vanilla at every layer's output, last prompt token: shape (layers, hidden)."""
    return prompt_states(trained, prompt) - prompt_states(vanilla, prompt)


def random_like(vector: np.ndarray, seed: int) -> np.ndarray:
    """A random direction (Gaussian, seeded) with the norm of `vector`."""
    noise = np.random.default_rng(seed).standard_normal(vector.shape)
    return noise * np.linalg.norm(vector) / np.linalg.norm(noise)


def directions(cfg, study, prompt: str, controls: Sequence[str]) -> dict[tuple[str, int], np.ndarray]:
    """{(source, train_seed): direction at every layer}: the studied recipe's per seed, then each control in
    params' order: 'random' (one per seed of the recipe, same norm at each layer, seeded) and the arms 04
    trained ('reverse', 'placebo'; every seed they have; left out where 04 trained none)."""
    from lib import mechanism
    base = mechanism.vanilla(cfg)
    found = {(study.recipe, s): direction(mechanism.trained(cfg, study.recipe, s), base, prompt) for s in study.seeds}
    for control in controls:
        if control == "random":
            for s in study.seeds:
                found[("random", s)] = np.stack([random_like(v, [cfg.seed, s, layer])
                                                 for layer, v in enumerate(found[(study.recipe, s)])])
        elif control in study.arms:
            recipe, seeds = study.arms[control]
            found.update({(recipe, s): direction(mechanism.trained(cfg, recipe, s), base, prompt) for s in seeds})
    return found


def direction_table(found: dict[tuple[str, int], np.ndarray], recipe: str) -> pd.DataFrame:
    """Per source, seed and layer: the direction's norm, and its cosine with the studied recipe's mean direction
    (for the recipe's own seeds: the mean of its other seeds, so the cosine says how much seeds agree)."""
    own = {s: v for (source, s), v in found.items() if source == recipe}
    rows = []
    for (source, seed), vectors in found.items():
        others = [v for s, v in own.items() if not (source == recipe and s == seed)]
        reference = np.mean(others, axis=0) if others else None
        for layer, v in enumerate(vectors):
            cosine = np.nan
            if reference is not None:
                denominator = np.linalg.norm(v) * np.linalg.norm(reference[layer])
                cosine = float(v @ reference[layer] / denominator) if denominator > 0 else np.nan
            rows += [dict(condition=source, train_seed=seed, layer=layer, metric="direction_norm",
                          value=float(np.linalg.norm(v))),
                     dict(condition=source, train_seed=seed, layer=layer, metric="direction_cosine", value=cosine)]
    return pd.DataFrame(rows)


def steer_layer(fraction: float, n_layers: int) -> int:
    """The decoder layer at a fraction of the depth (0.5 → the middle layer), counted from 0."""
    return min(n_layers - 1, int(fraction * n_layers))


# -- steering -------------------------------------------------------------------------------------------
class SteeredBackend:
    """Scores with `vector` added to one decoder layer's output; the hook lives only during each call."""

    def __init__(self, backend, layer: int, vector: np.ndarray):
        self.inner, self.layer = backend, layer
        self.vector = torch.tensor(vector, dtype=torch.float32)
        self.name = backend.name

    def answer_logprobs_at(self, prompt: str, answers: Sequence[str], temperatures: Sequence[float]) -> np.ndarray:
        module = decoder_layers(self.inner.model)[self.layer]
        with forward_hooks([(module, added_to_output(self.vector))]):
            return self.inner.answer_logprobs_at(prompt, answers, temperatures)

    def answer_logprobs(self, prompt: str, answers: Sequence[str], temperature: float = 1.0) -> np.ndarray:
        return self.answer_logprobs_at(prompt, answers, [temperature])[0]


def vector_sha256(vector: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(vector, dtype=np.float64).tobytes()).hexdigest()


@dataclass(eq=False)
class Steered(Condition):
    """Vanilla with `vector` added to decoder layer `layer`'s output; its cache keys name the layer and the vector.
    `condition` names the direction's source (a recipe, or random), `train_seed` its training seed."""
    layer: int = 0
    vector: np.ndarray = None

    @cached_property
    def identity(self) -> dict:
        return dict(Condition.identity.func(self), steer=dict(layer=self.layer, vector=vector_sha256(self.vector)))

    @property
    def backend(self):
        # the vanilla model serves every steered condition: same identity and options, so one load
        plain = Condition(self.spec, self.cache_dir, backend_name=self.backend_name,
                          backend_options=self.backend_options)
        return SteeredBackend(plain.backend, self.layer, self.vector)


def steered(vanilla: Condition, source: str, train_seed: int | None, layer: int, vector: np.ndarray) -> Steered:
    return Steered(vanilla.spec, vanilla.cache_dir, source, train_seed, None, vanilla.backend_name,
                   vanilla.backend_options, layer=layer, vector=np.asarray(vector, dtype=np.float64))


def steering_rows(vanilla: Condition, directions: dict[tuple[str, int], np.ndarray], layers: Sequence[int],
                  scales: Sequence[float], panel: Sequence[Task], progress: bool = False) -> list[dict]:
    """Exact rows for vanilla (scale 0) and for every (direction source, seed) × layer × scale, columns
    `layer` and `scale` beside the long format; `directions` maps (source, train_seed) to a (layers, hidden)
    array."""
    rows = distributions.exact_rows(distributions.exact_panel(vanilla, panel, progress=progress), "vanilla",
                                    None, layer=np.nan, scale=0.0)
    from tqdm import tqdm
    jobs = [(source, seed, layer, scale) for (source, seed) in directions for layer in layers for scale in scales]
    for source, seed, layer, scale in tqdm(jobs, desc="steered exact scoring", unit="variant"):
        condition = steered(vanilla, source, seed, layer, scale * directions[(source, seed)][layer])
        exact = distributions.exact_panel(condition, panel, progress=progress)
        rows += distributions.exact_rows(exact, source, seed, layer=layer, scale=float(scale))
    return rows


STEER_METRICS = ("exact_effective_share", "exact_tv", "raw_mass")
TRANSFER = "untrained tasks"


def steering_effects(long: pd.DataFrame, trained_task: str, metrics: Sequence[str] = STEER_METRICS) -> pd.DataFrame:
    """Per (source, seed, layer, scale): steered − vanilla on the trained task and averaged over the untrained
    tasks (task 'untrained tasks'), one metric `steered_<metric>_change` per measure."""
    frames = []
    for metric in metrics:
        frame = long[long["metric"] == metric]
        base = frame[frame["condition"] == "vanilla"].set_index("task")["value"]
        moved = frame[frame["condition"] != "vanilla"].copy()
        moved["change"] = moved["value"].to_numpy() - base.reindex(moved["task"]).to_numpy()
        moved["group"] = np.where(moved["task"] == trained_task, trained_task, TRANSFER)
        keys = ["condition", "train_seed", "layer", "scale", "group"]
        out = moved.groupby(keys, sort=False)["change"].mean().reset_index()
        frames.append(out.rename(columns={"group": "task", "change": "value"}).assign(metric=f"steered_{metric}_change"))
    return pd.concat(frames, ignore_index=True)


def control_comparisons(effects: pd.DataFrame, recipe: str) -> pd.DataFrame:
    """At each layer, scale and metric, on the untrained tasks: the recipe's direction − each control's (random,
    the arms), unpaired over training seeds (lib.stats.welch)."""
    from lib import stats
    frame = effects[effects["task"] == TRANSFER]
    rows = []
    for (metric, layer, scale), group in frame.groupby(["metric", "layer", "scale"], sort=False):
        treated = group.loc[group["condition"] == recipe, "value"].to_numpy(dtype=float)
        for control in [c for c in dict.fromkeys(group["condition"]) if c != recipe]:
            c = stats.welch(treated, group.loc[group["condition"] == control, "value"].to_numpy(dtype=float))
            rows.append(dict(comparison=f"{recipe} − {control}", control=control, layer=int(layer), scale=scale,
                             task=TRANSFER, metric=metric, value=c.difference, ci_low=c.ci_low, ci_high=c.ci_high,
                             p=c.p_value, method=c.method, n_treated=c.n_treated, n_baseline=c.n_baseline))
    return pd.DataFrame(rows, columns=["comparison", "control", "layer", "scale", "task", "metric", "value", "ci_low",
                                       "ci_high", "p", "method", "n_treated", "n_baseline"])


def steering_summary(effects: pd.DataFrame) -> pd.DataFrame:
    """Mean change over training seeds with a t-interval, per source, layer, scale and task group."""
    from lib.transfer import seed_ci
    rows = []
    for (source, layer, scale, task, metric), group in effects.groupby(
            ["condition", "layer", "scale", "task", "metric"], sort=False):
        mean, low, high = seed_ci(group["value"].tolist())
        rows.append(dict(condition=source, layer=int(layer), scale=scale, task=task, metric=metric, value=mean,
                         ci_low=low, ci_high=high, n=len(group)))
    return pd.DataFrame(rows)


# -- the logit lens -----------------------------------------------------------------------------------------
def first_tokens(backend, task: Task) -> list[int]:
    """The distinct first tokens of the task's answers (every surface form, as scored: answer + end-of-turn)."""
    ids = {backend._encode(form + backend.end_of_turn)[0] for a in task.answers for form in task.surface_forms(a)}
    return sorted(ids)


@torch.inference_mode()
def lens_profile(backend, task: Task) -> dict[str, list[float]]:
    """Per layer, the next-token distribution read from that layer's output (final norm, output head), over the
    answers' first tokens: normalized entropy (1 = uniform over them) and the mass they carry."""
    states = torch.tensor(last_token_states(backend, task.prompt), dtype=torch.float32, device=backend.device)
    decoder = backend.model.get_decoder()
    head = backend.model.get_output_embeddings()
    weight = next(head.parameters())
    logp = torch.log_softmax(head(decoder.norm(states.to(weight.dtype))).float(), dim=-1)
    ids = torch.tensor(first_tokens(backend, task), device=backend.device)
    on_set = logp[:, ids]
    renormalized = torch.log_softmax(on_set, dim=-1)
    entropy = -(renormalized.exp() * renormalized).sum(-1) / max(np.log(len(ids)), 1e-12)
    return dict(entropy=entropy.cpu().double().tolist(), mass=on_set.exp().sum(-1).cpu().double().tolist())


def lens_rows(condition: Condition, tasks: Sequence[Task]) -> list[dict]:
    """Long rows (metrics lens_entropy and lens_mass, column `layer`) for one condition, through the cache."""
    rows = []
    for task in tasks:
        what = dict(prompt=task.prompt, answers=[task.surface_forms(a) for a in task.answers])
        profile = condition.cached("logit_lens", what, lambda backend: lens_profile(backend, task))
        for metric, values in (("lens_entropy", profile["entropy"]), ("lens_mass", profile["mass"])):
            rows += [dict(condition=condition.condition, train_seed=condition.train_seed, task=task.id,
                          metric=metric, layer=layer, value=value) for layer, value in enumerate(values)]
    return rows


def study_lens_rows(cfg, study, tasks: Sequence[Task]) -> list[dict]:
    """lens_rows for vanilla, the studied recipe at each seed, and each arm at each of its seeds."""
    from lib import mechanism
    runs = [(study.recipe, s) for s in study.seeds] + [(name, s) for name, seeds in study.arms.values() for s in seeds]
    rows = lens_rows(mechanism.vanilla(cfg), tasks)
    for recipe, seed in runs:
        rows += lens_rows(mechanism.trained(cfg, recipe, seed), tasks)
    return rows


def lens_summary(long: pd.DataFrame) -> pd.DataFrame:
    """Mean over training seeds with a t-interval, per condition, task, metric and layer."""
    from lib.transfer import seed_ci
    rows = []
    for (condition, task, metric, layer), group in long.groupby(["condition", "task", "metric", "layer"], sort=False):
        mean, low, high = seed_ci(group["value"].tolist())
        rows.append(dict(condition=condition, task=task, metric=metric, layer=int(layer), value=mean, ci_low=low,
                         ci_high=high, n=len(group)))
    return pd.DataFrame(rows)
