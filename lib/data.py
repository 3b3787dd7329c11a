"""Dataset resolution: explicit path → $RESPREAD_DATA → ../shared/data beside the repo → the hub."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from lib.paths import REPO_ROOT

# name -> (file under a data directory, hub dataset id, hub config, split)
DATASETS = {
    "gsm8k": ("gsm8k/test.jsonl", "openai/gsm8k", "main", "test"),
    "mmlu": ("mmlu/test.jsonl", "cais/mmlu", "all", "test"),
    "noveltybench": ("noveltybench/curated.jsonl", "yimingzhang/novelty-bench", None, "curated"),
}


# NoveltyBench's curated prompt categories, in the order tables show them; "all" pools them.
NOVELTYBENCH_CATEGORIES = ("Creativity", "Character & Entity Naming", "Product & Purchase Recommendations",
                           "Subjective Rankings & Opinions", "Factual Knowledge", "Random Generation & Selection")
ALL_CATEGORIES = "all"


@dataclass
class Rows:
    rows: list[dict]
    source: str            # the file or hub id the rows came from
    skipped: int = 0       # malformed lines skipped (counted, never fatal)


def data_dirs(explicit: str | Path | None = None) -> list[Path]:
    candidates = [explicit, os.environ.get("RESPREAD_DATA"), REPO_ROOT.parent / "shared" / "data"]
    return [Path(c).expanduser() for c in candidates if c]


def _read_jsonl(path: Path) -> Iterator[dict | None]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                yield None
                continue
            yield row if isinstance(row, dict) else None


def load_rows(name: str, data_dir: str | Path | None = None) -> Rows:
    """All rows of a dataset as dicts, from the first data directory that has it, else the hub."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    relative, hub_id, hub_config, split = DATASETS[name]
    for directory in data_dirs(data_dir):
        path = directory / relative
        if path.exists():
            parsed = list(_read_jsonl(path))
            rows = [r for r in parsed if r is not None]
            return Rows(rows, str(path), skipped=len(parsed) - len(rows))
    try:
        import datasets
        rows = [dict(r) for r in datasets.load_dataset(hub_id, hub_config, split=split)]
    except Exception as err:  # offline, or no such dataset on the hub
        searched = ", ".join(str(d / relative) for d in data_dirs(data_dir))
        raise FileNotFoundError(f"dataset {name!r} not found in {searched or 'no data directory'} "
                                f"and the hub ({hub_id}) failed: {err}. Set RESPREAD_DATA or data_dir.") from err
    return Rows(rows, f"hub:{hub_id}")
