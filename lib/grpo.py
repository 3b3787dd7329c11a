"""GRPO on one prompt with trl's GRPOTrainer (+ peft LoRA, or full fine-tuning), with checkpoints
that resume to the same result, and a learning curve that includes the trained task's exact TV.

Runs in the notebook (one process: CPU or one GPU) or under `accelerate launch` for several GPUs:
    accelerate launch --config_file params/accelerate/zero3.yaml -m lib.grpo --profile qwen3-30b-a3b
trains every recipe and seed of the profile's 04 params; the notebook run afterwards finds the finished
adapters and reads them back instead of training again.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import torch
from transformers import TrainerCallback

from lib import distributions, metrics, models
from lib.conditions import adapter_dir
from lib.recipes import Recipe   # re-exported: lib.grpo.Recipe keeps working
from lib.rewards import RunningHistogram, make_reward
from lib.sampling import TransformersBackend, chat_messages
from lib.tasks import Task

HISTOGRAM_FILE = "reward_histogram.json"
MOE_CONFIG_KEYS = ("num_experts", "num_local_experts", "n_routed_experts")
ATTENTION_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj"]


class ExactTVCallback(TrainerCallback):
    """Every `every` steps, score the trained task exactly with the model being trained and append
    exact_tv / raw_mass to the trainer's log history (saved in checkpoints, so resumes keep it)."""

    def __init__(self, task: Task, tokenizer, every: int):
        self.task, self.tokenizer, self.every = task, tokenizer, every

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0 or state.global_step == state.max_steps:
            state.log_history.append({"step": state.global_step, **exact_point(model, self.tokenizer, self.task)})


class HistogramCheckpointCallback(TrainerCallback):
    """Saves the running reward histogram beside each checkpoint (the reward depends on it)."""

    def __init__(self, histogram: RunningHistogram | None):
        self.histogram = histogram

    def on_save(self, args, state, control, **kwargs):
        if self.histogram is not None and state.is_world_process_zero:   # every process holds the same counts
            path = Path(args.output_dir) / f"checkpoint-{state.global_step}" / HISTOGRAM_FILE
            path.write_text(json.dumps(self.histogram.state()))


class StopAfter(TrainerCallback):
    """Interrupts training after a given step (tests use it to simulate a killed run)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True


def exact_point(model, tokenizer, task: Task) -> dict:
    was_training = model.training
    model.eval()
    loaded = models.LoadedModel(model, tokenizer, models.ModelSpec("in-training"), "in-training", 0.0)
    dist = distributions.score_exact(TransformersBackend(loaded), task, [1.0])[1.0]
    if was_training:
        model.train()
    return {"exact_tv": metrics.exact_tv(dist.p), "raw_mass": metrics.raw_mass(dist.logp)}


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


def per_device_batch(num_generations: int, processes: int) -> int:
    """Completions per process and step, so that one step is one group of G replies however many
    processes train (the recipe means the same on one CPU and on eight GPUs)."""
    if num_generations % processes:
        raise ValueError(f"num_generations {num_generations} does not split over {processes} processes: "
                         "launch a number of processes that divides it (accelerate launch --num_processes N)")
    return num_generations // processes


def generation_kwargs(generation: dict | None) -> dict:
    """GRPOConfig arguments for 04's `generation` params: none unless use_vllm is true, so trl's own
    generate() runs exactly as before."""
    return dict(generation) if generation and generation.get("use_vllm") else {}


def train(spec: models.ModelSpec, task: Task, recipe: Recipe, seed: int, run_dir: Path,
          eval_every: int = 10, save_every: int = 10, extra_callbacks: tuple = (),
          generation: dict | None = None) -> tuple[Path, pd.DataFrame]:
    """Train one recipe for one seed; resume from the newest checkpoint when there is one.

    Returns the saved adapter (or model) directory and the per-step log. Under `accelerate launch` every
    process runs this; only the main one writes files outside the trainer's own checkpoints.
    """
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    out = adapter_dir(run_dir, recipe.name, seed)
    checkpoints = Path(run_dir) / "checkpoints" / recipe.name / f"seed{seed}"
    identity = recipe_identity(recipe, seed, task, spec, generation)
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    on_cpu = not torch.cuda.is_available()
    # The config comes before the model: under DeepSpeed ZeRO-3 it makes from_pretrained shard the weights.
    args = GRPOConfig(
        output_dir=str(checkpoints), max_steps=recipe.steps, learning_rate=recipe.learning_rate, beta=recipe.beta,
        num_generations=recipe.num_generations,
        per_device_train_batch_size=per_device_batch(recipe.num_generations, processes),
        max_completion_length=recipe.max_completion_length, temperature=recipe.temperature,
        logging_steps=1, save_strategy="steps", save_steps=save_every, seed=seed, data_seed=seed,
        report_to="none", use_cpu=on_cpu, bf16=not on_cpu and spec.dtype == "bfloat16",
        gradient_checkpointing=False, disable_tqdm=False, **generation_kwargs(generation))
    with args.main_process_first(local=False, desc="checkpoint directory"):
        if _read_json(checkpoints / "recipe.json") != identity:     # checkpoints of another recipe: start over
            shutil.rmtree(checkpoints, ignore_errors=True)
            checkpoints.mkdir(parents=True)
            (checkpoints / "recipe.json").write_text(json.dumps(identity))
    # Several processes: load on the CPU and let DeepSpeed/FSDP place the shards.
    loaded = models.load(replace(spec, device="cpu") if processes > 1 else spec)
    resume = latest_checkpoint(checkpoints)
    histogram = None
    if recipe.reward == "histogram":
        saved = resume / HISTOGRAM_FILE if resume else None
        counts = json.loads(saved.read_text())["counts"] if saved and saved.exists() else None
        histogram = RunningHistogram(task.k, counts)
    reward = make_reward(recipe.reward, task, recipe.num_generations, histogram)

    prompts = Dataset.from_list([{"prompt": chat_messages(task.prompt)}]
                                * recipe.steps * recipe.num_generations)
    peft_config = LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=0.0, task_type="CAUSAL_LM",
                             target_modules=lora_targets(loaded.model.config)) if recipe.lora else None
    trainer = GRPOTrainer(model=loaded.model, reward_funcs=[reward], args=args, train_dataset=prompts,
                          processing_class=loaded.tokenizer, peft_config=peft_config,
                          callbacks=[HistogramCheckpointCallback(histogram),
                                     ExactTVCallback(task, loaded.tokenizer, eval_every), *extra_callbacks])
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
            (tmp / "recipe.json").write_text(json.dumps(identity))
            log.to_csv(tmp / "training_log.csv", index=False)
            shutil.rmtree(out, ignore_errors=True)
            tmp.rename(out)    # a finished adapter appears whole, or not at all
        trainer.accelerator.wait_for_everyone()
    return out, log


def recipe_identity(recipe: Recipe, seed: int, task: Task, spec: models.ModelSpec,
                    generation: dict | None = None) -> dict:
    """Everything that decides a trained adapter; a saved adapter or checkpoint is reused only if it matches.

    vLLM generation draws other completions (and trl corrects for its log-probs), so it is part of the
    identity when used; its memory and parallelism settings are not. Without it the identity is unchanged.
    """
    identity = {**asdict(recipe), "seed": seed, "task": task.id, "prompt": task.prompt, "model": spec.source}
    if generation_kwargs(generation):
        identity["generation"] = {"use_vllm": True, "vllm_importance_sampling_correction":
                                  generation.get("vllm_importance_sampling_correction", True)}
    return json.loads(json.dumps(identity))


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def training_log(history: list[dict], recipe: str, seed: int) -> pd.DataFrame:
    """One row per step: reward mean/std, valid rate, entropy, and exact TV where it was measured."""
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


def recipes_from_params(recipes: dict) -> list[Recipe]:
    """Recipes from params (already validated by lib.config)."""
    return [Recipe(name=name, **{**spec, "seeds": tuple(spec.get("seeds", (0,)))}) for name, spec in recipes.items()]


def train_all(spec: models.ModelSpec, task: Task, recipes: list[Recipe], run_dir: Path,
              eval_every: int, save_every: int, generation: dict | None = None) -> pd.DataFrame:
    """Every recipe × seed. A finished adapter is read back, not retrained; an interrupted one resumes."""
    logs = []
    for recipe in recipes:
        for seed in recipe.seeds:
            done = adapter_dir(run_dir, recipe.name, seed)
            if _read_json(done / "recipe.json") == recipe_identity(recipe, seed, task, spec, generation):
                logs.append(pd.read_csv(done / "training_log.csv").rename(columns={"seed": "train_seed"}))
                continue
            print(f"training {recipe.name} seed {seed} ({recipe.steps} steps, reward {recipe.reward})", flush=True)
            logs.append(train(spec, task, recipe, seed, run_dir, eval_every, save_every, generation=generation)[1])
    return pd.concat(logs, ignore_index=True)


def final_points(logs: pd.DataFrame) -> pd.DataFrame:
    """Per recipe and seed: the last measured exact TV and raw mass, and the valid rate of the last 10 steps."""
    rows = []
    for (recipe, seed), log in logs.groupby(["recipe", "train_seed"], sort=False):
        measured = log.dropna(subset=["exact_tv"])
        last = measured.iloc[-1] if len(measured) else None
        rows.append(dict(recipe=recipe, train_seed=seed, steps=int(log["step"].max()),
                         start_exact_tv=measured.iloc[0]["exact_tv"] if len(measured) else float("nan"),
                         exact_tv=last["exact_tv"] if last is not None else float("nan"),
                         raw_mass=last["raw_mass"] if last is not None else float("nan"),
                         valid_rate_last10=log.tail(10)["valid_rate"].mean() if "valid_rate" in log else float("nan")))
    return pd.DataFrame(rows)


def select_recipe(final: pd.DataFrame, control: str, min_valid_mass: float) -> pd.DataFrame:
    """Choose the spread recipe on the trained task alone: lowest mean exact TV among recipes (not the
    control) whose mean raw valid mass reaches min_valid_mass; if none does, the lowest TV overall."""
    table = final.groupby("recipe", sort=False).agg(seeds=("train_seed", "nunique"), exact_tv=("exact_tv", "mean"),
                                                    raw_mass=("raw_mass", "mean")).reset_index()
    candidates = table[table["recipe"] != control]
    if candidates.empty:
        raise ValueError(f"every recipe is the control {control!r}: add a spread recipe to params")
    eligible = candidates[candidates["raw_mass"] >= min_valid_mass]
    pool, reason = (eligible, f"lowest exact TV with raw valid mass >= {min_valid_mass}") if len(eligible) else \
        (candidates, f"lowest exact TV (no recipe reached raw valid mass {min_valid_mass})")
    chosen = pool.sort_values("exact_tv").iloc[0]["recipe"]
    table["role"] = ["control" if r == control else "selected" if r == chosen else "ablation" for r in table["recipe"]]
    table["reason"] = [reason if r == chosen else "" for r in table["recipe"]]
    return table


def main(argv: list[str] | None = None) -> int:
    """Train every recipe × seed of a profile's 04 params (resuming from checkpoints), e.g. on several GPUs:
    accelerate launch --config_file params/accelerate/zero3.yaml -m lib.grpo --profile qwen3-30b-a3b"""
    import argparse
    from lib import config, tasks

    parser = argparse.ArgumentParser(prog="python -m lib.grpo", description=main.__doc__)
    parser.add_argument("--profile", required=True, help="a directory under params/, e.g. qwen3-30b-a3b")
    parser.add_argument("--recipes", help="comma list of recipe names (default: every recipe in the 04 params)")
    args = parser.parse_args(argv)
    cfg = config.load(args.profile, "04")
    recipes = recipes_from_params(cfg.recipes)
    if args.recipes:
        wanted = args.recipes.split(",")
        unknown = sorted(set(wanted) - {r.name for r in recipes})
        if unknown:
            parser.error(f"unknown recipe(s) {unknown}; the profile has: {', '.join(r.name for r in recipes)}")
        recipes = [r for r in recipes if r.name in wanted]
    logs = train_all(cfg.model, tasks.get(cfg.task), recipes, cfg.run_dir, cfg.eval_every, cfg.save_every,
                     generation=cfg.params.get("generation"))
    if int(os.environ.get("RANK", "0")) == 0:
        print(final_points(logs).to_string(index=False))
        print(f"adapters under {cfg.run_dir / 'adapters'}; notebook 04 reads them back (make report "
              f"PROFILE={args.profile} NB=04)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
