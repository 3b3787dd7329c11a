"""The vLLM backend: its pure helpers here; the engine itself only where vllm and a GPU are present."""
import importlib.util
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lib import conditions, config, sampling, sampling_vllm, tasks

HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(not (HAS_VLLM and torch.cuda.is_available()),
                                reason="needs vllm (requirements-gpu.txt) and a CUDA GPU")


# -- without vllm ------------------------------------------------------------------------------------
@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here")
def test_vllm_backend_without_vllm_says_how_to_install():
    spec = config.load("ci", "01").model
    for load in (lambda: sampling.load_backend(spec, "vllm"),
                 lambda: conditions.load_backend(spec, None, None, "vllm")):
        with pytest.raises(sampling_vllm.VLLMUnavailable) as err:
            load()
        assert "pip install -r requirements-gpu.txt" in str(err.value)
        assert "backend: transformers" in str(err.value)


def test_vllm_profiles_validate_without_vllm():
    cfg = config.load("qwen3-30b-a3b", "01")
    assert cfg.backend == "vllm"
    assert cfg.backend_options["engine"]["tensor_parallel_size"] >= 1
    assert "engine" not in config.load("ci", "01").backend_options


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="allowed: transformers, vllm"):
        sampling.load_backend(config.load("ci", "01").model, "tensorrt")


# -- pure helpers -------------------------------------------------------------------------------------
def test_sampling_kwargs_match_the_transformers_settings():
    plain = sampling_vllm.sampling_kwargs(sampling.SamplingParams(temperature=1.5, top_p=0.95, min_p=0.1,
                                                                  max_new_tokens=20), 50, 7, [2])
    assert plain == dict(n=50, seed=7, max_tokens=20, stop_token_ids=[2], temperature=1.5, top_p=0.95, top_k=0,
                         min_p=0.1)
    greedy = sampling_vllm.sampling_kwargs(sampling.SamplingParams(temperature=0, top_p=0.5), 1, 0, [2])
    assert greedy["temperature"] == 0.0 and "top_p" not in greedy


def test_span_logprobs_sums_only_the_answer_tokens():
    token_ids = [11, 12, 13, 21, 22]     # three prompt tokens, then a two-token answer
    prompt_logprobs = [None, {12: -0.5}, {13: -0.25, 99: -0.1},
                       {21: SimpleNamespace(logprob=-1.0, rank=3), 5: SimpleNamespace(logprob=-0.2, rank=1)},
                       {22: -2.0}]
    assert sampling_vllm.span_logprobs(prompt_logprobs, token_ids, 3) == [-1.0, -2.0]
    with pytest.raises(ValueError, match="context"):
        sampling_vllm.span_logprobs(prompt_logprobs, token_ids, 0)


def test_answer_prefixes_are_the_token_trie_nodes():
    assert sampling_vllm.answer_prefixes([[1, 2, 9], [1, 3, 9], [4, 9]]) == [(), (1,), (1, 2), (1, 3), (4,)]


def _log_softmax(z):
    return z - np.log(np.exp(z - z.max()).sum()) - z.max()


@pytest.mark.parametrize("temperature", [0.5, 0.7, 1.3, 2.0])
def test_tempered_scores_equal_log_softmax_of_logits_over_t(temperature):
    """The T != 1 route (raw prompt log-probs + one anchor per trie node) against log_softmax(z / T)."""
    rng = np.random.default_rng(0)
    answers = [[1, 2, 0], [1, 3, 0], [4, 0], [5, 6, 7, 0]]
    nodes = sampling_vllm.answer_prefixes(answers)
    logits = {node: rng.normal(scale=3.0, size=10) for node in nodes}
    raw = [[float(_log_softmax(logits[tuple(a[:j])])[t]) for j, t in enumerate(a)] for a in answers]
    # What the anchor requests report: the top token's log-prob at T = 1 and at T.
    offsets = {node: sampling_vllm.tempered_offset(
        sampling_vllm.top_logprob(dict(enumerate(_log_softmax(z)))),
        sampling_vllm.top_logprob(dict(enumerate(_log_softmax(z / temperature)))), temperature)
        for node, z in logits.items()}
    got = sampling_vllm.tempered_scores(raw, answers, offsets, temperature)
    want = [sum(_log_softmax(logits[tuple(a[:j])] / temperature)[t] for j, t in enumerate(a)) for a in answers]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_lora_rank_rounds_up_to_what_vllm_accepts():
    assert [sampling_vllm.vllm_lora_rank(r) for r in (1, 8, 12, 16, 33, 512)] == [1, 8, 16, 16, 64, 512]
    with pytest.raises(ValueError, match="512"):
        sampling_vllm.vllm_lora_rank(600)
    assert sampling_vllm.adapter_rank({"r": 16, "rank_pattern": {"q_proj": 32}}) == 32
    assert sampling_vllm.adapter_rank({"r": 8, "rank_pattern": None}) == 8


def test_adapters_vllm_would_score_wrongly_are_refused():
    assert sampling_vllm.adapter_problem({"r": 16, "target_modules": ["q_proj", "v_proj"]}) is None
    assert sampling_vllm.adapter_problem({"r": 16, "target_modules": "all-linear"}) is None
    assert "lm_head" in sampling_vllm.adapter_problem({"r": 16, "target_modules": ["q_proj", "lm_head"]})
    assert sampling_vllm.adapter_problem({"r": 16, "target_modules": ["q_proj"], "modules_to_save": ["embed_tokens"]})


def test_engine_kwargs_carry_the_profile_settings_and_lora_slots():
    settings = {"tensor_parallel_size": 4, "gpu_memory_utilization": 0.85, "max_lora_rank": 16}
    plain = sampling_vllm.engine_kwargs("/m", "bfloat16", settings, None)
    assert plain["tensor_parallel_size"] == 4 and plain["logprobs_mode"] == "processed_logprobs"
    assert "enable_lora" not in plain and "max_lora_rank" not in plain
    lora = sampling_vllm.engine_kwargs("/m", "bfloat16", settings, 12)
    assert lora["enable_lora"] and lora["max_lora_rank"] == 16


def test_running_engine_is_reused_only_when_it_fits():
    key = ("/m", "bfloat16", ())
    assert sampling_vllm.reusable(key, None, key, None)
    assert sampling_vllm.reusable(key, 16, key, None)          # vanilla on a LoRA-enabled engine
    assert sampling_vllm.reusable(key, 16, key, 8)
    assert not sampling_vllm.reusable(key, None, key, 16)      # needs LoRA slots: restart
    assert not sampling_vllm.reusable(key, 8, key, 16)
    assert not sampling_vllm.reusable(("/other", "bfloat16", ()), 16, key, None)
    assert not sampling_vllm.reusable(None, None, key, None)


# -- with vllm and a GPU --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vllm_backend():
    pytest.importorskip("vllm", reason="needs vllm (requirements-gpu.txt)")
    spec = config.load("ci", "01").model
    return sampling_vllm.VLLMBackend(spec, engine={"gpu_memory_utilization": 0.3, "max_model_len": 512})


@needs_vllm
@pytest.mark.parametrize("temperature", [1.0, 1.5])
def test_vllm_scores_match_transformers(vllm_backend, backend, temperature):
    task = tasks.get("integer_1_10")
    got = vllm_backend.answer_logprobs(task.prompt, task.answers, temperature)
    want = backend.answer_logprobs(task.prompt, task.answers, temperature)
    np.testing.assert_allclose(got, want, atol=2e-3)


@needs_vllm
def test_vllm_continuations_match_transformers(vllm_backend, backend):
    context = "Question: 2 + 2 = ?\nA. 3\nB. 4\nAnswer:"
    np.testing.assert_allclose(vllm_backend.continuation_logprobs(context, [" A", " B"]),
                               backend.continuation_logprobs(context, [" A", " B"]), atol=2e-3)


@needs_vllm
def test_vllm_samples_do_not_depend_on_other_prompts(vllm_backend):
    params = sampling.SamplingParams(temperature=1.0, max_new_tokens=8)
    a, b = tasks.get("card_suit").prompt, tasks.get("color").prompt
    alone = vllm_backend.sample([a], 20, params, seed=3, progress=False)[0]
    together = vllm_backend.sample([b, a], 20, params, seed=3, progress=False)[1]
    assert alone == together and len(set(alone)) > 1


@needs_vllm
def test_vllm_serves_a_lora_adapter_like_the_merged_model(tmp_path, loaded_model):
    from peft import LoraConfig, get_peft_model
    from lib import models

    spec = config.load("ci", "01").model
    peft_model = get_peft_model(models.load(spec).model, LoraConfig(r=8, target_modules="all-linear",
                                                                    init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["r"] == 8
    task = tasks.get("card_suit")
    served = sampling_vllm.VLLMBackend(spec, adapter=tmp_path / "adapter",
                                       engine={"gpu_memory_utilization": 0.3, "max_model_len": 512})
    merged = sampling.load_backend(spec, "transformers", adapter=tmp_path / "adapter")
    np.testing.assert_allclose(served.answer_logprobs(task.prompt, task.answers),
                               merged.answer_logprobs(task.prompt, task.answers), atol=5e-3)
    assert not math.isclose(served.answer_logprobs(task.prompt, task.answers)[0],
                            sampling.TransformersBackend(loaded_model).answer_logprobs(task.prompt, task.answers)[0])
