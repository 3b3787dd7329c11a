import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import binomtest

from lib import capability, reasoning, sampling


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
    assert capability.mcnemar_exact(b, c) == pytest.approx(expected)


def test_paired_test_counts_discordant_items():
    vanilla = pd.DataFrame({"question": [1, 2, 3, 4], "correct": [True, True, False, False]})
    trained = pd.DataFrame({"question": [1, 2, 3, 5], "correct": [True, False, True, True]})
    test = capability.paired_test(vanilla, trained, "question")
    assert (test["n"], test["only_vanilla"], test["only_trained"]) == (3, 1, 1) and test["p_value"] == 1.0
    row = capability.accuracy_row(vanilla, "MMLU", "vanilla", None)
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
