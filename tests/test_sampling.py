import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from lib import distributions, sampling, tasks, token_sampler

CARD_SUIT = tasks.get("card_suit")
# The panel's own wording puts ~0.05% of the mass on bare answers, too little to sample; listing the
# options raises it to a few percent, enough for a goodness-of-fit test of sampler against scorer.
LISTED_SUITS = "Pick a random card suit: Spades, Hearts, Diamonds or Clubs. Answer with just the suit."


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_kv_reuse_matches_naive_scoring(backend, temperature):
    answers = ["Spades", "hearts", "Diamonds", "Clubs", "42", "Sure! Spades", "🍎"]
    fast = backend.answer_logprobs(CARD_SUIT.prompt, answers, temperature)
    naive = backend.answer_logprobs_naive(CARD_SUIT.prompt, answers, temperature)
    np.testing.assert_allclose(fast, naive, atol=1e-4, rtol=0)


def test_kv_reuse_is_independent_of_batch_size(loaded_model):
    answers = [str(i) for i in range(1, 40)]
    prompt = tasks.get("integer_1_100").prompt
    small = sampling.TransformersBackend(loaded_model, score_batch_size=7).answer_logprobs(prompt, answers)
    large = sampling.TransformersBackend(loaded_model, score_batch_size=64).answer_logprobs(prompt, answers)
    np.testing.assert_allclose(small, large, atol=1e-4, rtol=0)


def test_temperature_scales_logits(backend):
    """At T=2 a bare single-token answer is less likely than at T=1 when it is the model's favourite."""
    cold = backend.answer_logprobs(LISTED_SUITS, ["Spades"], 0.5)[0]
    hot = backend.answer_logprobs(LISTED_SUITS, ["Spades"], 2.0)[0]
    assert cold > hot


def test_sampled_frequencies_agree_with_exact_distribution(backend):
    """Chi-square: how often the sampler emits exactly '<suit><end-of-turn>' vs the scored probabilities."""
    n, temperature = 3000, 0.7
    logp = backend.answer_logprobs(LISTED_SUITS, list(CARD_SUIT.answers), temperature)
    rows = backend.sample_token_ids(LISTED_SUITS, n, sampling.SamplingParams(temperature=temperature, max_new_tokens=4),
                                    seed=0)
    targets = [backend._encode(a + backend.end_of_turn) for a in CARD_SUIT.answers]
    observed = np.array([sum(row == t for row in rows) for t in targets], dtype=float)
    expected = n * np.exp(logp)
    # Merge the rare suits (expected < 5) into the remainder, as chi-square requires.
    keep = expected >= 5
    assert keep.any(), f"too little bare-answer mass to test: expected {expected}"
    obs = np.append(observed[keep], n - observed[keep].sum())
    exp = np.append(expected[keep], n - expected[keep].sum())
    stat, p_value = chisquare(obs, exp)
    assert p_value > 0.001, f"observed {obs} vs expected {exp.round(1)} (chi2={stat:.1f}, p={p_value:.2g})"


def test_sampling_is_reproducible_by_seed_and_varies_across_seeds(backend):
    params = sampling.SamplingParams(max_new_tokens=6)
    first = backend.sample([CARD_SUIT.prompt], 5, params, seed=3, progress=False)
    again = backend.sample([CARD_SUIT.prompt], 5, params, seed=3, progress=False)
    other = backend.sample([CARD_SUIT.prompt], 5, params, seed=4, progress=False)
    assert first == again
    assert first != other


def test_greedy_needs_no_seed(backend):
    params = sampling.SamplingParams(temperature=0, max_new_tokens=6)
    a = backend.sample([CARD_SUIT.prompt], 2, params, seed=1, progress=False)[0]
    b = backend.sample([CARD_SUIT.prompt], 1, params, seed=2, progress=False)[0]
    assert a[0] == a[1] == b[0]


def test_end_of_turn_is_the_chat_templates_closing_token(backend):
    assert backend.end_of_turn == "<|im_end|>"


def test_exact_distribution_sums_surface_forms(backend):
    dist = distributions.score_exact(backend, CARD_SUIT, [1.0])[1.0]
    forms = backend.answer_logprobs(CARD_SUIT.prompt, list(CARD_SUIT.surface_forms("Spades")))
    assert dist.logp[0] == pytest.approx(np.logaddexp.reduce(forms), abs=1e-4)  # batch composition moves float sums ~1e-5
    assert dist.p.sum() == pytest.approx(1.0)


def test_sample_cache_resumes_without_sampling_again(ci_config, backend, tmp_path):
    from lib import conditions
    params = sampling.SamplingParams(max_new_tokens=4)
    first = distributions.sample_task(conditions.Condition(ci_config.model, tmp_path, loader=lambda c: backend),
                                      CARD_SUIT, 3, params, seed=0)

    class NoSampling:
        def sample(self, *args, **kwargs):
            raise AssertionError("sampled although the replies were cached")

    again = distributions.sample_task(conditions.Condition(ci_config.model, tmp_path, loader=lambda c: NoSampling()),
                                      CARD_SUIT, 3, params, seed=0)
    assert again.replies == first.replies
    conditions.release()


def test_scoring_sampling_and_grpo_send_the_very_same_chat_prompt(backend):
    """Exact scoring, sampling and GRPO (trl tokenizes the conversation itself) must condition on one prompt."""
    seen = []
    hook = backend.model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["input_ids"][0].tolist()),
                                                   with_kwargs=True)
    try:
        backend.answer_logprobs(CARD_SUIT.prompt, ["Hearts"])
        scored = seen[0]                                   # the prompt's own forward pass
        seen.clear()
        backend.sample([CARD_SUIT.prompt], 1, sampling.SamplingParams(max_new_tokens=2), seed=0, progress=False)
        sampled = seen[0] + seen[1][-1:]                   # prefill of all but the last token, then generate()'s step
    finally:
        hook.remove()
    trl_ids = backend.tokenizer.apply_chat_template([sampling.chat_messages(CARD_SUIT.prompt)], add_generation_prompt=True,
                                                    tokenize=True, return_dict=True)["input_ids"][0]
    assert scored == sampled == list(trl_ids) == backend.prompt_ids(CARD_SUIT.prompt)


@torch.inference_mode()
def test_greedy_decoding_equals_generate(backend):
    """The compact loop (rows leave the batch as they end) picks the tokens generate() picks: one prompt
    repeated, and a left-padded batch of prompts of different lengths."""
    stop = {backend.tokenizer.convert_tokens_to_ids(backend.end_of_turn), backend.model.generation_config.eos_token_id}
    greedy = dict(do_sample=False, max_new_tokens=16, top_k=None, top_p=None, temperature=None,
                  pad_token_id=backend.tokenizer.pad_token_id)

    def cut(row):
        end = next((i for i, token in enumerate(row) if token in stop), None)
        return row if end is None else row[:end + 1]

    ids = torch.tensor([backend.prompt_ids(CARD_SUIT.prompt)])
    reference = cut(backend.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **greedy)[0, ids.shape[1]:].tolist())
    rows = backend.sample_token_ids(CARD_SUIT.prompt, 3, sampling.SamplingParams(temperature=0, max_new_tokens=16))
    assert rows == [reference] * 3

    prompts = ["What is 2 + 3?", "Name a large animal that lives in the ocean and explain why in a sentence."]
    encoded = [backend.prompt_ids(p) for p in prompts]
    width, pad = max(map(len, encoded)), backend.tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(e)) + e for e in encoded])
    mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in encoded])
    expected = [cut(row) for row in backend.model.generate(input_ids=ids, attention_mask=mask, **greedy)[:, width:].tolist()]
    got = token_sampler.complete_rows(backend.model, ids, mask, 16, token_sampler.picker(0), stop, sampling.CACHE_KW)
    assert got == expected


def test_warpers_follow_generate_order():
    names = [type(w).__name__ for w in token_sampler.warpers(1.5, top_p=0.9, top_k=20, min_p=0.1)]
    assert names == ["TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper", "MinPLogitsWarper"]
    assert len(token_sampler.warpers(1.0)) == 0
    logits = torch.tensor([[2.0, 1.0, 0.0, -5.0]])
    kept = token_sampler.warpers(1.0, min_p=0.2)(None, logits.clone())
    assert torch.isinf(kept[0, 3]) and not torch.isinf(kept[0, :2]).any()
