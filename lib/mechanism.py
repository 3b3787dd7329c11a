"""Where in the network the trained change lives: the trained adapter with LoRA kept only on one part of it.

A `LoraPart` names the LoRA modules that stay on (a band of decoder layers, attention or MLP, or a complement);
every other LoRA module is switched off with peft's own per-module switch (`BaseTunerLayer.enable_adapters`),
so an off module computes exactly its base layer. One unmerged model per adapter serves every part: the part is
applied right before each scoring call (`PartBackend`), and each part's outputs go through the one cache under a
key that names the part (`LoraVariant.identity`), so a part is never served another's results.

The share of an effect a part carries compares its effect (part − vanilla) with the full adapter's (full −
vanilla), per training seed: on the trained task the ratio, on the untrained tasks the least-squares coefficient
of the part's effects on the full adapter's (1: the part reproduces the whole pattern of transfer; 0: none of it).
The full adapter is the merged one every other notebook scores (the same model up to float32 rounding: exact
log-probs agree to 1e-4), so its values come from the cache.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np
import pandas as pd

from lib import conditions, distributions
from lib.conditions import Condition
from lib.tasks import Task, display_name

KINDS = ("attention", "mlp")
MIN_EFFECT = 0.005     # below this root-mean-square effect of the full adapter a share is a ratio of noise
_LAYER = re.compile(r"\.layers\.(\d+)\.")


@dataclass(frozen=True)
class LoraPart:
    """The LoRA modules kept on: those in `layers` whose kind (attention or MLP) is in `kinds`."""
    name: str
    layers: tuple[int, ...]
    kinds: tuple[str, ...] = KINDS

    def keeps(self, module_name: str) -> bool:
        return layer_of(module_name) in self.layers and kind_of(module_name) in self.kinds

    @property
    def key(self) -> dict:
        """What the part is, for cache keys (its name is only a label)."""
        return dict(layers=list(self.layers), kinds=list(self.kinds))


def layer_of(module_name: str) -> int | None:
    found = _LAYER.search(module_name + ".")
    return int(found.group(1)) if found else None


def kind_of(module_name: str) -> str | None:
    """attention or mlp, from the module's path (self_attn.q_proj, mlp.down_proj, block_sparse_moe.experts…)."""
    if re.search(r"\.(self_attn|attn|attention)\.", module_name + "."):
        return "attention"
    if re.search(r"\.(mlp|block_sparse_moe|feed_forward|experts)\.", module_name + "."):
        return "mlp"
    return None


def bands(n_layers: int, count: int) -> list[tuple[int, ...]]:
    """The decoder layers split into `count` contiguous bands of (nearly) equal depth."""
    edges = np.linspace(0, n_layers, count + 1).round().astype(int)
    return [tuple(range(a, b)) for a, b in zip(edges, edges[1:])]


def lora_parts(n_layers: int, band_count: int) -> list[LoraPart]:
    """Each band alone, each band's complement, attention only and MLP only (each other's complement)."""
    every = tuple(range(n_layers))
    parts = []
    for i, band in enumerate(bands(n_layers, band_count), 1):
        span = f"layers {band[0]}–{band[-1]}"
        parts.append(LoraPart(f"band {i}/{band_count} ({span})", band))
        parts.append(LoraPart(f"all but band {i}/{band_count} ({span})", tuple(l for l in every if l not in band)))
    return parts + [LoraPart("attention only", every, ("attention",)), LoraPart("MLP only", every, ("mlp",))]


def full_part(n_layers: int) -> LoraPart:
    return LoraPart("full adapter", tuple(range(n_layers)))


def no_part() -> LoraPart:
    return LoraPart("no LoRA", ())


def complement_of(part: LoraPart, parts: Sequence[LoraPart], n_layers: int) -> LoraPart | None:
    """The part that, with `part`, makes up the full adapter (band ↔ all but band, attention ↔ MLP)."""
    for other in parts:
        if set(other.layers) | set(part.layers) == set(range(n_layers)) and (
                (set(other.layers).isdisjoint(part.layers) and other.kinds == part.kinds)
                or (other.layers == part.layers and set(other.kinds).isdisjoint(part.kinds)
                    and set(other.kinds) | set(part.kinds) == set(KINDS))):
            return other
    return None


# -- applying a part with peft's switches ---------------------------------------------------------------
def lora_modules(model) -> dict[str, object]:
    """{module name: LoRA layer} of a peft model (its BaseTunerLayer modules)."""
    from peft.tuners.tuners_utils import BaseTunerLayer
    return {name: module for name, module in model.named_modules() if isinstance(module, BaseTunerLayer)}


def apply_part(model, part: LoraPart) -> int:
    """Switch every LoRA module on or off (peft's enable_adapters) as `part` says; return how many stay on."""
    kept = 0
    for name, module in lora_modules(model).items():
        on = part.keeps(name)
        module.enable_adapters(on)
        kept += on
    return kept


class PartBackend:
    """A scoring backend over an unmerged adapter that applies its part before every call: whichever part ran
    last on the shared model, this one scores with its own."""

    def __init__(self, backend, part: LoraPart):
        self.inner, self.part = backend, part
        self.name = backend.name

    def answer_logprobs_at(self, prompt: str, answers: Sequence[str], temperatures: Sequence[float]) -> np.ndarray:
        apply_part(self.inner.model, self.part)
        return self.inner.answer_logprobs_at(prompt, answers, temperatures)

    def answer_logprobs(self, prompt: str, answers: Sequence[str], temperature: float = 1.0) -> np.ndarray:
        return self.answer_logprobs_at(prompt, answers, [temperature])[0]


def load_unmerged(condition: Condition):
    """The base model with the condition's adapter kept apart from the weights (peft), on the transformers backend."""
    from peft import PeftModel
    from lib import models, sampling
    loaded = models.load(condition.spec)
    loaded.model = PeftModel.from_pretrained(loaded.model, str(condition.adapter)).eval()
    placeless = [name for name in lora_modules(loaded.model) if layer_of(name) is None or kind_of(name) is None]
    if placeless:      # no part could switch them, so no part would be the full adapter
        raise ValueError(f"{condition.adapter}: LoRA on modules outside the decoder layers' attention and MLP "
                         f"({', '.join(placeless[:3])}); the ablation by place covers only those")
    options = {k: v for k, v in condition.backend_options.items() if k in ("score_batch_size", "sample_batch_size")}
    return sampling.TransformersBackend(loaded, **options)


@dataclass(eq=False)
class LoraVariant(Condition):
    """A trained adapter with LoRA kept only on `part`; its cache keys name the part."""
    part: LoraPart = None

    @cached_property
    def identity(self) -> dict:
        return dict(Condition.identity.func(self), lora_part=self.part.key)

    @property
    def label(self) -> str:
        return f"{Condition.label.fget(self)}, {self.part.name}"

    @property
    def backend(self):
        # One unmerged model per adapter, whatever the part: loaded (and released) like any condition's model.
        unmerged = Condition(self.spec, self.cache_dir, self.condition, self.train_seed, self.adapter,
                             "transformers", dict(self.backend_options, lora="unmerged"), loader=load_unmerged)
        return PartBackend(unmerged.backend, self.part)


# -- what is studied ------------------------------------------------------------------------------------
ARM_ROLES = ("reverse", "placebo")


@dataclass(frozen=True)
class Study:
    recipe: str                                         # the recipe studied (params recipe; selected: 04's choice)
    seeds: tuple[int, ...]                              # its training seeds (params trained_seeds)
    arms: dict[str, tuple[str, tuple[int, ...]]]        # role -> (recipe, seeds) for the arms 04 trained
    n_layers: int

    def describe(self) -> str:
        arms = "; ".join(f"{role}: {name} (seeds {list(seeds)})" for role, (name, seeds) in self.arms.items())
        return (f"Studied: **{self.recipe}** (seeds {list(self.seeds)}); arms: {arms or 'none trained'}; "
                f"{self.n_layers} decoder layers.")


def study(cfg) -> Study:
    """The recipe and seeds params name, the reverse and placebo arms 04 trained (where it did), and the depth."""
    from lib import results
    recipe, trained_runs = conditions.recipe_conditions(cfg, cfg.trained_seeds)
    selection = results.read(cfg.results_dir, "04_selection")
    arms = {}
    for role in ARM_ROLES:
        for name in selection.loc[selection["role"] == role, "recipe"][:1]:
            try:
                arms[role] = (name, tuple(conditions.trained_adapters(cfg.run_dir, name)))
            except conditions.MissingAdapters:
                pass
    return Study(recipe, tuple(c.train_seed for c in trained_runs), arms, depth(cfg.model))


def depth(spec) -> int:
    """Number of decoder layers, from the model's config (no weights loaded)."""
    from transformers import AutoConfig
    from lib import models
    return AutoConfig.from_pretrained(models.resolve(spec)[0]).get_text_config().num_hidden_layers


# -- conditions on the transformers backend (internals need a model in this process) --------------------
def transformers_options(cfg) -> dict:
    return dict(score_batch_size=cfg.score_batch_size, sample_batch_size=cfg.sample_batch_size)


def vanilla(cfg) -> Condition:
    """Vanilla on the transformers backend (on a CPU profile: the same cache entries as every other notebook)."""
    return Condition(cfg.model, cfg.run_dir / "cache", backend_name="transformers",
                     backend_options=transformers_options(cfg))


def trained(cfg, recipe: str, seed: int) -> Condition:
    """The merged adapter on the transformers backend: the full adapter the parts are compared with."""
    adapter = conditions.trained(cfg, recipe, seed).adapter     # raises MissingAdapters, saying to run 04
    return Condition(cfg.model, cfg.run_dir / "cache", recipe, seed, adapter, "transformers", transformers_options(cfg))


def variant(cfg, recipe: str, seed: int, part: LoraPart) -> LoraVariant:
    full = trained(cfg, recipe, seed)
    return LoraVariant(full.spec, full.cache_dir, recipe, seed, full.adapter, "transformers",
                       full.backend_options, part=part)


def ablation_rows(cfg, recipe: str, seeds: Sequence[int], parts: Sequence[LoraPart], panel: Sequence[Task],
                  progress: bool = True) -> list[dict]:
    """Exact rows (lib.distributions.exact_rows, T=1) for vanilla, the full adapter and every part at every seed;
    column `part` names the variant ('vanilla', 'full adapter' or the part)."""
    from tqdm import tqdm
    rows = distributions.exact_rows(distributions.exact_panel(vanilla(cfg), panel, progress=False), "vanilla",
                                    None, part="vanilla")
    jobs = [(seed, part) for seed in seeds for part in (None, *parts)]
    for seed, part in tqdm(jobs, desc=f"{recipe}: exact scoring of every part", unit="variant", disable=not progress):
        condition = trained(cfg, recipe, seed) if part is None else variant(cfg, recipe, seed, part)
        exact = distributions.exact_panel(condition, panel, progress=False)
        rows += distributions.exact_rows(exact, recipe, seed, part="full adapter" if part is None else part.name)
    return rows


# -- the share of the effect each part carries --------------------------------------------------------
SHARE_METRICS = ("exact_tv", "exact_effective_share")
TRANSFER = "untrained tasks"


def _share(part_effect: np.ndarray, full_effect: np.ndarray) -> float:
    """Least-squares coefficient of the part's effects on the full adapter's (a ratio for one task)."""
    if not np.sqrt(np.mean(full_effect ** 2)) >= MIN_EFFECT:
        return math.nan
    return float(part_effect @ full_effect / (full_effect @ full_effect))


def effect_shares(long: pd.DataFrame, trained_task: str, metrics: Sequence[str] = SHARE_METRICS) -> pd.DataFrame:
    """Per training seed, part and metric: the share of the full adapter's effect the part carries on the trained
    task and on the untrained tasks together (rows: condition, part, task, metric 'effect_share', measure,
    train_seed, value)."""
    rows = []
    for measure in metrics:
        frame = long[long["metric"] == measure]
        base = frame[frame["part"] == "vanilla"].set_index("task")["value"]
        for (recipe, seed), group in frame[frame["part"] != "vanilla"].groupby(["condition", "train_seed"]):
            by_part = {part: g.set_index("task")["value"] for part, g in group.groupby("part", sort=False)}
            full = by_part.pop("full adapter") - base
            for part, values in by_part.items():
                effect = (values - base).reindex(full.index)
                for task, keep in ((trained_task, full.index == trained_task), (TRANSFER, full.index != trained_task)):
                    rows.append(dict(condition=recipe, part=part, task=task, metric="effect_share", measure=measure,
                                     train_seed=seed, value=_share(effect[keep].to_numpy(), full[keep].to_numpy())))
    return pd.DataFrame(rows)


def share_summary(shares: pd.DataFrame) -> pd.DataFrame:
    """Mean share over training seeds with a t-interval (lib.transfer.seed_ci), per condition, part, task and
    measure, in the parts' order."""
    from lib.transfer import seed_ci
    rows = []
    for (recipe, part, task, measure), group in shares.groupby(["condition", "part", "task", "measure"], sort=False):
        mean, low, high = seed_ci(group["value"].tolist())
        rows.append(dict(condition=recipe, part=part, task=task, metric="effect_share", measure=measure, value=mean,
                         ci_low=low, ci_high=high, n=int(group["value"].notna().sum())))
    return pd.DataFrame(rows)


def share_table(summary: pd.DataFrame, measure: str = "exact_effective_share") -> pd.DataFrame:
    """Per part: the share of the trained-task effect and of the untrained tasks' effect, "mean [CI]" over seeds."""
    from lib import tables
    frame = summary[summary["measure"] == measure]
    out = pd.DataFrame({"part": list(dict.fromkeys(frame["part"]))})
    for task, group in frame.groupby("task", sort=False):
        group = group.set_index("part").reindex(out["part"])
        where = task if task == TRANSFER else display_name(task)
        out[f"share of the effect on {where}"] = tables.ci_column(group, 2).to_numpy()
    return out


def level_table(long: pd.DataFrame, trained_task: str) -> pd.DataFrame:
    """Per variant (vanilla, full adapter, each part): exact TV, exact effective share and raw mass, on the trained
    task and averaged over the untrained tasks, mean over training seeds."""
    frame = long[long["metric"].isin(["exact_tv", "exact_effective_share", "raw_mass"])].copy()
    frame["where"] = np.where(frame["task"] == trained_task, trained_task, TRANSFER)
    per_seed = frame.groupby(["part", "train_seed", "where", "metric"], dropna=False, sort=False)["value"].mean()
    mean = per_seed.groupby(["part", "where", "metric"], sort=False).mean().unstack(["where", "metric"])
    mean.columns = [f"{metric} ({where})" for where, metric in mean.columns]
    return mean.reset_index()
