"""GRPO training on the ci profile: an interrupted run resumes to the same result as an uninterrupted one."""
import pandas as pd
import pytest
from safetensors.torch import load_file

from lib import arms, config, grpo, tasks, training_callbacks


@pytest.fixture(scope="module")
def ci_recipe():
    return grpo.Recipe(name="histogram", reward="histogram", seeds=(0,), steps=3, num_generations=4,
                       max_completion_length=6)


def test_interrupted_run_resumes_to_the_same_adapter(loaded_model, ci_recipe, tmp_path):
    spec = config.load("ci", "04").model
    task = tasks.get("integer_1_100")
    straight, straight_log = grpo.train(spec, task, ci_recipe, seed=0, run_dir=tmp_path / "a", eval_every=1, save_every=1)
    partial, _ = grpo.train(spec, task, ci_recipe, seed=0, run_dir=tmp_path / "b", eval_every=1, save_every=1,
                            extra_callbacks=(training_callbacks.StopAfter(2),))
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
        dict(recipe="validity", train_seed=0, exact_tv=0.10, raw_mass=0.99),   # best TV, but it is the control
        dict(recipe="histogram", train_seed=0, exact_tv=0.40, raw_mass=0.95),
        dict(recipe="uniqueness", train_seed=0, exact_tv=0.30, raw_mass=0.50),  # below the valid-mass bar
    ])
    table = arms.select_recipe(final, control="validity", min_valid_mass=0.9)
    assert table.set_index("recipe")["role"].to_dict() == {"validity": "control", "histogram": "selected",
                                                           "uniqueness": "ablation"}


def test_selection_picks_only_among_spread_recipes_and_labels_every_role():
    final = pd.DataFrame([
        dict(recipe="collapse", train_seed=0, exact_tv=0.50, raw_mass=0.99),
        dict(recipe="reference", train_seed=0, exact_tv=0.01, raw_mass=0.99),   # best, but not a spread recipe
        dict(recipe="placebo", train_seed=0, exact_tv=0.05, raw_mass=0.99),
        dict(recipe="exact", train_seed=0, exact_tv=0.12, raw_mass=0.97),
        dict(recipe="exact", train_seed=1, exact_tv=0.10, raw_mass=0.97),
        dict(recipe="histogram", train_seed=0, exact_tv=0.40, raw_mass=0.95),
    ])
    roles = dict(collapse="control", reference="reference", placebo="placebo", exact="spread", histogram="spread")
    table = arms.select_recipe(final, "collapse", 0.9, roles).set_index("recipe")
    assert table["role"].to_dict() == dict(collapse="control", reference="reference", placebo="placebo",
                                           exact="selected", histogram="ablation")
    assert table.loc["exact", "seeds"] == 2 and table.loc["exact", "exact_tv"] == pytest.approx(0.11)
    kept = arms.select_recipe(final, "collapse", 0.9, roles, chosen="histogram").set_index("recipe")
    assert kept.loc["histogram", "role"] == "selected" and "screening" in kept.loc["histogram", "reason"]


def test_grid_expands_a_recipe_and_shorter_constant_runs_reuse_longer_ones():
    recipes = arms.recipes_from_params(
        {"exact": {"reward": "exact", "lr_schedule": "constant", "seeds": [0, 1]},
         "placebo": {"reward": "placebo", "role": "placebo"}},
        grid={"exact": {"learning_rate": [5e-5, 1e-4], "steps": [10, 20]}})
    names = [r.name for r in recipes]
    assert names == ["exact_lr5e-05_s10", "exact_lr5e-05_s20", "exact_lr0.0001_s10", "exact_lr0.0001_s20", "placebo"]
    short, long = recipes[0], recipes[1]
    assert arms.prefix_run(short, recipes, seed=1) == long and arms.prefix_run(long, recipes, seed=1) is None
    assert arms.prefix_run(recipes[2], recipes, 0).learning_rate == 1e-4     # never across learning rates
    from dataclasses import replace
    linear = [replace(r, lr_schedule="linear") for r in recipes]
    assert arms.prefix_run(linear[0], linear, 0) is None      # a decaying rate makes step 10 of 20 another run
    with pytest.raises(ValueError, match="grid"):
        arms.recipes_from_params({"exact": {"reward": "exact"}}, grid={"nope": {"steps": [1]}})


def test_training_log_has_one_row_per_step():
    history = [{"step": 1, "reward": -1.0, "rewards/histogram_reward/valid_rate": 0.0}, {"step": 1, "exact_tv": 0.5},
               {"step": 2, "reward": 0.5}]
    log = grpo.training_log(history, "histogram", 0)
    assert list(log["step"]) == [1, 2]
    assert log.loc[0, "exact_tv"] == 0.5 and log.loc[1, "reward"] == 0.5


# -- at scale: several processes, vLLM generation, mixture-of-experts models --------------------------
def test_recipe_identity_is_unchanged_without_vllm_generation(ci_recipe):
    """Adapters trained before the generation settings (and the later recipe settings, at their former implicit
    values) existed must still be read back, not retrained; the role and the seed list never retrain one."""
    spec, task = config.load("ci", "04").model, tasks.get("integer_1_100")
    before = dict(name="histogram", reward="histogram", lora=True, lora_r=16, lora_alpha=32, learning_rate=1e-4,
                  beta=0.0, steps=3, num_generations=4, max_completion_length=6, temperature=1.0,
                  seed=0, task=task.id, prompt=task.prompt, model=spec.source,
                  reward_revision=2,        # histogram rewards on the 2^-12 grid (lib.rewards.REVISIONS)
                  silent_steps="skipped")   # steps without a signal leave the weights alone (lib.silent_steps)
    from dataclasses import replace
    assert grpo.recipe_identity(replace(ci_recipe, seeds=(0, 1, 2), role="control"), 0, task, spec) == before
    assert grpo.recipe_identity(replace(ci_recipe, lr_schedule="constant"), 0, task, spec) != before
    for generation in (None, {}, {"use_vllm": False}):
        assert grpo.recipe_identity(ci_recipe, 0, task, spec, generation) == before
        assert grpo.generation_kwargs(generation) == {}
    with_vllm = grpo.recipe_identity(ci_recipe, 0, task, spec, {"use_vllm": True, "vllm_mode": "server"})
    assert with_vllm["generation"]["use_vllm"] and with_vllm != before


def test_generation_settings_reach_grpo_config():
    from trl import GRPOConfig
    generation = config.load("qwen3-4b", "04").generation
    kwargs = grpo.generation_kwargs(generation)
    assert kwargs["use_vllm"] and kwargs["vllm_mode"] == "colocate"
    assert set(config.GENERATION_SCHEMA) <= set(GRPOConfig.__dataclass_fields__), "keys are GRPOConfig fields"


def test_one_step_is_one_group_however_many_processes():
    assert [grpo.per_device_batch(8, n) for n in (1, 2, 4, 8)] == [8, 4, 2, 1]
    with pytest.raises(ValueError, match="num_processes"):
        grpo.per_device_batch(8, 3)


def test_lora_targets_only_attention_in_mixture_of_experts():
    from transformers import LlamaConfig, Qwen3MoeConfig
    assert grpo.lora_targets(LlamaConfig()) == "all-linear"
    assert grpo.lora_targets(Qwen3MoeConfig()) == ["q_proj", "k_proj", "v_proj", "o_proj"]


def test_rewards_split_over_processes_match_one_process(monkeypatch):
    """A group of G replies split over two processes (as `accelerate launch` does) scores as on one process,
    and both processes keep the same running histogram. The gather itself is stubbed with the full batch."""
    from lib import rewards
    task, group = tasks.get("integer_1_10"), 8
    batches = [["3", "3", "7", "x", "3", "1", "7", "2"], ["7", "7", "7", "5", "nope", "10", "3", "3"]]
    for kind in ("uniqueness", "histogram"):
        single = rewards.make_reward(kind, task, group)
        ranks = [rewards.make_reward(kind, task, group) for _ in range(2)]
        for batch in batches:
            monkeypatch.setattr(rewards, "all_processes", lambda mine: (mine, 0))   # one process
            want = single(None, batch)
            answers = [task.parse_strict(c) for c in batch]
            got = []
            for rank, reward in enumerate(ranks):
                monkeypatch.setattr(rewards, "all_processes", lambda mine, r=rank: (answers, r * 4))
                got += reward(None, batch[rank * 4:(rank + 1) * 4])
            assert got == want, kind
        if kind == "histogram":
            assert ranks[0].histogram.state() == ranks[1].histogram.state() == single.histogram.state()


def test_accelerate_configs_load():
    """accelerate refuses unknown keys, so loading proves the files fit accelerate 1.15."""
    from pathlib import Path
    from accelerate.commands.config.config_args import load_config_from_file
    root = Path(__file__).resolve().parent.parent / "params" / "accelerate"
    zero3, fsdp = (load_config_from_file(str(root / name)) for name in ("zero3.yaml", "fsdp.yaml"))
    assert zero3.distributed_type == "DEEPSPEED" and zero3.deepspeed_config["zero_stage"] == 3
    assert fsdp.distributed_type == "FSDP" and fsdp.fsdp_config["fsdp_version"] == 2
    assert 8 % zero3.num_processes == 0 and 8 % fsdp.num_processes == 0   # G = 8 splits evenly


def test_a_run_whose_groups_never_varied_is_named_as_having_no_learning_signal():
    from lib import narrative
    step = lambda recipe, seed, s, std: dict(recipe=recipe, train_seed=seed, step=s, reward_std=std)  # noqa: E731
    logs = pd.DataFrame([step("collapse", 0, 0, None), step("collapse", 0, 1, 0.0), step("collapse", 0, 2, 0.0),
                         step("collapse", 1, 1, 0.0), step("collapse", 1, 2, 0.3),        # one step with a signal
                         step("reference", 0, 1, None), step("reference", 0, 2, None)])   # direct: no groups
    sentence = narrative.silent_runs_sentence(logs)
    assert "any step: collapse seed 0 (2 steps)" in sentence and "collapse seed 1 1 of 2" in sentence
    assert "reference" not in sentence
    assert "each step carried a learning signal" in narrative.silent_runs_sentence(logs[logs["step"] == 2].iloc[1:])
