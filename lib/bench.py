"""Benchmarks that print their figures, measured side by side in one run.

    python -m lib.bench scoring [--profile qwen2.5-0.5b-cpu] [--naive-answers 1000] [--grpo-steps 5]
    python -m lib.bench grpo-reward [--profile qwen2.5-0.5b-cpu] [--grpo-steps 5]
    python -m lib.bench throughput [--profile qwen2.5-0.5b-cpu] [--source PATH] [--device cuda] [--grpo-steps 5]
    python -m lib.bench vllm-scoring [--profile ci] [--naive-answers 1000]     (where vllm is installed)

scoring:    1. exact scoring of integer 1–1000, KV-cache reuse vs naive (one forward pass per answer);
            2. per task, exact scoring of the whole answer set vs the seed's 50-sample protocol;
            3. grpo-reward (below).
grpo-reward: seconds per training step of the profile's exact-reward recipe with and without its exact
            scoring (the same recipe with the validity reward, which scores nothing), rescoring every step and
            every `refresh_every` steps, and of the direct KL(uniform) objective: one run, side by side.
throughput: exact-scoring answers/s, sampling samples/s and GRPO seconds/step on this machine (CPU or
            GPU), with the default recipe's sizes, so two machines can be compared figure by figure.
vllm-scoring: exact scoring of integer 1–1000 on the vLLM backend, the token-trie walk vs one prompt_logprobs
            prefill per answer (the profile's `vllm:` settings, else sampling_vllm.SMALL_MODEL_ENGINE), beside
            the tokens each path runs through the model: the trie's requests reuse the prompt's KV only in whole
            blocks, so every request recomputes the prompt's tail past its last full block (prefill_tokens).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from lib import config, distributions, models, sampling, tasks


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _fast_vs_naive(backend, naive_answers: int, title: str, fast: str, naive: str) -> None:
    """Time backend.answer_logprobs against backend.answer_logprobs_naive on the first answers of integer 1–1000."""
    task = tasks.get("integer_1_1000")
    answers = list(task.answers[:naive_answers])
    fast_scores, fast_s = _timed(lambda: backend.answer_logprobs(task.prompt, answers))
    naive_scores, naive_s = _timed(lambda: backend.answer_logprobs_naive(task.prompt, answers))
    print(f"\n{title}, integer 1–1000, {len(answers)} answers:")
    print(f"  {naive:36s} {naive_s:8.1f} s")
    print(f"  {fast:36s} {fast_s:8.1f} s")
    print(f"  speed-up: {naive_s / fast_s:.1f}x   max |difference|: {np.abs(fast_scores - naive_scores).max():.2e} nats")


def scoring(profile: str, naive_answers: int) -> None:
    cfg = config.load(profile, "01")
    loaded = models.load(cfg.model)
    backend = sampling.TransformersBackend(loaded, score_batch_size=cfg.score_batch_size,
                                           sample_batch_size=cfg.sample_batch_size)
    print(models.describe_load(loaded))
    _fast_vs_naive(backend, naive_answers, "exact scoring", "KV-cache reuse (batched):", "naive (forward per answer):")

    params = sampling.SamplingParams(temperature=1.0, max_new_tokens=cfg.max_new_tokens)
    print(f"\nper task: exact scoring of A vs the 50-sample protocol (max_new_tokens={cfg.max_new_tokens}):")
    print(f"  {'task':16s} {'k':>5s} {'exact s':>8s} {'50 samples s':>13s} {'ratio':>6s}")
    for task in tasks.panel("all"):
        _, exact_s = _timed(lambda: distributions.score_exact(backend, task, [1.0]))
        _, sample_s = _timed(lambda: backend.sample([task.prompt], 50, params, seed=cfg.seed, progress=False))
        print(f"  {task.id:16s} {task.k:5d} {exact_s:8.2f} {sample_s:13.2f} {sample_s / exact_s:6.1f}x")


class StepClock:
    """Wall seconds of each training step (generation, reward, backward, optimizer), callbacks excluded."""

    def __init__(self):
        from transformers import TrainerCallback

        clock = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                clock.started = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                clock.seconds.append(time.perf_counter() - clock.started)

        self.seconds: list[float] = []
        self.callback = Callback()


def grpo_reward_cost(profile: str, steps: int) -> dict[str, float]:
    """Median seconds per step (the first step excluded) of the profile's exact-reward recipe, with and without
    its exact scoring, and of the direct KL(uniform) objective, on integer 1–100."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from lib import arms, grpo

    cfg = config.load(profile, "04")
    recipes = arms.recipes_from_params(cfg.recipes, cfg.params.get("grid"))
    exact = next((r for r in recipes if r.reward == "exact"), grpo.Recipe(name="exact", reward="exact"))
    exact = dataclasses.replace(exact, steps=steps, seeds=(0,))
    runs = {"validity reward (no exact scoring)": dataclasses.replace(exact, name="bench-validity", reward="validity"),
            "exact reward, rescored every step": dataclasses.replace(exact, name="bench-exact-1", refresh_every=1)}
    if exact.refresh_every > 1:
        runs[f"exact reward, rescored every {exact.refresh_every} steps"] = dataclasses.replace(exact, name="bench-exact")
    runs["direct KL(uniform), no sampling"] = dataclasses.replace(exact, name="bench-kl", reward="kl_uniform")
    task = tasks.get(cfg.task)
    print(f"\nGRPO step time on {task.name}: {exact.num_generations} replies x {exact.groups_per_step} group(s) of "
          f"<= {exact.max_completion_length} tokens, LoRA r={exact.lora_r}, {steps} steps each (median, first excluded):")
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, recipe in runs.items():
            clock = StepClock()
            grpo.train(cfg.model, task, recipe, 0, Path(tmp), eval_every=10 ** 6, save_every=10 ** 6,
                       extra_callbacks=(clock.callback,))
            figures[label] = float(np.median(clock.seconds[1:] or clock.seconds))
    base = figures["validity reward (no exact scoring)"]
    for label, seconds in figures.items():
        print(f"  {label:44s} {seconds:7.2f} s/step   {100 * (seconds / base - 1):+6.0f}% vs validity")
    return figures


def prefill_tokens(prompt_len: int, answer_ids: list[list[int]], block_size: int) -> tuple[int, int]:
    """Tokens the vLLM backend runs through the model to score these answers after a prompt of prompt_len tokens:
    (the trie walk, one prompt_logprobs prefill per answer). A trie request of n tokens finds in the prefix cache
    the full blocks its parent's request filled (floor((n - 1) / block_size) of them: the last token is always
    computed) and computes the rest; the root request computes the whole prompt. A prompt_logprobs request
    never reads the cache, so each answer's prefill computes prompt and answer in full."""
    from lib.sampling_vllm import answer_trie
    def computed(node: tuple[int, ...]) -> int:
        n = prompt_len + len(node)
        return n if not node else n - block_size * ((n - 1) // block_size)

    trie_tokens = sum(computed(node) for node in answer_trie(answer_ids))
    return trie_tokens, sum(prompt_len + len(ids) for ids in answer_ids)


def vllm_scoring(profile: str, naive_answers: int) -> None:
    from lib import sampling_vllm
    cfg = config.load(profile, "01")
    engine = cfg.vllm or sampling_vllm.SMALL_MODEL_ENGINE
    backend = sampling_vllm.VLLMBackend(cfg.model, engine=engine)
    print(backend.describe())
    warm = tasks.get("integer_1_10")      # the first requests of an engine pay one-off costs
    backend.answer_logprobs(warm.prompt, warm.answers)
    backend.answer_logprobs_naive(warm.prompt, warm.answers)
    _fast_vs_naive(backend, naive_answers, "vLLM exact scoring", "token trie (prefix-cached requests):",
                   "per answer (prompt_logprobs prefill):")
    task = tasks.get("integer_1_1000")
    prompt_len = len(backend._encode(backend.chat_text(task.prompt)))
    answer_ids = [backend._encode(a + backend.end_of_turn) for a in task.answers[:naive_answers]]
    block = backend.llm.llm_engine.vllm_config.cache_config.block_size
    print(f"\ntokens through the model (prompt {prompt_len} tokens; a request recomputes what lies past its last "
          f"full KV block):")
    for size in dict.fromkeys([block, 16]):
        trie_tokens, naive_tokens = prefill_tokens(prompt_len, answer_ids, size)
        label = f"block {size}" + (" (this engine)" if size == block else " (e.g. a GPU's default)")
        print(f"  {label:28s} trie {trie_tokens:7d}   per answer {naive_tokens:7d}   "
              f"ratio {naive_tokens / trie_tokens:5.1f}x")


def throughput(profile: str, source: str | None, device: str | None, grpo_steps: int, n_samples: int,
               json_path: str | None) -> dict:
    import dataclasses
    import json
    import platform
    import tempfile
    from pathlib import Path

    import torch

    from lib import grpo

    cfg = config.load(profile, "01")
    spec = dataclasses.replace(cfg.model, **{k: v for k, v in (("source", source), ("device", device)) if v})
    loaded = models.load(spec)
    print(models.describe_load(loaded))
    backend = sampling.TransformersBackend(loaded, score_batch_size=cfg.score_batch_size,
                                           sample_batch_size=cfg.sample_batch_size)
    task = tasks.get("integer_1_1000")
    backend.answer_logprobs(task.prompt, list(task.answers[:50]))              # warm-up
    _, score_s = _timed(lambda: backend.answer_logprobs(task.prompt, list(task.answers)))
    params = sampling.SamplingParams(temperature=1.0, max_new_tokens=cfg.max_new_tokens)
    prompt = tasks.get("integer_1_100").prompt
    replies, sample_s = _timed(lambda: backend.sample([prompt], n_samples, params, seed=0, progress=False)[0])
    figures = {"device": torch.cuda.get_device_name(0) if spec.device != "cpu" and torch.cuda.is_available()
               else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
               "answers_per_s": len(task.answers) / score_s, "samples_per_s": n_samples / sample_s,
               "mean_reply_tokens": float(np.mean([len(backend._encode(r)) for r in replies])),
               "max_new_tokens": cfg.max_new_tokens, "sample_batch_size": cfg.sample_batch_size}
    if grpo_steps:
        recipe = grpo.Recipe(name="throughput", reward="histogram", steps=grpo_steps)
        with tempfile.TemporaryDirectory() as tmp:
            _, log = grpo.train(spec, tasks.get("integer_1_100"), recipe, seed=0, run_dir=Path(tmp),
                                eval_every=grpo_steps, save_every=grpo_steps)
        figures["grpo_s_per_step"] = float(np.median(log["step_time"].iloc[1:])) if "step_time" in log else float("nan")
        figures["grpo_recipe"] = f"LoRA r={recipe.lora_r}, G={recipe.num_generations}, {recipe.max_completion_length} tokens"
    for key, value in figures.items():
        print(f"  {key:20s} {value:.2f}" if isinstance(value, float) else f"  {key:20s} {value}")
    if json_path:
        Path(json_path).write_text(json.dumps(figures, indent=1))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.bench")
    parser.add_argument("what", choices=["scoring", "throughput", "vllm-scoring", "grpo-reward"])
    parser.add_argument("--profile", default="qwen2.5-0.5b-cpu")
    parser.add_argument("--naive-answers", type=int, default=1000)
    parser.add_argument("--source", help="model source overriding the profile's (e.g. a local .gguf file)")
    parser.add_argument("--device", help="cpu, cuda or auto, overriding the profile's")
    parser.add_argument("--grpo-steps", type=int, default=5)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.what == "scoring":           # what `make bench` runs: scoring, then the exact reward's cost in a step
        scoring(args.profile, args.naive_answers)
        if args.grpo_steps:
            grpo_reward_cost(args.profile, args.grpo_steps)
    elif args.what == "grpo-reward":
        grpo_reward_cost(args.profile, args.grpo_steps)
    elif args.what == "vllm-scoring":
        vllm_scoring(args.profile, args.naive_answers)
    else:
        throughput(args.profile, args.source, args.device, args.grpo_steps, args.samples, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
