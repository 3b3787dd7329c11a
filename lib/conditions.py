"""The conditions notebooks compare: "vanilla" (the profile's model) and "trained" (the model with a
LoRA adapter saved by 04_grpo_train under runs/<profile>/adapters/<recipe>/seed<k>/)."""
from __future__ import annotations

from pathlib import Path


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


def recipe_adapters(cfg, seeds: str | list[int] = "all") -> tuple[str, dict[int, Path]]:
    """(recipe, {seed: adapter dir}) for params' `recipe`; "selected" means the recipe 04 selected
    (04_selection.csv). `seeds` keeps only the stated seeds. Raises MissingAdapters, saying to run 04."""
    recipe = cfg.recipe
    if recipe == "selected":
        path = Path(cfg.results_dir) / "04_selection.csv"
        if not path.exists():
            raise MissingAdapters(f"no recipe selected yet ({path} is missing): run notebook "
                                  "04_grpo_train first (make report NB=04)")
        import pandas as pd
        selection = pd.read_csv(path)
        recipe = selection.loc[selection["role"] == "selected", "recipe"].item()
    adapters = trained_adapters(cfg.run_dir, recipe)
    if seeds != "all":
        missing = sorted(set(seeds) - set(adapters))
        if missing:
            raise MissingAdapters(f"recipe {recipe!r} has no adapter for seed(s) {missing} "
                                  f"(trained: {sorted(adapters)}); change trained_seeds or run 04 with those seeds")
        adapters = {s: adapters[s] for s in seeds}
    return recipe, adapters


def model_id(spec, adapter: Path | None, backend: str = "transformers") -> str:
    """What cache keys use to tell the vanilla model and each adapter apart (and another backend's samples)."""
    name = f"{spec.source}+{adapter}" if adapter else spec.source
    return name if backend == "transformers" else f"{name}@{backend}"


def backend_for(cfg, adapter: Path | None = None):
    """The profile's backend (cfg.backend, cfg.backend_options) on its model, with the adapter when given."""
    return load_backend(cfg.model, adapter, cfg.backend_options, cfg.backend)


def cache_id(cfg, adapter: Path | None = None) -> str:
    """model_id for the profile's model and backend."""
    return model_id(cfg.model, adapter, cfg.backend)


def vanilla_and_trained(cfg) -> list[tuple[str, int | None, Path | None]]:
    """[(condition, seed, adapter)]: vanilla first, then the params' recipe at each of its trained_seeds."""
    recipe, adapters = recipe_adapters(cfg, cfg.trained_seeds)
    return [("vanilla", None, None)] + [(recipe, seed, path) for seed, path in adapters.items()]


def evaluate(spec, adapter: Path | None, panel, condition: str, seed: int | None, n_samples: int,
             params, sample_seed: int, cache_dir: Path | None, backend_options: dict | None = None,
             n_boot: int = 1000, backend: str = "transformers") -> tuple[list[dict], dict]:
    """Exact distributions at T=1 and the seed's n-sample protocol for one condition.

    Returns (long-format rows, {task_id: ExactDistribution}).
    """
    from lib import distributions

    model = load_backend(spec, adapter, backend_options, backend)
    exact = distributions.exact_panel(model, panel, temperature=1.0)
    samples = distributions.sample_panel(model, panel, n=n_samples, params=params, seed=sample_seed,
                                         cache_dir=cache_dir, model_id=model_id(spec, adapter, backend))
    rows = distributions.exact_rows(exact, condition, seed) + \
        distributions.sampled_rows(samples, condition, params.temperature, sample_seed, "sampled", n_boot)
    for row in rows:
        row["seed"] = seed
    return rows, exact


def load_backend(spec, adapter: Path | None = None, backend_options: dict | None = None,
                 backend: str = "transformers"):
    """The profile's backend on its model, with the adapter (merged by transformers, a LoRA request in vLLM)."""
    from lib import sampling
    return sampling.load_backend(spec, backend, adapter=adapter, **(backend_options or {}))
