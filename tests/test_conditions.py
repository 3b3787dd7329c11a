"""Which trained conditions a notebook compares: the selected recipe's seeds and the other arms 04 trained."""
from types import SimpleNamespace

import pandas as pd
import pytest

from lib import conditions
from tests.fakes import fake_model, write_adapter


def _cfg(tmp_path, trained: dict[str, tuple[str, list[int]]]) -> SimpleNamespace:
    """A profile whose 04 trained `trained` = {recipe: (role, seeds)} (04_selection.csv and adapter files)."""
    run_dir = tmp_path / "runs" / "fake"
    (run_dir / "results").mkdir(parents=True)
    pd.DataFrame([dict(recipe=recipe, role=role) for recipe, (role, _) in trained.items()]).to_csv(
        run_dir / "results" / "04_selection.csv", index=False)
    for recipe, (_, seeds) in trained.items():
        for seed in seeds:
            write_adapter(conditions.adapter_dir(run_dir, recipe, seed), f"{recipe}{seed}".encode())
    return SimpleNamespace(model=fake_model(tmp_path), run_dir=run_dir, results_dir=run_dir / "results",
                           backend="transformers", backend_options={}, recipe="selected", trained_seeds=[0, 1])


TRAINED = {"exact": ("selected", [0, 1, 2]), "histogram": ("ablation", [0]), "collapse": ("control", [1, 0]),
           "placebo": ("placebo", [3, 2]), "reverse": ("reverse", [0, 1]), "kl": ("reference", [0])}


def test_arms_all_adds_the_first_seed_of_every_other_arm_in_role_order(tmp_path):
    cfg = _cfg(tmp_path, TRAINED)
    runs = conditions.vanilla_and_trained(cfg, "all")
    assert [(c.condition, c.train_seed) for c in runs] == [
        ("vanilla", None), ("exact", 0), ("exact", 1),
        ("collapse", 0), ("placebo", 2), ("reverse", 0), ("kl", 0)]       # no format arm was trained: none here
    assert all(c.adapter is None for c in runs[:1]) and all(c.adapter.exists() for c in runs[1:])


def test_arms_none_and_a_list_of_roles(tmp_path):
    cfg = _cfg(tmp_path, TRAINED)
    assert [c.condition for c in conditions.vanilla_and_trained(cfg)] == ["vanilla", "exact", "exact"]
    assert [c.condition for c in conditions.vanilla_and_trained(cfg, ["reverse", "placebo"])] == [
        "vanilla", "exact", "exact", "reverse", "placebo"]


def test_a_named_arm_04_did_not_train_says_so(tmp_path):
    cfg = _cfg(tmp_path, TRAINED)
    with pytest.raises(conditions.MissingAdapters, match=r"role\(s\) \['format'\]"):
        conditions.arm_conditions(cfg, ["placebo", "format"])
