"""The conditions notebooks compare, and the one runner that serves them.

A `Condition` is a model + an optional LoRA adapter (saved by 04_grpo_train under
runs/<profile>/adapters/<recipe>/seed<k>/) + a backend + a label. It loads its backend at most once, and
only when a value is not in the cache (`lib.cache`, keyed by the weights' and the adapter's hashes), so a
rerun with everything cached loads no model. One model is in memory at a time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

from lib import artifacts
from lib.cache import CACHE_VERSION, SAMPLER_VERSION, Cache, adapter_sha256, digest
from lib.recipes import ARM_ROLES
from lib.registry import ModelSpec


class MissingAdapters(FileNotFoundError):
    """No trained adapter yet: notebook 04_grpo_train has to run first."""


def adapter_dir(run_dir: Path, recipe: str, seed: int) -> Path:
    return Path(run_dir) / "adapters" / recipe / f"seed{seed}"


def trained_adapters(run_dir: Path, recipe: str) -> dict[int, Path]:
    """{seed: adapter directory} for every finished adapter of a recipe, by seed."""
    root = Path(run_dir) / "adapters" / recipe
    found = {int(p.parent.name[4:]): p.parent for p in root.glob("seed*/adapter_config.json")}
    if not found:
        raise MissingAdapters(f"no trained adapters for recipe {recipe!r} in {root}: "
                              "run notebook 04_grpo_train first (make report NB=04)")
    return dict(sorted(found.items()))


# The one model in memory: (condition identity, backend). Loading another condition drops it first.
_LOADED: dict[str, Any] = {}


@dataclass(eq=False)
class Condition:
    """A model (spec + adapter) served by one backend, named in tables by `condition` (vanilla or a recipe)
    and `train_seed` (the adapter's training seed; None for vanilla)."""
    spec: ModelSpec
    cache_dir: Path
    condition: str = "vanilla"
    train_seed: int | None = None
    adapter: Path | None = None
    backend_name: str = "transformers"
    backend_options: dict = field(default_factory=dict)
    loader: Callable[["Condition"], Any] | None = None      # tests substitute a fake backend here

    @property
    def label(self) -> str:
        return self.condition if self.train_seed is None else f"{self.condition} seed {self.train_seed}"

    @cached_property
    def identity(self) -> dict:
        """What produced this condition's outputs: weight and adapter hashes and the backend."""
        from lib.models import weights_sha256
        return dict(weights=weights_sha256(self.spec), adapter=adapter_sha256(self.adapter),
                    backend=self.backend_name)

    @property
    def backend(self):
        """The loaded backend (loaded here on first use; any other condition's model is released first)."""
        key = digest(**self.identity, options=self.backend_options)
        if key not in _LOADED:
            release()
            _LOADED[key] = self.loader(self) if self.loader else self._load()
        return _LOADED[key]

    def _load(self):
        from lib import sampling
        return sampling.load_backend(self.spec, self.backend_name, adapter=self.adapter, **self.backend_options)

    def describe(self) -> str:
        """One line for a notebook: the model, its weight hash and adapter, and the backend (loads nothing)."""
        adapter = f" + adapter `{self.adapter}`" if self.adapter else ""
        return (f"{self.label}: model `{self.spec.source}` (weights sha256 {self.identity['weights'][:12]}…){adapter} "
                f"on {self.backend_name}; outputs are cached under `{self.cache_dir}` by content.")

    # -- the one cache -----------------------------------------------------------------------
    def key(self, kind: str, what: Any, params: Any = None, seed: int | None = None) -> str:
        sampler = {"sampler": SAMPLER_VERSION} if kind == "samples" and self.backend_name == "transformers" else {}
        return digest(**self.identity, kind=kind, what=what, params=params, seed=seed, version=CACHE_VERSION,
                      **sampler)

    def cached(self, kind: str, what: Any, make: Callable[[Any], Any], params: Any = None,
               seed: int | None = None) -> Any:
        """The value `make(backend)` would compute for (kind, what, params, seed), from the cache when stored.
        The backend loads only when the value is missing."""
        found = self.stored(kind, what, params, seed)
        return found if found is not None else self.store(kind, what, make(self.backend), params, seed)

    def stored(self, kind: str, what: Any, params: Any = None, seed: int | None = None) -> Any | None:
        """The cached value, or None (never computes)."""
        return Cache(self.cache_dir).get(kind, self.key(kind, what, params, seed))

    def store(self, kind: str, what: Any, value: Any, params: Any = None, seed: int | None = None) -> Any:
        """Put a value computed elsewhere (e.g. several temperatures scored in one pass) into the cache."""
        about = dict(self.identity, label=self.label, adapter_dir=str(self.adapter or ""))
        return Cache(self.cache_dir).put(kind, self.key(kind, what, params, seed), value, about)


def release() -> None:
    """Free the model in memory (the next condition that needs one loads its own)."""
    _LOADED.clear()
    import gc
    gc.collect()


def vanilla(cfg) -> Condition:
    """The profile's model on its backend, no adapter."""
    return Condition(cfg.model, cfg.run_dir / "cache", backend_name=cfg.backend,
                     backend_options=cfg.backend_options)


def trained(cfg, recipe: str, seed: int) -> Condition:
    """The profile's model with the adapter 04 trained for (recipe, seed)."""
    path = adapter_dir(cfg.run_dir, recipe, seed)
    if not (path / "adapter_config.json").exists():
        raise MissingAdapters(f"no adapter for recipe {recipe!r} seed {seed} at {path}: run notebook "
                              "04_grpo_train first (make report NB=04)")
    return Condition(cfg.model, cfg.run_dir / "cache", recipe, seed, path, cfg.backend, cfg.backend_options)


def checkpoint(cfg, recipe: str, seed: int, adapter: Path | None) -> Condition:
    """The profile's model with an adapter 04 kept after some steps of (recipe, seed) (vanilla when None). Its cache
    key holds the adapter files' sha256 (Condition.identity), so two checkpoints share results only when their
    weights are the same bytes."""
    if adapter is not None and not (Path(adapter) / "adapter_config.json").exists():
        raise MissingAdapters(f"no adapter at {adapter}: run notebook 04_grpo_train with dose_steps first")
    return Condition(cfg.model, cfg.run_dir / "cache", recipe, seed, adapter, cfg.backend, cfg.backend_options)


def recipe_conditions(cfg, seeds: str | Sequence[int] = "all") -> tuple[str, list[Condition]]:
    """(recipe, one condition per trained seed) for params' `recipe`; "selected" means the recipe 04 selected.
    `seeds` keeps only the stated seeds. Raises MissingAdapters, saying to run 04."""
    recipe = cfg.recipe
    if recipe == "selected":
        try:
            recipe = artifacts.selected_recipe(cfg.results_dir)
        except FileNotFoundError as err:
            raise MissingAdapters(f"no recipe selected yet ({err}): run notebook 04_grpo_train first "
                                  "(make report NB=04)") from None
    adapters = trained_adapters(cfg.run_dir, recipe)
    if seeds != "all":
        missing = sorted(set(seeds) - set(adapters))
        if missing:
            raise MissingAdapters(f"recipe {recipe!r} has no adapter for seed(s) {missing} "
                                  f"(trained: {sorted(adapters)}); change trained_seeds or run 04 with those seeds")
        adapters = {s: adapters[s] for s in seeds}
    return recipe, [trained(cfg, recipe, seed) for seed in adapters]


def arm_conditions(cfg, roles: str | Sequence[str]) -> list[Condition]:
    """The first trained seed of each stated arm 04 trained beside the selected recipe: 'all' is every role in
    ARM_ROLES that 04 trained, 'none' is none, a list names roles (each must have been trained)."""
    if roles == "none":
        return []
    from lib import results, transfer
    wanted = ARM_ROLES if roles == "all" else tuple(roles)
    try:
        selection = results.read(cfg.results_dir, "04_selection")
    except FileNotFoundError as err:
        raise MissingAdapters(f"no arms trained yet ({err}): run notebook 04_grpo_train first") from None
    arms = {role: transfer.arm_of_role(selection, role) for role in wanted}
    arms = {role: recipe for role, recipe in arms.items() if recipe is not None}
    missing = [role for role in wanted if role not in arms]
    if roles != "all" and missing:
        raise MissingAdapters(f"04 trained no arm with role(s) {missing} (trained: {sorted(arms)}); "
                              "change `arms` or add the recipe to 04's params")
    return [trained(cfg, recipe, min(trained_adapters(cfg.run_dir, recipe))) for recipe in arms.values()]


def vanilla_and_trained(cfg, arms: str | Sequence[str] = "none") -> list[Condition]:
    """Vanilla first, then the params' recipe at each of its trained_seeds, then the first seed of each of
    `arms` (arm_conditions)."""
    return [vanilla(cfg), *recipe_conditions(cfg, cfg.trained_seeds)[1], *arm_conditions(cfg, arms)]
