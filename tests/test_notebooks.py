"""Papermill smoke run of every notebook on the `ci` profile, into a private runs directory."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lib import config

REPO = Path(__file__).resolve().parent.parent


def _run(name: str, runs: Path, out: Path) -> None:
    env = dict(os.environ, RESPREAD_RUNS=str(runs))
    proc = subprocess.run([sys.executable, "-m", "papermill", str(REPO / "notebooks" / f"{name}.ipynb"), str(out),
                           "-p", "profile", "ci", "--cwd", str(REPO), "--no-progress-bar"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def ci_runs(tmp_path_factory, loaded_model):
    runs = tmp_path_factory.mktemp("runs")
    for name in config.NOTEBOOKS.values():
        _run(name, runs, runs / f"{name}.ipynb")
    return runs


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
    nb = json.loads((ci_runs / "01_baseline_sampling.ipynb").read_text())
    svgs = [o for c in nb["cells"] for o in c.get("outputs", []) if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) >= 3
