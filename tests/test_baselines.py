import math

import numpy as np
import pandas as pd
import pytest
import torch

from lib import correction, decoding, metrics, tasks, verbalized
from lib.distributions import ExactDistribution

INT_10, INT_100, INT_1000 = tasks.get("integer_1_10"), tasks.get("integer_1_100"), tasks.get("integer_1_1000")
COLOR, CARD_SUIT = tasks.get("color"), tasks.get("card_suit")


def _skewed(task, seed=0):
    """A narrow toy distribution over the task's answers (log-probs well below 0, as bare replies are)."""
    rng = np.random.default_rng(seed)
    return ExactDistribution(task, 1.0, rng.normal(-8, 3, size=task.k))


# -- logit correction ------------------------------------------------------------------------

def test_bias_fit_makes_the_fitted_distribution_exactly_uniform():
    dist = _skewed(INT_100)
    assert metrics.exact_tv(dist.p) > 0.2
    bias = correction.fit_logit_correction(dist)
    corrected, defined = correction.apply_correction(dist.logp, INT_100.answers, bias)
    assert defined.all()
    np.testing.assert_allclose(np.exp(corrected), np.full(100, 1 / 100), rtol=1e-12)
    assert metrics.exact_tv(np.exp(corrected)) == pytest.approx(0, abs=1e-12)


def test_bias_is_minus_log_of_the_renormalized_probability():
    toy = tasks.integer_task("toy", 1, 3)
    dist = ExactDistribution(toy, 1.0, np.log([0.01, 0.03, 0.06]))       # raw mass 0.1
    bias = correction.fit_logit_correction(dist)
    assert bias == pytest.approx({"1": -math.log(0.1), "2": -math.log(0.3), "3": -math.log(0.6)})


def test_correction_from_1_100_uses_the_biases_of_1_to_10_on_1_10():
    fit = _skewed(INT_100)
    bias = correction.fit_logit_correction(fit)
    target = _skewed(INT_10, seed=1)
    corrected, defined = correction.apply_correction(target.logp, INT_10.answers, bias)
    assert defined.all() and corrected.size == 10
    expected = target.logp + np.array([bias[str(i)] for i in range(1, 11)])
    np.testing.assert_allclose(corrected, expected - np.logaddexp.reduce(expected))
    row = correction.transfer_correction(bias, target, "integer_1_100")
    assert (row.status, row.n_defined, row.k) == ("defined", 10, 10)


def test_correction_from_1_100_is_defined_on_exactly_100_answers_of_1_1000():
    bias = correction.fit_logit_correction(_skewed(INT_100))
    target = _skewed(INT_1000, seed=2)
    corrected, defined = correction.apply_correction(target.logp, INT_1000.answers, bias)
    assert defined.sum() == 100 and corrected.size == 100
    assert [a for a, d in zip(INT_1000.answers, defined) if d] == [str(i) for i in range(1, 101)]
    row = correction.transfer_correction(bias, target, "integer_1_100")
    assert row.status == "partial" and row.n_defined == 100
    assert row.defined_mass == pytest.approx(target.p[:100].sum())
    assert row.tv_corrected == pytest.approx(metrics.exact_tv(np.exp(corrected)))


def test_correction_from_1_100_is_undefined_on_colors():
    bias = correction.fit_logit_correction(_skewed(INT_100))
    target = _skewed(COLOR)
    corrected, defined = correction.apply_correction(target.logp, COLOR.answers, bias)
    assert not defined.any() and corrected.size == 0
    row = correction.transfer_correction(bias, target, "integer_1_100")
    assert row.status == "undefined" and math.isnan(row.tv_corrected)


def test_correction_table_has_an_undefined_row_for_colors_and_zero_tv_on_the_fit_task():
    exact = {t.id: _skewed(t, i) for i, t in enumerate((INT_10, INT_100, INT_1000, COLOR))}
    table = correction.correction_transfers(exact, "integer_1_100").set_index("task")
    assert table.loc["integer_1_100", "status"] == "fitted"
    assert table.loc["integer_1_100", "tv_corrected"] == pytest.approx(0, abs=1e-12)
    assert table.loc["color", "status"] == "undefined"
    rows = pd.DataFrame(correction.correction_rows(table.reset_index()))
    comparison = pd.DataFrame(correction.correction_condition_rows(rows, ["integer_1_1000", "color"])).set_index("task")
    assert comparison.loc["color", "note"].startswith("undefined")
    assert "100 of 1000" in comparison.loc["integer_1_1000", "note"]


# -- min-p -----------------------------------------------------------------------------------

def test_min_p_filter_keeps_tokens_above_p_base_times_the_top_probability():
    probs = np.array([0.5, 0.3, 0.1, 0.06, 0.04])
    logits = np.log(probs) + 3.0                      # a shift must not matter
    kept = np.isfinite(decoding.min_p_filter(logits, 0.1))       # threshold 0.05
    assert kept.tolist() == [True, True, True, True, False]
    kept = np.isfinite(decoding.min_p_filter(logits, 0.5))       # threshold 0.25
    assert kept.tolist() == [True, True, False, False, False]
    filtered = decoding.min_p_filter(torch.tensor(logits), 0.5)
    assert torch.isfinite(filtered).tolist() == [True, True, False, False, False]
    assert torch.equal(filtered[:2], torch.tensor(logits[:2]))


@pytest.mark.parametrize("p_base", [0.05, 0.1, 0.3])
def test_min_p_filter_matches_transformers_min_p_warper(p_base):
    from transformers.generation.logits_process import MinPLogitsWarper
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 500, generator=generator) * 3
    ours = decoding.min_p_filter(logits, p_base)
    theirs = MinPLogitsWarper(p_base)(torch.zeros(4, 1, dtype=torch.long), logits.clone())
    assert torch.equal(torch.isfinite(ours), torch.isfinite(theirs))
    assert 1 < torch.isfinite(ours).sum() < logits.numel()        # the filter did something
    np_ours = decoding.min_p_filter(logits.numpy().astype(np.float64), p_base)
    assert np.array_equal(np.isfinite(np_ours), torch.isfinite(theirs).numpy())


def test_sampling_with_min_p_one_is_greedy(backend):
    """SamplingParams.min_p reaches transformers' warper: with p_base = 1 only the top token survives."""
    from lib.sampling import SamplingParams
    prompt = CARD_SUIT.prompt
    greedy = backend.sample([prompt], 1, SamplingParams(temperature=0, max_new_tokens=6), seed=0, progress=False)[0]
    hot = backend.sample([prompt], 4, SamplingParams(temperature=2.0, min_p=1.0, max_new_tokens=6),
                         seed=0, progress=False)[0]
    assert hot == greedy * 4


# -- verbalized sampling ---------------------------------------------------------------------

def test_verbalized_prompt_names_the_answer_space():
    assert "integers between 1 and 100" in verbalized.verbalized_prompt(INT_100)
    assert "colors" in verbalized.verbalized_prompt(COLOR)
    assert "'<color>: <probability>'" in verbalized.verbalized_prompt(COLOR)


def test_verbalized_parser_reads_a_well_formed_reply():
    reply = "Here you go:\n1. Blue: 0.3\n2. Red: 0.2\n- Green: 0.2\n* **Teal**: 0.15\nPurple (0.15)"
    stated = verbalized.parse_verbalized(reply, COLOR)
    assert stated == pytest.approx({"blue": 0.3, "red": 0.2, "green": 0.2, "teal": 0.15, "purple": 0.15})


def test_verbalized_parser_reads_integers_with_list_numbers_and_percentages():
    stated = verbalized.parse_verbalized("1. 42: 40%\n2. 7: 30%\n3) 99 - 30%", INT_100)
    assert stated == pytest.approx({"42": 0.4, "7": 0.3, "99": 0.3})


def test_verbalized_parser_reads_fractions():
    stated = verbalized.parse_verbalized("- Blue: 1/4\n- White: 8/16\n- Black: 1/4", COLOR)
    assert stated == pytest.approx({"blue": 0.25, "white": 0.5, "black": 0.25})


def test_verbalized_parser_renormalizes_probabilities_that_do_not_sum_to_one():
    stated = verbalized.parse_verbalized("Spades: 0.5\nHearts: 0.5\nDiamonds: 0.5\nClubs: 0.5", CARD_SUIT)
    assert stated == pytest.approx({a: 0.25 for a in CARD_SUIT.answers})
    stated = verbalized.parse_verbalized("Spades: 0.1\nspades: 0.1\nHearts: 0.2", CARD_SUIT)   # repeats add up
    assert stated == pytest.approx({"Spades": 0.5, "Hearts": 0.5})


def test_verbalized_parser_skips_malformed_lines():
    reply = "Sure!\nSpades: maybe\nHearts: 0.7\nthe rest: 0.3\n17: 0.2"
    assert verbalized.parse_verbalized(reply, CARD_SUIT) == pytest.approx({"Hearts": 1.0})


@pytest.mark.parametrize("reply", ["", "Blue, red and green.", "1. Blue\n2. Red", "Blue: 0\nRed: 0.0",
                                   "I can't pick colors: 1"])
def test_verbalized_parser_fails_when_nothing_parses(reply):
    assert verbalized.parse_verbalized(reply, COLOR) is None


def test_verbalized_draws_follow_the_stated_distribution_and_record_failures():
    replies = ["Spades: 0.9\nHearts: 0.1"] * 400 + ["no idea"] * 100
    smp = verbalized.VerbalizedSamples(CARD_SUIT, replies, seed=3)
    answers = smp.answers
    assert smp.parse_failure_rate == pytest.approx(0.2)
    assert answers[400:] == [None] * 100
    assert answers[:400].count("Spades") / 400 == pytest.approx(0.9, abs=0.05)
    assert answers == smp.answers                          # seeded: the same draws every time
    assert smp.head(10).answers == answers[:10]
    assert verbalized.VerbalizedSamples(CARD_SUIT, replies, seed=4).answers != answers


# -- temperature ------------------------------------------------------------------------------

def test_gap_closed_arithmetic():
    assert decoding.gap_closed(0.6, 0.4, 0.2) == pytest.approx(0.5)
    assert decoding.gap_closed(0.6, 0.6, 0.2) == 0.0                 # T=1 itself closes nothing
    assert decoding.gap_closed(0.6, 0.2, 0.2) == pytest.approx(1.0)
    assert decoding.gap_closed(0.6, 0.1, 0.2) == pytest.approx(1.25)  # temperature beats training
    assert decoding.gap_closed(0.6, 0.7, 0.2) == pytest.approx(-0.25)
    assert math.isnan(decoding.gap_closed(0.6, 0.4, 0.6))            # training closed no gap
    assert math.isnan(decoding.gap_closed(0.6, 0.4, 0.7))
    np.testing.assert_allclose(decoding.gap_closed([0.6, 0.5], [0.4, 0.5], [0.2, 0.6]), [0.5, np.nan])


def test_gap_rows_and_best_temperature_come_from_the_sweep():
    def dist(task, p):
        return ExactDistribution(task, 1.0, np.log(p))
    sweep = {1.0: {"card_suit": dist(CARD_SUIT, [0.7, 0.1, 0.1, 0.1])},
             2.0: {"card_suit": dist(CARD_SUIT, [0.4, 0.2, 0.2, 0.2])}}
    tv1, tv2 = 0.45, 0.15
    rows = {r["temperature"]: r["value"] for r in decoding.gap_rows(sweep, {"card_suit": 0.05})}
    assert rows[1.0] == 0.0
    assert rows[2.0] == pytest.approx((tv1 - tv2) / (tv1 - 0.05))
    assert decoding.best_temperature(sweep) == {"card_suit": 2.0}


@pytest.mark.parametrize("task", [CARD_SUIT, tasks.get("emoji")], ids=["card_suit", "emoji"])
def test_sweep_scoring_matches_single_temperature_scoring(backend, task):
    """One pass for all temperatures gives what scoring at each T alone gives."""
    from lib import distributions
    sweep = distributions.score_exact(backend, task, [0.5, 1.0, 2.0])
    for temperature, dist in sweep.items():
        single = distributions.score_exact(backend, task, [temperature])[temperature]
        np.testing.assert_allclose(dist.logp, single.logp, atol=1e-4, rtol=0)
    assert not np.allclose(sweep[0.5].logp, sweep[2.0].logp)


def test_trained_conditions_merge_each_seeds_adapter(loaded_model, backend, tmp_path):
    """A LoRA with B = 0 leaves every score as it was; a perturbed one changes them (so it was applied)."""
    from peft import LoraConfig, get_peft_model
    from lib import conditions, distributions, models
    lora = get_peft_model(models.load(loaded_model.spec).model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    lora.save_pretrained(tmp_path / "seed0")
    with torch.no_grad():
        for name, weight in lora.named_parameters():
            if "lora_B" in name:
                weight.normal_(0, 0.05, generator=torch.Generator().manual_seed(0))
    lora.save_pretrained(tmp_path / "seed1")
    trained = {s: distributions.exact_panel(conditions.Condition(loaded_model.spec, tmp_path / "cache", "r", s,
                                                                 tmp_path / f"seed{s}"), [CARD_SUIT], progress=False)
               for s in (0, 1)}
    vanilla = distributions.score_exact(backend, CARD_SUIT, [1.0])[1.0]
    np.testing.assert_allclose(trained[0]["card_suit"].logp, vanilla.logp, atol=1e-4)
    assert np.abs(trained[1]["card_suit"].logp - vanilla.logp).max() > 1e-2
    assert decoding.trained_mean_tv(trained)["card_suit"] == pytest.approx(
        np.mean([metrics.exact_tv(trained[s]["card_suit"].p) for s in (0, 1)]))
    conditions.release()
