"""Tests for lib.report and lib.site: fast, no model and no notebook execution (temp dirs and fake tables)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lib import config, report, site, site_sections, vocabulary
from lib.paths import REPO_ROOT

NAME = config.NOTEBOOKS["01"]


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """A small copy of the inputs: notebooks/, params/ci/, lib/*.py."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in config.NOTEBOOKS.values():
        cell = {"cell_type": "code", "source": ["import os\n", "from lib import a"]}
        (notebooks / f"{name}.ipynb").write_text(json.dumps({"cells": [cell]}))
    params = tmp_path / "params"
    shutil.copytree(REPO_ROOT / "params" / "ci", params / "ci")
    shutil.copytree(REPO_ROOT / "params" / "smollm2-cpu", params / "smollm2-cpu")
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "a.py").write_text("A = 1\n\n\ndef f():\n    from lib.b import B   # a lazy import is a dependency too\n")
    (lib / "b.py").write_text("B = 2\n")
    (lib / "unused.py").write_text("C = 3\n")
    return dict(root=tmp_path, notebooks=notebooks, params=params, lib=lib)


def _hash(tree, upstream=()):
    return report.input_hash(NAME, "ci", upstream, params_dir=tree["params"], notebooks_dir=tree["notebooks"],
                             lib_dir=tree["lib"])


def test_hash_is_stable_when_nothing_changes(tree):
    assert _hash(tree) == _hash(tree)


def test_hash_ignores_unrelated_files(tree):
    before = _hash(tree)
    (tree["params"] / "smollm2-cpu" / f"{NAME}.yaml").write_text("n_samples: 3\n")   # another profile
    (tree["lib"] / "notes.txt").write_text("not python")                                # not lib/*.py
    (tree["root"] / "README.md").write_text("docs")
    assert _hash(tree) == before


@pytest.mark.parametrize("relative", ["params/ci/profile.yaml", f"params/ci/{NAME}.yaml", "lib/a.py", "lib/b.py",
                                      f"notebooks/{NAME}.ipynb"])
def test_hash_changes_when_an_input_changes(tree, relative):
    before = _hash(tree)
    path = tree["root"] / relative
    path.write_text(path.read_text() + "\n# edited\n")
    assert _hash(tree) != before


def test_hash_follows_the_lib_modules_the_notebook_imports(tree):
    before = _hash(tree)
    (tree["lib"] / "unused.py").write_text("C = 4\n")          # imported by nothing the notebook runs
    (tree["lib"] / "new.py").write_text("D = 5\n")
    assert _hash(tree) == before
    (tree["lib"] / "b.py").write_text("from lib import new\nB = 2\n")     # now reaches new.py
    after = _hash(tree)
    (tree["lib"] / "new.py").write_text("D = 6\n")
    assert after != before and _hash(tree) != after
    assert [p.name for p in report.lib_dependencies(tree["notebooks"] / f"{NAME}.ipynb", tree["lib"])] == \
        ["a.py", "b.py", "new.py"]


def test_dependencies_follow_relative_and_lazy_imports_past_magics(tree):
    cells = [["%matplotlib inline\n", "!ls\n", "from lib import a\n"],
             ["%%time\n", "import lib.c\n"],
             ["files = !ls\n", "from lib.d import D   # the cell does not parse; this line does\n"]]
    markdown = {"cell_type": "markdown", "source": "import lib.unused"}        # prose, not code
    (tree["notebooks"] / f"{NAME}.ipynb").write_text(json.dumps(
        {"cells": [{"cell_type": "code", "source": c} for c in cells] + [markdown]}))
    (tree["lib"] / "__init__.py").write_text("")
    (tree["lib"] / "a.py").write_text("from . import rel\n")
    (tree["lib"] / "rel.py").write_text("from .deep import X\n")
    (tree["lib"] / "deep.py").write_text("X = 1\n")
    (tree["lib"] / "c.py").write_text("def f():\n    from lib.b import B\n")
    (tree["lib"] / "d.py").write_text("D = 4\n")
    found = report.lib_dependencies(tree["notebooks"] / f"{NAME}.ipynb", tree["lib"])
    assert [p.name for p in found] == ["__init__.py", "a.py", "b.py", "c.py", "d.py", "deep.py", "rel.py"]


@pytest.fixture
def repo_copy(tmp_path: Path) -> dict[str, Path]:
    """Copies of the real notebooks/, lib/ (with lib/resources/) and params/ci/, to edit freely."""
    dirs = dict(notebooks=tmp_path / "notebooks", lib=tmp_path / "lib", params=tmp_path / "params")
    shutil.copytree(REPO_ROOT / "notebooks", dirs["notebooks"], ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(REPO_ROOT / "lib", dirs["lib"], ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "params" / "ci", dirs["params"] / "ci")
    return dirs


def _hashes(dirs) -> dict[str, str]:
    """Each notebook's own input hash (no upstream hashes, so an edit shows only where it is an input)."""
    return {name: report.input_hash(name, "ci", (), params_dir=dirs["params"], notebooks_dir=dirs["notebooks"],
                                    lib_dir=dirs["lib"]) for name in config.NOTEBOOKS.values()}


def _edited(dirs, relative: str) -> set[str]:
    """The notebooks whose hash an edit of lib/<relative> changes."""
    before = _hashes(dirs)
    path = dirs["lib"] / relative
    path.write_bytes(path.read_bytes() + b"\n")
    after = _hashes(dirs)
    return {name for name in before if before[name] != after[name]}


def test_editing_a_relatively_imported_module_reruns_exactly_its_importers(repo_copy):
    importers = {name for name in config.NOTEBOOKS.values()
                 if repo_copy["lib"] / "tasks.py" in report.lib_dependencies(
                     repo_copy["notebooks"] / f"{name}.ipynb", repo_copy["lib"])}
    assert config.NOTEBOOKS["01"] in importers           # 01 imports lib.tasks, which does `from . import answer_sets`
    assert _edited(repo_copy, "answer_sets.py") == importers


def test_editing_a_resource_reruns_only_the_notebook_that_reads_it(repo_copy):
    # lib/openended.py reads it through importlib.resources; only 08 imports lib.openended
    assert _edited(repo_copy, "resources/equivalence_pairs.csv") == {config.NOTEBOOKS["08"]}


def test_the_runner_imports_no_torch():
    code = "import sys, lib.report; print(sorted({'torch', 'transformers', 'papermill'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hash_changes_when_an_upstream_notebook_changes(tree):
    assert _hash(tree, ["a" * 64]) != _hash(tree, ["b" * 64])
    assert _hash(tree, ["a" * 64]) != _hash(tree)


def test_parse_only_accepts_repeats_and_comma_lists():
    assert report.parse_only(["01", "1,01"]) == ["01"]
    with pytest.raises(config.ConfigError):
        report.parse_only(["99"])


def _never_run(*args, **kwargs):
    raise AssertionError("a notebook ran although the profile is invalid")


def test_invalid_profile_exits_2_before_anything_runs(tree, tmp_path, monkeypatch, capsys):
    path = tree["params"] / "ci" / f"{NAME}.yaml"
    path.write_text(path.read_text() + "\nbogus_key: 3\n")
    import papermill
    monkeypatch.setattr(papermill, "execute_notebook", _never_run)
    monkeypatch.setattr(report, "execute", _never_run)
    code = report.main(["--profile", "ci"], params_dir=tree["params"], runs_dir=tmp_path / "runs",
                       report_dir=tmp_path / "report", executor=_never_run)
    assert code == 2
    err = capsys.readouterr().err
    assert "bogus_key" in err and "unknown key" in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "report").exists()


def test_unknown_profile_exits_2(tree, tmp_path):
    assert report.main(["--profile", "nope"], params_dir=tree["params"], runs_dir=tmp_path / "runs",
                       report_dir=tmp_path / "report", executor=_never_run) == 2


def test_runner_skips_unchanged_and_reruns_on_force(tree, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report, "NOTEBOOKS_DIR", tree["notebooks"])
    monkeypatch.setattr(report, "LIB_DIR", tree["lib"])
    calls = []

    def fake(input_path, output_path, profile):
        calls.append(output_path)
        output_path.parent.mkdir(parents=True, exist_ok=True)
        output_path.write_text("{}")

    runs = tmp_path / "runs"
    n = len(config.NOTEBOOKS)
    assert report.run_notebooks("ci", [], False, runs, tree["params"], fake)
    assert report.run_notebooks("ci", [], False, runs, tree["params"], fake)
    assert len(calls) == n and "skipped (unchanged)" in capsys.readouterr().out
    state = json.loads((runs / "ci" / "state.json").read_text())
    assert set(state[NAME]) == {"hash", "seconds", "finished_at"}
    assert report.run_notebooks("ci", [], True, runs, tree["params"], fake)
    assert report.run_notebooks("ci", ["01"], False, runs, tree["params"], fake)
    assert len(calls) == 2 * n + 1
    (tree["lib"] / "a.py").write_text("A = 2\n")
    assert report.run_notebooks("ci", [], False, runs, tree["params"], fake)
    assert len(calls) == 3 * n + 1


def test_failure_is_reported_and_state_dropped(tree, tmp_path, monkeypatch, capsys):
    from papermill.exceptions import PapermillExecutionError
    monkeypatch.setattr(report, "NOTEBOOKS_DIR", tree["notebooks"])

    def failing(input_path, output_path, profile):
        output_path.parent.mkdir(parents=True, exist_ok=True)
        output_path.write_text("{}")
        raise PapermillExecutionError(cell_index=4, exec_count=3, source="x = 1\n1 / 0", ename="ZeroDivisionError",
                                      evalue="division by zero", traceback=[])

    runs = tmp_path / "runs"
    assert not report.run_notebooks("ci", [], False, runs, tree["params"], failing)
    err = capsys.readouterr().err
    assert NAME in err and "cell 4" in err and "1 / 0" in err and "ZeroDivisionError: division by zero" in err
    assert (runs / "ci" / "notebooks" / f"{NAME}.ipynb").exists()
    assert NAME not in report.load_state(runs / "ci")


TASKS = ["integer_1_10", "card_suit"]


def _fake_results(results_dir: Path) -> None:
    rows = []
    for i, task in enumerate(TASKS):
        base = dict(condition="vanilla", task=task, temperature=1.0, seed=0)
        rows += [dict(base, metric="exact_tv", value=0.4 + 0.1 * i, n=10),
                 dict(base, metric="raw_mass", value=0.0376, n=10),
                 dict(base, metric="exact_entropy", value=0.77, n=10),
                 dict(base, metric="sampled_tv", value=0.6, ci_low=0.5, ci_high=0.7, n=50),
                 dict(base, metric="sampled_tv_floor", value=0.17, n=50),
                 dict(base, metric="sampled_invalid_rate", value=0.1, n=50),
                 dict(base, metric="sampled_n_valid", value=45, n=50),
                 dict(base, metric="behav_tv", value=0.55, ci_low=0.5, ci_high=0.6, n=400),
                 dict(base, metric="behav_tv_p", value=0.0004, n=380),
                 dict(base, metric="behav_valid_rate", value=0.95, ci_low=0.92, ci_high=0.97, n=400),
                 dict(base, metric="behav_effective", value=3.1 + i, ci_low=2.5, ci_high=3.9 + i, n=380),
                 dict(base, metric="behav_effective_share", value=0.31 + 0.1 * i, ci_low=0.25, ci_high=0.39 + 0.1 * i,
                      n=380),
                 dict(base, metric="behav_top_share", value=0.4, ci_low=0.35, ci_high=0.45, n=380),
                 dict(base, metric="behav_n_valid", value=380, n=400),
                 dict(base, metric="exact_vs_parsed_tv", value=0.2, n=400)]
    from lib import results
    results.write(results_dir, "01_baseline", results.tidy(rows))
    picks = pd.DataFrame([dict(condition="vanilla", task=t, source="exact", rank=1, answer="7", share=0.33)
                          for t in TASKS])
    results.write(results_dir, "01_picks", picks)


def test_index_page_from_fake_results(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "report"
    _fake_results(runs / "ci" / "results")
    site.copy_results("ci", runs, out)
    configs = config.validate_profile("ci")
    page = site.write_index("ci", runs, out, configs, {}, hash_weights=False).read_text()
    assert "Respread — output diversity report (ci)" in page
    assert "<td>integer 1–10</td>" in page and "<td>card suit</td>" in page
    assert page.count("<tr>") == len(TASKS)                    # one row per task (the header row is styled)
    assert "0.40" in page and "3.8%" in page and "0.31 [0.25, 0.39]" in page and "95.0% [92.0%, 97.0%]" in page
    assert "&lt; 0.001" in page
    assert "<svg" in page
    assert "the model gives an effective 3.1 answers on integer 1–10" in page   # narrative.baseline_sentence
    assert "<strong>exact_tv</strong>: ½ Σ_a |p_T(a) − 1/k|" in page       # the definitions, verbatim
    assert all(f"<li><strong>{name}</strong>: " in page for name in vocabulary.METRICS)
    assert 'href="results/01_baseline.csv"' in page
    assert 'src="http' not in page and "href=\"http" not in page and "<script" not in page


def test_tables_from_before_train_seed_are_read_under_the_new_name(tmp_path):
    pd.DataFrame(dict(condition=["histogram"], seed=[0], difference=[1.4])).to_csv(tmp_path / "06_differences.csv")
    pd.DataFrame(dict(condition=["vanilla"], seed=[0], value=[0.4])).to_csv(tmp_path / "01_baseline.csv")
    assert "train_seed" in site_sections.read_table(tmp_path, "06_differences")
    assert "seed" in site_sections.read_table(tmp_path, "01_baseline")    # 01's seed is a sampling seed
    assert site_sections.read_table(tmp_path, "07_accuracy") is None


def test_index_page_without_results(tmp_path):
    page = site.index_html("ci", tmp_path / "runs", tmp_path / "report", [], {}, hash_weights=False)
    assert "01_baseline.csv" in page and "<svg" not in page


def test_strip_external_scripts():
    page = ('<script src="https://cdn/require.js"></script><script src=""> </script>'
            '<script type="text/x-mathjax-config">MathJax.Hub.Config({})</script>'
            '<script type="module">await import("https://cdn/mermaid.mjs")</script>'
            '<script>var keep = 1;</script>')
    assert site.strip_external_scripts(page) == "<script>var keep = 1;</script>"
