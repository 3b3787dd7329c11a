import pytest

from lib import config, models, sampling

# Markers are set here, from the fixtures a test uses (directly or through other fixtures), not test by test:
#   model: loads a model (the small LM, its backend, vLLM, or the embedding model);
#   slow:  runs the notebooks (papermill via the ci report) or loads a model,
# so `pytest -m "not slow"` is the quick loop: no model, no notebook run.
MODEL_FIXTURES = {"loaded_model", "backend", "vllm_backend", "embedder"}
NOTEBOOK_RUN_FIXTURES = {"ci_run_dirs", "ci_runs", "ci_report"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & MODEL_FIXTURES:
            item.add_marker(pytest.mark.model)
        if used & (MODEL_FIXTURES | NOTEBOOK_RUN_FIXTURES):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def ci_config():
    return config.load("ci", "01")


@pytest.fixture(scope="session")
def loaded_model(ci_config):
    if not models.is_ready(ci_config.model):
        pytest.fail("the small model is not fetched yet: run `make model` (tests never download)")
    return models.load(ci_config.model)


@pytest.fixture(scope="session")
def backend(loaded_model):
    return sampling.TransformersBackend(loaded_model, score_batch_size=64, sample_batch_size=500)


@pytest.fixture(scope="session")
def ci_run_dirs(tmp_path_factory, loaded_model):
    """Every notebook run on the ci profile and the report built, in private runs/ and report/ folders."""
    import subprocess
    import sys

    import os
    from pathlib import Path
    from lib import data

    root = tmp_path_factory.mktemp("ci-report")
    runs, report = root / "runs", root / "report"
    env = dict(os.environ)
    if not any((d / "gsm8k" / "test.jsonl").exists() for d in data.data_dirs()):
        # no dataset on this machine (and no hub in tests): hand-written rows in the same schemas
        env["RESPREAD_DATA"] = str(Path(__file__).parent / "fixtures" / "data")
    proc = subprocess.run([sys.executable, "-m", "lib.report", "--profile", "ci", "--runs-dir", str(runs),
                           "--report-dir", str(report)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])
    return runs, report


@pytest.fixture(scope="session")
def ci_runs(ci_run_dirs):
    return ci_run_dirs[0]


@pytest.fixture(scope="session")
def ci_report(ci_run_dirs):
    return ci_run_dirs[1] / "ci"
