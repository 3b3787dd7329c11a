"""Token-by-token generation that drops each reply from the batch as it ends: many replies to one prompt
(sample_rows) or one reply to each of several prompts (complete_rows).

`generate()` keeps every row of a batch in the forward pass until the longest reply ends, so one chatty
reply among a hundred bare "Blue"s makes all hundred pay for its length: on 2 CPU cores that made a
batch of 100 colour replies cost 33 s with max_new_tokens=20. Here a row leaves the batch (and its KV
cache) at its end-of-turn token, so a batch costs what its replies cost. The logits warpers are
transformers' own, applied in `generate()`'s order (temperature, top-k, top-p, min-p), so the sampled
distribution is the same; the random stream is not (fewer rows draw from it), which is why sample
cache keys carry lib.cache.SAMPLER_VERSION.
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import torch
from transformers.generation.logits_process import (LogitsProcessorList, MinPLogitsWarper, TemperatureLogitsWarper,
                                                    TopKLogitsWarper, TopPLogitsWarper)


def warpers(temperature: float, top_p: float = 1.0, top_k: int = 0, min_p: float = 0.0) -> LogitsProcessorList:
    """The warpers generate() applies for these settings, in its order (an empty list: plain softmax)."""
    out = LogitsProcessorList()
    if temperature != 1.0:
        out.append(TemperatureLogitsWarper(temperature))
    if top_k:
        out.append(TopKLogitsWarper(top_k=top_k))
    if top_p < 1.0:
        out.append(TopPLogitsWarper(top_p=top_p))
    if min_p:
        out.append(MinPLogitsWarper(min_p=min_p))
    return out


@torch.inference_mode()
def sample_rows(model, prompt_ids: torch.Tensor, prefix_cache, batch: int, max_new_tokens: int,
                pick: Callable[[torch.Tensor], torch.Tensor], stop: Sequence[int], cache_kw: str) -> list[list[int]]:
    """`batch` replies to one prompt (shape (1, L)) whose first L-1 tokens are in `prefix_cache` (not modified).

    `pick` maps the last position's logits (rows, vocab) to one token per row. Each reply ends at (and
    includes) its first token in `stop`, or after max_new_tokens."""
    cache = copy.deepcopy(prefix_cache)
    cache.batch_repeat_interleave(batch)
    return _decode(model, cache, prompt_ids[:, -1:].expand(batch, 1), None, max_new_tokens, pick, stop, cache_kw)


@torch.inference_mode()
def complete_rows(model, ids: torch.Tensor, mask: torch.Tensor, max_new_tokens: int,
                  pick: Callable[[torch.Tensor], torch.Tensor], stop: Sequence[int], cache_kw: str) -> list[list[int]]:
    """One reply per row of a left-padded batch of prompts (`mask` 0 on padding), as sample_rows."""
    out = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=_positions(mask[:, :-1]),
                use_cache=True)
    return _decode(model, getattr(out, cache_kw), ids[:, -1:], mask, max_new_tokens, pick, stop, cache_kw)


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that skip left padding, as generate() builds them."""
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)


def _decode(model, cache, step_ids: torch.Tensor, mask: torch.Tensor | None, max_new_tokens: int,
            pick: Callable[[torch.Tensor], torch.Tensor], stop: Sequence[int], cache_kw: str) -> list[list[int]]:
    """The loop: feed each row's last token, pick the next, drop the rows that ended. `mask` (rows, length
    so far, including step_ids) is given for padded batches; without it positions follow the cache."""
    stop_ids = torch.tensor(sorted(set(stop)), device=step_ids.device)
    rows: list[list[int]] = [[] for _ in range(step_ids.shape[0])]
    live = list(range(len(rows)))                # rows still generating, in cache order
    for _ in range(max_new_tokens):
        extra = {} if mask is None else dict(attention_mask=mask, position_ids=mask.long().sum(-1, keepdim=True) - 1)
        out = model(input_ids=step_ids, use_cache=True, **extra, **{cache_kw: cache})
        cache = getattr(out, cache_kw)
        tokens = pick(out.logits[:, -1, :].float())
        ended = torch.isin(tokens, stop_ids)
        for row, token in zip(live, tokens.tolist()):
            rows[row].append(token)
        if bool(ended.all()):
            break
        if bool(ended.any()):
            keep = (~ended).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            live = [live[i] for i in keep.tolist()]
            tokens = tokens[keep]
            mask = None if mask is None else mask[keep]
        step_ids = tokens.unsqueeze(1)
        if mask is not None:
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
    return rows


def picker(temperature: float, top_p: float = 1.0, top_k: int = 0,
           min_p: float = 0.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """Greedy at temperature 0, else a draw from the warped softmax (torch's global generator)."""
    if temperature == 0:
        return lambda logits: logits.argmax(dim=-1)
    warp = warpers(temperature, top_p, top_k, min_p)

    def draw(logits: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(warp(None, logits), dim=-1)
        return torch.multinomial(probs, num_samples=1).squeeze(1)
    return draw
