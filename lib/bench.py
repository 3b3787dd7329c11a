"""Benchmarks that print their figures, measured side by side in one run.

    python -m lib.bench scoring [--profile smollm2-cpu] [--naive-answers 1000]

1. Exact scoring of integer 1–1000: KV-cache reuse vs naive (one full forward pass per answer).
2. Per task: exact scoring of the whole answer set vs the seed's 50-sample protocol.
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


def scoring(profile: str, naive_answers: int) -> None:
    cfg = config.load(profile, "01")
    loaded = models.load(cfg.model)
    backend = sampling.TransformersBackend(loaded, score_batch_size=cfg.score_batch_size,
                                           sample_batch_size=cfg.sample_batch_size)
    print(models.describe_load(loaded))
    task = tasks.get("integer_1_1000")
    answers = list(task.answers[:naive_answers])
    fast, fast_s = _timed(lambda: backend.answer_logprobs(task.prompt, answers))
    naive, naive_s = _timed(lambda: backend.answer_logprobs_naive(task.prompt, answers))
    print(f"\nexact scoring, integer 1–1000, {len(answers)} answers:")
    print(f"  naive (forward per answer): {naive_s:8.1f} s")
    print(f"  KV-cache reuse (batched):   {fast_s:8.1f} s")
    print(f"  speed-up: {naive_s / fast_s:.1f}x   max |difference|: {np.abs(fast - naive).max():.2e} nats")

    params = sampling.SamplingParams(temperature=1.0, max_new_tokens=cfg.max_new_tokens)
    print(f"\nper task: exact scoring of A vs the 50-sample protocol (max_new_tokens={cfg.max_new_tokens}):")
    print(f"  {'task':16s} {'k':>5s} {'exact s':>8s} {'50 samples s':>13s} {'ratio':>6s}")
    for task in tasks.panel("all"):
        _, exact_s = _timed(lambda: distributions.exact_distribution(backend, task))
        _, sample_s = _timed(lambda: backend.sample([task.prompt], 50, params, seed=cfg.seed, progress=False))
        print(f"  {task.id:16s} {task.k:5d} {exact_s:8.2f} {sample_s:13.2f} {sample_s / exact_s:6.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.bench")
    parser.add_argument("what", choices=["scoring"])
    parser.add_argument("--profile", default="smollm2-cpu")
    parser.add_argument("--naive-answers", type=int, default=1000)
    args = parser.parse_args(argv)
    scoring(args.profile, args.naive_answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
