"""Papermill smoke run of every notebook on the `ci` profile (via lib.report, into private folders)."""
import json
from pathlib import Path

import pandas as pd
import pytest

from lib import config
from lib.recipes import ARM_ROLES

REPO = Path(__file__).resolve().parent.parent


def test_notebooks_are_committed_without_outputs():
    for path in (REPO / "notebooks").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        assert not any(c.get("outputs") or c.get("execution_count") for c in cells if c["cell_type"] == "code"), path


def test_every_notebook_has_a_parameters_cell_with_profile():
    for path in (REPO / "notebooks").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1 and "profile" in "".join(tagged[0]["source"]), path


def test_01_writes_its_tables(ci_runs):
    results = ci_runs / "ci" / "results"
    baseline = pd.read_csv(results / "01_baseline.csv")
    cfg = config.load("ci", "01")
    assert set(baseline["task"]) == set(cfg.task_ids)
    for metric in ("exact_tv", "raw_mass", "exact_effective_share", "sampled_tv", "sampled_tv_p", "behav_tv_p",
                   "behav_effective_share", "behav_valid_rate", "behav_top_share", "exact_vs_parsed_tv"):
        assert (baseline["metric"] == metric).sum() == len(cfg.task_ids), metric
    tv = baseline[baseline["metric"] == "exact_tv"]["value"]
    assert tv.between(0, 1).all()
    dist = pd.read_csv(results / "01_distributions.csv")
    for task, group in dist.groupby("task"):
        assert group["p_exact"].sum() == pytest.approx(1.0, abs=1e-6), task
    samples = pd.read_csv(results / "01_samples.csv")
    assert len(samples) == len(cfg.task_ids) * max(cfg.n_samples, cfg.n_behavioural)


def test_every_metric_in_every_table_is_defined_once_in_the_vocabulary(ci_runs):
    from lib import vocabulary
    metrics = set()
    for path in (ci_runs / "ci" / "results").glob("*.csv"):
        table = pd.read_csv(path)
        if "metric" in table:
            metrics |= set(table["metric"].dropna())
    assert metrics and vocabulary.undefined(metrics) == []


def test_every_interval_in_every_table_contains_its_estimate(ci_runs):
    checked = 0
    for path in (ci_runs / "ci" / "results").glob("*.csv"):
        table = pd.read_csv(path)
        for value, low, high in (("value", "ci_low", "ci_high"), ("accuracy", "ci_low", "ci_high")):
            if {value, low, high} <= set(table.columns):
                rows = table.dropna(subset=[value, low, high])
                outside = rows[(rows[low] > rows[value] + 1e-12) | (rows[value] > rows[high] + 1e-12)]
                assert outside.empty, (path.name, outside.head().to_dict("records"))
                checked += len(rows)
    assert checked > 0


def test_01_draws_its_charts_as_svg(ci_runs):
    nb = json.loads((ci_runs / "ci" / "notebooks" / "01_baseline_sampling.ipynb").read_text())
    svgs = [o for c in nb["cells"] for o in c.get("outputs", []) if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) >= 3


def test_05_compares_arms_unpaired_with_holm_and_names_a_verdict(ci_runs):
    results = ci_runs / "ci" / "results"
    differences = pd.read_csv(results / "05_differences.csv")
    selection = pd.read_csv(results / "04_selection.csv")
    spread = selection.loc[selection["role"] == "selected", "recipe"].item()
    assert {"vanilla", "vanilla at T*"} <= {c.split(" − ")[1] for c in differences["comparison"]}
    assert all(c.startswith(f"{spread} − ") for c in differences["comparison"])
    tested = differences.dropna(subset=["p"])
    assert (tested["p_holm"] >= tested["p"] - 1e-12).all()
    assert not differences["method"].str.contains("paired").any()          # seeds are never paired
    assert differences["method"].str.startswith(("welch", "one-sample")).any()
    verdict = pd.read_csv(results / "05_verdict.csv")
    assert {"improved", "worse", "format only"} <= set(verdict.columns) and len(verdict) == differences[
        "comparison"].nunique()


def test_06_writes_chains_paths_and_paired_differences(ci_runs):
    results = ci_runs / "ci" / "results"
    cfg = config.load("ci", "06")
    chains, table = pd.read_csv(results / "06_chains.csv"), pd.read_csv(results / "06_table.csv")
    conditions = table[["condition", "train_seed"]].drop_duplicates()
    assert "vanilla" in set(conditions["condition"]) and len(conditions) >= 2
    assert len(chains) == len(conditions) * len(cfg.temperatures) * cfg.n_problems * cfg.k
    assert len(table) == len(conditions) * len(cfg.temperatures)
    assert table["distinct_all"].between(1, cfg.k).all() and table["correct"].between(0, cfg.k).all()
    differences = pd.read_csv(results / "06_differences.csv")
    assert set(differences["metric"]) == {"distinct_all", "correct", "distinct_correct", "words"}


def test_07_scores_every_condition_on_both_benchmarks(ci_runs):
    results = ci_runs / "ci" / "results"
    cfg = config.load("ci", "07")
    accuracy = pd.read_csv(results / "07_accuracy.csv")
    for benchmark, n in (("MMLU", cfg.mmlu_questions), ("GSM8K", cfg.gsm8k_problems)):
        rows = accuracy[accuracy["benchmark"] == benchmark]
        assert (rows["n"] == n).all() and rows["condition"].iloc[0] == "vanilla" and len(rows) >= 2
        assert ((rows["ci_low"] <= rows["accuracy"]) & (rows["accuracy"] <= rows["ci_high"])).all()
    mmlu = pd.read_csv(results / "07_mmlu.csv")
    assert set(mmlu["pick"]) <= set("ABCD") and len(mmlu) == cfg.mmlu_questions * (len(accuracy) // 2)
    tests = pd.read_csv(results / "07_mcnemar.csv")
    assert len(tests) == len(accuracy) - 2 and tests["p_value"].between(0, 1).all()
    selection = pd.read_csv(results / "04_selection.csv")                  # arms: all compares every other arm
    arms = set(selection.loc[selection["role"].isin(ARM_ROLES), "recipe"])
    assert len(arms) == 5 and arms <= set(accuracy["condition"])
    assert (pd.read_csv(results / "07_held.csv")["p_holm"] >= 0).any()


def test_08_counts_distinct_answers_for_every_condition(ci_runs):
    results = ci_runs / "ci" / "results"
    cfg = config.load("ci", "08")
    summary = pd.read_csv(results / "08_open_ended.csv")
    per_prompt = pd.read_csv(results / "08_prompts.csv")
    labels = set(per_prompt["label"])
    assert {f"vanilla T={t:g}" for t in cfg.temperatures} <= labels and len(labels) > len(cfg.temperatures)
    assert len(per_prompt) == len(labels) * len(cfg.categories) * cfg.prompts_per_category
    for metric in ("distinct_k", "distinct_k_lexical"):
        assert per_prompt[metric].between(1, cfg.k).all()
        assert set(summary[summary["metric"] == metric]["label"]) >= labels
    # exact-match classes can only be split further, never merged, by the lexical count
    assert (per_prompt["distinct_k"] <= per_prompt["distinct_k_lexical"]).all()
    calibration = pd.read_csv(results / "08_calibration.csv").iloc[0]
    assert calibration["n_pairs"] >= 60 and 0.5 <= calibration["agreement"] <= 1
