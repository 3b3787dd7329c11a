"""Stand-ins for a model, for tests of the caching and plumbing that must not load one."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lib import conditions
from lib.registry import ModelSpec


class CountingBackend:
    """Answers deterministically from its inputs and counts every call, by method."""

    def __init__(self, name: str = "vllm"):
        self.name = name
        self.prompts_per_call: list[int] = []
        self.calls: dict[str, int] = {}

    def _count(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1

    def sample(self, prompts, n, params, seed, progress=True):
        self._count("sample")
        self.prompts_per_call.append(len(prompts))
        return [[f"{p} T={params.temperature} #{i} of {n}" for i in range(n)] for p in prompts]

    def answer_logprobs_at(self, prompt, answers, temperatures):
        self._count("score")
        return np.array([[-float(len(a)) / t for a in answers] for t in temperatures])

    def continuation_logprobs(self, context, continuations):
        self._count("score")
        return np.array([-float(i) for i, _ in enumerate(continuations)])

    def complete(self, prompts, params, seed=0, progress=True):
        self._count("complete")
        return [f"#### {len(p)}" for p in prompts]


def fake_model(tmp_path: Path) -> ModelSpec:
    """A local 'model' whose weight file is a few bytes: enough for the weight hash in cache keys."""
    path = Path(tmp_path) / "weights" / "model.gguf"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(b"weights")
    return ModelSpec(str(path))


def fake_condition(tmp_path: Path, backend, condition: str = "vanilla", train_seed: int | None = None,
                   adapter: Path | None = None, on_load=None) -> conditions.Condition:
    """A Condition on the fake model whose 'loading' returns `backend` (and calls on_load, to count loads)."""
    def load(c):
        if on_load:
            on_load(c)
        return backend
    return conditions.Condition(fake_model(tmp_path), Path(tmp_path) / "cache", condition, train_seed, adapter,
                                backend_name=backend.name, loader=load)


def write_adapter(path: Path, weights: bytes) -> Path:
    """Adapter files as 04 leaves them (config + weights); the bytes stand for trained weights."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "adapter_config.json").write_text('{"r": 2}')
    (path / "adapter_model.safetensors").write_bytes(weights)
    return path
