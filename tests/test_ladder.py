"""Tests for lib.ladder (report/index.html, the model ladder): fake result tables in the real schemas, no model."""
from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest

from lib import ladder, ladder_arms, report
from lib.paths import REPO_ROOT

SMALL, MIDDLE, LARGE = (rung.profile for rung in ladder.LADDER)


def _write(results_dir: Path, name: str, rows: list[dict]) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(results_dir / f"{name}.csv", index=False)


def fake_profile(report_dir: Path, profile: str, effect: tuple[float, float, float] = (0.1, 0.05, 0.15)) -> Path:
    """A profile's published tables, a few rows each, with rows the ladder must leave out beside the ones it reads."""
    results = report_dir / profile / "results"
    base = dict(condition="vanilla", temperature=1.0, seed=0, n=10)          # 01 before train_seed: `seed`
    _write(results, "01_baseline", [
        dict(base, task="integer_1_10", metric="exact_tv", value=0.4),
        dict(base, task="color", metric="exact_tv", value=0.6),
        dict(base, task="integer_1_10", metric="raw_mass", value=0.02),
        dict(base, task="integer_1_10", metric="behav_effective_share", value=0.3),
        dict(base, task="color", metric="behav_effective_share", value=0.1),
        dict(base, task="color", metric="raw_mass", value=0.04),
        dict(base, task="weekday", metric="exact_tv", value=0.9),             # a held-out task, not the panel
        dict(base, condition="histogram", task="color", metric="exact_tv", value=0.1)])
    _write(results, "04_selection", [
        dict(recipe="histogram", seeds=2, exact_tv=0.5, raw_mass=0.9, role="selected", reason="lowest"),
        dict(recipe="uniqueness", seeds=1, exact_tv=0.7, raw_mass=0.9, role="ablation", reason=""),
        dict(recipe="validity", seeds=2, exact_tv=0.9, raw_mass=0.99, role="control", reason="")])
    value, low, high = effect
    headline = dict(metric="behav_effective_share", n_treated=2, n_baseline=2, method="welch")
    control = dict(headline, comparison="histogram − validity")
    _write(results, "05_differences", [
        dict(headline, task="integer_1_100", comparison="uniqueness − vanilla", value=0.9, ci_low=0.8, ci_high=1,
             p=0.001, p_holm=0.001),                                           # not the selected recipe
        dict(headline, task="integer_1_100", comparison="histogram − vanilla", value=value, ci_low=low,
             ci_high=high, p=0.01, p_holm=0.01),
        dict(headline, task="integer_1_100", comparison="histogram − vanilla", value=-0.2, ci_low=-0.3,
             ci_high=-0.1, p=0.01, p_holm=0.01, metric="exact_tv"),
        dict(control, task="integer_1_100", value=0.3, ci_low=0.2, ci_high=0.4, p=0.001,
             p_holm=0.001),                                                    # the trained task: not transfer
        dict(control, task="card_suit", value=0.2, ci_low=0.1, ci_high=0.3, p=0.001, p_holm=0.004),
        dict(control, task="color", value=-0.05, ci_low=-0.09, ci_high=-0.01, p=0.01, p_holm=0.03),
        dict(control, task="fruit", value=0.01, ci_low=-0.03, ci_high=0.05, p=0.6, p_holm=0.6),
        dict(control, task="weekday", value=0.2, ci_low=0.1, ci_high=0.3, p=0.001,
             p_holm=0.004)])                                                   # held out: not the panel
    sweep = dict(condition="vanilla", metric="gap_closed", n=10)
    _write(results, "03_temperature_sweep", [
        dict(sweep, task=task, temperature=t, value=v) for t, values in
        ((1.3, dict(integer_1_10=0.1, card_suit=0.2, fruit=0.3)),
         (1.6, dict(integer_1_10=0.2, card_suit=0.4, fruit=0.9, color=float("nan")))) for task, v in values.items()]
        + [dict(sweep, metric="gap_closed_effective_share", task=task, temperature=1.5, value=v)
           for task, v in dict(integer_1_10=0.3, card_suit=0.5).items()])
    _write(results, "07_accuracy", [                                           # 07 before train_seed: `seed`
        dict(benchmark="MMLU", condition="vanilla", seed=None, n=100, correct=30, accuracy=0.30),
        dict(benchmark="MMLU", condition="histogram", seed=0, n=100, correct=34, accuracy=0.34),
        dict(benchmark="MMLU", condition="histogram", seed=1, n=100, correct=36, accuracy=0.36),
        dict(benchmark="MMLU", condition="validity", seed=0, n=100, correct=10, accuracy=0.10),
        dict(benchmark="GSM8K", condition="vanilla", seed=None, n=50, correct=2, accuracy=0.04),
        dict(benchmark="GSM8K", condition="histogram", seed=0, n=50, correct=3, accuracy=0.06),
        dict(benchmark="GSM8K", condition="histogram", seed=1, n=50, correct=1, accuracy=0.02)])
    return results


def _row(page: str, profile: str) -> str:
    """The <tr> of one profile (its name cell names the profile)."""
    return next(row for row in re.findall(r"<tr>.*?</tr>", page) if f"{profile})" in row)


def _cells(row: str) -> list[str]:
    """The text of a row's cells, tags removed."""
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]


def _sentence(page: str) -> str:
    return re.findall(r"<p>(.*?)</p>", page)[-1]


def test_row_values_come_from_the_tables(tmp_path):
    fake_profile(tmp_path, SMALL)
    cells = _cells(_row(ladder.ladder_html(tmp_path), SMALL))
    assert cells[1:] == ["0.20 (2 tasks)",                     # behavioural, vanilla, panel tasks only
                         "0.500 (2 tasks)",                    # exact
                         "3.0%",
                         "+0.100 [+0.050, +0.150]",             # the selected recipe, not uniqueness
                         "-0.200 [-0.300, -0.100]",
                         "1 of 3 more spread, 1 narrower",      # untrained panel tasks only
                         "0.40 (at T=1.6, 3 tasks)",           # nearest swept T to 1.5; the nan task left out
                         "0.40 (at T=1.5, 2 tasks)",           # behavioural
                         "30.0% → 35.0% (n=100, mean of 2 seeds)",
                         "4.0% → 4.0% (n=50, mean of 2 seeds)"]


def test_accuracy_of_one_trained_seed_says_so():
    assert ladder.show_accuracy(dict(before=0.26, after=0.27, n=100, seeds=1)).endswith("(n=100, 1 seed)</span>")
    assert "mean of 2 seeds" in ladder.show_accuracy(dict(before=0.26, after=0.27, n=100, seeds=2))


def test_cells_link_to_the_page_they_come_from(tmp_path):
    fake_profile(tmp_path, SMALL)
    (tmp_path / SMALL / "05_transfer_eval.html").write_text("<html></html>")
    row = _row(ladder.ladder_html(tmp_path), SMALL)
    links = re.findall(r'<td[^>]*><a href="([^"]+)">', row)
    assert links[0] == f"{SMALL}/index.html"                                  # the model's name: its report
    assert links[4:7] == [f"{SMALL}/05_transfer_eval.html"] * 3
    assert links[1] == f"{SMALL}/index.html"        # 01's page is not rendered here: the profile's index instead
    assert len(links) == 1 + len(ladder.COLUMNS)


def test_profile_without_a_report_says_so(tmp_path):
    fake_profile(tmp_path, SMALL)
    page = ladder.ladder_html(tmp_path)
    for profile in (MIDDLE, LARGE):
        row = _row(page, profile)
        assert "no report yet" in row and f"PROFILE={profile}" in row
        assert len(_cells(row)) == 2 and "class=num" not in row                # the name, then no numbers


def test_missing_or_old_tables_leave_a_dash_with_a_note(tmp_path):
    results = fake_profile(tmp_path, SMALL)
    (results / "07_accuracy.csv").unlink()
    pd.read_csv(results / "05_differences.csv").drop(columns="metric").to_csv(results / "05_differences.csv")
    cells = _cells(_row(ladder.ladder_html(tmp_path), SMALL))
    assert cells[2] == "0.500 (2 tasks)"
    assert all(cells[i].startswith("— (KeyError") for i in (4, 5, 6))
    assert cells[9] == cells[10] == "— (no 07_accuracy.csv)"
    assert "No rung has a trained-task effect yet" in _sentence(ladder.ladder_html(tmp_path))


def test_one_rung_says_so_with_the_table_numbers(tmp_path):
    fake_profile(tmp_path, SMALL)
    page = ladder.ladder_html(tmp_path)
    sentence, cells = _sentence(page), _cells(_row(page, SMALL))
    assert "one rung so far" in sentence and "waits for 0.5B and 1.5B" in sentence
    assert cells[4] in sentence and cells[6] in sentence


@pytest.mark.parametrize("effect, verdict", [
    ((0.3, 0.25, 0.35), "larger at 0.5B than at 135M, beyond the intervals"),
    ((0.12, 0.04, 0.2), "intervals at 135M and 0.5B overlap"),
    ((0.05, float("nan"), float("nan")), "smaller at 0.5B than at 135M, with no interval")])
def test_size_sentence_reads_the_table(tmp_path, effect, verdict):
    fake_profile(tmp_path, SMALL)
    fake_profile(tmp_path, MIDDLE, effect)
    page = ladder.ladder_html(tmp_path)
    sentence = _sentence(page)
    assert verdict in sentence and "1.5B not reported yet" in sentence
    table_numbers = set(re.findall(r"-?\d+\.\d+", page.split("</table>")[0]))
    assert set(re.findall(r"-?\d+\.\d+", sentence)) <= table_numbers          # no number typed into the sentence


def test_three_rungs_are_read_step_by_step(tmp_path):
    """Up from 135M to 0.5B, back down at 1.5B: each step is its own verdict, not one comparison of the ends."""
    fake_profile(tmp_path, SMALL, (0.1, 0.05, 0.15))
    fake_profile(tmp_path, MIDDLE, (0.5, 0.4, 0.6))
    fake_profile(tmp_path, LARGE, (0.12, 0.02, 0.22))
    sentence = _sentence(ladder.ladder_html(tmp_path))
    assert "larger at 0.5B than at 135M, beyond the intervals" in sentence
    assert "smaller at 1.5B than at 0.5B, beyond the intervals" in sentence
    assert "not reported yet" not in sentence and "1.5B: " in sentence


def test_committed_report_gives_a_numeric_spread():
    found = ladder.measure(REPO_ROOT / "report")                               # reads only
    spread = found[SMALL]["spread"]
    assert isinstance(spread, dict) and 0 <= spread["value"] <= 1
    assert "smollm2-cpu/01_baseline_sampling.html" in ladder.ladder_html(REPO_ROOT / "report")


def _no_notebooks(input_path, output_path, profile):
    """An executor that runs nothing (the ladder is built from report/, not from the run)."""


def test_the_runner_rebuilds_the_ladder_and_never_fails_on_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report.site, "build_report", lambda *args, **kwargs: None)
    fake_profile(tmp_path / "report", SMALL)
    args = (["--profile", "ci"],)
    kwargs = dict(runs_dir=tmp_path / "runs", report_dir=tmp_path / "report", executor=_no_notebooks)
    assert report.main(*args, **kwargs) == 0
    assert "0.500" in (tmp_path / "report" / "index.html").read_text()

    def broken(report_dir):
        raise OSError("disk full")
    monkeypatch.setattr(ladder, "write", broken)
    assert report.main(*args, **kwargs) == 0 and "disk full" in capsys.readouterr().err


def _arms_tables(results: Path, placebo_more: str) -> None:
    arm = dict(start_exact_tv=0.3, exact_tv_min=0.1, exact_tv_max=0.5, raw_mass=0.95)
    _write(results, "04_arms", [
        dict(arm, recipe="histogram", role="selected", seeds=2, exact_tv=0.2),
        dict(arm, recipe="uniqueness", role="ablation", seeds=1, exact_tv=0.6),       # an ablation: left out
        dict(arm, recipe="random", role="placebo", seeds=2, exact_tv=0.9),
        dict(arm, recipe="validity", role="control", seeds=2, exact_tv=0.8)])
    headline = dict(metric="behav_effective_share", ci_low=-1, ci_high=1, p=0.001, method="welch", n_treated=2,
                    n_baseline=2)
    signed = lambda comparison, up, down: (  # noqa: E731  significant after Holm, one sign each
        [dict(headline, comparison=comparison, task=t, value=0.2, p_holm=0.004) for t in up]
        + [dict(headline, comparison=comparison, task=t, value=-0.2, p_holm=0.004) for t in down]
        + [dict(headline, comparison=comparison, task="integer_1_100", value=0.5, p_holm=0.001)]   # the trained task
        + [dict(headline, comparison=comparison, task="card_suit", value=0.3, p_holm=0.2)])        # not significant
    rows = (signed("histogram − vanilla", ["color", "word"], [])      # histogram − validity: fake_profile's rows
            + signed("histogram − random", [t.strip() for t in placebo_more.split(",")], []))
    pd.concat([pd.read_csv(results / "05_differences.csv"), pd.DataFrame(rows)]).to_csv(
        results / "05_differences.csv", index=False)


@pytest.mark.parametrize("placebo_more, knob", [("word, emoji", "shows on word"), ("emoji", "no shared diversity knob")])
def test_arms_table_lists_every_arm_and_reads_the_knob_off_vanilla_and_placebo(tmp_path, placebo_more, knob):
    results = fake_profile(tmp_path, ladder.LADDER[1].profile)
    _arms_tables(results, placebo_more)
    rows = ladder_arms.arms_rows(results)
    assert list(rows["role"]) == ["selected", "control", "placebo"]                  # selected first, ARM_ROLES order
    assert rows.set_index("role").loc["control", "less"] == ["color"]               # Holm p 0.03, narrower
    sentence = ladder_arms.knob_sentence("0.5B", rows)
    assert knob in sentence and "more spread than vanilla: color, word" in sentence
    page = ladder.ladder_html(tmp_path)
    assert "The arms, per rung" in page and html.escape(sentence) in page and "uniqueness</span>" not in page


def test_arms_table_mutes_a_rung_without_its_tables(tmp_path):
    fake_profile(tmp_path, ladder.LADDER[0].profile)
    assert "no 04_arms.csv" in ladder.ladder_html(tmp_path)
