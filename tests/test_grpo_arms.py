"""Every 04 arm on the ci profile (SmolLM2): resume, the direct objectives, the step grid and the dose adapters."""
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lib import arms, config, direct, distributions, grpo, tasks, training_callbacks

TASK = tasks.get("integer_1_100")
ARMS = {
    "exact": grpo.Recipe(name="exact", reward="exact", steps=3, num_generations=4, max_completion_length=6,
                         groups_per_step=2, refresh_every=2, lr_schedule="constant"),
    "placebo": grpo.Recipe(name="placebo", reward="placebo", role="placebo", steps=3, num_generations=4,
                           max_completion_length=6),
    "reverse": grpo.Recipe(name="reverse", reward="reverse", role="reverse", steps=3, num_generations=4,
                           max_completion_length=6),
    "kl_uniform": grpo.Recipe(name="kl_uniform", reward="kl_uniform", role="reference", steps=3),
    "self_distill": grpo.Recipe(name="self_distill", reward="self_distill", role="format", steps=3),
}


def _same_adapter(a_dir, b_dir):
    a, b = load_file(a_dir / "adapter_model.safetensors"), load_file(b_dir / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] - b[key]).abs().max().item() < 1e-6, key


@pytest.mark.parametrize("arm", list(ARMS))
def test_every_arm_resumes_to_the_same_adapter(loaded_model, arm, tmp_path):
    spec, recipe = config.load("ci", "04").model, ARMS[arm]
    straight, straight_log = grpo.train(spec, TASK, recipe, 0, tmp_path / "a", eval_every=1, save_every=1)
    partial, _ = grpo.train(spec, TASK, recipe, 0, tmp_path / "b", eval_every=1, save_every=1,
                            extra_callbacks=(training_callbacks.StopAfter(2),))
    assert not partial.exists(), "an interrupted run must not publish an adapter"
    resumed, resumed_log = grpo.train(spec, TASK, recipe, 0, tmp_path / "b", eval_every=1, save_every=1)
    _same_adapter(straight, resumed)
    assert np.allclose(straight_log["exact_tv"].dropna(), resumed_log["exact_tv"].dropna(), atol=1e-6)
    assert list(straight_log.dropna(subset=["exact_tv"])["step"]) == [0, 1, 2, 3]     # measured before training too


def test_differentiable_scoring_matches_the_backend(backend):
    tokens = direct.AnswerTokens.of(backend.loaded, TASK)
    with torch.no_grad():
        logp = direct.answer_logprobs(backend.model, tokens).numpy()
    want = distributions.score_exact(backend, TASK, [1.0])[1.0].logp
    assert np.abs(logp - want).max() < 1e-4


def test_kl_uniform_trainer_reduces_kl_to_uniform(loaded_model, tmp_path):
    spec = config.load("ci", "04").model
    recipe = grpo.Recipe(name="kl_uniform", reward="kl_uniform", role="reference", steps=4, learning_rate=2e-3,
                         lr_schedule="constant")
    _, log = grpo.train(spec, TASK, recipe, 0, tmp_path, eval_every=1, save_every=4)
    losses = log["loss"].dropna().to_numpy()
    assert losses[-1] < losses[0] * 0.8, losses
    tv = log.dropna(subset=["exact_tv"])["exact_tv"].to_numpy()
    assert tv[-1] < tv[0], tv


def test_step_grid_and_dose_adapters_come_from_one_run(loaded_model, tmp_path):
    """Under a constant rate a 1-step recipe is published from its 2-step sibling's checkpoint, and the dose
    steps are kept beside each final adapter."""
    spec = config.load("ci", "04").model
    recipes = arms.recipes_from_params({"kl": {"reward": "kl_uniform", "role": "reference", "lr_schedule": "constant",
                                               "learning_rate": 2e-3}}, grid={"kl": {"steps": [1, 2]}})
    logs = arms.train_all(spec, TASK, recipes, tmp_path, eval_every=1, save_every=5, dose_steps=(0, 1, 2))
    short, long = (grpo.adapter_dir(tmp_path, r.name, 0) for r in recipes)
    assert not (tmp_path / "checkpoints" / recipes[0].name).exists(), "the short run was not trained again"
    _same_adapter(short, long / "steps" / "step1")
    assert (long / "steps" / "step1" / "adapter_config.json").exists() and not (long / "steps" / "step2").exists()
    assert set(logs["recipe"]) == {r.name for r in recipes} and logs.query("recipe == @recipes[0].name")["step"].max() == 1
    again = arms.train_all(spec, TASK, recipes, tmp_path, eval_every=1, save_every=5, dose_steps=(0, 1, 2))
    assert len(again) == len(logs)         # read back, not retrained
