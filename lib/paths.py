"""Where things live. Pure paths, no heavy imports: config, data and the report runner read these
without loading torch."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LIB_DIR = REPO_ROOT / "lib"
RESOURCES_DIR = LIB_DIR / "resources"
PARAMS_DIR = REPO_ROOT / "params"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
REPORT_DIR = REPO_ROOT / "report"
RUNS_DIR = Path(os.environ.get("RESPREAD_RUNS", REPO_ROOT / "runs"))   # tests point this elsewhere


def cache_root() -> Path:
    """Converted models and other reusable files: $RESPREAD_CACHE, else <repo>/.cache."""
    return Path(os.environ.get("RESPREAD_CACHE", REPO_ROOT / ".cache"))
