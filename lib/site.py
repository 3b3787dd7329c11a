"""The published report/<profile>/: each executed notebook rendered to HTML (lab template, no CDN
scripts), the result tables copied to results/, and index.html: one self-contained page (inline CSS,
inline SVG charts, no external resources) with the per-notebook sections (lib.site_sections), the
metric definitions (lib.vocabulary), provenance and links."""
from __future__ import annotations

import html
import importlib.metadata
import os
import platform
import re
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from lib import config, site_sections, vocabulary
from lib import results as results_io

PACKAGES = ("torch", "transformers", "trl", "peft", "papermill", "nbconvert", "altair", "vl-convert-python")


# ---------------------------------------------------------------------------------------------
# Rendered notebooks and result tables
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

INTRO = ("Instruction-tuned language models asked for a random pick (a number, a card suit, a color) answer "
         "far from uniformly. This report measures how narrow the model's answer distribution is on a panel of "
         "categorical tasks: exactly, by scoring every valid answer, and by sampling as a user would; it then "
         "asks what a short diversity RL pass changes beyond those tasks: reasoning paths on GSM8K, MMLU and "
         "GSM8K accuracy, and answers to open-ended NoveltyBench prompts. Every number below comes from the "
         "result tables of the executed notebooks linked at the end.")


def markdown_html(text: str) -> str:
    """The markdown subset vocabulary.definitions_markdown() writes: paragraphs separated by a blank line,
    one-line '- ' bullets, and **bold**."""
    def inline(line: str) -> str:
        return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(line, quote=False))
    blocks = []
    for block in filter(str.strip, text.split("\n\n")):
        lines = block.strip().splitlines()
        if all(line.startswith("- ") for line in lines):
            blocks.append("<ul>" + "".join(f"<li>{inline(line[2:])}</li>" for line in lines) + "</ul>")
        else:
            blocks.append(f"<p>{inline(' '.join(lines))}</p>")
    return "".join(blocks)


def definitions_section() -> str:
    return f"<h2>Metric definitions</h2>{markdown_html(vocabulary.definitions_markdown())}"


def _package_versions() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _weights_item(spec) -> tuple[str, str] | None:
    """The weight identity that cache keys use (lib.models.weights_sha256), when the files are on this machine;
    never downloads."""
    from lib import models
    files = models.weight_files(spec)
    if not files:
        return None
    names = ", ".join(html.escape(p.name) for p in files)
    return "model weights sha256", f"<code>{models.weights_sha256(spec)}</code> <span class=muted>({names})</span>"


def provenance_section(profile: str, configs: list, state: dict, hash_weights: bool = True) -> str:
    items: list[tuple[str, str]] = [("profile", f"<code>{html.escape(profile)}</code>")]
    if configs:
        spec = configs[0].model
        items.append(("model source", f"<code>{html.escape(spec.source)}</code> "
                                      f"({html.escape(spec.dtype)}, {html.escape(spec.device)})"))
        items.append(("backend", html.escape(configs[0].backend)))
        weights = _weights_item(spec) if hash_weights else None
        if weights is not None:
            items.append(weights)
        seeds = sorted({c.seed for c in configs} | {v for c in configs for k, v in c.params.items()
                                                     if "seed" in k and isinstance(v, int)})
        items.append(("seed(s)", ", ".join(str(s) for s in seeds)))
    items.append(("packages", ", ".join(f"{html.escape(p)} {html.escape(v)}" for p, v in _package_versions().items())))
    runs = [f"{html.escape(name)}: {site_sections.number(entry.get('seconds'), '.0f')} s "
            f"<span class=muted>(finished {html.escape(str(entry.get('finished_at', '?')))})</span>"
            for name, entry in state.items() if isinstance(entry, dict)]
    items.append(("wall time per notebook", "<br>".join(runs + ["<span class=muted>of the run that built these pages; "
                                                               "model outputs already in the cache are read, not "
                                                               "recomputed (the README gives a run from scratch)</span>"])
                  if runs else "<span class=muted>no recorded runs</span>"))
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
            f"<h2>Result tables</h2><p class=muted>Long format: {html.escape(', '.join(vocabulary.COLUMNS))}.</p>"
            f"<ul>{table_items}</ul>")


def index_html(profile: str, runs_dir: Path, report_dir: Path, configs: list, state: dict,
               hash_weights: bool = True) -> str:
    """The page; `state` is the runner's record of each notebook's run (lib.report.load_state)."""
    results_dir = Path(runs_dir) / profile / "results"
    title = f"Respread — output diversity report ({profile})"
    sections = [section(results_dir) for section in site_sections.SECTIONS]
    sections += [definitions_section(), provenance_section(profile, configs, state, hash_weights),
                 links_section(Path(report_dir) / profile)]
    return page_html(title, f"<p>{html.escape(INTRO, quote=False)}</p>{''.join(sections)}")


def page_html(title: str, body: str) -> str:
    """A whole self-contained page: `title` as <title> and <h1>, then `body`, styled by the inline CSS."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>\n")


def write_page(target: Path, page: str) -> Path:
    """Write a page atomically, readable by all (mkstemp makes 0600; pages are meant to be published)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    results_io._atomic_write(target, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    target.chmod(0o644)
    return target


def write_index(profile: str, runs_dir: Path, report_dir: Path, configs: list, state: dict,
                hash_weights: bool = True) -> Path:
    page = index_html(profile, runs_dir, report_dir, configs, state, hash_weights)
    return write_page(Path(report_dir) / profile / "index.html", page)


def build_report(profile: str, runs_dir: Path, report_dir: Path, configs: list, state: dict,
                 hash_weights: bool = True) -> Path:
    """Render executed notebooks, copy result tables, write index.html; return the index path."""
    start = time.perf_counter()
    render_all(profile, runs_dir, report_dir)
    copy_results(profile, runs_dir, report_dir)
    index = write_index(profile, runs_dir, report_dir, configs, state, hash_weights)
    print(f"report: {index} (built in {time.perf_counter() - start:.0f} s)", flush=True)
    return index
