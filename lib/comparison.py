"""The comparison table of 03 (03_comparison.csv): every baseline beside vanilla and the trained model, on
the one row vocabulary (distributions.exact_rows / sampled_rows), plus what each costs."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from lib import correction, metrics
from lib.decoding import best_temperature, fraction_text, mass_text
from lib.distributions import ExactDistribution, Samples, exact_rows, sampled_rows, seed_means
from lib.tasks import Task, display_name
from lib.verbalized import VerbalizedSamples


def tokens_per_answer(tokenizer, replies: Sequence[str], max_new_tokens: int) -> float:
    """Mean tokens generated per reply: the reply re-tokenized, plus its end-of-turn token, capped at
    max_new_tokens (a reply that hit the cap has none). One reply gives one answer in every method here."""
    if not replies:
        return float("nan")
    counts = [min(len(tokenizer(r, add_special_tokens=False)["input_ids"]) + 1, max_new_tokens) for r in replies]
    return float(np.mean(counts))


def scoring_passes(task: Task, score_batch_size: int) -> int:
    """Forward passes to score all of A exactly: the prompt once, then the answers in batches."""
    n_forms = sum(len(task.surface_forms(a)) for a in task.answers)
    return 1 + math.ceil(n_forms / score_batch_size)


CONDITION_ORDER = ("vanilla", "best_temperature", "min_p", "top_p", "verbalized", "logit_correction", "trained")


def ordered_labels(table: pd.DataFrame) -> list[str]:
    """Labels of a comparison table in CONDITION_ORDER (min-p/top-p variants by their prefix)."""
    def rank(condition: str) -> int:
        return next((i for i, c in enumerate(CONDITION_ORDER) if condition.startswith(c)), len(CONDITION_ORDER))
    pairs = table[["condition", "label"]].drop_duplicates()
    return list(pairs.assign(r=pairs["condition"].map(rank)).sort_values("r", kind="stable")["label"])


# The comparison as readable tables: conditions with an exact distribution; sampled conditions through the
# behavioural measure and its cost; sampled TV against a uniform sampler with as many valid replies.
EXACT_COLUMNS = {"exact_tv": "exact TV, all of A", "exact_tv_defined": "exact TV, covered answers",
                 "raw_mass": "raw mass", "gap_closed": "gap closed", "forward_passes": "forward passes"}
BEHAVIOURAL_COLUMNS = {"sampled_effective_share": "effective share", "sampled_valid_rate": "valid",
                       "parse_failure_rate": "no usable distribution", "tokens_per_answer": "tokens per answer"}
SAMPLED_TV_COLUMNS = {"sampled_tv": "TV", "sampled_tv_floor": "uniform's TV", "sampled_tv_p": "p vs uniform"}


def comparison_tables(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(exact, behavioural, sampled TV): one row per (task, condition), task names, "value [CI]" cells. The
    logit correction's exact TV is over the answers it covers (its own column, with a note saying how many),
    never beside the others' TV over all of A."""
    from lib.tables import metric_cells
    order = {label: i for i, label in enumerate(ordered_labels(table))}
    tasks_ = {t: i for i, t in enumerate(dict.fromkeys(table["task"]))}
    ranked = table.assign(_task=table["task"].map(tasks_), _label=table["label"].map(order)) \
                  .sort_values(["_task", "_label"], kind="stable")
    percent = ("sampled_valid_rate", "parse_failure_rate")
    out = []
    for columns in (EXACT_COLUMNS, BEHAVIOURAL_COLUMNS, SAMPLED_TV_COLUMNS):
        cells = metric_cells(ranked, columns, index=("task", "label", "temperature"), percent=percent,
                             p_values=("sampled_tv_p",))
        cells = cells.rename(columns={"label": "condition", "temperature": "T"}).fillna("–")
        cells["T"] = cells["T"].map("{:g}".format)
        out.append(cells)
    exact, behavioural, sampled_tv = out

    def by_row(rows: pd.DataFrame, column: str) -> list:
        found = {(display_name(t), label): v for t, label, v in zip(rows["task"], rows["label"], rows[column])}
        return [found.get((t, c)) for t, c in zip(exact["task"], exact["condition"])]
    texts = {"raw_mass": mass_text, "gap_closed": fraction_text,           # masses run down to ~0.01%
             "forward_passes": lambda v: "–" if v is None or math.isnan(v) else f"{v:.0f}"}
    for metric, text in texts.items():
        if EXACT_COLUMNS[metric] in exact:
            exact[EXACT_COLUMNS[metric]] = [text(v) for v in by_row(table[table["metric"] == metric], "value")]
    if "note" in table:
        exact["note"] = [v or "" for v in by_row(table.dropna(subset=["note"]), "note")]
    return exact, behavioural, sampled_tv


def exact_condition_rows(exact: Mapping[str, ExactDistribution], condition: str, label: str, score_batch_size: int,
                         train_seed: int | None = None) -> list[dict]:
    """The exact rows of a condition plus what scoring costs (forward_passes)."""
    rows = exact_rows(exact, condition, train_seed, label=label)
    return rows + [dict(condition=condition, label=label, task=task_id, metric="forward_passes", n=dist.task.k,
                        value=scoring_passes(dist.task, score_batch_size), temperature=dist.temperature,
                        train_seed=train_seed) for task_id, dist in exact.items()]


def sampled_condition_rows(samples: Mapping[str, Samples], condition: str, label: str, temperature: float,
                           sample_seed: int, n_boot: int, tokenizer, max_new_tokens: int) -> list[dict]:
    """The sampled rows of a condition plus tokens per answer and, for verbalized sampling, the parse-failure rate."""
    rows = sampled_rows(samples, condition, temperature, sample_seed, "sampled", n_boot, label=label)
    for task_id, smp in samples.items():
        base = dict(condition=condition, label=label, task=task_id, temperature=temperature, sample_seed=sample_seed,
                    n=len(smp.replies))
        rows.append(dict(base, metric="tokens_per_answer", value=tokens_per_answer(tokenizer, smp.replies, max_new_tokens)))
        if isinstance(smp, VerbalizedSamples):
            low, high = metrics.wilson_ci(round(smp.parse_failure_rate * len(smp.replies)), len(smp.replies))
            rows.append(dict(base, metric="parse_failure_rate", value=smp.parse_failure_rate, ci_low=low, ci_high=high))
    return rows


def best_temperature_rows(sweep: Mapping[float, Mapping[str, ExactDistribution]], score_batch_size: int,
                          gaps: Sequence[dict] = ()) -> list[dict]:
    """Vanilla at the swept temperature with the lowest exact TV, per task (chosen post hoc: optimistic)."""
    rows = []
    for task_id, temperature in best_temperature(sweep).items():
        rows += exact_condition_rows({task_id: sweep[temperature][task_id]}, "best_temperature", "best T (exact)",
                                     score_batch_size)
        rows += [dict(g, condition="best_temperature", label="best T (exact)") for g in gaps
                 if g["task"] == task_id and g["temperature"] == temperature]
    return rows


def comparison_table(cfg, tokenizer, *, sweep, protocol, methods, verbalized, correction_table, trained,
                     gaps=()) -> pd.DataFrame:
    """The tidy comparison across conditions and tasks (03_comparison.csv): exact rows and forward passes for
    exact conditions; sampled rows and tokens per answer for sampled ones; the trained model's exact rows
    averaged over training seeds. Extra columns: label, note, seeds, seed_min, seed_max."""
    from lib import results
    sampled = dict(sample_seed=cfg.seed, n_boot=cfg.n_boot, tokenizer=tokenizer)
    rows = (exact_condition_rows(sweep[1.0], "vanilla", "vanilla, T=1", cfg.score_batch_size)
            + sampled_condition_rows(protocol, "vanilla", "vanilla, T=1", 1.0, max_new_tokens=cfg.max_new_tokens,
                                     **sampled)
            + best_temperature_rows(sweep, cfg.score_batch_size, gaps))
    for method, samples in methods.items():
        rows += sampled_condition_rows(samples, method.condition, method.label, method.params.temperature,
                                       max_new_tokens=method.params.max_new_tokens, **sampled)
    rows += sampled_condition_rows(verbalized, "verbalized", "verbalized (5 stated, draw 1), T=1", 1.0,
                                   max_new_tokens=cfg.verbalized_max_new_tokens, **sampled)
    rows += correction_rows(correction_table, list(sweep[1.0]))
    per_seed = [row for seed, exact in trained.items()
                for row in exact_condition_rows(exact, "trained", "trained, T=1", cfg.score_batch_size, seed)]
    rows += seed_means(per_seed, ["condition", "label", "task", "metric", "temperature", "n"])
    return results.tidy(rows)


def correction_rows(correction_table: pd.DataFrame, task_ids: Sequence[str]) -> list[dict]:
    """The logit correction's rows under their own metric, exact_tv_defined: its TV is over the answers the
    correction covers (e.g. 100 of integer 1–1000's 1000), not over all of A like every other exact_tv."""
    rows = correction.correction_condition_rows(correction_table, task_ids)
    fit = display_name(correction_table["fit_task"].dropna().iloc[0]) if rows and "fit_task" in correction_table else "?"
    return [dict(row, metric="exact_tv_defined", label=f"logit correction (fit: {fit}; covered answers)") for row in rows]


def samples_rows(samples: Mapping[str, Samples], condition: str, temperature: float) -> list[dict]:
    """Every reply with its parsed (or drawn) answer, for inspection and reuse."""
    return [dict(condition=condition, temperature=temperature, task=t, index=i, reply=r, answer=a)
            for t, smp in samples.items() for i, (r, a) in enumerate(zip(smp.replies, smp.answers))]

