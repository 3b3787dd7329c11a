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
# larger set of free-form replies ("behav", the behavioural measure); each sampled metric below exists under both.
SAMPLE_SETS = {
    "sampled": "the seed's protocol: n replies at temperature T, parsed to canonical answers",
    "behav": "the behavioural measure: a larger set of replies in any format, parsed leniently; an answer outside "
             "A counts only if a maintained lexicon knows it (wordfreq, webcolors, gender-guesser + Faker, emoji)",
}

_SAMPLED = {
    "tv": "TV between the empirical distribution of the valid answers and uniform over A; valid answers outside "
          "A count against uniformity: ½(Σ_{a∈A}|f(a) − 1/k| + Σ_{o∉A} f(o)). Biased upward at small n (a uniform "
          "sampler scores tv_floor); read it with tv_p. Interval: tv_excess's interval shifted by tv_floor.",
    "tv_floor": "the mean TV of a perfectly uniform sampler over A with the same number of valid answers (with 50: "
                "k=4 → 0.10, k=10 → 0.17, k=100 → 0.61, k=1000 → 0.95); a mean, not a critical value",
    "tv_p": "Monte-Carlo p-value of tv against a uniform sampler over A with the same number of valid answers: "
            "(1 + #{null ≥ tv}) / (1 + 10,000); small = detectably non-uniform",
    "tv_excess": "tv − tv_floor, the null-calibrated excess (0 for a uniform sampler); bias-corrected bootstrap "
                 "95% interval over replies, which contains the estimate",
    "valid_rate": "share of replies that parse to a valid answer; Wilson 95% interval",
    "invalid_rate": "share of replies that parse to no answer (the format tax); Wilson 95% interval",
    "effective": "effective number of answers 1/Σp², with Σp² from the unbiased collision estimator "
                 "Σc(c−1)/(n(n−1)) over the n valid answers (others are answers too); k for a uniform sampler, 1 "
                 "for a point mass; bias-corrected bootstrap 95% interval",
    "effective_share": "the effective number divided by k (1 = as spread as uniform over A; may exceed 1 on open "
                       "tasks, where answers outside A count)",
    "top_share": "share of the valid answers taken by the most frequent one; Wilson 95% interval",
    "other_rate": "share of valid answers that fall outside A (open domains)",
    "entropy": "normalized entropy H(f)/log k of the valid answers in A",
    "distinct": "number of distinct valid answers",
    "n_valid": "number of valid answers",
    "core_effective_share": "effective_share over the answers in the task's core list (answer_sets.CORE), "
                            "divided by the core's size: the same measure on a small list",
    "core_share": "share of the valid answers that are in the task's core list",
}

METRICS: dict[str, str] = {
    "exact_tv": "½ Σ_a |p_T(a) − 1/k|, where p_T is the exact distribution: every a in A scored by teacher "
                "forcing (chat-templated prompt, bare answer, end-of-turn; log-probs from logits / T; prompt KV "
                "reused), renormalized over A. The distribution given a bare reply; no sampling noise.",
    "raw_mass": "Σ_a P(a) before renormalizing: how often the model replies with a bare valid answer",
    "exact_entropy": "normalized entropy H(p_T)/log k of the exact distribution (moves that TV misses: TV is "
                     "blind to changes among answers below 1/k)",
    "exact_effective": "exact effective number of answers 1/Σ_a p_T(a)² (k for uniform, 1 for a point mass); "
                       "unlike TV it sees moves among answers below 1/k",
    "exact_effective_share": "exact_effective / k, comparable with the sampled effective_share",
    "exact_exp_entropy": "exp(H(p_T)), natural log: the effective number of Rényi order 1 (≥ exact_effective)",
    "core_mass": "share of the exact distribution over A that falls on the task's core list (answer_sets.CORE)",
    "core_exact_tv": "exact TV of the exact distribution restricted to the core list and renormalized",
    "core_exact_effective_share": "1/Σp² of the exact distribution restricted to the core list, divided by its size",
    "exact_vs_parsed_tv": "TV between the exact distribution and the behavioural replies' distribution over A",
    "exact_tv_defined": "exact TV over the answers a logit correction is defined on (the overlap with the fit task)",
    "defined_answers": "number of answers of a task that the fitted logit correction covers",
    "defined_mass": "exact probability mass on the answers the logit correction covers",
    "gap_closed": "(TV_vanilla(T=1) − TV_vanilla(T)) / (TV_vanilla(T=1) − TV_trained(T=1)), exact TV, the trained "
                  "model's averaged over training seeds: the fraction of the training gap a temperature closes "
                  "(1 = matches training, 0 = no change, < 0 = less spread); empty where training lowered TV by "
                  "less than 0.01 (a smaller gap makes the fraction a ratio of noise)",
    "gap_closed_effective_share": "the same fraction on the behavioural measure: (S_vanilla(T) − S_vanilla(T=1)) / "
                                  "(S_trained(T=1) − S_vanilla(T=1)) with S the sampled effective_share of n plain "
                                  "replies per set (the trained model's averaged over training seeds); empty where "
                                  "training raised S by less than 0.01",
    "matched_temperature_exact_tv": "T*: the temperature on a grid (params match_grid) where vanilla's exact TV is "
                                    "nearest the trained model's at T=1, at the first crossing as T rises; beside it "
                                    "target, matched_value, reached (false: no grid T reaches it, T* is the most "
                                    "spread one, or the lowest T is already more spread) and evaluations",
    "matched_temperature_effective_share": "T* on the same grid for the sampled effective_share of n plain replies "
                                           "per temperature, found by bisection (memoized, assuming spread rises "
                                           "with T to one peak); same extra columns",
    "forward_passes": "model forward passes exact scoring needs for the task",
    "tokens_per_answer": "mean generated tokens per reply",
    "parse_failure_rate": "share of verbalized replies that state no usable distribution",
    "exact_tv_diff": "difference in exact TV, treated − baseline (negative = more spread); mean over training "
                     "seeds with a t-interval",
    "dose_slope": "dose–response of one training run: the least-squares slope, over the adapters kept at 04's "
                  "dose_steps (step 0 = vanilla), of an untrained task's metric against the trained task's (for exact "
                  "TV, positive = it spreads as the trained task spreads); undefined when the trained task moved < 0.02",
    "dose_transfer": "the selected arm's dose_slope minus the placebo's, unpaired over training seeds (Welch "
                     "interval); 'all untrained' averages each seed's slopes over the untrained tasks first",
    **{f"{prefix}_{name}": text for prefix in SAMPLE_SETS for name, text in _SAMPLED.items()},
    # 06: GSM8K chains, per problem (k chains each), then means over problems
    "correct": "chains whose final answer equals the reference answer",
    "distinct_all": "distinct calculation paths (the ordered numbers a chain computes that are not in the question) "
                    "among all k chains",
    "distinct_correct": "distinct calculation paths among the correct chains (problems with at least one)",
    "empty_paths": "chains that compute no new number (they all share the empty path)",
    "words": "words per chain",
    "distinct_nonempty": "distinct calculation paths among the chains that compute at least one new number "
                         "(problems with at least one such chain): distinct_all less the empty path, so it does not "
                         "move with the share of empty chains",
    "empty_share": "share of a problem's k chains that compute no new number (empty_paths / k)",
    "mdd": "minimum detectable difference: the trained − vanilla difference a two-sided paired test at α = 0.05 "
           "detects with 80% power at this size (lib.stats.min_detectable_difference). Accuracies: at vanilla's "
           "accuracy, assuming the two models err independently (conservative for one model family); 06's "
           "per-problem means: from the mean square of the paired differences; ECE: from the bootstrap standard "
           "error of the paired difference",
    # 07: capability, vanilla vs trained, per item (questions, problems, prompts, instructions, format items)
    "mmlu_accuracy": "MMLU accuracy, harness convention: the letter A–D with the highest log-likelihood after "
                     "'Answer:' (raw text, zero-shot) is the pick; Wilson 95% CI; chance 25%",
    "mmlu_permuted_accuracy": "MMLU accuracy averaged over the 4 cyclic shifts of the options (each option under "
                              "each letter once), which removes the model's letter prior; per question the mean "
                              "correctness over shifts, then the mean over questions; bootstrap 95% CI over questions",
    "pick_share": "share of MMLU picks on each letter (answer), over the harness prompts or over every scored shift",
    "gsm8k_accuracy": "GSM8K greedy accuracy: the final answer (after ####, else the last number) equals the "
                      "reference; Wilson 95% CI",
    "ifbench_prompt_strict": "IFBench prompt-level strict accuracy: share of prompts whose every instruction the "
                             "IFBench checker passes on the reply as written (prompts with a skipped checker left "
                             "out); Wilson 95% CI",
    "ifbench_prompt_loose": "IFBench prompt-level loose accuracy: as strict, but an instruction also passes when "
                            "the reply with its first and/or last line removed, or with '*' removed, passes",
    "ifbench_instruction_strict": "IFBench instruction-level strict accuracy: share of checked instructions "
                                  "followed (skipped checkers left out, never passed); Wilson 95% CI",
    "ifbench_instruction_loose": "IFBench instruction-level loose accuracy (loose as in ifbench_prompt_loose)",
    "format_pass_rate": "share of replies a code check finds in the asked strict format (JSON with given keys "
                        "and types, exactly N bullets, one word, a comma-separated list of N items; lib.formats); "
                        "Wilson 95% CI",
    "mmlu_ece": "expected calibration error of the MMLU letter probabilities renormalized over A–D: "
                "Σ_b (n_b/n)·|accuracy_b − confidence_b| over 10 equal-width confidence bins; bias-corrected "
                "bootstrap 95% CI over questions; lower is better calibrated",
    # 08: open-ended prompts, k answers each
    "distinct_k": "equivalence classes among k answers: exact matches after normalization, then answers whose "
                  "embedding cosine similarity reaches the calibrated threshold",
    "distinct_k_lexical": "distinct answers among k after normalization (case, punctuation, spacing) only",
    # 09: where the change lives (adapter ablation by place, a steering direction, the logit lens)
    "effect_share": "the share of the full adapter's effect (full − vanilla) a part of the adapter carries when LoRA "
                    "is kept on that part only (column part; others off with peft's enable_adapters), per training "
                    "seed, for the exact measure in column measure: on the trained task (part − vanilla) / (full − "
                    "vanilla); on the untrained tasks the least-squares coefficient of the part's effects on the full "
                    "adapter's (1 = the whole pattern, 0 = none); empty where the full effect's root mean square is "
                    "below 0.005; mean over seeds with a t-interval",
    "direction_norm": "norm of a direction: a decoder layer's output at the last prompt token of the trained task, "
                      "trained minus vanilla (per training seed; random: a Gaussian direction of the same norm)",
    "direction_cosine": "cosine between a direction and the studied recipe's mean direction at the same layer (for "
                        "the recipe's own seeds, the mean of its other seeds: how much seeds agree)",
    **{f"steered_{m}_change": f"{m} of vanilla with scale × a direction added to one decoder layer's output at "
                              "every position (columns layer, scale), minus vanilla's; on the trained task, or "
                              "averaged over the untrained tasks" for m in ("exact_effective_share", "exact_tv",
                                                                            "raw_mass")},
    "lens_entropy": "logit lens: a decoder layer's output at the last prompt token read through the final norm and "
                    "the output head; the entropy of that next-token distribution renormalized over the answers' "
                    "distinct first tokens, divided by log of their number (1 = uniform over them)",
    "lens_mass": "logit lens: the probability that distribution puts on the answers' first tokens",
}


def undefined(names: Iterable[str]) -> list[str]:
    """The metric names among `names` that the vocabulary does not define (a test keeps this empty)."""
    return sorted({n for n in names if isinstance(n, str) and n not in METRICS})


def definitions_markdown() -> str:
    """The definitions as a markdown list, in registry order (the report prints this)."""
    lines = [INTRO, "", "Sample sets: " + "; ".join(f"**{k}**: {v}" for k, v in SAMPLE_SETS.items()) + ".", ""]
    lines += [f"- **{name}**: {text}" for name, text in METRICS.items()]
    return "\n".join(lines)
