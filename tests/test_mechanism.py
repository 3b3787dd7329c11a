"""09: the adapter by place (peft's per-module switches), the steering hook, the logit lens, and the tables and
sentence computed from them."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from lib import mechanism, models, narrative, sampling, steering, tasks, vocabulary
from lib.mechanism import LoraPart
from tests.fakes import fake_model, write_adapter

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
INTEGERS = tasks.get("integer_1_10")
SUITS = tasks.get("card_suit")


# -- parts of the adapter --------------------------------------------------------------------------------
def test_bands_split_the_depth_into_contiguous_quarters():
    found = mechanism.bands(30, 4)
    assert [layer for band in found for layer in band] == list(range(30))
    assert {len(band) for band in found} <= {7, 8}


def test_every_part_has_its_complement():
    parts = mechanism.lora_parts(8, 4)
    assert len(parts) == 10
    for part in parts:
        other = mechanism.complement_of(part, parts, 8)
        assert other is not None and other != part
        kept = {(l, k) for l in part.layers for k in part.kinds} | {(l, k) for l in other.layers for k in other.kinds}
        assert kept == {(l, k) for l in range(8) for k in mechanism.KINDS}


def test_part_keeps_modules_by_layer_and_kind():
    attention = LoraPart("attention only", (0, 1, 2), ("attention",))
    assert attention.keeps("base_model.model.model.layers.2.self_attn.q_proj")
    assert not attention.keeps("base_model.model.model.layers.2.mlp.down_proj")
    assert not attention.keeps("base_model.model.model.layers.12.self_attn.q_proj")
    assert mechanism.layer_of("model.layers.12.mlp.experts.3.up_proj") == 12
    assert mechanism.kind_of("model.layers.12.mlp.experts.3.up_proj") == "mlp"


def test_each_part_has_its_own_cache_key(tmp_path):
    adapter = write_adapter(tmp_path / "adapters" / "exact" / "seed0", b"weights")
    spec = fake_model(tmp_path)
    make = lambda part: mechanism.LoraVariant(spec, tmp_path / "cache", "exact", 0, adapter, "transformers", {},  # noqa: E731
                                             part=part)
    band, other_band = LoraPart("band 1/4", (0, 1)), LoraPart("band 2/4", (2, 3))
    renamed = LoraPart("the same layers, another label", (0, 1))
    full = mechanism.Condition(spec, tmp_path / "cache", "exact", 0, adapter, "transformers", {})
    what = dict(prompt="p", answers=[["a"]])
    keys = [c.key("exact", what) for c in (make(band), make(other_band), full)]
    assert len(set(keys)) == 3                                      # never served another part's values
    assert make(renamed).key("exact", what) == keys[0]              # the key is what is kept, not its label


# -- the share of the effect a part carries ---------------------------------------------------------------
def _ablation(values: dict) -> pd.DataFrame:
    """{(part, seed): {task: exact_effective_share}} → the long rows ablation_rows writes."""
    return pd.DataFrame([dict(condition="vanilla" if part == "vanilla" else "exact", part=part, train_seed=seed,
                              task=task, metric="exact_effective_share", value=v)
                         for (part, seed), by_task in values.items() for task, v in by_task.items()])


def test_shares_are_the_ratio_on_the_trained_task_and_a_regression_on_the_others():
    base = {"t": 0.1, "a": 0.2, "b": 0.3}
    full = {"t": 0.5, "a": 0.4, "b": 0.2}                     # effects +0.4, +0.2, −0.1
    half = {"t": 0.3, "a": 0.3, "b": 0.25}                    # half of each
    long = _ablation({("vanilla", None): base, ("full adapter", 0): full, ("band 1/4", 0): half,
                      ("full adapter", 1): full, ("band 1/4", 1): base})
    shares = mechanism.effect_shares(long, "t", ["exact_effective_share"]).set_index(["train_seed", "task"])["value"]
    assert shares[(0, "t")] == pytest.approx(0.5) and shares[(0, mechanism.TRANSFER)] == pytest.approx(0.5)
    assert shares[(1, "t")] == pytest.approx(0.0) and shares[(1, mechanism.TRANSFER)] == pytest.approx(0.0)
    summary = mechanism.share_summary(mechanism.effect_shares(long, "t", ["exact_effective_share"]))
    row = summary[summary["task"] == "t"].iloc[0]
    assert row["value"] == pytest.approx(0.25) and row["ci_low"] < 0.25 < row["ci_high"] and row["n"] == 2


def test_share_is_empty_when_the_full_adapter_does_not_move():
    base = {"t": 0.1, "a": 0.2}
    long = _ablation({("vanilla", None): base, ("full adapter", 0): {"t": 0.5, "a": 0.2001},
                      ("MLP only", 0): {"t": 0.3, "a": 0.2}})
    shares = mechanism.effect_shares(long, "t", ["exact_effective_share"]).set_index("task")["value"]
    assert shares["t"] == pytest.approx(0.5) and math.isnan(shares[mechanism.TRANSFER])


# -- steering and lens tables --------------------------------------------------------------------------------
def _steered(changes: dict) -> pd.DataFrame:
    """{(source, seed): change on every task} at layer 3, scale 1, over vanilla's 0.2 on every task."""
    rows = [dict(condition="vanilla", train_seed=None, layer=np.nan, scale=0.0, task=t, metric="exact_effective_share",
                 value=0.2) for t in ("t", "a", "b")]
    rows += [dict(condition=source, train_seed=seed, layer=3, scale=1.0, task=t, metric="exact_effective_share",
                  value=0.2 + change) for (source, seed), change in changes.items() for t in ("t", "a", "b")]
    return pd.DataFrame(rows)


def test_steering_beats_a_control_only_when_it_moves_more():
    long = _steered({("exact", 0): 0.10, ("exact", 1): 0.12, ("exact", 2): 0.11,
                     ("random", 0): 0.0, ("random", 1): 0.01, ("random", 2): -0.01})
    effects = steering.steering_effects(long, "t", ["exact_effective_share"])
    summary = steering.steering_summary(effects)
    mine = summary[(summary["condition"] == "exact") & (summary["task"] == steering.TRANSFER)].iloc[0]
    assert mine["value"] == pytest.approx(0.11) and mine["ci_low"] > 0
    controls = steering.control_comparisons(effects, "exact")
    assert controls["control"].tolist() == ["random"] and controls["value"].iloc[0] == pytest.approx(0.11)
    assert controls["p"].iloc[0] < 0.05


def test_random_direction_has_the_norm_and_is_seeded():
    v = np.arange(6, dtype=float)
    a, b = steering.random_like(v, [0, 1, 2]), steering.random_like(v, [0, 1, 2])
    assert np.linalg.norm(a) == pytest.approx(np.linalg.norm(v)) and np.array_equal(a, b)
    assert not np.array_equal(a, steering.random_like(v, [0, 1, 3]))


def test_forward_hooks_are_removed_even_when_the_block_raises():
    layer = torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError):
        with steering.forward_hooks([(layer, steering.added_to_output(torch.ones(2)))]):
            assert len(layer._forward_hooks) == 1
            raise RuntimeError("stop")
    assert not layer._forward_hooks


def _tables(share_low: float, steer_low: float, seeds: int = 3):
    shares = pd.DataFrame([dict(condition="exact", part=p, task=t, metric="effect_share",
                                measure="exact_effective_share", value=v, ci_low=v + share_low, ci_high=v + 0.3, n=seeds)
                           for p, t, v in [("band 2/4 (layers 8–15)", "integer_1_100", 0.8),
                                           ("band 2/4 (layers 8–15)", "untrained tasks", 0.6),
                                           ("MLP only", "integer_1_100", 0.3), ("MLP only", "untrained tasks", 0.2)]])
    steer = pd.DataFrame([dict(condition="exact", layer=8, scale=2.0, task="untrained tasks",
                               metric="steered_exact_effective_share_change", value=0.05, ci_low=steer_low,
                               ci_high=0.09, n=seeds)])
    controls = pd.DataFrame([dict(comparison="exact − random", control="random", layer=8, scale=2.0,
                                  task="untrained tasks", metric="steered_exact_effective_share_change", value=0.05,
                                  ci_low=steer_low, ci_high=0.09, p=0.01 if steer_low > 0 else 0.4)])
    lens = pd.DataFrame([dict(condition=c, task="integer_1_100", metric="lens_entropy", layer=layer,
                              value=0.5 + (0.1 * layer if c == "exact" else 0)) for c in ("vanilla", "exact")
                         for layer in range(3)])
    if seeds < 2:                                              # one seed: no intervals, no tests
        for frame in (shares, steer, controls):
            frame[["ci_low", "ci_high"]] = np.nan
        controls["p"] = np.nan
    return shares, steer, controls, lens


def test_conclusion_names_the_part_and_says_a_null_plainly():
    strong = narrative.mechanism_sentence(*_tables(-0.2, 0.01), recipe="exact", trained_task="integer_1_100")
    assert strong.startswith("Evidence for a shared internal setting") and "band 2/4" in strong
    assert "layer 8" in strong and "from layer 1" in strong
    null = narrative.mechanism_sentence(*_tables(-0.9, -0.02), recipe="exact", trained_task="integer_1_100")
    assert null.startswith("No evidence for a shared internal setting")
    one_seed = narrative.mechanism_sentence(*_tables(-0.2, 0.01, seeds=1), recipe="exact",
                                            trained_task="integer_1_100")
    assert "descriptive" in one_seed


def test_ablation_needs_the_trained_share_above_zero_too():
    shares, steer, controls, lens = _tables(-0.2, -0.02)
    own = (shares["task"] == "integer_1_100") & (shares["part"] == "band 2/4 (layers 8–15)")
    shares.loc[own, "ci_low"] = -5.0          # the part's share of the trained effect may be nothing at all
    text = narrative.mechanism_sentence(shares, steer, controls, lens, recipe="exact", trained_task="integer_1_100")
    assert text.startswith("No evidence for a shared internal setting")
    assert "the adapter ablation and the steering test find none" in text


def test_every_09_metric_is_defined():
    names = ["effect_share", "direction_norm", "direction_cosine", "lens_entropy", "lens_mass",
             *(f"steered_{m}_change" for m in steering.STEER_METRICS)]
    assert vocabulary.undefined(names) == []


# -- on the ci model ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lora_dir(loaded_model, tmp_path_factory):
    """A LoRA adapter on every linear layer of the ci model, with non-zero weights (an untrained LoRA is zero)."""
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(0)
    fresh = models.load(loaded_model.spec)                     # peft edits the model it wraps: not the shared one
    peft_model = get_peft_model(fresh.model, LoraConfig(r=4, lora_alpha=1, target_modules=TARGETS,
                                                        init_lora_weights=False))   # small: a model still
    path = tmp_path_factory.mktemp("adapter") / "seed0"
    peft_model.save_pretrained(str(path))
    return path


def _unmerged(spec, lora_dir):
    condition = mechanism.Condition(spec, lora_dir.parent, "random_lora", 0, lora_dir, "transformers",
                                    dict(score_batch_size=64))
    return mechanism.load_unmerged(condition)


@pytest.fixture(scope="module")
def unmerged(loaded_model, lora_dir):
    return _unmerged(loaded_model.spec, lora_dir)


def _scores(backend, task=INTEGERS):
    return backend.answer_logprobs_at(task.prompt, list(task.answers), [1.0])[0]


def test_lora_switched_off_everywhere_equals_vanilla(backend, unmerged):
    masked = mechanism.PartBackend(unmerged, mechanism.no_part())
    np.testing.assert_allclose(_scores(masked), _scores(backend), atol=1e-5, rtol=0)
    assert mechanism.apply_part(unmerged.model, mechanism.no_part()) == 0


def test_lora_kept_everywhere_equals_the_full_adapter(backend, unmerged, lora_dir):
    n_layers = len(steering.decoder_layers(backend.model))
    mechanism.apply_part(unmerged.model, mechanism.lora_parts(n_layers, 4)[0])     # another part ran last
    kept = _scores(mechanism.PartBackend(unmerged, mechanism.full_part(n_layers)))
    as_loaded = _scores(_unmerged(backend.loaded.spec, lora_dir))                   # no switch ever touched
    merged = _scores(sampling.TransformersBackend(models.load(backend.loaded.spec, adapter=lora_dir)))
    np.testing.assert_allclose(kept, as_loaded, atol=1e-5, rtol=0)
    # 05 scores the adapter merged into the weights: the same model up to float32 rounding of the merged weights
    np.testing.assert_allclose(kept, merged, atol=1e-4, rtol=0)
    assert np.abs(kept - _scores(backend)).max() > 1e-3                             # the adapter does move them
    assert mechanism.apply_part(unmerged.model, mechanism.full_part(n_layers)) == len(TARGETS) * n_layers


def test_each_part_alone_moves_the_scores(backend, unmerged):
    n_layers = len(steering.decoder_layers(backend.model))
    parts = mechanism.lora_parts(n_layers, 4)
    attention, mlp = parts[-2], parts[-1]
    assert mechanism.apply_part(unmerged.model, attention) == 4 * n_layers
    vanilla = _scores(backend)
    for part in (attention, mlp, parts[0]):
        scores = _scores(mechanism.PartBackend(unmerged, part))
        assert np.abs(scores - vanilla).max() > 1e-4                  # each part alone moves the scores


def test_zero_scale_steering_equals_vanilla(backend):
    hidden = backend.model.config.hidden_size
    steered = steering.SteeredBackend(backend, 5, np.zeros(hidden))
    np.testing.assert_allclose(_scores(steered, SUITS), _scores(backend, SUITS), atol=1e-6, rtol=0)


def test_steering_hooks_are_removed_after_use(backend):
    layers = steering.decoder_layers(backend.model)
    vector = steering.random_like(np.ones(backend.model.config.hidden_size), [0])
    moved = _scores(steering.SteeredBackend(backend, 5, 8 * vector), SUITS)
    steering.last_token_states(backend, SUITS.prompt)
    assert all(not layer._forward_hooks for layer in layers)
    assert np.abs(moved - _scores(backend, SUITS)).max() > 1e-3       # the hook acted while it was on


def test_steering_acts_alike_on_kv_reuse_and_naive_scoring(backend):
    vector = torch.tensor(steering.random_like(np.ones(backend.model.config.hidden_size), [1]), dtype=torch.float32)
    answers = list(SUITS.answers)
    with steering.forward_hooks([(steering.decoder_layers(backend.model)[3], steering.added_to_output(4 * vector))]):
        fast = backend.answer_logprobs(SUITS.prompt, answers)
        naive = backend.answer_logprobs_naive(SUITS.prompt, answers)
    np.testing.assert_allclose(fast, naive, atol=1e-4, rtol=0)


def test_lens_at_the_last_layer_is_the_models_own_next_token(backend):
    profile = steering.lens_profile(backend, INTEGERS)
    ids = steering.first_tokens(backend, INTEGERS)
    with torch.inference_mode():
        logits = backend.model(input_ids=torch.tensor([backend.prompt_ids(INTEGERS.prompt)])).logits[0, -1]
    logp = torch.log_softmax(logits.float(), -1)[ids].double()
    p = torch.softmax(logp, -1)
    entropy = float(-(p * p.log()).sum() / math.log(len(ids)))
    assert len(profile["entropy"]) == len(steering.decoder_layers(backend.model))
    assert profile["entropy"][-1] == pytest.approx(entropy, abs=1e-5)
    assert profile["mass"][-1] == pytest.approx(float(logp.exp().sum()), abs=1e-5)
