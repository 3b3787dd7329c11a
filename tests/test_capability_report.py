"""07's held-or-not tables on the index page and the ladder page, from fake result tables (no model)."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from lib import ladder, narrative, site_sections

AREAS = ("knowledge", "reasoning", "instruction following", "formats", "calibration")
HEADLINES = {"knowledge": ("MMLU", "mmlu_permuted_accuracy"), "reasoning": ("GSM8K", "gsm8k_accuracy"),
             "instruction following": ("IFBench", "ifbench_prompt_strict"),
             "formats": ("formats: all", "format_pass_rate"), "calibration": ("MMLU", "mmlu_ece")}


def _held(verdicts: dict[str, str]) -> pd.DataFrame:
    rows = []
    for area in AREAS:
        benchmark, metric = HEADLINES[area]
        drop = -0.2 if verdicts.get(area) == "worse" else 0.01
        rows.append(dict(area=area, benchmark=benchmark, metric=metric, condition="histogram", train_seed=0, n=100,
                         vanilla=0.5, vanilla_ci_low=0.4, vanilla_ci_high=0.6, trained=0.5 + drop,
                         trained_ci_low=0.4 + drop, trained_ci_high=0.6 + drop, difference=drop, ci_low=drop - 0.05,
                         ci_high=drop + 0.05, p_value=0.001 if area in verdicts else 0.8, mdd=0.14,
                         verdict=verdicts.get(area, "held")))
    return pd.DataFrame(rows)


def _write(results: Path, name: str, frame: pd.DataFrame) -> None:
    results.mkdir(parents=True, exist_ok=True)
    frame.to_csv(results / f"{name}.csv", index=False)


def _fake_results(results: Path, verdicts: dict[str, str]) -> None:
    _write(results, "07_accuracy", pd.DataFrame([
        dict(benchmark="MMLU", condition="vanilla", train_seed=None, n=100, correct=50, accuracy=0.5, ci_low=0.4,
             ci_high=0.6),
        dict(benchmark="MMLU", condition="histogram", train_seed=0, n=100, correct=51, accuracy=0.51, ci_low=0.41,
             ci_high=0.61)]))
    _write(results, "07_mcnemar", pd.DataFrame([dict(benchmark="MMLU", condition="histogram", train_seed=0, n=100,
                                                     only_vanilla=3, only_trained=4, p_value=1.0, difference=0.01,
                                                     mdd=0.14)]))
    _write(results, "07_held", _held(verdicts))
    _write(results, "04_selection", pd.DataFrame([dict(recipe="histogram", role="selected", reason="lowest")]))


def test_index_section_says_per_area_whether_capability_held(tmp_path):
    _fake_results(tmp_path, {"instruction following": "worse"})
    page = site_sections.capability_section(tmp_path)
    assert "held or not" in page and "unavailable" not in page
    sentence = re.search(r"<h2>Knowledge, reasoning.*?</h2><p>(.*?)</p>", page).group(1)
    assert "Instruction following (IFBench, ifbench_prompt_strict, n=100)" in sentence and "1 worse" in sentence and "histogram seed 0 0.300" in sentence
    assert sentence.count("mdd 0.140") == 5 and "<svg" in page


def test_held_sentence_uses_the_table_numbers_only():
    held = _held({})
    sentence = narrative.held_sentence(held)
    for area in AREAS:
        assert area.capitalize() in sentence
    assert "+0.010 [-0.040, +0.060]" in sentence and "5 seed" not in sentence


def test_ladder_page_shows_the_capability_areas_per_rung(tmp_path):
    profile = ladder.LADDER[0].profile
    _fake_results(tmp_path / profile / "results", {"calibration": "worse"})
    page = ladder.ladder_html(tmp_path)
    table = page.split("held or not</h2>")[1]
    assert all(f"<th>{area}</th>" in table for area in AREAS)
    row = re.findall(r"<tr><td>SmolLM2.*?</tr>", table)[0]
    assert row.count("mdd 0.140") == 5 and row.count("<strong>worse</strong>") == 1
    assert re.findall(r"<p>(.*?)</p>", page)[-1].startswith(("By size", "No rung", "There is one rung"))


def test_ladder_capability_cells_dash_when_07_is_missing(tmp_path):
    profile = ladder.LADDER[0].profile
    _fake_results(tmp_path / profile / "results", {})
    (tmp_path / profile / "results" / "07_held.csv").unlink()
    table = ladder.ladder_html(tmp_path).split("held or not</h2>")[1]
    assert table.count("no 07_held.csv") == len(AREAS)
