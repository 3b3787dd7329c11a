"""Altair charts. They render as static SVG (vl-convert), so the report needs no network."""
from __future__ import annotations

import altair as alt
import pandas as pd

from lib import tasks as task_panel

alt.renderers.enable("svg")
alt.data_transformers.disable_max_rows()



def _named(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["task_name"] = frame["task"].map(task_panel.display_name)
    return frame


def answer_distribution(dist: pd.DataFrame, task: str = "integer_1_100") -> alt.LayerChart:
    """Exact probability of every answer of one task (bars), with the uniform level (rule)."""
    frame = dist[dist["task"] == task].copy()
    frame["answer_order"] = range(len(frame))
    k = len(frame)
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("answer:N", sort=alt.SortField("answer_order"), title="answer",
                axis=alt.Axis(labelAngle=0, values=[a for i, a in enumerate(frame["answer"]) if i % max(1, k // 20) == 0])),
        y=alt.Y("p_exact:Q", title="exact probability (renormalized over A)"),
        tooltip=["answer", alt.Tooltip("p_exact:Q", format=".4f")])
    uniform = alt.Chart(pd.DataFrame({"u": [1 / k]})).mark_rule(color="black", strokeDash=[4, 3]).encode(y="u:Q")
    return (bars + uniform).properties(width=720, height=220, title=f"{task_panel.display_name(task)}: "
                                       "exact answer distribution at T=1 (dashed: uniform)")


def spread_by_task(long: pd.DataFrame, condition: str = "vanilla") -> alt.LayerChart:
    """Per task, the effective number of answers as a share of k: behavioural (blue dot, 95% CI) and exact
    given a bare reply (red dot). 1 = as spread as uniform over A; open tasks may pass 1 with answers outside A."""
    frame = long[(long["condition"] == condition)
                 & long["metric"].isin(["behav_effective_share", "exact_effective_share"])].copy()
    frame = _named(frame)
    frame["measure"] = frame["metric"].map({"behav_effective_share": "behavioural (any reply)",
                                            "exact_effective_share": "exact (bare reply)"})
    behav = frame[frame["metric"] == "behav_effective_share"]
    order = list(behav.sort_values("value")["task_name"]) or None
    y = alt.Y("task_name:N", sort=order, title=None)
    color = alt.Color("measure:N", scale=alt.Scale(domain=["behavioural (any reply)", "exact (bare reply)"],
                                                   range=["#2c7fb8", "#c0392b"]), title=None)
    x = alt.X("value:Q", title="effective number of answers / k (1 = uniform over A)", scale=alt.Scale(zero=True))
    dots = alt.Chart(frame).mark_point(filled=True, size=80).encode(
        x=x, y=y, color=color, tooltip=["task_name", "measure", alt.Tooltip("value:Q", format=".3f")])
    ci = alt.Chart(behav.assign(ci_high=behav["ci_high"].clip(upper=max(1.5, behav["value"].max() * 1.2)))
                   ).mark_rule(color="#2c7fb8").encode(x="ci_low:Q", x2="ci_high:Q", y=y)
    one = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(color="gray", strokeDash=[4, 3]).encode(x="x:Q")
    return (ci + dots + one).properties(width=560, height=28 * max(1, frame["task"].nunique()),
                                        title="How many answers a user meets, as a share of the answer set")


def exact_vs_parsed(dist: pd.DataFrame, tasks: list[str], top: int = 8) -> alt.FacetChart:
    """Side by side, per task: the top answers' exact share vs their share among parsed samples."""
    frames = []
    for task in tasks:
        frame = dist[dist["task"] == task]
        if frame.empty or "p_parsed" not in frame:
            continue
        score = frame[["p_exact", "p_parsed"]].max(axis=1)
        frames.append(frame.loc[score.sort_values(ascending=False).index[:top]])
    if not frames:
        raise ValueError("no task with both exact and parsed distributions")
    long = _named(pd.concat(frames)).melt(id_vars=["task", "task_name", "answer"],
                                          value_vars=["p_exact", "p_parsed"], var_name="source", value_name="share")
    long["source"] = long["source"].map({"p_exact": "exact (bare replies)", "p_parsed": "parsed samples"})
    return alt.Chart(long).mark_bar().encode(
        x=alt.X("answer:N", sort="-y", title=None, axis=alt.Axis(labelAngle=-40)),
        xOffset="source:N", y=alt.Y("share:Q", title="share among answers in A"),
        color=alt.Color("source:N", legend=alt.Legend(orient="top", title=None)),
        tooltip=["answer", "source", alt.Tooltip("share:Q", format=".3f")],
    ).properties(width=210, height=160).facet(facet=alt.Facet("task_name:N", title=None), columns=3).resolve_scale(x="independent")


def learning_curves(logs: pd.DataFrame) -> alt.VConcatChart:
    """Per recipe (colour) and seed (line): reward mean, strict-valid rate, and exact TV of the trained task."""
    base = alt.Chart(logs).encode(x=alt.X("step:Q", title="GRPO step"),
                                  color=alt.Color("recipe:N"), detail="train_seed:N")
    panels = []
    for field, title in (("reward", "reward (mean over the group)"), ("valid_rate", "strict-valid replies"),
                         ("exact_tv", "exact TV, trained task")):
        if field not in logs:
            continue
        data = base.transform_filter(f"isValid(datum.{field})")
        mark = data.mark_line(point=field == "exact_tv", opacity=0.8)
        panels.append(mark.encode(y=alt.Y(f"{field}:Q", title=title)).properties(width=520, height=140))
    return alt.vconcat(*panels)


def dose_response(curves: pd.DataFrame, metric: str = "exact_tv", columns: int = 4) -> alt.FacetChart:
    """Dose–response (lib.dose.dose_curves): per untrained task, its spread against the trained task's spread
    over the kept checkpoints, one line per arm (means over seeds, in step order; points labelled by step)."""
    frame = _named(curves)
    title = f"{metric}, trained task" + (" (lower = more spread)" if metric.endswith("tv") else "")
    base = alt.Chart(frame).encode(
        x=alt.X("trained:Q", title=title, scale=alt.Scale(zero=False)),
        y=alt.Y("untrained:Q", title=f"{metric}, this task", scale=alt.Scale(zero=False)),
        color=alt.Color("condition:N", title="arm"), order="step:Q",
        tooltip=["condition", "step", "seeds", alt.Tooltip("trained:Q", format=".3f"),
                 alt.Tooltip("untrained:Q", format=".3f")])
    layer = base.mark_line(opacity=0.8) + base.mark_point(filled=True, size=30)
    return layer.properties(width=170, height=140).facet(
        facet=alt.Facet("task_name:N", title=None), columns=columns).resolve_scale(y="independent")


_AXIS = {"behav_effective_share": "effective number of answers / k, any reply (higher = more spread)",
         "exact_tv": "exact TV from uniform, given a bare reply (0 = perfectly spread)"}


def before_after(summary: pd.DataFrame, before: str, after: str, highlight: str,
                 metric: str = "behav_effective_share") -> alt.LayerChart:
    """The seed's chart: one row per task, hollow dot = before, filled dot = after (mean over seeds, CI),
    sorted by the after value; the trained task is highlighted."""
    frame = _named(summary[summary["condition"].isin([before, after]) & (summary["metric"] == metric)])
    wide = frame.pivot_table(index=["task", "task_name"], columns="condition", values="value").reset_index()
    order = list(wide.sort_values(after)["task_name"])
    frame["trained_task"] = frame["task"] == highlight
    y = alt.Y("task_name:N", sort=order, title=None)
    x = alt.X("value:Q", scale=alt.Scale(zero=True), title=_AXIS.get(metric, metric))
    color = alt.condition("datum.trained_task", alt.value("#d95f02"), alt.value("#1b5e9e"))
    link = alt.Chart(_named(wide)).mark_rule(color="#bbb").encode(x=f"{before}:Q", x2=f"{after}:Q", y=y)
    ci = alt.Chart(frame[frame["condition"] == after]).mark_rule(strokeWidth=2).encode(
        x="ci_low:Q", x2="ci_high:Q", y=y, color=color)
    hollow = alt.Chart(frame[frame["condition"] == before]).mark_point(size=90, filled=False, strokeWidth=2).encode(
        x=x, y=y, color=color, tooltip=["task_name", alt.Tooltip("value:Q", format=".3f")])
    filled = alt.Chart(frame[frame["condition"] == after]).mark_point(size=90, filled=True).encode(
        x=x, y=y, color=color, tooltip=["task_name", alt.Tooltip("value:Q", format=".3f"),
                                        alt.Tooltip("ci_low:Q", format=".3f"), alt.Tooltip("ci_high:Q", format=".3f")])
    return (link + ci + hollow + filled).properties(
        width=560, height=28 * len(wide),
        title=f"Hollow: {before} · filled: {after} (mean over seeds, 95% CI) · orange: the trained task")


# -- 02 logit correction ---------------------------------------------------------------------

def correction_fit(bias: pd.DataFrame) -> alt.LayerChart:
    """The fit task's exact distribution (bars); after the correction every answer sits on the dashed line."""
    frame = bias.copy()
    frame["answer_order"] = range(len(frame))
    k = len(frame)
    task = frame["fit_task"].iloc[0]
    bars = alt.Chart(frame).mark_bar(color="#c0392b").encode(
        x=alt.X("answer:N", sort=alt.SortField("answer_order"), title="answer",
                axis=alt.Axis(labelAngle=0, values=[a for i, a in enumerate(frame["answer"]) if i % max(1, k // 20) == 0])),
        y=alt.Y("p_exact:Q", title="exact probability (renormalized over A)"),
        tooltip=["answer", alt.Tooltip("p_exact:Q", format=".4f"), alt.Tooltip("bias:Q", format=".2f")])
    uniform = alt.Chart(pd.DataFrame({"u": [1 / k]})).mark_rule(color="black", strokeDash=[4, 3]).encode(y="u:Q")
    return (bars + uniform).properties(width=720, height=200, title=f"{task_panel.display_name(task)}: vanilla (bars); "
                                       "with the fitted bias b(a) = −log p(a) every answer sits on the dashed line")


def correction_transfer(transfers: pd.DataFrame) -> alt.LayerChart:
    """Per task: vanilla TV over A, vanilla and corrected TV over the answers the bias is defined on;
    'undefined' where the task shares no answer with the fit task."""
    frame = _named(transfers)
    order = list(frame["task_name"])
    long = frame.melt(id_vars=["task", "task_name", "status", "n_defined", "k"],
                      value_vars=["tv_vanilla", "tv_vanilla_defined", "tv_corrected"], var_name="measure", value_name="tv")
    long["measure"] = long["measure"].map({"tv_vanilla": "vanilla, all of A",
                                           "tv_vanilla_defined": "vanilla, defined answers only",
                                           "tv_corrected": "corrected, defined answers only"})
    y = alt.Y("task_name:N", sort=order, title=None)
    dots = alt.Chart(long.dropna(subset=["tv"])).mark_point(filled=True, size=80).encode(
        x=alt.X("tv:Q", scale=alt.Scale(domain=[0, 1]), title="exact TV from uniform"), y=y,
        color=alt.Color("measure:N", sort=["vanilla, all of A", "vanilla, defined answers only",
                                           "corrected, defined answers only"],
                        scale=alt.Scale(range=["#999999", "#c0392b", "#27ae60"]), legend=alt.Legend(orient="top", title=None)),
        tooltip=["task_name", "measure", alt.Tooltip("tv:Q", format=".3f"), "n_defined", "k"])
    labels = frame.assign(text=[f"{s}: {n} of {k} answers" for s, n, k in zip(frame["status"], frame["n_defined"], frame["k"])])
    text = alt.Chart(labels).mark_text(align="left", dx=6, color="#555").encode(
        x=alt.value(565), y=y, text="text:N")
    return (dots + text).properties(width=560, height=30 * len(frame),
                                    title="Logit correction fitted on one task, applied to the others")


# -- 03 temperature and inference-time methods -------------------------------------------------

def temperature_sweep(sweep: pd.DataFrame, trained: pd.DataFrame | None = None) -> alt.HConcatChart:
    """Exact TV vs T per task (lines; trained at T=1 as stars) beside the raw valid mass vs T (log scale)."""
    frame = _named(sweep[sweep["condition"] == "vanilla"])
    points = frame["temperature"].nunique() <= 12      # a fine grid draws as a curve
    color = alt.Color("task_name:N", title="task")
    x = alt.X("temperature:Q", title="temperature T")
    tv = alt.Chart(frame[frame["metric"] == "exact_tv"]).mark_line(point=points).encode(
        x=x, y=alt.Y("value:Q", title="exact TV from uniform", scale=alt.Scale(domain=[0, 1])), color=color,
        tooltip=["task_name", "temperature", alt.Tooltip("value:Q", format=".3f")])
    if trained is not None and len(trained):
        mean = _named(trained[(trained["metric"] == "exact_tv") & trained["train_seed"].isna()])
        tv = tv + alt.Chart(mean).mark_point(shape="diamond", size=120, filled=True).encode(
            x=x, y="value:Q", color=color, tooltip=["task_name", alt.Tooltip("value:Q", format=".3f", title="trained TV")])
    mass = alt.Chart(frame[frame["metric"] == "raw_mass"]).mark_line(point=points).encode(
        x=x, y=alt.Y("value:Q", title="raw valid mass Σ P(bare answer)", scale=alt.Scale(type="log")), color=color,
        tooltip=["task_name", "temperature", alt.Tooltip("value:Q", format=".2e")])
    title = "Vanilla vs temperature: TV over A (diamonds: trained at T=1) and the mass left on bare valid answers"
    return alt.hconcat(tv.properties(width=330, height=260), mass.properties(width=330, height=260), title=title)


def temperature_tax(tax: pd.DataFrame) -> alt.LayerChart:
    """Share of plain samples that parse to no answer, vs T, with Wilson 95% CIs."""
    frame = _named(tax[tax["metric"] == "sampled_invalid_rate"])
    base = alt.Chart(frame).encode(x=alt.X("temperature:Q", title="temperature T"),
                                   color=alt.Color("task_name:N", title="task"))
    y = alt.Y("value:Q", title="invalid samples", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"))
    lines = base.mark_line(point=True).encode(
        y=y, tooltip=["task_name", "temperature", alt.Tooltip("value:Q", format=".0%"), "n"])
    bars = base.mark_errorbar(opacity=0.4, thickness=2).encode(
        y=alt.Y("ci_low:Q", title="invalid samples"), y2="ci_high:Q")
    return (bars + lines).properties(width=420, height=240, title="The tax: invalid samples vs temperature (95% CI)")


def gap_closed_by_task(sweep: pd.DataFrame, temperature: float = 1.5,
                       claim: float = 0.25) -> alt.LayerChart | alt.Chart:
    """Per task, the fraction of the trained − vanilla gap one temperature closes (03_temperature_sweep rows
    gap_closed and gap_closed_effective_share at ``temperature``), on exact TV (given a bare answer) and on the
    effective share of plain replies; dashed rules at 0 (no change), the seed's claim and 1 (as far as
    training). Values beyond [−100%, 200%] sit at the edge (tooltips give them)."""
    measures = {"gap_closed": "exact TV (bare answers)", "gap_closed_effective_share": "effective share (plain replies)"}
    at = sweep[sweep["metric"].isin(list(measures)) & ((sweep["temperature"] - temperature).abs() < 1e-9)]
    frame = _named(at.assign(measure=at["metric"].map(measures), gap_closed=at["value"])[
        ["task", "measure", "gap_closed", "temperature"]]).dropna(subset=["gap_closed"])
    if frame.empty:     # said in the chart, so a notebook or page shows why there is nothing to plot
        return alt.Chart(pd.DataFrame({"text": [f"No task where training spread the answers: no gap for "
                                                f"T={temperature:g} to close."]})).mark_text(align="left").encode(
            text="text:N").properties(width=480, height=30)
    y = alt.Y("task_name:N", title=None, sort=list(dict.fromkeys(frame["task_name"])))
    dots = alt.Chart(frame).mark_point(filled=True, size=90, opacity=0.85).encode(
        x=alt.X("gap_closed:Q", title=f"fraction of the trained − vanilla gap closed at T={temperature:g}",
                scale=alt.Scale(domain=[-1, 2], clamp=True), axis=alt.Axis(format="%")),
        y=y, color=alt.Color("measure:N", legend=alt.Legend(orient="top", title=None)), shape="measure:N",
        tooltip=["task_name", "measure", alt.Tooltip("gap_closed:Q", format=".0%")])
    marks = pd.DataFrame({"x": [0, claim, 1], "what": ["no change", "the seed's claim", "as far as training"]})
    rules = alt.Chart(marks).mark_rule(color="gray", strokeDash=[4, 3]).encode(x="x:Q", tooltip="what:N")
    return (rules + dots).properties(width=480, height=26 * frame["task_name"].nunique(),
                                     title=f"How much of training's effect T={temperature:g} reproduces "
                                           f"(dashed: 0, the seed's {claim:.0%}, 100%)")


def method_comparison(comparison: pd.DataFrame, order: list[str] | None = None) -> alt.FacetChart:
    """Per task (panel) and condition (row): exact TV (filled), sampled TV with 95% CI (hollow, bar)
    and the floor of a uniform sampler with as many valid samples (gray tick)."""
    comparison = comparison.replace({"metric": {"exact_tv_defined": "exact_tv"}})   # its label names the answers
    frame = comparison[comparison["metric"].isin(["exact_tv", "sampled_tv", "sampled_tv_floor"])]
    frame = _named(frame).pivot_table(index=["task", "task_name", "label"], columns="metric",
                                      values=["value", "ci_low", "ci_high"], aggfunc="first").reset_index()
    frame.columns = ["_".join(c for c in col if c and c != "value") or "value" for col in frame.columns]
    for column in ("exact_tv", "sampled_tv", "sampled_tv_floor", "ci_low_sampled_tv", "ci_high_sampled_tv"):
        if column not in frame:
            frame[column] = float("nan")
    notes = comparison["note"].fillna("") if "note" in comparison else pd.Series("", index=comparison.index)
    undefined = _named(comparison[notes.str.startswith("undefined")])[["task", "task_name", "label"]].drop_duplicates()
    frame = frame.merge(undefined.assign(flag="undefined"), how="outer", on=["task", "task_name", "label"])
    frame["flag"] = frame["flag"].fillna("")
    y = alt.Y("label:N", sort=order or list(dict.fromkeys(comparison["label"])), title=None)
    x_scale = alt.Scale(domain=[0, 1])
    base = alt.Chart(frame)
    exact = base.mark_point(filled=True, size=70, color="#c0392b").encode(
        x=alt.X("exact_tv:Q", scale=x_scale, title="TV from uniform"), y=y,
        tooltip=["label", alt.Tooltip("exact_tv:Q", format=".3f")])
    ci = base.mark_rule(color="#2c7fb8").encode(x="ci_low_sampled_tv:Q", x2="ci_high_sampled_tv:Q", y=y)
    sampled = base.mark_point(size=60, color="#2c7fb8").encode(
        x="sampled_tv:Q", y=y, tooltip=["label", alt.Tooltip("sampled_tv:Q", format=".3f"),
                                        alt.Tooltip("sampled_tv_floor:Q", format=".3f")])
    floor = base.mark_tick(color="gray", thickness=2, size=12).encode(x="sampled_tv_floor:Q", y=y)
    flags = base.mark_text(align="left", color="#c0392b", fontStyle="italic").encode(x=alt.value(4), y=y, text="flag:N")
    return (ci + exact + sampled + floor + flags).properties(width=260, height=20 * frame["label"].nunique()).facet(
        facet=alt.Facet("task_name:N", title=None), columns=3,
        title="Red: exact TV · blue: sampled TV (95% CI) · gray tick: floor of a uniform sampler")


# -- 06 reasoning paths, 07 capability ---------------------------------------------------------

def _condition_label(frame: pd.DataFrame) -> pd.Series:
    seed = frame["train_seed"].map(lambda s: "" if pd.isna(s) else f" seed {int(s)}")
    temperature = frame["temperature"].map(lambda t: f" · T={t:g}") if "temperature" in frame else ""
    return frame["condition"] + seed + temperature


def gsm8k_paths(table: pd.DataFrame) -> alt.HConcatChart:
    """Per condition and temperature: distinct paths among the non-empty chains, the share of empty chains,
    and correct chains of k (means over problems, bootstrap 95% CI over problems). Tables from before the
    non-empty count show distinct paths among all k chains instead."""
    frame = table.assign(label=_condition_label(table))
    y = alt.Y("label:N", title=None, sort=list(frame["label"]))

    def panel(column: str, title: str, domain: list[float]) -> alt.LayerChart:
        x = alt.X(f"{column}:Q", title=title, scale=alt.Scale(domain=domain))
        ci = alt.Chart(frame).mark_rule(strokeWidth=2).encode(x=f"{column}_ci_low:Q", x2=f"{column}_ci_high:Q", y=y,
                                                              color=alt.Color("condition:N", legend=None))
        dot = alt.Chart(frame).mark_point(filled=True, size=90).encode(
            x=x, y=y, color="condition:N", tooltip=["label", alt.Tooltip(f"{column}:Q", format=".2f")])
        return (ci + dot).properties(width=300, height=28 * len(frame))

    k = int(table["k"].max())
    if "distinct_nonempty" in table:
        panels = [panel("distinct_nonempty", "distinct paths among non-empty chains", [0, k]),
                  panel("empty_share", "share of chains with no new number", [0, 1])]
    else:
        panels = [panel("distinct_all", f"distinct paths among all {k} chains", [0, k])]
    return alt.hconcat(*panels, panel("correct", f"correct chains of {k}", [0, k])).properties(
        title="Means over problems, bootstrap 95% CI over problems")


def capability(accuracy: pd.DataFrame, chance: dict[str, float]) -> alt.FacetChart:
    """Accuracy per condition (Wilson 95% CI), one panel per benchmark, with chance as a dashed rule."""
    frame = accuracy.assign(label=_condition_label(accuracy))
    y = alt.Y("label:N", title=None, sort=list(dict.fromkeys(frame["label"])))
    x = alt.X("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1]))
    ci = alt.Chart().mark_rule(strokeWidth=2).encode(x="ci_low:Q", x2="ci_high:Q", y=y,
                                                     color=alt.Color("condition:N", legend=None))
    dot = alt.Chart().mark_point(filled=True, size=90).encode(
        x=x, y=y, color="condition:N", tooltip=["label", "n", alt.Tooltip("accuracy:Q", format=".3f")])
    rule = alt.Chart().mark_rule(color="black", strokeDash=[4, 3]).encode(x="chance:Q")
    frame = frame.assign(chance=frame["benchmark"].map(chance))
    return alt.layer(ci, dot, rule, data=frame).properties(width=420, height=28 * frame["label"].nunique()).facet(
        row=alt.Row("benchmark:N", title=None)).properties(title="Accuracy with Wilson 95% CIs (dashed: chance)")


def capability_held(held: pd.DataFrame, lower_is_better: set[str] = frozenset({"mmlu_ece"})) -> alt.LayerChart:
    """Per area and trained seed: trained − vanilla on the area's headline measure with its 95% CI, signed so
    that left of 0 is worse (ECE flipped), over a gray band of ± the minimum detectable difference."""
    sign = held["metric"].map(lambda m: -1.0 if m in lower_is_better else 1.0)
    frame = held.assign(label=held["area"] + " · " + _condition_label(held.drop(columns="temperature", errors="ignore")),
                        change=sign * held["difference"], band_low=-held["mdd"], band_high=held["mdd"],
                        low=(sign * held["ci_low"]).combine(sign * held["ci_high"], min),
                        high=(sign * held["ci_low"]).combine(sign * held["ci_high"], max))
    y = alt.Y("label:N", title=None, sort=list(frame["label"]))
    band = alt.Chart(frame).mark_bar(color="#ddd", height=14).encode(x="band_low:Q", x2="band_high:Q", y=y)
    ci = alt.Chart(frame).mark_rule(strokeWidth=2).encode(x="low:Q", x2="high:Q", y=y,
                                                          color=alt.Color("verdict:N", legend=alt.Legend(orient="top")))
    dot = alt.Chart(frame).mark_point(filled=True, size=90).encode(
        x=alt.X("change:Q", title="trained − vanilla (signed: left of 0 is worse)"), y=y, color="verdict:N",
        tooltip=["label", "benchmark", "metric", alt.Tooltip("difference:Q", format="+.3f"),
                 alt.Tooltip("mdd:Q", format=".3f"), "verdict"])
    zero = alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(color="black").encode(x="x:Q")
    return (band + ci + dot + zero).properties(
        width=420, height=28 * len(frame),
        title="Held or not: paired difference with 95% CI; gray: ± minimum detectable difference at 80% power")


# -- 08 open-ended diversity -----------------------------------------------------------------

def distinct_by_category(summary: pd.DataFrame, k: int) -> alt.FacetChart:
    """Per category (rows) and condition (colour): mean distinct answers among k with a 95% CI over
    prompts; one panel counts embedding classes, the other exact matches only. Trained recipes appear as
    their mean over seeds."""
    from lib.data import ALL_CATEGORIES as ALL, NOVELTYBENCH_CATEGORIES as CATEGORIES
    frame = summary[summary["scope"] != "seed"].copy()
    frame["measure"] = frame["metric"].map({"distinct_k": "embedding classes", "distinct_k_lexical": "lexical (exact match)"})
    order = [ALL] + [c for c in CATEGORIES if c in set(frame["task"])]
    labels = list(dict.fromkeys(frame["label"]))
    base = alt.Chart().encode(y=alt.Y("task:N", sort=order, title=None), yOffset=alt.YOffset("label:N", sort=labels),
                              color=alt.Color("label:N", sort=labels, legend=alt.Legend(orient="top", title=None)))
    ci = base.mark_rule(strokeWidth=2).encode(x="ci_low:Q", x2="ci_high:Q")
    dots = base.mark_point(filled=True, size=60).encode(
        x=alt.X("value:Q", scale=alt.Scale(domain=[0, k]), title=f"distinct answers among k = {k}"),
        tooltip=["label", "task", alt.Tooltip("value:Q", format=".2f"), alt.Tooltip("ci_low:Q", format=".2f"),
                 alt.Tooltip("ci_high:Q", format=".2f"), "n"])
    return alt.layer(ci, dots, data=frame).properties(width=300, height=len(order) * (12 * len(labels) + 10)).facet(
        column=alt.Column("measure:N", title=None, sort=["embedding classes", "lexical (exact match)"]),
        title=f"Distinct answers among k = {k} per prompt (mean over prompts, 95% bootstrap CI)")


def threshold_sweep(sweep: pd.DataFrame, threshold: float) -> alt.LayerChart:
    """Agreement of the embedding judge with the hand-labelled pairs at each cosine threshold (plain and
    balanced over the two labels); the rule marks the threshold in use."""
    long = sweep.melt(id_vars="threshold", value_vars=["agreement", "balanced_agreement"], var_name="measure",
                      value_name="share")
    lines = alt.Chart(long).mark_line().encode(
        x=alt.X("threshold:Q", title="cosine threshold (merge when similarity ≥ threshold)"),
        y=alt.Y("share:Q", title="pairs judged as labelled", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("measure:N", legend=alt.Legend(orient="top", title=None)),
        tooltip=[alt.Tooltip("threshold:Q", format=".2f"), "measure", alt.Tooltip("share:Q", format=".3f")])
    rule = alt.Chart(pd.DataFrame({"threshold": [threshold]})).mark_rule(color="black", strokeDash=[4, 3]).encode(x="threshold:Q")
    return (lines + rule).properties(width=480, height=180, title=f"Threshold in use: {threshold:.2f}")


def ablation_shares(shares: pd.DataFrame, measure: str = "exact_effective_share") -> alt.LayerChart:
    """09: the share of the full adapter's effect each part carries when kept alone (mean over training seeds,
    t-interval), on the trained task and on the untrained tasks together. 1 = the whole effect, 0 = none."""
    frame = shares[shares["measure"] == measure].copy()
    frame["where"] = frame["task"].map(lambda t: t if t == "untrained tasks" else f"trained: {task_panel.display_name(t)}")
    order = list(dict.fromkeys(frame["part"]))
    y = alt.Y("part:N", sort=order, title=None)
    color = alt.Color("where:N", title=None)
    dots = alt.Chart(frame).mark_point(filled=True, size=70).encode(
        x=alt.X("value:Q", title=f"share of the full adapter's effect ({measure.replace('_', ' ')})"), y=y, color=color,
        yOffset="where:N", tooltip=["part", "where", alt.Tooltip("value:Q", format=".2f"), "n"])
    bars = alt.Chart(frame.dropna(subset=["ci_low", "ci_high"])).mark_rule().encode(
        x="ci_low:Q", x2="ci_high:Q", y=y, yOffset="where:N", color=color)
    rules = alt.Chart(pd.DataFrame({"x": [0.0, 1.0]})).mark_rule(color="gray", strokeDash=[4, 3]).encode(x="x:Q")
    return (rules + bars + dots).properties(width=520, height=30 * max(1, len(order)),
                                            title="Where the change lives: LoRA kept on one part only")


def steering_curve(summary: pd.DataFrame, metric: str = "steered_exact_effective_share_change") -> alt.FacetChart:
    """09: the untrained tasks' mean change (steered − vanilla) against the scale of the direction added, one
    panel per layer, one line per direction (the trained recipe's and its controls); mean over seeds, t-interval."""
    frame = summary[(summary["metric"] == metric) & (summary["task"] == "untrained tasks")].copy()
    zero = frame.drop_duplicates(["condition", "layer"]).assign(scale=0.0, value=0.0, ci_low=float("nan"),
                                                              ci_high=float("nan"))
    frame = pd.concat([zero, frame], ignore_index=True)
    x = alt.X("scale:Q", title="scale of the direction added")
    color = alt.Color("condition:N", title="direction")
    line = alt.Chart().mark_line(point=True).encode(
        x=x, y=alt.Y("value:Q", title="change on the untrained tasks (steered − vanilla)"), color=color,
        tooltip=["condition", "layer", "scale", alt.Tooltip("value:Q", format=".3f")])
    band = alt.Chart().mark_rule().encode(x=x, y="ci_low:Q", y2="ci_high:Q", color=color)
    return alt.layer(band, line, data=frame).properties(width=220, height=180).facet(
        column=alt.Column("layer:O", title="decoder layer steered"),
        title="Steering vanilla with a direction: "
              f"{metric.removeprefix('steered_').removesuffix('_change').replace('_', ' ')}, steered − vanilla")


def logit_lens(summary: pd.DataFrame) -> alt.FacetChart:
    """09: per layer, the normalized entropy of the next-token distribution over the answers' first tokens, read
    through the final norm and output head (logit lens), per condition (mean over seeds), one panel per task."""
    frame = _named(summary[summary["metric"] == "lens_entropy"])
    chart = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=20)).encode(
        x=alt.X("layer:Q", title="decoder layer"), y=alt.Y("value:Q", title="entropy / log(first tokens)",
                                                           scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("condition:N", title=None),
        tooltip=["condition", "task_name", "layer", alt.Tooltip("value:Q", format=".3f")])
    return chart.properties(width=220, height=170).facet(column=alt.Column("task_name:N", title=None),
                                                          title="Logit lens: where the answer distribution forms")
