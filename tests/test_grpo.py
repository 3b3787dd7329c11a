"""GRPO training on the ci profile: an interrupted run resumes to the same result as an uninterrupted one."""
import pandas as pd
import pytest
from safetensors.torch import load_file

from lib import config, grpo, tasks


@pytest.fixture(scope="module")
def ci_recipe():
    return grpo.Recipe(name="histogram", reward="histogram", seeds=(0,), steps=3, num_generations=4,
                       max_completion_length=6)


def test_interrupted_run_resumes_to_the_same_adapter(loaded_model, ci_recipe, tmp_path):
    spec = config.load("ci", "04").model
    task = tasks.get("integer_1_100")
    straight, straight_log = grpo.train(spec, task, ci_recipe, seed=0, run_dir=tmp_path / "a", eval_every=1, save_every=1)
    partial, _ = grpo.train(spec, task, ci_recipe, seed=0, run_dir=tmp_path / "b", eval_every=1, save_every=1,
                            extra_callbacks=(grpo.StopAfter(2),))
    assert not partial.exists(), "an interrupted run must not publish an adapter"
    resumed, resumed_log = grpo.train(spec, task, ci_recipe, seed=0, run_dir=tmp_path / "b", eval_every=1, save_every=1)
    a = load_file(straight / "adapter_model.safetensors")
    b = load_file(resumed / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] - b[key]).abs().max().item() < 1e-6, key
    pd.testing.assert_series_equal(straight_log["exact_tv"].dropna().reset_index(drop=True),
                                   resumed_log["exact_tv"].dropna().reset_index(drop=True), atol=1e-6)
    assert straight_log["step"].max() == 3 and "reward" in straight_log and "valid_rate" in straight_log


def test_select_recipe_uses_only_the_trained_task_and_skips_the_control():
    final = pd.DataFrame([
        dict(recipe="validity", seed=0, exact_tv=0.10, raw_mass=0.99),   # best TV, but it is the control
        dict(recipe="histogram", seed=0, exact_tv=0.40, raw_mass=0.95),
        dict(recipe="uniqueness", seed=0, exact_tv=0.30, raw_mass=0.50),  # below the valid-mass bar
    ])
    table = grpo.select_recipe(final, control="validity", min_valid_mass=0.9)
    assert table.set_index("recipe")["role"].to_dict() == {"validity": "control", "histogram": "selected",
                                                           "uniqueness": "ablation"}


def test_training_log_has_one_row_per_step():
    history = [{"step": 1, "reward": -1.0, "rewards/histogram_reward/valid_rate": 0.0}, {"step": 1, "exact_tv": 0.5},
               {"step": 2, "reward": 0.5}]
    log = grpo.training_log(history, "histogram", 0)
    assert list(log["step"]) == [1, 2]
    assert log.loc[0, "exact_tv"] == 0.5 and log.loc[1, "reward"] == 0.5
