"""Open-ended diversity (08): equivalence classes, threshold calibration, distinct_k tables, the
generation cache, the offline embedding model and the hand-labelled pairs."""
import json
import os
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib import conditions, config, embeddings, generations, openended
from tests.fakes import CountingBackend, fake_condition, write_adapter

REPO = Path(__file__).resolve().parent.parent


def unit(*angles_deg):
    """2-D unit vectors at the given angles: cos(angle difference) is their cosine similarity."""
    return np.array([[np.cos(np.radians(a)), np.sin(np.radians(a))] for a in angles_deg])


# -- normalization and classes ----------------------------------------------------------------

def test_normalize_ignores_case_punctuation_and_spacing_but_keeps_emoji():
    assert openended.normalize("  Max!  ") == openended.normalize("max") == "max"
    assert openended.normalize("Ace of   Spades.") == "ace of spades"
    assert openended.normalize("🌈") != openended.normalize("🦄")


def test_lexical_classes_number_classes_in_order_of_first_appearance():
    assert openended.lexical_classes(["Max", "Buddy", "max.", "BUDDY!", "Rex"]) == [0, 1, 0, 1, 2]


def test_exact_matches_merge_even_when_embeddings_disagree():
    classes = openended.semantic_classes(["Max", "max!", "Rex"], unit(0, 90, 180), threshold=0.99)
    assert classes == [0, 0, 1]


def test_threshold_decides_semantic_merges():
    vectors = unit(0, 37)                         # cosine 0.80
    assert openended.semantic_classes(["Luna", "Moon"], vectors, threshold=0.75) == [0, 0]
    assert openended.semantic_classes(["Luna", "Moon"], vectors, threshold=0.85) == [0, 1]


def test_a_chain_of_neighbours_does_not_merge_its_ends():
    # a~b and b~c (cos 0.80) but a and c are far apart (cos 0.28): c is compared with a, b's representative
    classes = openended.semantic_classes(["a", "b", "c"], unit(0, 37, 74), threshold=0.7)
    assert classes == [0, 0, 1]


def test_an_answer_joins_its_most_similar_representative():
    classes = openended.semantic_classes(["x", "y", "z"], unit(0, 90, 80), threshold=0.5)
    assert classes == [0, 1, 1]


def test_clustering_is_deterministic_and_scale_free():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(12, 8))
    answers = [f"answer {chr(97 + i)}" for i in range(12)]
    first = openended.semantic_classes(answers, vectors, 0.3)
    assert first == openended.semantic_classes(answers, vectors * 5.0, 0.3)
    assert first == openended.semantic_classes(answers, vectors.copy(), 0.3)
    assert first[0] == 0 and max(first) < len(answers)


def test_conflicting_numbers_are_never_merged():
    same_vector = unit(0, 0)
    assert openended.semantic_classes(["42", "47"], same_vector, threshold=0.5) == [0, 1]
    assert openended.semantic_classes(["7 of Diamonds", "8 of Diamonds"], same_vector, 0.5) == [0, 1]
    assert openended.semantic_classes(["You rolled a 17!", "17"], same_vector, threshold=0.5) == [0, 0]
    assert openended.semantic_classes(["Seven of Diamonds", "7 of Diamonds"], same_vector, 0.5) == [0, 0]


def test_symbols_are_embedded_by_their_names():
    assert openended.embedding_text("🌈") == "rainbow"
    assert openended.embedding_text("I picked 🦄") == "I picked  unicorn face"


# -- calibration ------------------------------------------------------------------------------

def test_calibration_separates_cleanly_separable_pairs_in_the_middle_of_the_gap():
    similarity = [0.92, 0.88, 0.95, 0.81, 0.30, 0.42, 0.25, 0.38]
    same = [1, 1, 1, 1, 0, 0, 0, 0]
    result = openended.calibrate(similarity, same)
    assert 0.42 < result.threshold <= 0.81
    assert abs(result.threshold - (0.42 + 0.81) / 2) <= 0.01      # ties go to the middle of the plateau
    assert result.agreement == result.loo_agreement == result.balanced_agreement == 1.0
    assert result.n_pairs == 8 and result.share_same == 0.5


def test_calibration_reports_what_no_threshold_can_fix():
    similarity = [0.9, 0.85, 0.8, 0.2, 0.3, 0.95]        # the last "different" pair looks most similar
    same = [1, 1, 1, 0, 0, 0]
    result = openended.calibrate(similarity, same)
    assert result.agreement == pytest.approx(5 / 6)
    assert result.loo_agreement <= result.agreement


def test_chosen_threshold_maximizes_agreement_on_the_grid():
    rng = np.random.default_rng(0)
    same = rng.integers(0, 2, 60)
    similarity = np.clip(0.5 + 0.25 * (same - 0.5) + rng.normal(0, 0.15, 60), 0, 1)
    result = openended.calibrate(similarity, same)
    brute = [((similarity >= t) == same).mean() for t in openended.THRESHOLD_GRID]
    assert result.agreement == pytest.approx(max(brute))
    assert result.sweep["agreement"].max() == pytest.approx(max(brute))


# -- distinct_k tables ------------------------------------------------------------------------

def classes_frame():
    """Two prompts (two categories) × vanilla and two trained seeds, k = 4, hand-set classes."""
    rows = []
    spec = {("vanilla T=1", "vanilla", np.nan, "vanilla"): {"p1": [0, 0, 0, 0], "p2": [0, 1, 1, 1]},
            ("r T=1 seed 0", "r", 0, "seed"): {"p1": [0, 1, 2, 3], "p2": [0, 1, 2, 2]},
            ("r T=1 seed 1", "r", 1, "seed"): {"p1": [0, 1, 1, 1], "p2": [0, 1, 2, 3]}}
    category = {"p1": "Factual Knowledge", "p2": "Creativity"}
    for (label, condition, seed, scope), by_prompt in spec.items():
        for prompt_id, classes in by_prompt.items():
            for i, c in enumerate(classes):
                rows.append(dict(label=label, condition=condition, temperature=1.0, train_seed=seed, scope=scope,
                                 prompt_id=prompt_id, category=category[prompt_id], prompt="?", sample=i,
                                 answer=f"{label}-{prompt_id}-{i}", **{"class": c, "lexical_class": i}))
    return pd.DataFrame(rows)


def test_per_prompt_counts_classes_and_averages_seeds():
    table = openended.per_prompt(classes_frame()).set_index(["label", "prompt_id"])
    assert table.loc[("vanilla T=1", "p1"), "distinct_k"] == 1
    assert table.loc[("r T=1 seed 0", "p2"), "distinct_k"] == 3
    assert table.loc[("vanilla T=1", "p2"), "distinct_k_lexical"] == 4
    mean = table.loc[("r T=1 (mean of 2 seeds)", "p1")]
    assert mean["distinct_k"] == pytest.approx((4 + 2) / 2) and mean["scope"] == "mean over seeds"
    assert np.isnan(mean["train_seed"])


def test_category_summary_means_over_prompts_with_seeded_cis():
    prompts = openended.per_prompt(classes_frame())
    summary = openended.category_summary(prompts, n_boot=200, seed=1)
    pooled = summary[(summary["task"] == "all") & (summary["metric"] == "distinct_k")].set_index("label")
    assert pooled.loc["vanilla T=1", "value"] == pytest.approx(1.5)
    assert pooled.loc["r T=1 (mean of 2 seeds)", "value"] == pytest.approx((4 + 3 + 2 + 4) / 4)
    assert (pooled["ci_low"] <= pooled["value"]).all() and (pooled["value"] <= pooled["ci_high"]).all()
    one_prompt = summary[(summary["task"] == "Creativity") & (summary["label"] == "vanilla T=1")
                         & (summary["metric"] == "distinct_k")].iloc[0]
    assert one_prompt["ci_low"] == one_prompt["ci_high"] == 2 and one_prompt["n"] == 1
    again = openended.category_summary(prompts, n_boot=200, seed=1)
    pd.testing.assert_frame_equal(summary, again)
    assert list(summary.columns[:9]) == ["condition", "task", "metric", "value", "ci_low", "ci_high", "n",
                                         "temperature", "train_seed"]


def test_differences_are_paired_by_prompt():
    prompts = openended.per_prompt(classes_frame())
    diffs = openended.differences(prompts, "vanilla T=1", n_boot=100, seed=0)
    assert set(diffs["label"]) == {"r T=1 (mean of 2 seeds)"}          # single seeds are not compared
    pooled = diffs[(diffs["task"] == "all") & (diffs["metric"] == "distinct_k")].iloc[0]
    assert pooled["value"] == pytest.approx(((3 - 1) + (3.5 - 2)) / 2)
    assert pooled["n"] == 2


def test_example_grid_shows_class_ids_beside_answers():
    grid = openended.example_grid(classes_frame(), "p2")
    assert grid.shape == (4, 3)
    assert grid.loc[1, "vanilla T=1"].startswith("[1|1] ")
    picked = openended.example_prompts(classes_frame(), 2, seed=0)
    assert sorted(picked) == ["p1", "p2"] and picked == openended.example_prompts(classes_frame(), 2, seed=0)


# -- prompts and the generation cache ---------------------------------------------------------

ROWS = [dict(id=f"{c[:3]}-{i}", category=c, prompt=f"{c} prompt {i}") for c in openended.CATEGORIES for i in range(6)]


def test_prompt_sample_is_seeded_per_category():
    chosen = openended.select_prompts(ROWS, "all", 2, seed=4)
    assert len(chosen) == 12 and {p.category for p in chosen} == set(openended.CATEGORIES)
    assert chosen == openended.select_prompts(ROWS, "all", 2, seed=4)
    alone = openended.select_prompts(ROWS, ["Creativity"], 2, seed=4)
    assert alone == [p for p in chosen if p.category == "Creativity"]
    assert len(openended.select_prompts(ROWS, ["Creativity"], 100, seed=0)) == 6
    with pytest.raises(ValueError, match="no prompts"):
        openended.select_prompts(ROWS[:6], "all", 2)


def test_generations_are_cached_per_prompt_and_reruns_load_no_model(tmp_path):
    loads = []
    backend = CountingBackend()
    vanilla = fake_condition(tmp_path, backend, on_load=loads.append)
    prompts = openended.select_prompts(ROWS, ["Creativity", "Factual Knowledge"], 2, seed=0)
    runs = generations.runs(vanilla, [1.0, 1.5], [], 1.0)
    first, timings = generations.generate(runs, prompts, 3, 8, 0)
    assert len(loads) == 1 and len(first) == 2 * 4 * 3
    assert list(timings["generated_now"]) == [4, 4]
    assert len(list((tmp_path / "cache" / "samples").glob("*.json"))) == 8
    conditions.release()
    again, timings = generations.generate(runs, prompts, 3, 8, 0)
    assert len(loads) == 1 and list(timings["generated_now"]) == [0, 0]
    assert timings["seconds"].notna().all()          # recorded when generated, reported again from the cache
    pd.testing.assert_frame_equal(first, again)
    one = json.loads(next((tmp_path / "cache" / "samples").glob("*.json")).read_text())
    assert len(one["value"]) == 3 and one["about"]["label"] == "vanilla"


def test_transformers_gets_one_prompt_per_call_and_a_batching_backend_many(tmp_path):
    prompts = openended.select_prompts(ROWS, ["Creativity", "Factual Knowledge"], 2, seed=0)
    backends = {name: CountingBackend(name) for name in ("transformers", "vllm")}
    frames = {name: generations.generate(generations.runs(fake_condition(tmp_path / name, backend), [1.0], [], 1.0),
                                         prompts, 2, 8, 0)[0]
              for name, backend in backends.items()}
    assert backends["transformers"].prompts_per_call == [1, 1, 1, 1]
    assert backends["vllm"].prompts_per_call == [4]
    pd.testing.assert_frame_equal(frames["transformers"], frames["vllm"])
    conditions.release()


def test_runs_are_labelled_by_condition_temperature_and_seed(tmp_path):
    adapter = write_adapter(tmp_path / "seed0", b"one")
    backend = CountingBackend()
    runs = generations.runs(fake_condition(tmp_path, backend), [1.0], [fake_condition(tmp_path, backend, "hist", 0,
                                                                                      adapter)], 1.0)
    assert [r.label for r in runs] == ["vanilla T=1", "hist T=1 seed 0"]
    assert generations.reference(runs, 1.0).label == "vanilla T=1"


def test_every_profile_validates_for_08():
    for profile in config.profiles():
        cfg = config.load(profile, "08")
        assert openended.category_list(cfg.categories)


# -- the labelled pairs and the real embedding model ------------------------------------------

def test_labelled_pairs_are_well_formed_and_ship_with_the_package():
    pairs = openended.labelled_pairs()
    assert list(pairs.columns) == ["prompt_category", "prompt", "a", "b", "same"]
    assert len(pairs) >= 60
    assert set(pairs["same"]) == {0, 1} and 0.3 <= pairs["same"].mean() <= 0.7
    assert set(pairs["prompt_category"]) == set(openended.CATEGORIES)
    assert (pairs[["prompt", "a", "b"]].map(lambda s: isinstance(s, str) and s.strip() != "")).all().all()
    assert not pairs.duplicated(["a", "b"]).any()
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["lib"]
    assert "resources/*.csv" in package_data


@pytest.fixture(scope="module")
def embedder():
    os.environ["HF_HUB_OFFLINE"] = "1"
    return embeddings.load()


def test_the_embedding_model_loads_offline_from_site_packages(embedder):
    assert "site-packages" in str(embeddings.model_dir())
    vectors = embedder.embed(["My favourite colour is blue.", "Blue is the colour I like best.",
                              "The stock market fell sharply today."])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_the_calibrated_judge_agrees_with_most_labelled_pairs(embedder):
    pairs = openended.labelled_pairs()
    similarity = openended.pair_similarities(pairs, embedder)
    result = openended.calibrate(similarity, pairs["same"])
    assert result.agreement >= 0.75 and result.loo_agreement >= 0.7
    judged = openended.judged_pairs(pairs, similarity, result.threshold)
    assert judged["agrees"].mean() == pytest.approx(result.agreement)


def test_the_sentence_reports_counts_differences_and_the_judge():
    from lib import narrative
    prompts = openended.per_prompt(classes_frame())
    summary = openended.category_summary(prompts, n_boot=100, seed=0)
    diffs = openended.differences(prompts, "vanilla T=1", n_boot=100, seed=0)
    judged = pd.DataFrame({"agrees": [1, 1, 1, 0]})
    text = narrative.open_ended_sentence(summary, diffs, judged, 0.6, True, 0.5, 4)
    assert "1.5 classes for vanilla T=1" in text and "+1.75" in text
    assert "at least 0.60" in text and "75%" in text and "50% when each pair is left out" in text
    table = openended.calibration_table(openended.calibrate([0.9, 0.2], [1, 0]), judged, 0.6, calibrated=False)
    assert table.loc[0, "threshold_source"] == "params" and table.loc[0, "agreement_in_use"] == 0.75
