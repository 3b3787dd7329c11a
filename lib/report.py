"""Build report/<profile>/ from the notebooks: run them (papermill), then publish them (lib.site).

    python -m lib.report --profile PROFILE [--only 01] [--force]

1. The whole profile is validated first (config.validate_profile); a ConfigError exits 2 before
   any notebook runs or any model loads.
2. Every notebook in config.NOTEBOOKS runs in config.run_order() (numeric, except that 03 waits
   for 04, whose adapters it compares with) with papermill into
   runs/<profile>/notebooks/<name>.ipynb, unless its inputs are unchanged since its last successful
   run (see input_files; the hashes are recorded in runs/<profile>/state.json). ``--force`` reruns
   all; ``--only NN`` runs just those.
3. A failing notebook stops the run (exit 1); its partial executed notebook is kept for inspection.
4. lib.site renders the executed notebooks, copies the result tables and writes index.html.

This module imports no torch or transformers (papermill loads only when a notebook runs), so
deciding what to rerun costs seconds, not a model library's import.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from lib import config, site
from lib import results as results_io
from lib.paths import LIB_DIR, NOTEBOOKS_DIR, PARAMS_DIR, REPO_ROOT, REPORT_DIR, RUNS_DIR

PACKAGE = "lib"      # the import name of lib_dir, whatever folder it is copied to


# ---------------------------------------------------------------------------------------------
# Input hashing and run state
# ---------------------------------------------------------------------------------------------

def _parse_cell(source: str) -> list[ast.AST]:
    """A code cell's syntax trees. IPython magics and shell escapes (lines starting with % or !) become
    `pass`; a cell that still does not parse (a %%bash body, `x = !ls`) yields the lines that parse alone,
    so its one-line imports still count."""
    source = re.sub(r"^([ \t]*)[%!].*$", r"\1pass", source, flags=re.M)
    try:
        return [ast.parse(source)]
    except SyntaxError:
        trees = []
        for line in source.splitlines():
            try:
                trees.append(ast.parse(line.strip()))
            except SyntaxError:
                continue
        return trees


def _with_parents(module: str) -> set[str]:
    """"lib.a.b" → {"lib", "lib.a", "lib.a.b"}: importing a module runs its packages first."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def _imported_modules(tree: ast.AST, package: str | None) -> set[str]:
    """Dotted names of what `tree` imports anywhere in its code (imports inside functions count).

    `from M import x` counts M and M.x, since x may be a submodule; names that are not modules
    resolve to no file later. `package` anchors relative imports (None: none allowed, as in a notebook)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names |= _with_parents(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".") if package else []
                if node.level - 1 >= len(anchor):
                    continue                      # beyond the top package: not ours
                module = ".".join(anchor[:len(anchor) - node.level + 1] + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names |= _with_parents(module) | {f"{module}.{alias.name}" for alias in node.names}
    return names


def _module_file(module: str, lib_dir: Path) -> Path | None:
    """The file under lib_dir that `import module` runs, or None for a module outside lib."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = lib_dir.joinpath(*parts[1:])
    for candidate in ((base.with_suffix(".py"),) if len(parts) > 1 else ()) + (base / "__init__.py",):
        if candidate.is_file():
            return candidate
    return None


def _package_of(path: Path, lib_dir: Path) -> str:
    """The package a lib file's relative imports start from: "lib" for lib/tasks.py and lib/__init__.py."""
    parts = [PACKAGE, *path.relative_to(lib_dir).with_suffix("").parts]
    return ".".join(parts[:-1])


def _named_resources(tree: ast.AST, resources: list[Path]) -> set[Path]:
    """The resource files a string literal in `tree` names, by file name or a path ending in it."""
    texts = {node.value.replace("\\", "/") for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    return {path for path in resources
            if any(text == path.name or text.endswith("/" + path.name) for text in texts)}


def lib_dependencies(notebook: Path, lib_dir: Path | None = None) -> list[Path]:
    """The files under lib/ that a notebook's code runs or reads, found from its syntax trees.

    Modules: lib/__init__.py, every lib module the notebook's code cells import (``import lib.x``,
    ``from lib import x``, ``from lib.x import y``), and transitively every lib module those import,
    relative imports (``from . import answer_sets``) and imports inside functions included.
    Resources: every file under lib/resources/ whose name a string literal in that code spells, alone
    or as the end of a path (``resources.files("lib").joinpath("resources/equivalence_pairs.csv")``).
    An edit anywhere else in lib/ does not rerun the notebook.
    """
    lib_dir = Path(lib_dir or LIB_DIR)
    resource_dir = lib_dir / "resources"
    resources = sorted(p for p in resource_dir.rglob("*") if p.is_file()) if resource_dir.is_dir() else []
    try:
        cells = json.loads(Path(notebook).read_text()).get("cells", [])
    except (OSError, ValueError):
        cells = []
    trees = [tree for c in cells if c.get("cell_type") == "code" for tree in _parse_cell("".join(c.get("source", "")))]
    pending = {PACKAGE}.union(*(_imported_modules(tree, None) for tree in trees))
    read = set().union(*(_named_resources(tree, resources) for tree in trees))
    modules: set[Path] = set()
    while pending:
        path = _module_file(pending.pop(), lib_dir)
        if path is None or path in modules:
            continue
        modules.add(path)
        try:
            tree = ast.parse(path.read_text(), filename=str(path))
        except SyntaxError:
            continue                  # hashed all the same; the notebook fails on it anyway
        pending |= _imported_modules(tree, _package_of(path, lib_dir))
        read |= _named_resources(tree, resources)
    return sorted(modules | read)


def input_files(name: str, profile: str, params_dir: Path | None = None, notebooks_dir: Path | None = None,
                lib_dir: Path | None = None) -> list[Path]:
    """The files whose content decides whether notebook ``name`` must run again: the notebook, its
    profile's params files, and its lib_dependencies."""
    params_root = Path(params_dir or PARAMS_DIR) / profile
    notebook = Path(notebooks_dir or NOTEBOOKS_DIR) / f"{name}.ipynb"
    return [notebook, params_root / "profile.yaml", params_root / f"{name}.yaml",
            *lib_dependencies(notebook, lib_dir)]


def input_hash(name: str, profile: str, upstream: list[str] | tuple[str, ...] = (),
               params_dir: Path | None = None, notebooks_dir: Path | None = None,
               lib_dir: Path | None = None) -> str:
    """sha256 over the input files (name + content each) and the hashes of earlier notebooks."""
    digest = hashlib.sha256()
    for path in input_files(name, profile, params_dir, notebooks_dir, lib_dir):
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
        digest.update(b"\0")
    for earlier in upstream:
        digest.update(b"upstream:" + earlier.encode() + b"\0")
    return digest.hexdigest()


def load_state(run_dir: Path) -> dict:
    path = Path(run_dir) / "state.json"
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def save_state(run_dir: Path, state: dict) -> None:
    results_io.write_json(Path(run_dir) / "state.json", state)


def parse_only(values: list[str] | None) -> list[str]:
    """``["01", "2,03"]`` → notebook keys ["01", "02", "03"]; unknown keys raise ConfigError."""
    keys: list[str] = []
    for value in values or []:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            key = part.zfill(2) if part.isdigit() else part[:2]
            config.notebook_name(key)          # raises ConfigError naming the allowed notebooks
            if key not in keys:
                keys.append(key)
    return keys


# ---------------------------------------------------------------------------------------------
# Running notebooks
# ---------------------------------------------------------------------------------------------

def _stream_notebook_output() -> None:
    """Show what a running notebook prints (its tqdm bars for long loops) on the console."""
    import logging
    logger = logging.getLogger("papermill")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("    %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def execute(input_path: Path, output_path: Path, profile: str) -> None:
    import papermill

    output_path.parent.mkdir(parents=True, exist_ok=True)
    _stream_notebook_output()
    papermill.execute_notebook(str(input_path), str(output_path), parameters=dict(profile=profile),
                               cwd=str(REPO_ROOT), kernel_name="python3", progress_bar=True,
                               log_output=True)


def describe_failure(name: str, err: Exception, output_path: Path) -> str:
    """What failed, where: notebook name, cell index and source head, ename and evalue."""
    lines = [f"FAILED: notebook {name}"]
    cell_index = getattr(err, "cell_index", None)
    if cell_index is not None:
        lines.append(f"  cell {cell_index} (execution count {getattr(err, 'exec_count', None)}):")
        source = (getattr(err, "source", "") or "").splitlines()
        lines += [f"    | {line}" for line in source[:8]]
        if len(source) > 8:
            lines.append(f"    | … ({len(source) - 8} more lines)")
    ename = getattr(err, "ename", None) or type(err).__name__
    evalue = getattr(err, "evalue", None) or str(err)
    lines.append(f"  {ename}: {evalue}")
    if output_path.exists():
        lines.append(f"  the partially executed notebook is kept at {output_path}")
    return "\n".join(lines)


def run_notebooks(profile: str, only: list[str], force: bool, runs_dir: Path, params_dir: Path | None,
                  executor=execute) -> bool:
    """Run (or skip) every notebook in order; return False after a failure (already reported)."""
    run_dir = Path(runs_dir) / profile
    state = load_state(run_dir)
    upstream: list[str] = []
    total = len(config.NOTEBOOKS)
    for i, key in enumerate(config.run_order(), start=1):
        name = config.NOTEBOOKS[key]
        digest = input_hash(name, profile, upstream, params_dir=params_dir)
        upstream.append(digest)
        output_path = run_dir / "notebooks" / f"{name}.ipynb"
        prefix = f"[{i}/{total}] {name} …"
        if only and key not in only:
            print(f"{prefix} kept (not selected by --only)", flush=True)
            continue
        previous = state.get(name) or {}
        if not force and not only and previous.get("hash") == digest and output_path.exists():
            print(f"{prefix} skipped (unchanged)", flush=True)
            continue
        print(f"{prefix} running", flush=True)
        start = time.perf_counter()
        try:
            executor(NOTEBOOKS_DIR / f"{name}.ipynb", output_path, profile)
        except Exception as err:  # PapermillExecutionError, or a dead kernel
            state.pop(name, None)          # its output is now the failed run, never to be skipped
            save_state(run_dir, state)
            print(describe_failure(name, err, output_path), file=sys.stderr, flush=True)
            return False
        seconds = time.perf_counter() - start
        state[name] = dict(hash=digest, seconds=round(seconds, 1),
                           finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        save_state(run_dir, state)
        print(f"{prefix} done in {seconds:.0f} s", flush=True)
    return True


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lib.report", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, help="a directory under params/ (e.g. smollm2-cpu, ci)")
    parser.add_argument("--only", action="append", metavar="NN",
                        help="run just these notebooks (repeatable or comma list, e.g. 01,02), ignoring the hash")
    parser.add_argument("--force", action="store_true", help="rerun every notebook")
    parser.add_argument("--params-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--runs-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report-dir", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, params_dir: Path | None = None, runs_dir: Path | None = None,
         report_dir: Path | None = None, executor=execute) -> int:
    """Run, render and index; 0 on success, 1 when a notebook failed, 2 on an invalid profile.

    ``params_dir``/``runs_dir``/``report_dir`` (or the hidden --params-dir/--runs-dir/--report-dir)
    redirect where the runner looks and writes, for tests; notebooks themselves always read
    params/ and write runs/ of the repository.
    """
    args = parse_args(argv)
    params_dir = params_dir or args.params_dir
    runs_dir = Path(runs_dir or args.runs_dir or RUNS_DIR)
    report_dir = Path(report_dir or args.report_dir or REPORT_DIR)
    try:
        configs = config.validate_profile(args.profile, params_dir=params_dir)
        only = parse_only(args.only)
    except config.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    previous = os.environ.get("RESPREAD_RUNS")
    os.environ["RESPREAD_RUNS"] = str(runs_dir)     # the notebooks' kernels write where the runner reads
    try:
        if not run_notebooks(args.profile, only, args.force, runs_dir, params_dir, executor):
            return 1
    finally:
        if previous is None:
            os.environ.pop("RESPREAD_RUNS")
        else:
            os.environ["RESPREAD_RUNS"] = previous
    site.build_report(args.profile, runs_dir, report_dir, configs, load_state(runs_dir / args.profile))
    try:                  # report/index.html, the model ladder: every profile's row from its published tables
        from lib import ladder
        print(f"ladder: {ladder.write(report_dir)}", flush=True)
    except Exception as err:  # the ladder never fails a profile's report run
        print(f"warning: the model ladder was not rebuilt: {err}", file=sys.stderr, flush=True)
    print(f"total {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
