"""One content-addressed cache for everything a model produces: samples, completions, exact scores,
capability answers. A key says what produced a value, never where a file happened to live:

    key = digest(weights=<weights sha256>, adapter=<adapter files sha256>, backend=<backend name>,
                 kind=<what was computed>, what=<prompt or items>, params=<settings>, seed=<seed>,
                 version=CACHE_VERSION)

so an adapter retrained at the same path, another model at the same path, or another backend never
gets a stale answer. Each value is one JSON file, written atomically: an interrupted run keeps every
value it finished.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Callable

from lib.results import write_json

CACHE_VERSION = 2      # bump when the meaning of a stored value changes
# Part of the key of every transformers sample: bump when that backend's random stream changes (same seed, other
# replies). "compact-1": rows leave the batch as they end (lib.token_sampler).
SAMPLER_VERSION = "compact-1"


def _plain(value: Any) -> Any:
    """JSON-able form of dataclasses and paths, for hashing."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot hash a {type(value).__name__} into a cache key")


def digest(**parts: Any) -> str:
    """A stable sha256 of named parts (dataclasses and paths allowed); 32 hex digits."""
    blob = json.dumps(parts, sort_keys=True, default=_plain, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, remembered beside it (keyed by size and mtime), so a large weight file is
    read once and not on every notebook start."""
    path = Path(path)
    stat = path.stat()
    memo = path.with_name(path.name + ".sha256.json")
    stamp = [stat.st_size, stat.st_mtime_ns]
    try:
        saved = json.loads(memo.read_text())
        if saved["stamp"] == stamp:
            return saved["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            sha.update(block)
    value = sha.hexdigest()
    try:
        write_json(memo, {"stamp": stamp, "sha256": value})
    except OSError:          # a read-only model directory: hash again next time
        pass
    return value


def files_sha256(paths: list[Path]) -> str:
    """One hash over several files (name and content hash of each), in name order."""
    sha = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        sha.update(path.name.encode() + b"\0" + file_sha256(path).encode() + b"\0")
    return sha.hexdigest()


def adapter_sha256(adapter: Path | None) -> str:
    """The adapter's identity: a hash of its files (weights and config); '' for no adapter."""
    if adapter is None:
        return ""
    files = [p for p in Path(adapter).glob("adapter_*") if p.is_file() and not p.name.endswith(".sha256.json")]
    if not files:
        raise FileNotFoundError(f"{adapter} holds no adapter files (adapter_config.json, adapter_model.*)")
    return files_sha256(files)


class Cache:
    """JSON values under one directory, one file per key, grouped in folders by kind."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.json"

    def get(self, kind: str, key: str) -> Any | None:
        path = self.path(kind, key)
        try:
            return json.loads(path.read_text(encoding="utf-8"))["value"]
        except FileNotFoundError:
            return None
        except (ValueError, KeyError):   # a damaged file (never half-written, but edited by hand): recompute
            os.remove(path)
            return None

    def put(self, kind: str, key: str, value: Any, about: dict | None = None) -> Any:
        """Store `value` (JSON-able); `about` is kept beside it for people reading the cache."""
        write_json(self.path(kind, key), {"about": about or {}, "value": value})
        return value

    def get_or_make(self, kind: str, key: str, make: Callable[[], Any], about: dict | None = None) -> Any:
        found = self.get(kind, key)
        return found if found is not None else self.put(kind, key, make(), about)
