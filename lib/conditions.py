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


def evaluate(spec, adapter: Path | None, panel, condition: str, seed: int | None, n_samples: int,
             params, sample_seed: int, cache_dir: Path | None, backend_options: dict | None = None,
             n_boot: int = 1000) -> tuple[list[dict], dict]:
    """Exact distributions at T=1 and the seed's n-sample protocol for one condition.

    Returns (long-format rows, {task_id: ExactDistribution}).
    """
    from lib import distributions

    backend = load_backend(spec, adapter, backend_options)
    exact = distributions.exact_panel(backend, panel, temperature=1.0)
    model_id = f"{spec.source}+{adapter}" if adapter else spec.source
    samples = distributions.sample_panel(backend, panel, n=n_samples, params=params, seed=sample_seed,
                                         cache_dir=cache_dir, model_id=model_id)
    rows = distributions.exact_rows(exact, condition, seed) + \
        distributions.sampled_rows(samples, condition, params.temperature, sample_seed, "sampled", n_boot)
    for row in rows:
        row["seed"] = seed
    return rows, exact


def load_backend(spec, adapter: Path | None = None, backend_options: dict | None = None):
    """A transformers backend on the profile's model, with the adapter merged in when given."""
    from lib import models, sampling
    return sampling.TransformersBackend(models.load(spec, adapter=adapter), **(backend_options or {}))
