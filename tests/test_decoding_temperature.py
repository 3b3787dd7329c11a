"""Temperature, fairly: the T* search (decoding.match_temperature), the fraction of the gap a temperature
closes on both measures, and the tables and sentence built from them."""
import math

import numpy as np
import pandas as pd
import pytest

from lib import comparison, decoding, metrics, narrative, results, tasks, vocabulary
from lib.distributions import ExactDistribution, Samples

CARD_SUIT = tasks.get("card_suit")
GRID = decoding.temperature_grid(0.5, 3.0, 0.05)     # 51 temperatures


class Counted:
    """A measure of T that records every temperature it is asked about."""

    def __init__(self, curve):
        self.curve, self.asked = curve, []

    def __call__(self, temperature: float) -> float:
        self.asked.append(temperature)
        return self.curve(temperature)


def test_grid_is_exact_at_the_params_temperatures_and_rejects_a_step_that_does_not_divide():
    assert len(GRID) == 51 and GRID[0] == 0.5 and GRID[-1] == 3.0
    assert {0.7, 1.0, 1.3, 1.5, 2.0} <= set(GRID)           # the swept temperatures are grid points, as floats
    with pytest.raises(ValueError, match="match_grid"):
        decoding.temperature_grid(0.5, 3.0, 0.07)


def test_monotone_curve_is_matched_at_its_grid_point_by_bisection():
    tv = Counted(lambda t: 1 - 0.3 * t)                     # exact-TV-like: falls as T rises
    match = decoding.match_temperature(tv, 0.55, GRID, higher_is_more_spread=False)
    assert match.temperature == 1.5 and match.reached and match.value == pytest.approx(0.55)
    assert match.evaluations == len(tv.asked) == len(set(tv.asked)) <= 2 + math.ceil(math.log2(len(GRID) - 1))


def test_the_nearer_of_the_two_straddling_grid_points_is_chosen():
    share = Counted(lambda t: 0.2 * t)                      # effective-share-like: rises with T
    assert decoding.match_temperature(share, 0.2 * 1.61, GRID, True).temperature == 1.6
    assert decoding.match_temperature(share, 0.2 * 1.64, GRID, True).temperature == 1.65


def test_a_curve_that_falls_back_is_matched_at_its_first_crossing_with_few_evaluations():
    tv = Counted(lambda t: 0.1 + 0.3 * (t - 1.4) ** 2)     # most spread at T=1.4, narrower again above
    match = decoding.match_temperature(tv, 0.2, GRID, higher_is_more_spread=False)
    # TV(0.80) = 0.208 and TV(0.85) = 0.191: the rising side's crossing, not the one near T=2
    assert match.temperature == 0.8 and match.reached
    assert match.evaluations == len(set(tv.asked)) < 15 < len(GRID)


def test_an_unreachable_target_gives_the_most_spread_temperature_and_says_so():
    tv = Counted(lambda t: 0.1 + 0.3 * (t - 1.4) ** 2)
    match = decoding.match_temperature(tv, 0.05, GRID, higher_is_more_spread=False)
    assert match.temperature == 1.4 and match.value == pytest.approx(0.1) and not match.reached
    assert "out of reach" in match.note and match.evaluations < 20
    monotone = decoding.match_temperature(lambda t: 0.1 * t, 0.9, GRID, higher_is_more_spread=True)
    assert monotone.temperature == 3.0 and not monotone.reached


def test_a_target_already_passed_at_the_lowest_temperature_costs_one_evaluation():
    share = Counted(lambda t: 0.5 + 0.1 * t)
    match = decoding.match_temperature(share, 0.3, GRID, higher_is_more_spread=True)
    assert match.temperature == 0.5 and not match.reached and match.evaluations == 1
    assert "lowest" in match.note


def test_nan_counts_as_least_spread():
    """Above T=2 no reply is valid (effective share nan): the peak is just below, and it is still found."""
    share = Counted(lambda t: 0.2 * t if t <= 2.0 else float("nan"))
    assert decoding.match_temperature(share, 0.3, GRID, True).temperature == 1.5
    far = decoding.match_temperature(share, 0.9, GRID, True)
    assert far.temperature == 2.0 and not far.reached


def test_exhaustive_search_finds_the_first_crossing_of_a_curve_with_two_dips():
    def tv(t: float) -> float:                              # dips at T=1 and again, deeper, at T=2.5
        return min(0.2 + 0.8 * (t - 1.0) ** 2, 0.1 + 0.8 * (t - 2.5) ** 2)
    first = decoding.match_temperature(tv, 0.3, GRID, higher_is_more_spread=False, exhaustive=True)
    assert first.temperature == 0.65 and first.reached and first.evaluations == GRID.index(0.65) + 1
    bisected = decoding.match_temperature(tv, 0.3, GRID, higher_is_more_spread=False)
    assert bisected.reached and bisected.temperature > 1.5    # bisection assumes one dip: it finds the second
    unreached = decoding.match_temperature(tv, 0.05, GRID, higher_is_more_spread=False, exhaustive=True)
    assert unreached.temperature == 2.5 and not unreached.reached and unreached.evaluations == len(GRID)


def test_exact_match_reads_every_grid_temperature_from_one_sweep():
    logits = np.log([0.7, 0.1, 0.1, 0.1])
    sweep = {t: {"card_suit": ExactDistribution(CARD_SUIT, t, logits / t)} for t in GRID}
    target = metrics.exact_tv(sweep[2.0]["card_suit"].p)
    match = decoding.match_exact(sweep, {"card_suit": target, "color": float("nan")}, GRID)
    assert set(match) == {"card_suit"} and match["card_suit"].temperature == 2.0 and match["card_suit"].reached


# -- the fraction of the gap closed -------------------------------------------------------------

def test_gap_closed_reads_either_direction_of_spread():
    assert decoding.gap_closed(0.6, 0.45, 0.0) == pytest.approx(0.25)                  # exact TV: lower is spread
    assert decoding.gap_closed(0.2, 0.35, 0.8, higher_is_more_spread=True) == pytest.approx(0.25)
    assert math.isnan(decoding.gap_closed(0.2, 0.35, 0.2, higher_is_more_spread=True))  # training spread nothing
    assert math.isnan(decoding.gap_closed(0.2, 0.35, 0.1, higher_is_more_spread=True))
    assert math.isnan(decoding.gap_closed(0.7700, 0.78, 0.7697))        # a 0.0003 gap: −3333% would be noise


def test_gap_chart_draws_both_measures_and_says_when_there_is_no_gap():
    from lib import charts
    rows = [dict(condition="vanilla", task="card_suit", metric=m, value=v, temperature=1.5)
            for m, v in (("gap_closed", 0.3), ("gap_closed_effective_share", 0.1))]
    spec = charts.gap_closed_by_task(results.tidy(rows), 1.5).to_dict()
    points = [d for data in spec["datasets"].values() for d in data if "measure" in d]
    assert {(d["measure"], d["gap_closed"]) for d in points} == {("exact TV (bare answers)", 0.3),
                                                                ("effective share (plain replies)", 0.1)}
    empty = charts.gap_closed_by_task(results.tidy(rows), 2.0).to_dict()
    assert "No task where training spread the answers" in str(empty)


def _replies(**counts) -> list[str]:
    return [answer for answer, count in counts.items() for _ in range(count)]


def test_behavioural_gap_on_hand_counted_replies():
    """Effective share = 1 / (Σc(c−1) / (n(n−1))) / k, by hand, with k = 4 suits and n = 10 valid replies."""
    vanilla_t1 = {"card_suit": Samples(CARD_SUIT, _replies(Hearts=8, Spades=2) + ["no idea", "pass"])}
    vanilla_t = {"card_suit": Samples(CARD_SUIT, _replies(Hearts=5, Spades=5))}
    trained = [{"card_suit": Samples(CARD_SUIT, _replies(Hearts=3, Spades=3, Diamonds=2, Clubs=2))},
               {"card_suit": Samples(CARD_SUIT, _replies(Hearts=4, Spades=2, Diamonds=2, Clubs=2))}]
    v1, vt = 90 / 58 / 4, 90 / 40 / 4                       # Σc(c−1) = 56 + 2 and 20 + 20, over n(n−1) = 90
    tr = (90 / 16 + 90 / 18) / 2 / 4                        # the mean over the two training seeds
    gap = decoding.behavioural_gap(vanilla_t1, vanilla_t, trained, 1.5, n_boot=200).iloc[0]
    assert (gap["vanilla_t1"], gap["vanilla_t"], gap["trained_t1"]) == pytest.approx((v1, vt, tr))
    assert gap["gap_closed"] == pytest.approx((vt - v1) / (tr - v1))
    assert gap["cost_t1"] == pytest.approx(10 / 12) and gap["cost_t"] == 1.0
    assert gap["vanilla_t1_low"] <= v1 <= gap["vanilla_t1_high"]
    [row] = decoding.behavioural_gap_rows(decoding.behavioural_gap(vanilla_t1, vanilla_t, trained, 1.5, n_boot=0))
    assert row["metric"] == "gap_closed_effective_share" and row["temperature"] == 1.5


def test_exact_gap_averages_the_trained_seeds_and_prices_each_temperature_in_raw_mass():
    def dist(temperature, p):
        return {"card_suit": ExactDistribution(CARD_SUIT, temperature, np.log(p))}
    vanilla_t1, vanilla_t = dist(1.0, [0.5, 0.1, 0.1, 0.1]), dist(1.5, [0.3, 0.1, 0.1, 0.1])
    trained = {0: dist(1.0, [0.25, 0.25, 0.25, 0.25]), 1: dist(1.0, [0.4, 0.2, 0.2, 0.2])}
    gap = decoding.exact_gap(vanilla_t1, vanilla_t, trained).iloc[0]
    tv1, tvt, tr = 0.5 * (5 / 8 - 1 / 4) * 2, 0.5 * (0.5 - 0.25) * 2, (0.0 + 0.15) / 2
    assert (gap["vanilla_t1"], gap["vanilla_t"], gap["trained_t1"]) == pytest.approx((tv1, tvt, tr))
    assert gap["gap_closed"] == pytest.approx((tv1 - tvt) / (tv1 - tr))
    assert (gap["cost_t1"], gap["cost_t"]) == pytest.approx((0.8, 0.6))
    assert decoding.exact_gap(vanilla_t1, vanilla_t, {}).empty


def test_every_metric_03_writes_is_defined():
    match = decoding.TemperatureMatch(1.5, 0.4, 0.4, True, 8)
    rows = decoding.match_rows({"card_suit": match}, "exact_tv") + decoding.match_rows({"card_suit": match},
                                                                                        "effective_share")
    rows += [dict(metric="gap_closed"), dict(metric="gap_closed_effective_share"), dict(metric="exact_tv_defined")]
    assert vocabulary.undefined(r["metric"] for r in rows) == []


# -- readable tables and the sentence --------------------------------------------------------------

def test_the_correction_tv_over_covered_answers_gets_its_own_column():
    base = dict(task="integer_1_1000", temperature=1.0)
    table = results.tidy([
        dict(base, condition="vanilla", label="vanilla, T=1", metric="exact_tv", value=0.8, n=1000),
        dict(base, condition="logit_correction", label="logit correction, covered answers only",
             metric="exact_tv_defined", value=0.1, n=100, note="over the 100 of 1000 answers it is defined on"),
        dict(base, condition="vanilla", label="vanilla, T=1", metric="sampled_tv", value=0.9, ci_low=0.85,
             ci_high=0.95, n=50)])
    exact, _, sampled_tv = comparison.comparison_tables(table)
    by_condition = exact.set_index("condition")
    assert by_condition.loc["vanilla, T=1", "exact TV, all of A"] == "0.80"
    assert by_condition.loc["vanilla, T=1", "exact TV, covered answers"] == "–"
    assert by_condition.loc["logit correction, covered answers only", "exact TV, covered answers"] == "0.10"
    assert "100 of 1000" in by_condition.loc["logit correction, covered answers only", "note"]
    assert set(exact["task"]) == {tasks.display_name("integer_1_1000")} != {"integer_1_1000"}
    assert sampled_tv.loc[0, "TV"] == "0.90 [0.85, 0.95]"


def test_correction_rows_carry_their_own_metric_and_say_what_they_cover():
    from lib import correction
    rng = np.random.default_rng(0)
    exact = {t.id: ExactDistribution(t, 1.0, rng.normal(-8, 3, size=t.k))
             for t in map(tasks.get, ("integer_1_100", "integer_1_1000"))}
    transfers = correction.correction_transfers(exact, "integer_1_100")
    rows = comparison.correction_rows(pd.DataFrame(correction.correction_rows(transfers)), ["integer_1_1000"])
    [row] = rows
    assert row["metric"] == "exact_tv_defined" and row["n"] == 100 and "100 of 1000" in row["note"]
    assert row["label"] == f"logit correction (fit: {tasks.display_name('integer_1_100')}; covered answers)"


def _sweep_table(trained: bool) -> pd.DataFrame:
    rows = []
    for task in ("card_suit", "color"):
        for t, tv, mass, share, valid in ((1.0, 0.6, 0.5, 0.2, 0.9), (1.5, 0.45, 0.3, 0.35, 0.8)):
            base = dict(condition="vanilla", task=task, temperature=t)
            rows += [dict(base, metric="exact_tv", value=tv), dict(base, metric="raw_mass", value=mass),
                     dict(base, metric="sampled_effective_share", value=share),
                     dict(base, metric="sampled_valid_rate", value=valid)]
            if trained:
                rows.append(dict(base, metric="gap_closed", value=(0.6 - tv) / 0.6))
        if trained:
            rows += [dict(condition="vanilla", task=task, temperature=1.5, metric="gap_closed_effective_share",
                          value=0.25),
                     dict(condition="vanilla", task=task, metric="matched_temperature_exact_tv", value=2.0,
                          reached=task == "card_suit")]
    return results.tidy(rows)


def test_temperature_sentence_is_computed_from_the_written_table():
    sentence = narrative.temperature_sentence(_sweep_table(trained=True))
    assert "From T=1 to T=1.5, averaged over 2 tasks, exact TV 0.60 → 0.45" in sentence
    assert "effective share of plain replies 0.20 → 0.35" in sentence
    assert "raw mass on bare valid answers 50.0% → 30.0%, valid replies 90% → 80%" in sentence
    assert "T=1.5 closes a median 25% on exact TV (2 task(s)" in sentence
    assert "a median 25% on the effective share" in sentence
    assert "median T* = 2.00, reached on 1 of 2 tasks" in sentence
    assert "no gap to close" in narrative.temperature_sentence(_sweep_table(trained=False))


# -- params ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("grid, needle", [({"low": 0.5, "high": 3.0, "step": 0.07}, "equal steps"),
                                          ({"low": 2.0, "high": 1.0, "step": 0.5}, "equal steps"),
                                          ({"low": 0.5, "high": 3.0}, "lacks step"),
                                          ({"low": 0.5, "high": 3.0, "step": "fine"}, "'step'")])
def test_a_bad_match_grid_fails_before_a_model_loads_naming_the_key(tmp_path, monkeypatch, grid, needle):
    import shutil
    import yaml
    from lib import config, models
    shutil.copytree(config.PARAMS_DIR / "ci", tmp_path / "ci")
    path = tmp_path / "ci" / "03_temperature_sweep.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "match_grid": grid}))
    monkeypatch.setattr(models, "load", lambda *a, **k: pytest.fail("a model loaded before the params were checked"))
    with pytest.raises(config.ConfigError) as err:
        config.validate_profile("ci", params_dir=tmp_path)
    assert "'match_grid'" in str(err.value) and needle in str(err.value) and "allowed" in str(err.value)


class SpreadingBackend:
    """Fake sampler whose replies cycle through more suits as T rises (1 below T=1, 2 below T=2, …)."""
    name = "fake"

    def __init__(self):
        self.temperatures: list[float] = []

    def sample(self, prompts, n, params, seed, progress=True):
        self.temperatures.append(params.temperature)
        suits = CARD_SUIT.answers[:min(4, 1 + int(params.temperature))]
        return [[suits[i % len(suits)] for i in range(n)] for _ in prompts]


def test_behavioural_match_draws_once_per_temperature_it_evaluates(tmp_path):
    from tests.fakes import fake_condition
    backend = SpreadingBackend()
    vanilla = decoding.PlainReplies(fake_condition(tmp_path, backend), n=12, max_new_tokens=4, seed=0)
    # 12 replies over 3 suits: Σc(c−1) = 3·12 of n(n−1) = 132 → 132/36 = 3.67 answers, a share of 0.92
    [match] = decoding.match_behavioural(vanilla, [CARD_SUIT], {"card_suit": 0.9}, GRID).values()
    assert match.temperature == 2.0 and match.reached and match.value == pytest.approx(132 / 36 / 4)
    assert len(backend.temperatures) == len(set(backend.temperatures)) == match.evaluations <= 8
    assert set(vanilla.drawn) == set(backend.temperatures)            # every draw is kept for the written rows
    again = decoding.match_behavioural(vanilla, [CARD_SUIT], {"card_suit": 0.9}, GRID)["card_suit"]
    assert again == match and len(backend.temperatures) == match.evaluations   # a rerun draws nothing new


def test_plain_replies_read_a_longer_draw_only_for_vanilla_at_t1(tmp_path):
    """A rerun of 03 reads what a run from scratch read: a longer draw made later (05's) is not its head."""
    from lib import distributions
    from lib.sampling import SamplingParams
    from tests.fakes import CountingBackend, fake_condition, write_adapter
    vanilla = fake_condition(tmp_path, CountingBackend("transformers"))
    trained = fake_condition(tmp_path, CountingBackend("transformers"), "exact", 0,
                             write_adapter(tmp_path / "adapters" / "exact" / "seed0", b"trained"))
    for condition, temperature in ((vanilla, 1.0), (vanilla, 1.5), (trained, 1.0)):
        params = SamplingParams(temperature=temperature, max_new_tokens=4)
        first = decoding.PlainReplies(condition, n=3, max_new_tokens=4, seed=0).at(CARD_SUIT, temperature)
        longer = distributions.sample_replies(condition, CARD_SUIT.prompt, 8, params, 0)     # a later, longer draw
        again = decoding.PlainReplies(condition, n=3, max_new_tokens=4, seed=0).at(CARD_SUIT, temperature)
        reads_head = condition is vanilla and temperature == 1.0
        assert again.replies == (longer[:3] if reads_head else first.replies)
