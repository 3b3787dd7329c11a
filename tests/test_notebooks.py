"""Papermill smoke run of every notebook on the `ci` profile (via lib.report, into private folders)."""
import json
from pathlib import Path

import pandas as pd
import pytest

from lib import config

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
    for metric in ("exact_tv", "raw_mass", "sampled_tv", "sampled_tv_floor", "parsed_tv", "exact_vs_parsed_tv"):
        assert (baseline["metric"] == metric).sum() == len(cfg.task_ids), metric
    tv = baseline[baseline["metric"] == "exact_tv"]["value"]
    assert tv.between(0, 1).all()
    dist = pd.read_csv(results / "01_distributions.csv")
    for task, group in dist.groupby("task"):
        assert group["p_exact"].sum() == pytest.approx(1.0, abs=1e-6), task
    samples = pd.read_csv(results / "01_samples.csv")
    assert len(samples) == len(cfg.task_ids) * max(cfg.n_samples, cfg.n_parsed)


def test_01_draws_its_charts_as_svg(ci_runs):
    nb = json.loads((ci_runs / "ci" / "notebooks" / "01_baseline_sampling.ipynb").read_text())
    svgs = [o for c in nb["cells"] for o in c.get("outputs", []) if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) >= 3
