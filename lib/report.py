"""Build report/<profile>/ from the notebooks: run them (papermill), render them (nbconvert), index them.

    python -m lib.report --profile PROFILE [--only 01] [--force]

1. The whole profile is validated first (config.validate_profile); a ConfigError exits 2 before
   any notebook runs or any model loads.
2. Every notebook in config.NOTEBOOKS runs in config.run_order() (numeric, except that 03 waits
   for 04, whose adapters it compares with) with papermill into
   runs/<profile>/notebooks/<name>.ipynb, unless its inputs are unchanged since its last successful
   run (sha256 of the notebook, its params files, the lib modules it imports directly or through
   other lib modules, and the earlier notebooks' hashes; recorded in runs/<profile>/state.json). ``--force`` reruns all; ``--only NN`` runs just those.
3. A failing notebook stops the run (exit 1); its partial executed notebook is kept for inspection.
4. Each executed notebook is rendered to report/<profile>/<name>.html (lab template, no CDN
   scripts), the result tables are copied to report/<profile>/results/, and index.html is written:
   one self-contained page (inline CSS, inline SVG chart, no external resources).
"""
from __future__ import annotations

import argparse
import hashlib
import html
import importlib.metadata
import json
import os
import platform
import re
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from lib import config
from lib import results as results_io
from lib.models import REPO_ROOT

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
LIB_DIR = REPO_ROOT / "lib"
REPORT_DIR = REPO_ROOT / "report"
PACKAGES = ("torch", "transformers", "trl", "peft", "papermill", "nbconvert", "altair", "vl-convert-python")


# ---------------------------------------------------------------------------------------------
# Input hashing and run state
# ---------------------------------------------------------------------------------------------

_LIB_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+lib[ \t]+import[ \t]+(\([^)]*\)|[\w \t,]+)"
                         r"|from[ \t]+lib\.(\w+)[ \t]+import|import[ \t]+lib\.(\w+))", re.M)


def _imported_lib_modules(source: str) -> set[str]:
    """Names of the lib modules a piece of code imports, at any depth of the code (lazy imports count)."""
    names: set[str] = set()
    for group, module, plain in _LIB_IMPORT.findall(source):
        names.update(n.split(" as ")[0].strip() for n in group.replace("(", "").replace(")", "").split(",") if n.strip())
        names.update(n for n in (module, plain) if n)
    return names


def lib_dependencies(notebook: Path, lib_dir: Path | None = None) -> list[Path]:
    """The lib/*.py files a notebook runs: the modules its code cells import, and what those import in
    turn, plus lib/__init__.py. An edit elsewhere in lib/ does not rerun it."""
    lib_dir = Path(lib_dir or LIB_DIR)
    try:
        cells = json.loads(Path(notebook).read_text()).get("cells", [])
    except (OSError, ValueError):
        cells = []
    code = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
    pending, seen = _imported_lib_modules(code), set()
    while pending:
        name = pending.pop()
        path = lib_dir / f"{name}.py"
        if name in seen or not path.exists():
            continue
        seen.add(name)
        pending |= _imported_lib_modules(path.read_text())
    init = lib_dir / "__init__.py"
    return sorted({lib_dir / f"{n}.py" for n in seen} | ({init} if init.exists() else set()))


def input_files(name: str, profile: str, params_dir: Path | None = None, notebooks_dir: Path | None = None,
                lib_dir: Path | None = None) -> list[Path]:
    """The files whose content decides whether notebook ``name`` must run again."""
    params_root = Path(params_dir or config.PARAMS_DIR) / profile
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
# Rendering notebooks
# ---------------------------------------------------------------------------------------------

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)


def strip_external_scripts(page: str) -> str:
    """Drop every <script> that loads something from elsewhere (require.js, MathJax, mermaid, widgets)."""
    def keep(match: re.Match) -> str:
        attrs, body = match.group(1), match.group(2)
        if re.search(r"\bsrc\s*=", attrs, re.I) or "mathjax" in attrs.lower() or re.search(r"https?://", body):
            return ""
        return match.group(0)
    return _SCRIPT.sub(keep, page)


def render_notebook(executed: Path, target: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.mathjax_url = ""
    exporter.require_js_url = ""
    exporter.mermaid_js_url = ""
    exporter.mermaid_layout_elk_js_url = ""
    body, _ = exporter.from_notebook_node(nbformat.read(str(executed), as_version=4))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(strip_external_scripts(body), encoding="utf-8")
    return target


def render_all(profile: str, runs_dir: Path, report_dir: Path) -> list[Path]:
    pages = []
    for name in config.NOTEBOOKS.values():
        executed = Path(runs_dir) / profile / "notebooks" / f"{name}.ipynb"
        if executed.exists():
            pages.append(render_notebook(executed, Path(report_dir) / profile / f"{name}.html"))
    return pages


def copy_results(profile: str, runs_dir: Path, report_dir: Path) -> list[Path]:
    source = Path(runs_dir) / profile / "results"
    target = Path(report_dir) / profile / "results"
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for csv in sorted(source.glob("*.csv")):
        copied.append(Path(shutil.copyfile(csv, target / csv.name)))
        copied[-1].chmod(0o644)    # results are written 0600 (mkstemp); the copies are published
    return copied


# ---------------------------------------------------------------------------------------------
# The index page
# ---------------------------------------------------------------------------------------------

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; } th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.muted { color: #666; } .chart { overflow-x: auto; margin: 1em 0; }
code { background: #f4f4f4; padding: 0 3px; border-radius: 3px; }
dl.prov dt { font-weight: 600; float: left; clear: left; width: 14em; } dl.prov dd { margin-left: 15em; }
"""

# Copied verbatim from DESIGN.md, "Metric definitions" (markdown; rendered by _markdown_list).
METRIC_DEFINITIONS = """\
Let A be a task's answer set, |A| = k.
- **Exact distribution**: for each a in A, score the chat-templated prompt followed by the answer
  text and the end-of-turn token (teacher forcing; log-probs from logits / T). Renormalize over
  A → p_T(a). Also record the raw mass Σ_a P(a) (how often the model answers with a bare valid
  answer). Score the prompt once and reuse its KV cache for all answers.
- **exact TV** = ½ Σ_a |p_T(a) − 1/k|. Primary metric; no sampling noise.
- **sampled TV**: n completions at temperature T, parsed to canonical answers; TV between the
  empirical distribution over valid answers and uniform over A. Always printed beside its
  **floor**: the expected TV of a perfectly uniform sampler with the same number of valid samples
  (with 50 samples: k=4 → 0.10, k=10 → 0.17, k=100 → 0.61, k=1000 → 0.95). A sampled TV can only
  be read against its floor. Report the invalid-answer rate too.
- Also: normalized entropy H(p)/log k, distinct answers, top-5 picks with frequencies.
- Sampled metrics carry bootstrap 95% CIs; training results are reported over ≥3 seeds.
- Open domains (color, fruit, animal, first name, word, emoji): A is a curated list; sampled
  answers outside A are valid "other" answers, counted and shown, not silently dropped.
"""

SAMPLED_TV_NOTE = (
    "How sampled TV treats open-domain answers: valid answers outside A count against uniformity. "
    "With f the empirical distribution over all valid answers, "
    "TV = ½(Σ<sub>a∈A</sub>|f(a) − 1/k| + Σ<sub>o∉A</sub> f(o)). "
    "The floor is the analytic expectation of this TV for a perfectly uniform sampler over A with the "
    "same number of valid samples (invalid replies are excluded from both)."
)


def _inline_markdown(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text, quote=False))


def _markdown_list(text: str) -> str:
    """The tiny markdown subset of METRIC_DEFINITIONS: a lead paragraph and '- ' bullets."""
    lead, items = [], []
    for line in text.splitlines():
        if line.startswith("- "):
            items.append(line[2:].strip())
        elif items and line.startswith("  "):
            items[-1] += " " + line.strip()
        elif line.strip():
            lead.append(line.strip())
    bullets = "".join(f"<li>{_inline_markdown(item)}</li>" for item in items)
    return f"<p>{_inline_markdown(' '.join(lead))}</p><ul>{bullets}</ul>"


def _num(value, fmt: str = ".3f") -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if value != value else format(value, fmt)


def _task_name(task_id: str) -> str:
    from lib import tasks as task_panel
    try:
        return task_panel.get(task_id).name
    except ValueError:
        return task_id


def baseline_tables(results_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """(long, wide, picks) from 01's tables, or None when 01 has not written them yet."""
    path = Path(results_dir) / "01_baseline.csv"
    if not path.exists():
        return None
    long = pd.read_csv(path)
    condition = "vanilla" if "vanilla" in set(long["condition"]) else None
    wide = results_io.pivot(long, condition)
    picks_path = Path(results_dir) / "01_picks.csv"
    picks = pd.read_csv(picks_path) if picks_path.exists() else pd.DataFrame(
        columns=["condition", "task", "source", "rank", "answer", "share"])
    if condition is not None:
        long = long[long["condition"] == condition]
        if "condition" in picks:
            picks = picks[picks["condition"] == condition]
    return long, wide, picks


def _sample_count(long: pd.DataFrame, task: str, metric: str) -> str:
    rows = long[(long["task"] == task) & (long["metric"] == metric)]
    return _num(rows["n"].iloc[0], ".0f") if len(rows) else "—"


def baseline_table_html(long: pd.DataFrame, wide: pd.DataFrame) -> str:
    head = ["task", "exact TV", "raw valid mass", "normalized entropy", "sampled TV [95% CI] (n)",
            "floor", "invalid rate", "parsed TV (n)", "exact-vs-parsed TV"]
    rows = []
    for _, r in wide.iterrows():
        get = lambda key: r[key] if key in r.index else float("nan")  # noqa: E731
        n_valid, n_total = _num(get("sampled_n_valid"), ".0f"), _sample_count(long, r["task"], "sampled_tv")
        p_valid, p_total = _num(get("parsed_n_valid"), ".0f"), _sample_count(long, r["task"], "parsed_tv")
        cells = [
            html.escape(_task_name(r["task"])),
            _num(get("exact_tv")),
            _num(get("raw_mass"), ".3%"),
            _num(get("exact_entropy")),
            f"{_num(get('sampled_tv'))} [{_num(get('sampled_tv_ci_low'))}, {_num(get('sampled_tv_ci_high'))}] "
            f"<span class=muted>(n={n_valid} valid of {n_total})</span>",
            _num(get("sampled_tv_floor")),
            _num(get("sampled_invalid_rate")),
            f"{_num(get('parsed_tv'))} <span class=muted>(n={p_valid} valid of {p_total})</span>",
            _num(get("exact_vs_parsed_tv")),
        ]
        rows.append("<tr><td>" + cells[0] + "</td>" + "".join(f"<td class=num>{c}</td>" for c in cells[1:]) + "</tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def chart_svg(wide: pd.DataFrame, n_samples: int = 50) -> str:
    """The headline TV-by-task chart as an inline <svg> (vl-convert; no network, no scripts)."""
    import vl_convert

    from lib import charts
    svg = vl_convert.vegalite_to_svg(charts.tv_by_task(wide, n_samples).to_json())
    return re.sub(r"^<\?xml[^>]*>\s*", "", svg)


def baseline_section(results_dir: Path) -> str:
    tables = baseline_tables(results_dir)
    if tables is None:
        return ("<h2>Baseline: how narrow is the model?</h2><p class=muted>No results yet: "
                "<code>results/01_baseline.csv</code> is missing (run notebook 01).</p>")
    long, wide, picks = tables
    from lib import narrative
    try:
        sentence = html.escape(narrative.baseline_sentence(wide, picks))
    except Exception as err:  # a partial table must not stop the page
        sentence = f"<span class=muted>(summary unavailable: {html.escape(type(err).__name__)}: {html.escape(str(err))})</span>"
    try:
        n_samples = int(long.loc[long["metric"] == "sampled_tv", "n"].max())
        chart = f"<div class=chart>{chart_svg(wide, n_samples)}</div>"
    except Exception as err:
        chart = f"<p class=muted>(chart unavailable: {html.escape(type(err).__name__)}: {html.escape(str(err))})</p>"
    return ("<h2>Baseline: how narrow is the model?</h2>"
            f"<p>{sentence}</p>{chart}{baseline_table_html(long, wide)}"
            "<p class=muted>Raw valid mass is shown as a percentage; CIs are bootstrap 95% intervals; "
            "n counts the valid samples among all samples drawn for that estimate.</p>")


def _frame_html(frame: pd.DataFrame, digits: int = 3) -> str:
    """A plain HTML table of a result frame (numbers rounded), no index."""
    return frame.round(digits).to_html(index=False, na_rep="–", border=0, classes="frame", escape=True)


def _read(results_dir: Path, name: str) -> pd.DataFrame | None:
    path = Path(results_dir) / f"{name}.csv"
    return pd.read_csv(path) if path.exists() else None


def transfer_section(results_dir: Path) -> str:
    """The headline: before/after exact TV per task, trained − vanilla / − control / − temperature-matched."""
    from lib import charts, narrative
    summary, differences = _read(results_dir, "05_summary"), _read(results_dir, "05_differences")
    selection, matched = _read(results_dir, "04_selection"), _read(results_dir, "05_temperature_matched")
    if summary is None or differences is None or selection is None or matched is None:
        return ("<h2>Does one task's RL pass spread the others?</h2><p class=muted>No results yet: run notebooks "
                "04_grpo_train and 05_transfer_eval.</p>")
    spread = selection.loc[selection["role"] == "selected", "recipe"].item()
    control = selection.loc[selection["role"] == "control", "recipe"].item()
    trained_task = matched["task"].item()
    diffs = {name: frame.drop(columns="name") for name, frame in differences.groupby("name", sort=False)}
    parts = ["<h2>Does one task's RL pass spread the others?</h2>"]
    try:
        sentence = narrative.transfer_sentence(diffs, spread, control, trained_task, matched["t_star"].item(),
                                               matched["vanilla_exact_tv_at_t_star"].item(),
                                               matched["target_exact_tv"].item())
        parts.append(f"<p>{html.escape(sentence)}</p>")
    except Exception as err:  # a partial table must not stop the page
        parts.append(f"<p class=muted>(summary unavailable: {html.escape(str(err))})</p>")
    logs, baseline = _read(results_dir, "04_training_log"), _read(results_dir, "01_baseline")
    try:
        vanilla_tv = baseline.query("metric == 'exact_tv' and task == @trained_task")["value"].item()
        targets = narrative.targets_sentence(logs, selection, diffs, vanilla_tv, trained_task)
        parts.append(f"<p>{html.escape(targets)}</p>")
    except Exception as err:  # a partial table must not stop the page
        parts.append(f"<p class=muted>(targets unavailable: {html.escape(str(err))})</p>")
    try:
        chart = charts.before_after(summary, "vanilla", spread, trained_task)
        parts.append(f"<div class=chart>{_svg(chart)}</div>")
    except Exception as err:
        parts.append(f"<p class=muted>(chart unavailable: {html.escape(str(err))})</p>")
    for name, title in (("05_table", "Exact TV per task (means over seeds, t-intervals over seeds)"),
                        ("05_ablation", "Every recipe tried (selection used the trained task only)"),
                        ("04_selection", "Recipe selection on the trained task")):
        frame = _read(results_dir, name)
        if frame is not None:
            parts.append(f"<h3>{html.escape(title)}</h3>{_frame_html(frame)}")
    return "".join(parts)


def _guarded(parts: list[str], what: str, make) -> None:
    """Append make()'s HTML, or a muted note when a partial or missing table breaks it."""
    try:
        parts.append(make())
    except Exception as err:  # a partial table must not stop the page
        parts.append(f"<p class=muted>({what} unavailable: {html.escape(str(err))})</p>")


def reasoning_section(results_dir: Path) -> str:
    """06: distinct calculation paths on GSM8K, trained vs vanilla."""
    from lib import charts, narrative
    table, differences = _read(results_dir, "06_table"), _read(results_dir, "06_differences")
    if table is None or differences is None:
        return ""
    parts = ["<h2>Reasoning paths on GSM8K (06)</h2>"]
    _guarded(parts, "summary", lambda: f"<p>{html.escape(narrative.paths_sentence(differences, table))}</p>")
    _guarded(parts, "chart", lambda: f"<div class=chart>{_svg(charts.gsm8k_paths(table))}</div>")
    parts.append(f"<h3>Trained − vanilla, paired by problem (bootstrap 95% CI)</h3>{_frame_html(differences, 2)}")
    return "".join(parts)


def capability_section(results_dir: Path) -> str:
    """07: MMLU and GSM8K accuracy, vanilla vs each trained seed, McNemar tests."""
    from lib import capability, charts, narrative
    accuracy, tests = _read(results_dir, "07_accuracy"), _read(results_dir, "07_mcnemar")
    if accuracy is None or tests is None:
        return ""
    parts = ["<h2>Capability: MMLU and GSM8K (07)</h2>"]
    _guarded(parts, "summary", lambda: f"<p>{html.escape(narrative.capability_sentence(accuracy, tests))}</p>")
    _guarded(parts, "chart", lambda: f"<div class=chart>{_svg(charts.capability(accuracy, {'MMLU': capability.CHANCE}))}</div>")
    parts.append(f"<h3>Accuracy (Wilson 95% CI)</h3>{_frame_html(accuracy)}"
                 f"<h3>Exact McNemar test per trained seed</h3>{_frame_html(tests)}")
    return "".join(parts)


def open_ended_section(results_dir: Path) -> str:
    """08: distinct answers per NoveltyBench prompt and category, embedding classes beside exact matches."""
    from lib import charts, narrative
    from lib.data import ALL_CATEGORIES
    summary, diffs = _read(results_dir, "08_open_ended"), _read(results_dir, "08_differences")
    pairs, calibration = _read(results_dir, "08_pairs"), _read(results_dir, "08_calibration")
    if summary is None or diffs is None or pairs is None or calibration is None:
        return ""
    row = calibration.iloc[0]
    k = int(summary["k"].max())
    parts = ["<h2>Open-ended prompts: NoveltyBench (08)</h2>"]
    _guarded(parts, "summary", lambda: "<p>" + html.escape(narrative.open_ended_sentence(
        summary, diffs, pairs, float(row["threshold_in_use"]), row["threshold_source"] == "calibrated",
        float(row["loo_agreement"]), k)) + "</p>")
    _guarded(parts, "chart", lambda: f"<div class=chart>{_svg(charts.distinct_by_category(summary, k))}</div>")
    pooled = diffs[(diffs["task"] == ALL_CATEGORIES)].drop(columns=["label"])
    parts.append(f"<h3>Paired by prompt, all categories pooled (bootstrap 95% CI)</h3>{_frame_html(pooled)}"
                 '<p class=muted>Per category and per seed: <a href="results/08_open_ended.csv">results/08_open_ended.csv</a>; '
                 'the example answers with their classes are in the 08 notebook.</p>')
    return "".join(parts)


def comparison_section(results_dir: Path) -> str:
    """Cheaper knobs beside training (03), two task-by-condition grids: exact TV where the condition
    has an exact distribution, and sampled TV minus its uniform-sampler floor where it is sampled."""
    table = _read(results_dir, "03_comparison")
    if table is None:
        return ""
    parts = ["<h2>Cheaper knobs: temperature, min-p, verbalized sampling, logit correction</h2>"]
    exact = table[table["metric"] == "exact_tv"].pivot_table(index="label", columns="task", values="value",
                                                              aggfunc="first", sort=False)
    if not exact.empty:
        parts.append("<h3>Exact TV from uniform (lower is more spread)</h3>" + _frame_html(exact.reset_index()))
    sampled = table[table["metric"].isin(["sampled_tv", "sampled_tv_floor"])].pivot_table(
        index=["label", "task"], columns="metric", values="value", aggfunc="first", sort=False)
    if {"sampled_tv", "sampled_tv_floor"} <= set(sampled.columns):
        excess = (sampled["sampled_tv"] - sampled["sampled_tv_floor"]).unstack("task")
        parts.append("<h3>Sampled TV minus its floor, seed's 50-sample protocol (0 = indistinguishable from a "
                     "uniform sampler)</h3>" + _frame_html(excess.reset_index()))
    parts.append('<p class=muted>Every row with its CI, invalid rate and cost per answer: '
                 '<a href="results/03_comparison.csv">results/03_comparison.csv</a> and the 03 notebook.</p>')
    return "".join(parts)


def _svg(chart) -> str:
    import vl_convert
    return re.sub(r"^<\?xml[^>]*>\s*", "", vl_convert.vegalite_to_svg(chart.to_json()))


def definitions_section() -> str:
    return f"<h2>Metric definitions</h2>{_markdown_list(METRIC_DEFINITIONS)}<p>{SAMPLED_TV_NOTE}</p>"


def _package_versions() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def model_dir(spec) -> Path | None:
    """The local directory the model's weights load from, if it exists (never downloads or converts)."""
    from lib import models
    path = models.converted_dir(spec) or (Path(spec.source).expanduser() if spec.kind == "local" else None)
    return path if path is not None and path.is_dir() else None


def first_weight_file(directory: Path) -> Path | None:
    for pattern in ("*.safetensors", "*.bin", "*.gguf"):
        found = sorted(Path(directory).glob(pattern))
        if found:
            return found[0]
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance_section(profile: str, configs: list, state: dict, hash_weights: bool = True) -> str:
    items: list[tuple[str, str]] = [("profile", f"<code>{html.escape(profile)}</code>")]
    if configs:
        spec = configs[0].model
        items.append(("model source", f"<code>{html.escape(spec.source)}</code> "
                                      f"({html.escape(spec.dtype)}, {html.escape(spec.device)})"))
        items.append(("backend", html.escape(configs[0].backend)))
        directory = model_dir(spec)
        if directory is not None:
            weights = first_weight_file(directory)
            if weights is not None and hash_weights:
                items.append(("model weights sha256",
                              f"<code>{sha256_file(weights)}</code> <span class=muted>({html.escape(weights.name)})</span>"))
        seeds = sorted({c.seed for c in configs} | {v for c in configs for k, v in c.params.items()
                                                     if "seed" in k and isinstance(v, int)})
        items.append(("seed(s)", ", ".join(str(s) for s in seeds)))
    items.append(("packages", ", ".join(f"{html.escape(p)} {html.escape(v)}" for p, v in _package_versions().items())))
    runs = [f"{html.escape(name)}: {_num(entry.get('seconds'), '.0f')} s "
            f"<span class=muted>(finished {html.escape(str(entry.get('finished_at', '?')))})</span>"
            for name, entry in state.items() if isinstance(entry, dict)]
    items.append(("wall time per notebook", "<br>".join(runs) or "<span class=muted>no recorded runs</span>"))
    items.append(("machine", f"{html.escape(platform.platform())}, {os.cpu_count()} CPUs, "
                             f"Python {html.escape(platform.python_version())}"))
    items.append(("report built", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")))
    body = "".join(f"<dt>{html.escape(k)}</dt><dd>{v}</dd>" for k, v in items)
    return f"<h2>Provenance</h2><dl class=prov>{body}</dl>"


def links_section(profile_report_dir: Path) -> str:
    pages = [name for name in config.NOTEBOOKS.values() if (profile_report_dir / f"{name}.html").exists()]
    tables = sorted(p.name for p in (profile_report_dir / "results").glob("*.csv"))
    page_items = "".join(f'<li><a href="{html.escape(n)}.html">{html.escape(n)}</a></li>' for n in pages) \
        or "<li class=muted>no rendered notebooks yet</li>"
    table_items = "".join(f'<li><a href="results/{html.escape(t)}">{html.escape(t)}</a></li>' for t in tables) \
        or "<li class=muted>no result tables yet</li>"
    return (f"<h2>Notebooks</h2><ul>{page_items}</ul>"
            f"<h2>Result tables</h2><p class=muted>Long format: condition, task, metric, value, ci_low, "
            f"ci_high, n, temperature, seed.</p><ul>{table_items}</ul>")


def index_html(profile: str, runs_dir: Path, report_dir: Path, configs: list, hash_weights: bool = True) -> str:
    run_dir = Path(runs_dir) / profile
    title = f"Respread — output diversity report ({profile})"
    intro = ("<p>Instruction-tuned language models asked for a random pick (a number, a card suit, a "
             "color) answer far from uniformly. This report measures how narrow the model's answer "
             "distribution is on a panel of categorical tasks: exactly, by scoring every valid answer, "
             "and by sampling as a user would; it then asks what a short diversity RL pass changes beyond those "
             "tasks: reasoning paths on GSM8K, MMLU and GSM8K accuracy, and answers to open-ended "
             "NoveltyBench prompts. Every number below comes from the result tables of the "
             "executed notebooks linked at the end.</p>")
    sections = [transfer_section(run_dir / "results"), baseline_section(run_dir / "results"),
                comparison_section(run_dir / "results"), reasoning_section(run_dir / "results"),
                capability_section(run_dir / "results"), open_ended_section(run_dir / "results"),
                definitions_section(),
                provenance_section(profile, configs, load_state(run_dir), hash_weights),
                links_section(Path(report_dir) / profile)]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{intro}{''.join(sections)}</body></html>\n")


def write_index(profile: str, runs_dir: Path, report_dir: Path, configs: list, hash_weights: bool = True) -> Path:
    target = Path(report_dir) / profile / "index.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    page = index_html(profile, runs_dir, report_dir, configs, hash_weights)
    results_io._atomic_write(target, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    target.chmod(0o644)            # mkstemp makes 0600; the page is meant to be published
    return target


def build_report(profile: str, runs_dir: Path, report_dir: Path, configs: list, hash_weights: bool = True) -> Path:
    """Render executed notebooks, copy result tables, write index.html; return the index path."""
    start = time.perf_counter()
    render_all(profile, runs_dir, report_dir)
    copy_results(profile, runs_dir, report_dir)
    index = write_index(profile, runs_dir, report_dir, configs, hash_weights)
    print(f"report: {index} (built in {time.perf_counter() - start:.0f} s)", flush=True)
    return index


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
    runs_dir = Path(runs_dir or args.runs_dir or config.RUNS_DIR)
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
    build_report(args.profile, runs_dir, report_dir, configs)
    print(f"total {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
