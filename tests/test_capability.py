import json
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import binomtest

from lib import capability, capability_verdicts, conditions, reasoning, sampling, stats, vocabulary
from tests.fakes import CountingBackend, fake_condition


def _question(i: int, subject: str = "anatomy", answer: int = 0) -> capability.Question:
    return capability.Question(i, subject, f"Question {i}?", ("one", "two", "three", "four"), answer)


def test_malformed_mmlu_rows_are_skipped_and_counted(tmp_path):
    good = {"question": "Q?", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 2}
    bad = [{**good, "choices": ["a", "b", "c"]}, {**good, "answer": 4}, {**good, "answer": True},
           {**good, "answer": "2"}, {k: v for k, v in good.items() if k != "subject"}, {**good, "question": ""}]
    path = tmp_path / "mmlu" / "test.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(json.dumps(r) for r in [good, *bad]) + "\nnot json\n")
    questions, source = capability.load_questions(str(tmp_path))
    assert questions == [capability.Question(0, "anatomy", "Q?", ("a", "b", "c", "d"), 2)]
    assert source.skipped == len(bad) + 1


def test_stratified_sample_spreads_over_subjects_and_is_seeded():
    questions = [_question(i, f"subject{i % 7}") for i in range(7 * 30)]
    picked = capability.stratified_sample(questions, 50, seed=0)
    counts = Counter(q.subject for q in picked)
    assert len(picked) == 50 and len(set(picked)) == 50
    assert max(counts.values()) - min(counts.values()) <= 1 and len(counts) == 7
    assert picked == capability.stratified_sample(questions, 50, seed=0)
    assert picked != capability.stratified_sample(questions, 50, seed=1)
    small = [_question(0, "a"), _question(1, "b"), _question(2, "b"), _question(3, "b")]
    assert sorted(q.index for q in capability.stratified_sample(small, 10, seed=0)) == [0, 1, 2, 3]


def test_prompt_follows_the_harness_layout():
    text = capability.mmlu_prompt(_question(0, "high_school_biology"))
    assert text.startswith("The following are multiple choice questions (with answers) about high school biology.")
    assert text.endswith("Question 0?\nA. one\nB. two\nC. three\nD. four\nAnswer:")


@pytest.mark.parametrize("b, c", [(0, 5), (3, 3), (2, 9), (10, 1), (0, 0)])
def test_exact_mcnemar_matches_a_binomial_test(b, c):
    expected = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5).pvalue
    assert capability_verdicts.mcnemar_exact(b, c) == pytest.approx(expected)


def test_paired_test_counts_discordant_items():
    vanilla = pd.DataFrame({"question": [1, 2, 3, 4], "correct": [True, True, False, False]})
    trained = pd.DataFrame({"question": [1, 2, 3, 5], "correct": [True, False, True, True]})
    test = capability_verdicts.paired_test(vanilla, trained, "question")
    assert (test["n"], test["only_vanilla"], test["only_trained"]) == (3, 1, 1) and test["p_value"] == 1.0
    row = capability_verdicts.accuracy_row(vanilla, "MMLU", "vanilla", None)
    assert (row["correct"], row["n"], row["accuracy"]) == (2, 4, 0.5) and row["ci_low"] < 0.5 < row["ci_high"]


def test_mmlu_scores_with_the_small_model(backend):
    questions = [capability.Question(0, "elementary_mathematics", "What is 2 + 3?", ("4", "5", "6", "7"), 1),
                 capability.Question(1, "world_religions", "Which city is the capital of France?",
                                     ("Berlin", "Madrid", "Paris", "Rome"), 2),
                 _question(2, "anatomy", 3)]
    first = capability.score_mmlu(backend, questions, progress=False)
    again = capability.score_mmlu(backend, questions, progress=False)
    letters = [f"logprob_{l}" for l in capability.LETTERS]
    assert first.shape == (3, 5 + len(letters)) and np.isfinite(first[letters].to_numpy()).all()
    assert (first[letters].to_numpy() < 0).all()
    pd.testing.assert_frame_equal(first, again)                                   # deterministic
    argmax = [capability.LETTERS[i] for i in first[letters].to_numpy().argmax(axis=1)]
    assert list(first["pick"]) == argmax
    assert list(first["correct"]) == [p == a for p, a in zip(first["pick"], first["answer"])]


@torch.inference_mode()
def test_continuation_scores_match_a_full_forward_pass(backend):
    context, continuations = "Question: 1+1?\nA. 2\nB. 3\nAnswer:", [" A", " B", " The answer is B"]
    scores = backend.continuation_logprobs(context, continuations)
    for continuation, score in zip(continuations, scores):
        ctx, cont = backend._encode(context), backend._encode(continuation)
        logits = backend.model(input_ids=torch.tensor([ctx + cont])).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        expected = sum(logp[len(ctx) - 1 + i, t].item() for i, t in enumerate(cont))
        assert score == pytest.approx(expected, abs=1e-4)


def test_batched_greedy_completion_equals_one_prompt_at_a_time(backend):
    prompts = ["What is 2 + 3?", "Name a large animal that lives in the ocean and explain why in a sentence."]
    params = sampling.SamplingParams(temperature=0, max_new_tokens=12)
    together = backend.complete(prompts, params, progress=False)                 # left-padded batch
    alone = [backend.complete([p], params, progress=False)[0] for p in prompts]
    assert together == alone and all(together)


def test_gsm8k_greedy_table(backend):
    problems = [reasoning.Problem(7, "Tom has 5 apples and buys 3 more. How many apples does he have?", "8")]
    table = capability.gsm8k_greedy(backend, problems, max_new_tokens=16, progress=False)
    assert list(table.columns) == ["problem", "gold", "predicted", "correct", "text"] and table["problem"].item() == 7
    assert table["correct"].item() == reasoning.is_correct(reasoning.extract_answer(table["text"].item()), "8")


# -- option permutations, paired comparisons with power, held or not ------------------------------------

@pytest.fixture(autouse=True)
def no_model_left_loaded():
    """Fake backends must not stay in lib.conditions' one-model slot for later tests."""
    yield
    conditions.release()




def test_cyclic_shifts_put_the_answer_under_every_letter_once():
    question = _question(0, answer=1)
    shifted = [capability.rotate(question, s) for s in capability.PERMUTATIONS["cyclic"]]
    assert shifted[1].choices == ("two", "three", "four", "one") and shifted[1].answer == 0
    assert sorted(q.answer for q in shifted) == [0, 1, 2, 3]
    assert all(q.choices[q.answer] == "two" for q in shifted) and shifted[0] == question


def _cfg(**changes) -> SimpleNamespace:
    return SimpleNamespace(**{**dict(mmlu_permutations="cyclic", max_new_tokens=8, ifbench_max_new_tokens=8,
                                     format_max_new_tokens=8), **changes})


def test_permuted_scoring_reuses_the_harness_scores_and_removes_a_letter_prior(tmp_path):
    backend = CountingBackend()                     # scores " A" highest for every prompt: a pure letter prior
    condition = fake_condition(tmp_path, backend)
    questions = [_question(i, answer=i % 4) for i in range(6)]
    capability.evaluate(condition, questions, [], max_new_tokens=8)
    assert backend.calls["score"] == 6
    scores = capability.mmlu_scores(condition, questions, capability.PERMUTATIONS["cyclic"])
    assert backend.calls["score"] == 6 * 4                     # shift 0 read from the harness entry, not rescored
    capability.mmlu_scores(condition, questions, capability.PERMUTATIONS["cyclic"])
    assert backend.calls["score"] == 6 * 4                     # everything cached
    assert (scores["pick"] == "A").all() and len(scores) == 24
    averaged = capability.permutation_averaged(scores)
    assert (averaged["correct"] == 0.25).all() and (averaged["shifts"] == 4).all()   # exactly chance, whatever A holds
    harness = scores[scores["shift"] == 0]
    assert harness["correct"].mean() == 2 / 6                  # the answers that happen to sit under A
    shares = capability.pick_shares({("vanilla", None): scores}).set_index(["task", "answer"])["value"]
    assert shares[("harness (shift 0)", "A")] == 1 and shares[("all shifts", "B")] == 0


def test_sign_flip_test_is_exact_for_few_items():
    assert capability_verdicts.sign_flip_test([1, 1, 1]) == pytest.approx(2 / 8)
    assert capability_verdicts.sign_flip_test([0.25, -0.25]) == 1.0 and capability_verdicts.sign_flip_test([0, 0]) == 1.0
    many = capability_verdicts.sign_flip_test([0.25] * 30, n_perm=2000, seed=0)
    assert 0 < many < 0.01


def test_detectable_difference_follows_lib_stats():
    assert capability_verdicts.detectable_accuracy_difference(200, 0.5) == pytest.approx(0.140, abs=1e-3)
    assert capability_verdicts.detectable_accuracy_difference(200, 0.5) == stats.min_detectable_difference(200, 0.5, paired=True)
    assert 0 < capability_verdicts.detectable_accuracy_difference(20, 0.0) < 1      # kept inside (0, 1), not 0
    assert capability_verdicts.detectable_from_standard_error(0.05) == pytest.approx((1.95996 + 0.84162) * 0.05, rel=1e-4)


def _items(correct: list, key: str = "item") -> pd.DataFrame:
    return pd.DataFrame({key: range(len(correct)), "correct": correct})


def test_paired_proportion_interval_keeps_its_width_when_every_pair_agrees():
    low, high = capability_verdicts.paired_proportion_interval(both=5, only_vanilla=0, only_trained=0, neither=5)
    assert low < 0 < high and high - low > 0.2
    assert capability_verdicts.paired_proportion_interval(0, 0, 0, 1) == pytest.approx((-0.7935, 0.7935), abs=1e-3)


@pytest.mark.parametrize("counts", [(10, 3, 7, 20), (0, 12, 1, 7), (30, 0, 0, 0), (2, 9, 9, 2)])
def test_paired_proportion_interval_contains_the_difference_and_mirrors(counts):
    both, only_vanilla, only_trained, neither = counts
    n = sum(counts)
    low, high = capability_verdicts.paired_proportion_interval(*counts)
    assert -1 <= low <= (only_trained - only_vanilla) / n <= high <= 1
    mirrored = capability_verdicts.paired_proportion_interval(both, only_trained, only_vanilla, neither)
    assert mirrored == pytest.approx((-high, -low))


def test_a_lopsided_discordant_split_excludes_zero_like_mcnemar():
    low, high = capability_verdicts.paired_proportion_interval(both=20, only_vanilla=12, only_trained=1, neither=67)
    assert high < 0 and capability_verdicts.mcnemar_exact(12, 1) < 0.05


def test_compare_items_pairs_by_item_with_the_right_test():
    vanilla, trained = _items([True] * 10 + [False] * 10), _items([False] * 10 + [False] * 10)
    row = capability_verdicts.compare_items(vanilla, trained, n_boot=200)
    assert (row["n"], row["only_vanilla"], row["only_trained"], row["test"]) == (20, 10, 0, "exact McNemar")
    assert row["difference"] == -0.5 and row["ci_low"] <= -0.5 <= row["ci_high"]
    assert row["p_value"] == pytest.approx(capability_verdicts.mcnemar_exact(10, 0))
    averaged = capability_verdicts.compare_items(_items([0.25, 0.5, 1.0]), _items([0.25, 0.75, 1.0]), n_boot=200)
    assert averaged["test"] == "sign-flip permutation" and averaged["difference"] == pytest.approx(0.25 / 3)


@pytest.mark.parametrize("difference, low, high, p, mdd, metric, expected", [
    (-0.3, -0.4, -0.2, 0.001, 0.1, "mmlu_accuracy", "worse"),
    (0.3, 0.2, 0.4, 0.001, 0.1, "mmlu_accuracy", "better"),
    (0.0, -0.05, 0.05, 1.0, 0.1, "mmlu_accuracy", "held"),
    (-0.1, -0.3, 0.1, 0.4, 0.2, "mmlu_accuracy", "held"),                 # no loss detected; mdd says how big
    (0.05, 0.01, 0.09, float("nan"), 0.1, "mmlu_ece", "worse"),            # ECE up: worse, read off the interval
    (-0.02, -0.06, 0.03, float("nan"), 0.1, "mmlu_ece", "held"),
])
def test_verdict(difference, low, high, p, mdd, metric, expected):
    row = dict(metric=metric, difference=difference, ci_low=low, ci_high=high, p_value=p, mdd=mdd)
    assert capability_verdicts.verdict(row) == expected


def test_held_verdicts_read_holm_adjusted_p_over_the_compared_conditions():
    # two arms lose 0.10 on MMLU at p = 0.03 each: each alone would be "worse", but over the two the
    # Holm-adjusted p is 0.06, so neither loss is detected; the unadjusted p stays in the table
    measure = dict(area="knowledge", benchmark="MMLU", metric="mmlu_accuracy", n=100)
    comparisons = pd.DataFrame([dict(measure, condition=c, train_seed=0, difference=-0.1, ci_low=-0.19, ci_high=-0.01,
                                     p_value=0.03, mdd=0.12) for c in ("exact", "placebo")])
    scores = pd.DataFrame([dict(measure, condition=c, train_seed=s, value=v, ci_low=v - 0.1, ci_high=v + 0.1)
                           for c, s, v in (("vanilla", None, 0.4), ("exact", 0, 0.3), ("placebo", 0, 0.3))])
    held = capability_verdicts.held_table(scores, comparisons)
    assert list(held["p_value"]) == [0.03, 0.03] and held["p_holm"].tolist() == pytest.approx([0.06, 0.06])
    assert list(held["verdict"]) == ["held", "held"]
    assert capability_verdicts.verdict(comparisons.iloc[0].to_dict()) == "worse"      # one comparison alone: detected
    single = capability_verdicts.held_table(scores, comparisons.iloc[:1])
    assert list(single["verdict"]) == ["worse"]


@pytest.mark.parametrize("permutations, knowledge", [("cyclic", "mmlu_permuted_accuracy"), ("none", "mmlu_accuracy")])
def test_every_capability_measure_end_to_end_without_a_model(tmp_path, permutations, knowledge):
    from lib import formats, ifbench
    questions = [_question(i, answer=i % 4) for i in range(8)]
    problems = [reasoning.Problem(0, "What is 2 + 2?", "14")]
    prompts = ifbench.load_prompts()[:4]
    items = formats.suite(1, seed=0)
    measured = {}
    for condition, seed in (("vanilla", None), ("histogram", 0)):
        run = fake_condition(tmp_path / condition, CountingBackend(), condition, seed)
        measured[(condition, seed)] = capability.measure_condition(run, questions, problems, prompts, items,
                                                                   _cfg(mmlu_permutations=permutations))
    by_item = {key: capability.measure_items(m) for key, m in measured.items()}
    ece_scores, ece_comparisons = capability.calibration_tables({k: m.mmlu for k, m in measured.items()}, n_boot=50)
    scores = pd.concat([capability_verdicts.score_table(by_item, n_boot=50), ece_scores], ignore_index=True)
    comparisons = pd.concat([capability_verdicts.comparison_table(by_item, n_boot=50), ece_comparisons], ignore_index=True)
    held = capability_verdicts.held_table(scores, comparisons)
    assert list(held["area"]) == list(capability_verdicts.AREAS)
    assert set(held["metric"]) == {knowledge, "gsm8k_accuracy", "ifbench_prompt_strict", "format_pass_rate",
                                   "mmlu_ece"}
    for frame, value in ((scores, "value"), (comparisons, "difference"), (held, "difference")):
        finite = frame.dropna(subset=[value, "ci_low", "ci_high"])
        assert ((finite["ci_low"] <= finite[value]) & (finite[value] <= finite["ci_high"])).all()
    assert vocabulary.undefined(set(scores["metric"]) | set(comparisons["metric"])) == []
    if permutations == "cyclic":                              # the fake backend always picks A: exactly chance
        assert scores.set_index("metric").loc["mmlu_permuted_accuracy", "value"].eq(0.25).all()
    assert set(capability_verdicts.readable_held(held)["verdict"]) <= {"worse", "better", "held"}
