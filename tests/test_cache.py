"""The one cache: keyed by what produced a value (weights, adapter files, backend, prompt, params, seed)."""
import json

import pytest

from lib import cache, capability, conditions, distributions, generations, reasoning, tasks
from lib.sampling import SamplingParams
from tests.fakes import CountingBackend, fake_condition, fake_model, write_adapter

CARD_SUIT = tasks.get("card_suit")
PARAMS = SamplingParams(temperature=1.0, max_new_tokens=8)


def _everything(condition):
    """One of each kind of model output the notebooks cache."""
    distributions.exact_panel(condition, [CARD_SUIT], progress=False)
    distributions.sample_task(condition, CARD_SUIT, 3, PARAMS, seed=0)
    generations.generate([generations.Run(condition, 1.0)], [generations.Prompt("p", "c", "Name a colour.")], 2, 8, 0)
    question = capability.Question(0, "astronomy", "Which is a planet?", ("Mars", "Sirius", "Moon", "Comet"), 0)
    problem = reasoning.Problem(0, "What is 2 + 3?", "5")
    capability.evaluate(condition, [question], [problem], 16)


@pytest.fixture(autouse=True)
def _one_model_at_a_time():
    yield
    conditions.release()


def test_retrained_adapter_at_the_same_path_misses_every_cache_and_unchanged_hits(tmp_path):
    adapter = write_adapter(tmp_path / "adapters" / "hist" / "seed0", b"trained once")
    first = CountingBackend("transformers")
    _everything(fake_condition(tmp_path, first, "hist", 0, adapter))
    assert first.calls == {"score": 2, "sample": 2, "complete": 1}

    unchanged = CountingBackend("transformers")
    loads = []
    _everything(fake_condition(tmp_path, unchanged, "hist", 0, adapter, on_load=loads.append))
    assert unchanged.calls == {} and loads == []           # every value cached: no model loaded

    write_adapter(adapter, b"trained again")              # 04 retrains into the same directory
    retrained = CountingBackend("transformers")
    _everything(fake_condition(tmp_path, retrained, "hist", 0, adapter))
    assert retrained.calls == first.calls                   # every value computed again


def test_other_weights_or_backend_miss_and_params_seed_are_in_the_key(tmp_path):
    condition = fake_condition(tmp_path, CountingBackend("transformers"))
    key = condition.key("samples", "p", PARAMS, 0)
    assert key != condition.key("samples", "p", PARAMS, 1)
    assert key != condition.key("samples", "p", SamplingParams(temperature=1.5), 0)
    assert key != fake_condition(tmp_path, CountingBackend("vllm")).key("samples", "p", PARAMS, 0)
    fake_model(tmp_path)                                    # same path, new weights
    (tmp_path / "weights" / "model.gguf").write_bytes(b"other weights")
    assert key != fake_condition(tmp_path, CountingBackend("transformers")).key("samples", "p", PARAMS, 0)


def test_stored_head_reads_the_longest_draw_whatever_was_drawn_after_it(tmp_path):
    backend = CountingBackend("transformers")
    condition = fake_condition(tmp_path, backend)
    long = distributions.sample_replies(condition, CARD_SUIT.prompt, 5, PARAMS, 0)
    assert distributions.stored_head(condition, CARD_SUIT.prompt, 3, PARAMS, 0) == long[:3]
    assert backend.calls == {"sample": 1}
    distributions.sample_replies(condition, CARD_SUIT.prompt, 3, SamplingParams(temperature=1.0, max_new_tokens=8), 0)
    assert backend.calls == {"sample": 2}                  # an exact draw of 3 is its own draw...
    assert distributions.stored_head(condition, CARD_SUIT.prompt, 3, PARAMS, 0) == long[:3]   # ...and changes no head
    distributions.stored_head(condition, CARD_SUIT.prompt, 9, PARAMS, 0)          # nothing long enough: a new draw
    assert backend.calls == {"sample": 3}


def test_exact_scores_are_cached_per_temperature(tmp_path):
    backend = CountingBackend("transformers")
    condition = fake_condition(tmp_path, backend)
    first = distributions.exact_distributions(condition, CARD_SUIT, [1.0, 2.0])
    again = distributions.exact_distributions(condition, CARD_SUIT, [2.0, 1.0, 0.5])   # only 0.5 is new
    assert backend.calls == {"score": 2}
    assert list(again[2.0].logp) == list(first[2.0].logp)


def test_a_damaged_cache_file_is_recomputed(tmp_path):
    store = cache.Cache(tmp_path)
    store.put("samples", "k", ["a"])
    store.path("samples", "k").write_text("{not json")
    assert store.get("samples", "k") is None
    assert store.get_or_make("samples", "k", lambda: ["b"]) == ["b"]
    assert json.loads(store.path("samples", "k").read_text())["value"] == ["b"]


def test_weight_hash_is_remembered_and_redone_when_the_file_changes(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"one")
    first = cache.file_sha256(path)
    assert (tmp_path / "w.bin.sha256.json").exists()
    path.write_bytes(b"two!")
    assert cache.file_sha256(path) != first
