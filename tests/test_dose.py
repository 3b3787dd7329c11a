"""Dose–response on synthetic rows: slopes of untrained against trained spread, and the transfer estimate."""
import json

import numpy as np
import pandas as pd
import pytest

from lib import dose

TRAINED = "integer_1_100"


def _rows(arm: str, seed: int, slope: float, steps=(0, 10, 20), start=0.3, drop=0.1) -> list[dict]:
    """Trained-task exact TV falls by `drop` per checkpoint; color moves `slope` times as much."""
    rows = []
    for i, step in enumerate(steps):
        x = start - drop * i
        rows.append(dict(condition=arm, train_seed=seed, step=step, task=TRAINED, metric="exact_tv", value=x))
        rows.append(dict(condition=arm, train_seed=seed, step=step, task="color", metric="exact_tv",
                         value=0.8 + slope * (x - start)))
        rows.append(dict(condition=arm, train_seed=seed, step=step, task="fruit", metric="exact_tv", value=0.7))
    return rows


def test_slope_is_the_untrained_change_per_unit_of_trained_change():
    slopes = dose.dose_slopes(pd.DataFrame(_rows("exact", 0, 0.5)), TRAINED)
    got = slopes.set_index("task")["value"]
    assert got["color"] == pytest.approx(0.5) and got["fruit"] == pytest.approx(0.0)
    assert set(slopes["task"]) == {"color", "fruit"}        # never the trained task against itself
    assert slopes["trained_range"].iloc[0] == pytest.approx(0.2) and slopes["n"].iloc[0] == 3
    assert set(slopes["metric"]) == {"dose_slope"} and set(slopes["of_metric"]) == {"exact_tv"}


def test_no_slope_when_the_trained_task_did_not_move():
    slopes = dose.dose_slopes(pd.DataFrame(_rows("placebo", 0, 1.0, drop=0.001)), TRAINED)
    assert slopes["value"].isna().all()


def test_transfer_estimate_is_arm_minus_placebo_over_seeds():
    rows = sum([_rows("exact", s, 0.6 + 0.02 * s) for s in range(3)] +
               [_rows("placebo", s, 0.1 + 0.02 * s) for s in range(2)], [])
    slopes = dose.dose_slopes(pd.DataFrame(rows), TRAINED)
    estimate = dose.transfer_estimate(slopes, "exact", "placebo").set_index("task")
    color = estimate.loc["color"]
    assert color["value"] == pytest.approx(np.mean([0.6, 0.62, 0.64]) - np.mean([0.1, 0.12]))
    assert color["ci_low"] < color["value"] < color["ci_high"] and color["p"] < 0.05
    assert color["n_treated"] == 3 and color["n_baseline"] == 2 and color["method"] == "welch"
    assert color["metric"] == "dose_transfer"
    assert estimate.loc["all untrained", "value"] == pytest.approx(color["value"] / 2)   # fruit adds 0 to each seed
    assert estimate.loc["fruit", "p_holm"] >= estimate.loc["fruit", "p"] or np.isnan(estimate.loc["fruit", "p"])


def test_dose_curves_average_seeds_per_arm_and_step():
    rows = pd.DataFrame(_rows("exact", 0, 0.5) + _rows("exact", 1, 0.5, start=0.4))
    curves = dose.dose_curves(rows, TRAINED)
    first = curves[(curves["step"] == 0) & (curves["task"] == "color")].iloc[0]
    assert first["trained"] == pytest.approx(0.35) and first["seeds"] == 2


def test_checkpoint_adapters_list_vanilla_kept_steps_and_the_final_adapter(tmp_path):
    final = tmp_path / "adapters" / "exact" / "seed0"
    for folder in (final, final / "steps" / "step10"):
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text("{}")
    (final / "recipe.json").write_text(json.dumps({"steps": 20}))
    assert dose.checkpoint_adapters(tmp_path, "exact", 0) == {0: None, 10: final / "steps" / "step10", 20: final}


def test_dose_response_chart_draws_one_line_per_arm():
    from lib import charts
    rows = pd.DataFrame(_rows("exact", 0, 0.5) + _rows("placebo", 0, 0.1))
    spec = charts.dose_response(dose.dose_curves(rows, TRAINED)).to_dict()
    assert spec["spec"]["layer"][0]["encoding"]["color"]["field"] == "condition"


def test_dose_rows_score_every_kept_checkpoint_through_the_cache(loaded_model, tmp_path):
    """Each checkpoint is its own cache entry (keyed by its adapter files), step 0 is vanilla, and a rerun reads the
    cache without loading a model."""
    from types import SimpleNamespace

    from lib import conditions, config, grpo, tasks
    cfg4 = config.load("ci", "04")
    recipe = grpo.Recipe(name="kl", reward="kl_uniform", role="reference", steps=2, learning_rate=2e-3,
                         lr_schedule="constant")
    grpo.train(cfg4.model, tasks.get("integer_1_100"), recipe, 0, tmp_path, eval_every=5, save_every=5,
               keep_steps=(1, 2))
    cfg = SimpleNamespace(model=cfg4.model, run_dir=tmp_path, results_dir=tmp_path / "results", backend="transformers",
                          backend_options={})
    panel = [tasks.get("integer_1_100"), tasks.get("card_suit")]
    rows = dose.dose_rows(cfg, panel, runs=[("kl", 0)], progress=False)
    tv = rows[rows["metric"] == "exact_tv"].pivot_table(index="step", columns="task", values="value")
    assert list(tv.index) == [0, 1, 2]
    assert tv["integer_1_100"].iloc[-1] < tv["integer_1_100"].iloc[0]       # it trained on this task
    assert len(set(tv["card_suit"].round(9))) == 3                           # three adapters, three results
    conditions.release()
    again = dose.dose_rows(SimpleNamespace(**{**vars(cfg), "backend": "transformers"}), panel, runs=[("kl", 0)],
                           progress=False)
    assert np.allclose(again["value"], rows["value"]) and not conditions._LOADED   # from the cache alone
