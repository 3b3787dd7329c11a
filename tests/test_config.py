import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lib import config, models, registry, rewards
from lib.recipes import Recipe

PARAMS = Path(__file__).resolve().parent.parent / "params"


@pytest.fixture
def params_dir(tmp_path):
    """A private copy of the ci profile to break in each test."""
    shutil.copytree(PARAMS / "ci", tmp_path / "ci")
    return tmp_path


def _edit(params_dir, name, **changes):
    path = params_dir / "ci" / name
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))
    return path


def _fails_before_loading(params_dir, monkeypatch, *needles):
    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the params were validated")
    monkeypatch.setattr(models, "load", no_loading)
    with pytest.raises(config.ConfigError) as err:
        config.validate_profile("ci", params_dir=params_dir)
    for needle in needles:
        assert needle in str(err.value), str(err.value)
    return str(err.value)


def test_every_committed_profile_validates():
    for profile in config.profiles():
        assert config.validate_profile(profile)


def test_bad_params_name_the_key_unknown_key(params_dir, monkeypatch):
    _edit(params_dir, "01_baseline_sampling.yaml", n_sample=50)
    _fails_before_loading(params_dir, monkeypatch, "01_baseline_sampling.yaml", "'n_sample'", "n_samples")


def test_bad_params_name_the_key_wrong_type(params_dir, monkeypatch):
    _edit(params_dir, "01_baseline_sampling.yaml", temperature="hot")
    _fails_before_loading(params_dir, monkeypatch, "01_baseline_sampling.yaml", "'temperature'", "a number > 0")


def test_bad_params_name_the_key_bool_is_not_an_int(params_dir, monkeypatch):
    _edit(params_dir, "01_baseline_sampling.yaml", n_samples=True)
    _fails_before_loading(params_dir, monkeypatch, "'n_samples'")


def test_bad_params_name_the_key_out_of_range(params_dir, monkeypatch):
    _edit(params_dir, "01_baseline_sampling.yaml", top_p=1.5)
    _fails_before_loading(params_dir, monkeypatch, "'top_p'", "(0, 1]")


def test_bad_params_name_the_key_unknown_task(params_dir, monkeypatch):
    _edit(params_dir, "01_baseline_sampling.yaml", tasks=["card_suit", "planet"])
    _fails_before_loading(params_dir, monkeypatch, "'tasks'", "planet", "integer_1_100")


def test_bad_params_name_the_key_unknown_model(params_dir, monkeypatch):
    _edit(params_dir, "profile.yaml", model={"name": "gpt-17"})
    _fails_before_loading(params_dir, monkeypatch, "profile.yaml", "'model.name'", "smollm2-135m-instruct")


def test_bad_params_name_the_key_missing_local_model(params_dir, monkeypatch):
    _edit(params_dir, "profile.yaml", model={"source": "/nonexistent/model.gguf"})
    _fails_before_loading(params_dir, monkeypatch, "'model.source'", "no such file")


def test_bad_params_name_the_key_unknown_backend(params_dir, monkeypatch):
    _edit(params_dir, "profile.yaml", backend="tensorrt")
    _fails_before_loading(params_dir, monkeypatch, "'backend'", "transformers, vllm")


def test_unknown_profile_lists_the_known_ones(params_dir):
    with pytest.raises(config.ConfigError, match="allowed: ci"):
        config.load("nope", "01", params_dir=params_dir)


def test_overrides_are_validated_and_applied(params_dir):
    cfg = config.load("ci", "01", {"n_samples": 3}, params_dir=params_dir)
    assert cfg.n_samples == 3
    with pytest.raises(config.ConfigError, match="'n_smples'"):
        config.load("ci", "01", {"n_smples": 3}, params_dir=params_dir)


def test_task_ids_expand_all():
    cfg = config.load("smollm2-cpu", "01")
    assert len(cfg.task_ids) == 10


def test_bad_params_name_the_key_sweep_without_the_reference_temperature(params_dir, monkeypatch):
    _edit(params_dir, "03_temperature_sweep.yaml", temperatures=[0.5, 2.0])
    _fails_before_loading(params_dir, monkeypatch, "03_temperature_sweep.yaml", "'temperatures'", "must include 1.0")


def test_bad_params_name_the_key_list_of_numbers(params_dir, monkeypatch):
    _edit(params_dir, "03_temperature_sweep.yaml", min_p=[0.05, "high"])
    _fails_before_loading(params_dir, monkeypatch, "'min_p'", "'high'", "(0, 1]")


def test_bad_params_name_the_key_unknown_fit_task(params_dir, monkeypatch):
    _edit(params_dir, "02_logit_correction.yaml", fit_task="integer_1_50")
    _fails_before_loading(params_dir, monkeypatch, "02_logit_correction.yaml", "'fit_task'", "integer_1_100")


def test_bad_params_name_the_key_vllm_engine_setting(params_dir, monkeypatch):
    _edit(params_dir, "profile.yaml", backend="vllm", vllm={"tensor_parallel": 2})
    _fails_before_loading(params_dir, monkeypatch, "profile.yaml", "'vllm'", "tensor_parallel_size")


def test_bad_params_name_the_key_vllm_memory_fraction(params_dir, monkeypatch):
    _edit(params_dir, "profile.yaml", vllm={"gpu_memory_utilization": 1.5})
    _fails_before_loading(params_dir, monkeypatch, "'vllm'", "gpu_memory_utilization", "(0, 1]")


def test_generation_is_optional_and_validated(params_dir, monkeypatch):
    assert "generation" not in config.load("ci", "04", params_dir=params_dir).params
    _edit(params_dir, "04_grpo_train.yaml", generation={"use_vllm": True, "vllm_mode": "remote"})
    _fails_before_loading(params_dir, monkeypatch, "04_grpo_train.yaml", "'generation'", "colocate or server")
    _edit(params_dir, "04_grpo_train.yaml", generation={"vllm_mode": "server"})
    _fails_before_loading(params_dir, monkeypatch, "'generation'", "use_vllm: true")


def test_bad_params_name_the_key_trained_seeds(params_dir, monkeypatch):
    _edit(params_dir, "06_gsm8k_paths.yaml", trained_seeds="first")
    _fails_before_loading(params_dir, monkeypatch, "06_gsm8k_paths.yaml", "'trained_seeds'", "'all'")


def test_bad_params_name_the_key_arms(params_dir, monkeypatch):
    _edit(params_dir, "07_capability.yaml", arms=["placebo", "shuffle"])
    _fails_before_loading(params_dir, monkeypatch, "07_capability.yaml", "'arms'", "shuffle", "reverse, format")


def test_bad_params_name_the_key_open_ended_category(params_dir, monkeypatch):
    _edit(params_dir, "08_open_ended.yaml", categories=["Poetry"])
    _fails_before_loading(params_dir, monkeypatch, "08_open_ended.yaml", "'categories'", "Poetry")


def test_bad_params_name_the_key_recipe_unknown_key(params_dir, monkeypatch):
    _edit(params_dir, "04_grpo_train.yaml", recipes={"histogram": {"reward": "histogram", "lr": 1e-4}})
    message = _fails_before_loading(params_dir, monkeypatch, "04_grpo_train.yaml", "'recipes'", "'histogram'", "'lr'")
    for recipe_field in dataclasses.fields(Recipe):
        if recipe_field.name != "name":      # the name is the mapping key
            assert recipe_field.name in message, message


def test_bad_params_name_the_key_unknown_reward(params_dir, monkeypatch):
    _edit(params_dir, "04_grpo_train.yaml", recipes={"entropy": {"reward": "entropy"}})
    _fails_before_loading(params_dir, monkeypatch, "04_grpo_train.yaml", "'reward'", "'entropy'",
                          ", ".join(rewards.REWARDS))


@pytest.mark.parametrize("recipe, needle", [
    ({"steps": 3}, "missing key 'reward'"),                               # the field without a default
    ({"reward": "validity", "seeds": []}, "'seeds'"),
    ({"reward": "validity", "seeds": [-1]}, "'seeds'"),
    ({"reward": "validity", "lora": 1}, "'lora'"),                        # bool field: 1 is not true
    ({"reward": "validity", "steps": True}, "'steps'"),                   # int field: true is not 1
    ({"reward": "validity", "learning_rate": "fast"}, "'learning_rate'"),
])
def test_bad_params_name_the_key_recipe_field_types(params_dir, monkeypatch, recipe, needle):
    _edit(params_dir, "04_grpo_train.yaml", recipes={"bad": recipe})
    _fails_before_loading(params_dir, monkeypatch, "04_grpo_train.yaml", "'recipes'", "'bad'", needle)


def test_validated_recipes_build_a_recipe():
    """Params that pass validation construct the dataclass they were derived from (as grpo.recipes_from_params)."""
    for profile in config.profiles():
        for name, spec in config.load(profile, "04").recipes.items():
            recipe = Recipe(name=name, **{**spec, "seeds": tuple(spec.get("seeds", (0,)))})
            assert recipe.reward in rewards.REWARDS


def test_float_recipe_fields_take_integers(params_dir):
    _edit(params_dir, "04_grpo_train.yaml", recipes={"v": {"reward": "validity", "beta": 0, "temperature": 1}})
    assert config.load("ci", "04", params_dir=params_dir).recipes["v"]["beta"] == 0


def test_run_order_runs_what_a_notebook_needs_first():
    order = config.run_order()
    assert sorted(order) == sorted(config.NOTEBOOKS)
    for key, notebook in config.NOTEBOOK_TABLE.items():
        assert all(order.index(need) < order.index(key) for need in notebook.needs), (key, order)
    assert order.index("04") < order.index("03")


def test_config_validates_without_torch():
    """Validate before load: reading params never imports torch (lib.registry, lib.recipes are torch-free)."""
    code = "import sys, lib.config as c; c.validate_profile('ci'); assert 'torch' not in sys.modules, 'torch'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PARAMS.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_model_spec_has_one_definition():
    assert models.ModelSpec is registry.ModelSpec
    assert config.load("ci", "01").model == registry.ModelSpec(registry.MODEL_REGISTRY["smollm2-135m-instruct"])
