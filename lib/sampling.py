"""One interface for generating and scoring, with a transformers backend (vLLM can slot in beside it).

- ``sample(prompts, n, ...)``: n free-text completions per user prompt, chat-templated.
- ``complete(prompts, ...)``: one completion per prompt (greedy at T=0), prompts batched together.
- ``continuation_logprobs(context, continuations)``: log P(continuation | raw context), for multiple choice.
- ``answer_logprobs(prompt, answers, temperature)``: exact sequence log-probabilities of replying with
  each answer text followed by the end-of-turn token, with log-probs taken from logits / T. The
  prompt is run once and its KV cache is shared by every answer (batched).
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
import torch
from tqdm import tqdm
from transformers.utils import generic as _hf_generic

from lib.models import LoadedModel
from lib.token_sampler import complete_rows, picker, sample_rows


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0    # 0 means greedy
    top_p: float = 1.0
    top_k: int = 0              # 0 disables top-k (transformers would otherwise apply its default 50)
    min_p: float = 0.0          # 0 disables min-p
    max_new_tokens: int = 32


class Backend(Protocol):
    name: str

    def sample(self, prompts: Sequence[str], n: int, params: SamplingParams, seed: int,
               progress: bool = True) -> list[list[str]]: ...

    def answer_logprobs(self, prompt: str, answers: Sequence[str], temperature: float = 1.0) -> np.ndarray: ...

    def answer_logprobs_at(self, prompt: str, answers: Sequence[str], temperatures: Sequence[float]) -> np.ndarray: ...

    def continuation_logprobs(self, context: str, continuations: Sequence[str]) -> np.ndarray: ...

    def complete(self, prompts: Sequence[str], params: SamplingParams, seed: int = 0,
                 progress: bool = True) -> list[str]: ...


# transformers renamed `past_key_values` to `cache` (the old name still works but warns).
CACHE_KW = "cache" if hasattr(_hf_generic, "_BCCacheNameMeta") else "past_key_values"


def prompt_seed(seed: int, prompt: str) -> int:
    """A per-prompt seed, so a task's samples do not depend on which other tasks ran before it."""
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


class TransformersBackend:
    name = "transformers"

    def __init__(self, loaded: LoadedModel, score_batch_size: int = 128, sample_batch_size: int = 64):
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.score_batch_size = score_batch_size
        self.sample_batch_size = sample_batch_size
        self.device = next(self.model.parameters()).device
        self.end_of_turn = end_of_turn_text(self.tokenizer)

    def describe(self) -> str:
        from lib.models import describe_load
        return describe_load(self.loaded)

    # -- prompts: exact scoring, sampling and completion all start from prompt_ids ---------------
    def chat_text(self, prompt: str) -> str:
        """The chat template applied to one user message (with the template's own default system prompt, if it
        has one), ending where the assistant's reply begins."""
        return self.tokenizer.apply_chat_template(chat_messages(prompt), tokenize=False, add_generation_prompt=True)

    def prompt_ids(self, prompt: str) -> list[int]:
        return self._encode(self.chat_text(prompt))

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    # -- sampling --------------------------------------------------------------------------
    @torch.inference_mode()
    def sample(self, prompts: Sequence[str], n: int, params: SamplingParams = SamplingParams(),
               seed: int = 0, progress: bool = True) -> list[list[str]]:
        bar = tqdm(total=len(prompts) * n, desc="sampling", unit="sample", disable=not progress, leave=False)
        out = []
        for prompt in prompts:
            rows = self.sample_token_ids(prompt, n, params, seed, on_batch=bar.update)
            out.append([self.tokenizer.decode(row, skip_special_tokens=True).strip() for row in rows])
        bar.close()
        return out

    @torch.inference_mode()
    def sample_token_ids(self, prompt: str, n: int, params: SamplingParams = SamplingParams(), seed: int = 0,
                         on_batch=lambda size: None) -> list[list[int]]:
        """n completions as token ids, each ending at (and including) its end-of-turn token if it has one."""
        torch.manual_seed(prompt_seed(seed, prompt))
        ids = torch.tensor([self.prompt_ids(prompt)], device=self.device)
        stop = set(_as_list(self.model.generation_config.eos_token_id)) | {self.tokenizer.convert_tokens_to_ids(self.end_of_turn)}
        # Prefill the prompt once; generate() would otherwise recompute it for every sequence.
        prefix_cache = getattr(self.model(input_ids=ids[:, :-1], use_cache=True), CACHE_KW)
        pick = picker(params.temperature, params.top_p, params.top_k, params.min_p)
        rows: list[list[int]] = []
        while len(rows) < n:
            batch = min(self.sample_batch_size, n - len(rows))
            rows.extend(sample_rows(self.model, ids, prefix_cache, batch, params.max_new_tokens, pick, stop, CACHE_KW))
            on_batch(batch)
        return rows

    # -- exact scoring ---------------------------------------------------------------------
    def answer_logprobs(self, prompt: str, answers: Sequence[str], temperature: float = 1.0) -> np.ndarray:
        """log P(answer + end-of-turn | chat prompt) under logits / temperature, one per answer."""
        return self.answer_logprobs_at(prompt, answers, [temperature])[0]

    def answer_logprobs_at(self, prompt: str, answers: Sequence[str], temperatures: Sequence[float]) -> np.ndarray:
        """answer_logprobs at several temperatures from one set of forward passes: shape (len(T), len(answers))."""
        return self._score(self.prompt_ids(prompt),
                           [self._encode(a + self.end_of_turn) for a in answers], temperatures)

    def continuation_logprobs(self, context: str, continuations: Sequence[str]) -> np.ndarray:
        """log P(continuation | context) on raw text, no chat template (multiple-choice scoring)."""
        return self._score(self._encode(context), [self._encode(c) for c in continuations], [1.0])[0]

    @torch.inference_mode()
    def _score(self, prompt_ids: list[int], continuation_ids: list[list[int]], temperatures: Sequence[float]) -> np.ndarray:
        """Sum of each continuation's token log-probs after the prompt, under logits / T: shape (len(T), len(continuations)).

        The prompt runs once; its KV cache is copied for each batch of continuations (right-padded), and only
        log_softmax(logits / T) is repeated per temperature.
        """
        prompt_ids = torch.tensor([prompt_ids], device=self.device)
        prompt_out = self.model(input_ids=prompt_ids, use_cache=True)
        first_logits = prompt_out.logits[0, -1].float()
        scores = np.empty((len(temperatures), len(continuation_ids)))
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(continuation_ids), self.score_batch_size):
            chunk = continuation_ids[start:start + self.score_batch_size]
            width = max(len(ids) for ids in chunk)
            tokens = torch.tensor([ids + [pad] * (width - len(ids)) for ids in chunk], device=self.device)
            logits = real = None
            if width > 1:
                cache = copy.deepcopy(getattr(prompt_out, CACHE_KW))
                cache.batch_repeat_interleave(len(chunk))
                # Right padding: a real token never attends to the pads after it, so no mask is needed.
                positions = torch.arange(prompt_ids.shape[1], prompt_ids.shape[1] + width - 1, device=self.device)
                logits = self.model(input_ids=tokens[:, :-1], position_ids=positions.expand(len(chunk), -1),
                                    use_cache=True, **{CACHE_KW: cache}).logits.float()
                lengths = torch.tensor([len(ids) for ids in chunk], device=self.device)
                real = torch.arange(1, width, device=self.device)[None, :] < lengths[:, None]
            for i, temperature in enumerate(temperatures):
                total = torch.log_softmax(first_logits / temperature, dim=-1)[tokens[:, 0]]
                if logits is not None:
                    token_logp = torch.log_softmax(logits / temperature, dim=-1).gather(-1, tokens[:, 1:, None])[..., 0]
                    total = total + (token_logp * real).sum(dim=1)
                scores[i, start:start + len(chunk)] = total.cpu().double().numpy()
        return scores

    # -- one completion per prompt -------------------------------------------------------------
    @torch.inference_mode()
    def complete(self, prompts: Sequence[str], params: SamplingParams = SamplingParams(), seed: int = 0,
                 progress: bool = True) -> list[str]:
        """One chat completion per prompt, prompts batched together (left-padded); greedy when T = 0."""
        torch.manual_seed(seed)
        stop = set(_as_list(self.model.generation_config.eos_token_id)) | {self.tokenizer.convert_tokens_to_ids(self.end_of_turn)}
        pad = self.tokenizer.pad_token_id
        pick = picker(params.temperature, params.top_p, params.top_k, params.min_p)
        out: list[str] = []
        bar = tqdm(total=len(prompts), desc="completing", unit="prompt", disable=not progress, leave=False)
        for start in range(0, len(prompts), self.sample_batch_size):
            encoded = [self.prompt_ids(p) for p in prompts[start:start + self.sample_batch_size]]
            width = max(len(ids) for ids in encoded)
            ids = torch.tensor([[pad] * (width - len(e)) + e for e in encoded], device=self.device)
            mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in encoded], device=self.device)
            for row in complete_rows(self.model, ids, mask, params.max_new_tokens, pick, stop, CACHE_KW):
                end = next((i for i, token in enumerate(row) if token in stop), len(row))
                out.append(self.tokenizer.decode(row[:end], skip_special_tokens=True).strip())
            bar.update(len(encoded))
        bar.close()
        return out

    @torch.inference_mode()
    def answer_logprobs_naive(self, prompt: str, answers: Sequence[str], temperature: float = 1.0) -> np.ndarray:
        """Reference scorer: one full forward pass over prompt + answer per answer (no cache reuse)."""
        prompt_ids = self.prompt_ids(prompt)
        scores = np.empty(len(answers))
        for i, answer in enumerate(answers):
            ids = self._encode(answer + self.end_of_turn)
            full = torch.tensor([prompt_ids + ids], device=self.device)
            logp = torch.log_softmax(self.model(input_ids=full).logits[0].float() / temperature, dim=-1)
            targets = torch.tensor(ids, device=self.device)
            rows = torch.arange(len(prompt_ids) - 1, len(prompt_ids) - 1 + len(ids), device=self.device)
            scores[i] = logp[rows, targets].sum().item()
        return scores


def chat_messages(prompt: str) -> list[dict]:
    """The conversation every backend and GRPO send: one user message, no system message of ours."""
    return [{"role": "user", "content": prompt}]


def end_of_turn_text(tokenizer) -> str:
    """The text the chat template puts right after an assistant message (e.g. '<|im_end|>')."""
    marker = "\u2063MARK\u2063"
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "content": marker}]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    tail = rendered.split(marker, 1)[1]
    for token in tokenizer.all_special_tokens:
        if tail.lstrip(" ").startswith(token):
            return token
    if tokenizer.eos_token:
        return tokenizer.eos_token
    raise ValueError("the chat template puts no special token after an assistant message")


def _as_list(value) -> list:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def load_backend(model, backend: str = "transformers", adapter=None, **options) -> Backend:
    """The sampling/scoring backend named in the profile.

    `model` is a LoadedModel (transformers only) or a ModelSpec (cfg.model), loaded here with `adapter`:
    merged into the weights by transformers, served as a LoRA adapter by vLLM. vLLM loads the weights
    itself, so it takes the ModelSpec: a LoadedModel would hold a second copy (and hide a merged adapter).
    """
    from lib.models import ModelSpec, load
    if backend == "transformers":
        if isinstance(model, ModelSpec):
            model = load(model, adapter=adapter)
        elif adapter is not None:
            raise ValueError("adapter= goes with a ModelSpec; a LoadedModel already has its weights")
        options.pop("engine", None)
        return TransformersBackend(model, **options)
    if backend == "vllm":
        from lib import sampling_vllm
        sampling_vllm.require_vllm()
        if not isinstance(model, ModelSpec):
            raise TypeError("the vLLM backend loads the weights itself: pass the ModelSpec (cfg.model, with "
                            "adapter=...) instead of a model loaded by lib.models.load")
        return sampling_vllm.VLLMBackend(model, adapter=adapter, **options)
    raise ValueError(f"unknown backend {backend!r}; allowed: transformers, vllm")
