"""The one row vocabulary every result table uses: the long-format columns, and each metric's name
with its definition. The report's definitions section prints METRICS, so a metric is defined once."""
from __future__ import annotations

from typing import Iterable

# One row per (condition, task, metric). `train_seed` is the training seed of an adapter (empty for
# vanilla); `sample_seed` is the seed of the sampling that produced a sampled metric (empty for exact ones).
COLUMNS = ["condition", "task", "metric", "value", "ci_low", "ci_high", "n", "temperature",
           "train_seed", "sample_seed"]

# The columns that identify a measurement; every notebook's tables join on them.
KEYS = ["condition", "task", "metric", "temperature", "train_seed", "sample_seed"]

INTRO = "Let A be a task's answer set, |A| = k. Format (does it answer bare?) and spread are measured apart."

# Sample sets: the same sampled metrics are computed on the seed's n-sample protocol ("sampled") and on a
# larger set of free-form replies ("parsed"); each sampled metric below exists under both prefixes.
SAMPLE_SETS = {
    "sampled": "the seed's protocol: n replies at temperature T, parsed to canonical answers",
    "parsed": "a larger set of replies in any format, parsed leniently (01 only)",
}

_SAMPLED = {
    "tv": "TV between the empirical distribution of the valid answers and uniform over A; valid answers outside "
          "A count against uniformity: ½(Σ_{a∈A}|f(a) − 1/k| + Σ_{o∉A} f(o)). Bootstrap 95% CI.",
    "tv_floor": "the expected TV of a perfectly uniform sampler over A with the same number of valid samples "
                "(with 50 samples: k=4 → 0.10, k=10 → 0.17, k=100 → 0.61, k=1000 → 0.95); a mean, not a "
                "critical value",
    "invalid_rate": "share of replies that parse to no answer (the format tax)",
    "other_rate": "share of valid answers that fall outside A (open domains)",
    "entropy": "normalized entropy H(f)/log k of the valid answers",
    "distinct": "number of distinct valid answers",
    "n_valid": "number of valid answers",
}

METRICS: dict[str, str] = {
    "exact_tv": "½ Σ_a |p_T(a) − 1/k|, where p_T is the exact distribution: every a in A scored by teacher "
                "forcing (chat-templated prompt, bare answer, end-of-turn; log-probs from logits / T; prompt KV "
                "reused), renormalized over A. The distribution given a bare reply; no sampling noise.",
    "raw_mass": "Σ_a P(a) before renormalizing: how often the model replies with a bare valid answer",
    "exact_entropy": "normalized entropy H(p_T)/log k of the exact distribution (moves that TV misses: TV is "
                     "blind to changes among answers below 1/k)",
    "exact_vs_parsed_tv": "TV between the exact distribution and the parsed replies' distribution over A",
    "exact_tv_defined": "exact TV over the answers a logit correction is defined on (the overlap with the fit task)",
    "defined_answers": "number of answers of a task that the fitted logit correction covers",
    "defined_mass": "exact probability mass on the answers the logit correction covers",
    "gap_closed": "(TV_vanilla(T=1) − TV_vanilla(T)) / (TV_vanilla(T=1) − TV_trained(T=1)): the fraction of the "
                  "training gap a temperature closes (1 = matches training)",
    "forward_passes": "model forward passes exact scoring needs for the task",
    "tokens_per_answer": "mean generated tokens per reply",
    "parse_failure_rate": "share of verbalized replies that state no usable distribution",
    "exact_tv_diff": "difference in exact TV, treated − baseline (negative = more spread); mean over training "
                     "seeds with a t-interval",
    **{f"{prefix}_{name}": text for prefix in SAMPLE_SETS for name, text in _SAMPLED.items()},
    # 06: GSM8K chains, per problem (k chains each), then means over problems
    "correct": "chains whose final answer equals the reference answer",
    "distinct_all": "distinct calculation paths (the ordered numbers a chain computes that are not in the question) "
                    "among all k chains",
    "distinct_correct": "distinct calculation paths among the correct chains (problems with at least one)",
    "empty_paths": "chains that compute no new number (they all share the empty path)",
    "words": "words per chain",
    # 08: open-ended prompts, k answers each
    "distinct_k": "equivalence classes among k answers: exact matches after normalization, then answers whose "
                  "embedding cosine similarity reaches the calibrated threshold",
    "distinct_k_lexical": "distinct answers among k after normalization (case, punctuation, spacing) only",
}


def undefined(names: Iterable[str]) -> list[str]:
    """The metric names among `names` that the vocabulary does not define (a test keeps this empty)."""
    return sorted({n for n in names if isinstance(n, str) and n not in METRICS})


def definitions_markdown() -> str:
    """The definitions as a markdown list, in registry order (the report prints this)."""
    lines = [INTRO, "", "Sample sets: " + "; ".join(f"**{k}**: {v}" for k, v in SAMPLE_SETS.items()) + ".", ""]
    lines += [f"- **{name}**: {text}" for name, text in METRICS.items()]
    return "\n".join(lines)
