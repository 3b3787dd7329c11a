"""Notebook 04 on the ci profile: every arm trained, roles written, dose adapters kept."""
import pandas as pd

from lib import arms, config


def test_04_trains_every_arm_with_its_role_and_keeps_dose_adapters(ci_runs):
    cfg = config.load("ci", "04")
    results = ci_runs / "ci" / "results"
    table, selection = pd.read_csv(results / "04_arms.csv"), pd.read_csv(results / "04_selection.csv")
    recipes = arms.recipes_from_params(cfg.recipes, cfg.grid)
    assert list(table["recipe"]) == [r.name for r in recipes]
    roles = selection.set_index("recipe")
    chosen = roles.index[roles["role"] == "selected"].item()
    assert roles.loc[chosen, "recipe_role"] == "spread" and roles.loc[cfg.control_recipe, "role"] == "control"
    assert {"placebo", "reverse", "format", "reference"} <= set(roles["role"])
    assert table.set_index("recipe").loc[chosen, "seeds"] == len(cfg.selected_seeds)
    for recipe in recipes:
        final = ci_runs / "ci" / "adapters" / recipe.name / "seed0"
        kept = [s for s in cfg.dose_steps if 0 < s < recipe.steps]
        assert all((final / "steps" / f"step{s}" / "adapter_config.json").exists() for s in kept), recipe.name
