"""One training run of 04: GRPO on one prompt with trl's GRPOTrainer (+ peft LoRA, or full fine-tuning), or a
direct objective of lib.direct, with checkpoints that resume to the same result, adapters kept at the
dose-response steps, and a learning curve that includes the trained task's exact TV (lib.training_callbacks).
lib.arms trains every recipe x seed of a profile with it.

Adapter layout (runs/<profile>/adapters/<recipe>/seed<k>/): the final adapter files, recipe.json (what trained
it), training_log.csv, and steps/step<N>/ (the adapter after N steps, for lib.dose). It appears whole, or not at all.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import torch

from lib import models
from lib.conditions import adapter_dir
from lib.recipes import Recipe   # re-exported: lib.grpo.Recipe keeps working
from lib.rewards import DIRECT_OBJECTIVES, EXACT_REWARDS, REVISIONS, ExactPolicy, RunningHistogram, make_reward
from lib.sampling import chat_messages
from lib.silent_steps import skipping_optimizer
from lib.tasks import Task
from lib.training_callbacks import (HISTOGRAM_FILE, POLICY_FILE, ExactTVCallback, RewardStateCheckpointCallback,
                                    SaveAtSteps, policy_distribution)

STEPS_DIR = "steps"          # <adapter>/steps/step<N>/: the adapter after N steps
MOE_CONFIG_KEYS = ("num_experts", "num_local_experts", "n_routed_experts")
ATTENTION_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def latest_checkpoint(output_dir: Path) -> Path | None:
    found = sorted(Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return found[-1] if found else None


def lora_targets(model_config) -> str | list[str]:
    """peft target_modules: every linear layer, except in mixture-of-experts models, where only the
    attention projections get adapters. There the experts are fused 3-D parameters (transformers 5's
    Qwen3-MoE) that "all-linear" does not reach; adapters on all 128 experts x 48 layers would hold ~60x
    the trainable parameters of the attention ones (~0.8B vs ~13M at r=16 for Qwen3-30B-A3B); and vLLM
    serves attention adapters through its ordinary dense LoRA layers, while its fused-MoE LoRA layers
    are newer and add per-expert buffers to every LoRA slot."""
    if any(getattr(model_config, key, 0) or 0 for key in MOE_CONFIG_KEYS):
        return list(ATTENTION_PROJECTIONS)
    return "all-linear"


def per_device_batch(completions: int, processes: int) -> int:
    """Completions per process and step, so that one step is the recipe's groups of G replies however many
    processes train (the recipe means the same on one CPU and on eight GPUs)."""
    if completions % processes:
        raise ValueError(f"num_generations x groups_per_step = {completions} does not split over {processes} "
                         "processes: launch a number of processes that divides it (accelerate launch --num_processes N)")
    return completions // processes


def generation_kwargs(generation: dict | None) -> dict:
    """GRPOConfig arguments for 04's `generation` params: none unless use_vllm is true, so trl's own
    generate() runs exactly as before."""
    return dict(generation) if generation and generation.get("use_vllm") else {}


def train(spec: models.ModelSpec, task: Task, recipe: Recipe, seed: int, run_dir: Path,
          eval_every: int = 10, save_every: int = 10, extra_callbacks: tuple = (),
          generation: dict | None = None, keep_steps: tuple[int, ...] = ()) -> tuple[Path, pd.DataFrame]:
    """Train one recipe for one seed; resume from the newest checkpoint when there is one.

    `keep_steps`: steps whose checkpoints are saved (and measured) as well; those below the last are published
    as steps/step<N>/ beside the final adapter. Returns the saved adapter (or model) directory and the per-step
    log. Under `accelerate launch` every process runs this; only the main one writes files outside the
    trainer's own checkpoints.
    """
    out = adapter_dir(run_dir, recipe.name, seed)
    checkpoints = checkpoint_dir(run_dir, recipe.name, seed)
    identity = recipe_identity(recipe, seed, task, spec, generation)
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    on_cpu = not torch.cuda.is_available()
    direct = recipe.reward in DIRECT_OBJECTIVES
    # The config comes before the model: under DeepSpeed ZeRO-3 it makes from_pretrained shard the weights.
    args = training_args(recipe, seed, checkpoints, save_every, processes, on_cpu, spec, generation, direct)
    with args.main_process_first(local=False, desc="checkpoint directory"):
        if read_json(checkpoints / "recipe.json") != identity:     # checkpoints of another recipe: start over
            shutil.rmtree(checkpoints, ignore_errors=True)
            checkpoints.mkdir(parents=True)
            (checkpoints / "recipe.json").write_text(json.dumps(identity))
    # Several processes: load on the CPU and let DeepSpeed/FSDP place the shards.
    loaded = models.load(replace(spec, device="cpu") if processes > 1 else spec)
    resume = latest_checkpoint(checkpoints)
    peft_config = None
    if recipe.lora:
        from peft import LoraConfig
        peft_config = LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=0.0,
                                 task_type="CAUSAL_LM", target_modules=lora_targets(loaded.model.config))
    keep = tuple(s for s in keep_steps if 0 < s <= recipe.steps)
    callbacks = [ExactTVCallback(task, loaded.tokenizer, eval_every, also=keep), SaveAtSteps(keep), *extra_callbacks]
    if direct:
        from lib import direct as direct_training
        trainer = direct_training.make_trainer(loaded, task, recipe.reward, seed, args, peft_config, callbacks)
    else:
        trainer = grpo_trainer(loaded, task, recipe, seed, args, peft_config, callbacks, resume)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    log = training_log(trainer.state.log_history, recipe.name, seed)
    if trainer.state.global_step >= recipe.steps:
        main = trainer.is_world_process_zero()
        tmp = out.with_name(out.name + ".part")
        if main:
            shutil.rmtree(tmp, ignore_errors=True)
        trainer.accelerator.wait_for_everyone()
        trainer.save_model(str(tmp))     # every process takes part (ZeRO-3 gathers the shards); the main one writes
        if main:
            finish_adapter(tmp, out, identity, log, checkpoints, [s for s in keep if s < recipe.steps])
        trainer.accelerator.wait_for_everyone()
    return out, log


def training_args(recipe: Recipe, seed: int, checkpoints: Path, save_every: int, processes: int, on_cpu: bool,
                  spec: models.ModelSpec, generation: dict | None, direct: bool):
    """GRPOConfig for a GRPO recipe; plain TrainingArguments (one full-batch step per item) for a direct one."""
    common = dict(output_dir=str(checkpoints), max_steps=recipe.steps, learning_rate=recipe.learning_rate,
                  lr_scheduler_type=recipe.lr_schedule, logging_steps=1, save_strategy="steps", save_steps=save_every,
                  seed=seed, data_seed=seed, report_to="none", use_cpu=on_cpu,
                  bf16=not on_cpu and spec.dtype == "bfloat16", gradient_checkpointing=False, disable_tqdm=False)
    if direct:
        from transformers import TrainingArguments
        return TrainingArguments(per_device_train_batch_size=1, remove_unused_columns=False, **common)
    from trl import GRPOConfig
    return GRPOConfig(
        beta=recipe.beta, num_generations=recipe.num_generations,
        per_device_train_batch_size=per_device_batch(recipe.num_generations * recipe.groups_per_step, processes),
        max_completion_length=recipe.max_completion_length, temperature=recipe.temperature,
        **common, **generation_kwargs(generation))


def grpo_trainer(loaded: models.LoadedModel, task: Task, recipe: Recipe, seed: int, args, peft_config,
                 callbacks: list, resume: Path | None):
    """trl's GRPOTrainer with the recipe's reward; the reward's state (histogram, exact policy) resumes too.

    Every group is the task's own prompt: several groups per step are independent groups of G replies to the
    same prompt, each with its own baseline (paraphrases would train prompts that selection never reads)."""
    from datasets import Dataset
    from trl import GRPOTrainer

    histogram = policy = None
    if recipe.reward == "histogram":
        counts = (read_json(resume / HISTOGRAM_FILE) or {}).get("counts") if resume else None
        histogram = RunningHistogram(task.k, counts)
    if recipe.reward in EXACT_REWARDS:
        policy = ExactPolicy(task, recipe.refresh_every, seed, read_json(resume / POLICY_FILE) if resume else None)
    reward = make_reward(recipe.reward, task, recipe.num_generations, histogram, policy)
    groups = recipe.steps * recipe.groups_per_step
    prompts = Dataset.from_list([{"prompt": chat_messages(task.prompt)}] * groups * recipe.num_generations)
    trainer = GRPOTrainer(model=loaded.model, reward_funcs=[reward], args=args, train_dataset=prompts,
                          processing_class=loaded.tokenizer, peft_config=peft_config,
                          callbacks=[RewardStateCheckpointCallback(histogram, policy), *callbacks])
    if policy is not None:      # the reward scores the model being trained, as it is at each step
        policy.scorer = lambda: policy_distribution(trainer.model, loaded.tokenizer, task).p
    # A step without a learning signal (every advantage 0) leaves weights and moments alone (lib.silent_steps).
    trainer.optimizer_cls_and_kwargs = skipping_optimizer(trainer)
    return trainer


def finish_adapter(tmp: Path, out: Path, identity: dict, log: pd.DataFrame, checkpoints: Path,
                   kept: list[int]) -> None:
    """Complete a saved adapter in `tmp` (recipe.json, training log, the kept steps' adapters) and publish it."""
    (tmp / "recipe.json").write_text(json.dumps(identity))
    log.to_csv(tmp / "training_log.csv", index=False)
    for step in kept:
        copy_adapter_files(Path(checkpoints) / f"checkpoint-{step}", tmp / STEPS_DIR / f"step{step}")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)    # a finished adapter appears whole, or not at all


def copy_adapter_files(source: Path, target: Path) -> bool:
    """Copy a checkpoint's adapter files (config and weights); False when it holds none (full fine-tuning)."""
    files = [p for p in Path(source).glob("adapter_*") if p.is_file() and not p.name.endswith(".sha256.json")]
    if not files:
        return False
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copy2(path, target / path.name)
    return True


def checkpoint_dir(run_dir: Path, recipe: str, seed: int) -> Path:
    return Path(run_dir) / "checkpoints" / recipe / f"seed{seed}"


def recipe_identity(recipe: Recipe, seed: int, task: Task, spec: models.ModelSpec,
                    generation: dict | None = None) -> dict:
    """Everything that decides a trained adapter; a saved adapter or checkpoint is reused only if it matches.

    The role and the seed list do not decide an adapter; settings added later are left out while they hold the
    value that was implicit before (Recipe.IDENTITY_DEFAULTS), so adapters trained then are still read back.
    vLLM generation draws other completions (and trl corrects for its log-probs), so it is part of the
    identity when used; its memory and parallelism settings are not. Without it the identity is unchanged.
    """
    fields = {k: v for k, v in asdict(recipe).items() if k not in Recipe.NOT_IDENTITY
              and not (k in Recipe.IDENTITY_DEFAULTS and v == Recipe.IDENTITY_DEFAULTS[k])}
    identity = {**fields, "seed": seed, "task": task.id, "prompt": task.prompt, "model": spec.source}
    if recipe.reward in REVISIONS:
        identity["reward_revision"] = REVISIONS[recipe.reward]
    if recipe.reward not in DIRECT_OBJECTIVES:
        identity["silent_steps"] = "skipped"      # lib.silent_steps: before it, Adam's momentum moved them
    if generation_kwargs(generation):
        identity["generation"] = {"use_vllm": True, "vllm_importance_sampling_correction":
                                  generation.get("vllm_importance_sampling_correction", True)}
    return json.loads(json.dumps(identity))


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def training_log(history: list[dict], recipe: str, seed: int) -> pd.DataFrame:
    """One row per step: reward mean/std, valid rate, entropy, and exact TV where it was measured (step 0 too)."""
    rows: dict[int, dict] = {}
    for entry in history:
        step = entry.get("step")
        if step is None:
            continue
        row = rows.setdefault(int(step), {"recipe": recipe, "train_seed": seed, "step": int(step)})
        for key, value in entry.items():
            name = key.replace("rewards/", "").replace("/mean", "_mean").replace("/std", "_std")
            if key in ("reward", "reward_std", "entropy", "kl", "loss", "exact_tv", "raw_mass", "step_time") or \
                    key.endswith(("valid_rate", "distinct_answers")):
                row[name.split("/")[-1] if "/" in name else name] = value
    return pd.DataFrame(sorted(rows.values(), key=lambda r: r["step"]))

