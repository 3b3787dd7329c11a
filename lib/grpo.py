"""The arms of 04 on one task: GRPO on one prompt with trl's GRPOTrainer (+ peft LoRA, or full fine-tuning), and
the direct objectives of lib.direct, with checkpoints that resume to the same result, adapters kept at the
dose-response steps, and a learning curve that includes the trained task's exact TV.

Adapter layout (runs/<profile>/adapters/<recipe>/seed<k>/): the final adapter files, recipe.json (what trained
it), training_log.csv, and steps/step<N>/ (the adapter after N steps, for lib.dose). It appears whole, or not at all.

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
from lib.rewards import DIRECT_OBJECTIVES, EXACT_REWARDS, REVISIONS, ExactPolicy, RunningHistogram, make_reward
from lib.sampling import TransformersBackend, chat_messages
from lib.silent_steps import skipping_optimizer
from lib.tasks import Task

HISTOGRAM_FILE = "reward_histogram.json"
POLICY_FILE = "reward_exact_policy.json"
STEPS_DIR = "steps"          # <adapter>/steps/step<N>/: the adapter after N steps
MOE_CONFIG_KEYS = ("num_experts", "num_local_experts", "n_routed_experts")
ATTENTION_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj"]


class ExactTVCallback(TrainerCallback):
    """Before training, every `every` steps and at `also` steps, score the trained task exactly with the model
    being trained and append exact_tv / raw_mass to the trainer's log history (saved in checkpoints, so
    resumes keep it)."""

    def __init__(self, task: Task, tokenizer, every: int, also: tuple[int, ...] = ()):
        self.task, self.tokenizer, self.every, self.also = task, tokenizer, every, set(also)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0 and not any(e.get("step") == 0 for e in state.log_history):
            state.log_history.append({"step": 0, **exact_point(model, self.tokenizer, self.task)})

    def on_step_end(self, args, state, control, model=None, **kwargs):
        step = state.global_step
        if step % self.every == 0 or step == state.max_steps or step in self.also:
            state.log_history.append({"step": step, **exact_point(model, self.tokenizer, self.task)})


class RewardStateCheckpointCallback(TrainerCallback):
    """Saves what the reward depends on beside each checkpoint: the running histogram, or the policy's last
    exact scoring (and the placebo's values)."""

    def __init__(self, histogram: RunningHistogram | None, policy: ExactPolicy | None = None):
        self.histogram, self.policy = histogram, policy

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:        # every process holds the same state
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if self.histogram is not None:
            (folder / HISTOGRAM_FILE).write_text(json.dumps(self.histogram.state()))
        if self.policy is not None:
            (folder / POLICY_FILE).write_text(json.dumps(self.policy.state()))



class SaveAtSteps(TrainerCallback):
    """A checkpoint at each of the given steps as well (dose-response adapters, shorter runs of a step grid)."""

    def __init__(self, steps):
        self.steps = set(steps)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self.steps:
            control.should_save = True


class StopAfter(TrainerCallback):
    """Interrupts training after a given step (tests use it to simulate a killed run)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True


def policy_distribution(model, tokenizer, task: Task) -> distributions.ExactDistribution:
    """The exact distribution (T = 1) of the model being trained, scored in eval mode."""
    was_training = model.training
    model.eval()
    loaded = models.LoadedModel(model, tokenizer, models.ModelSpec("in-training"), "in-training", 0.0)
    dist = distributions.score_exact(TransformersBackend(loaded), task, [1.0])[1.0]
    if was_training:
        model.train()
    return dist


def exact_point(model, tokenizer, task: Task) -> dict:
    dist = policy_distribution(model, tokenizer, task)
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
        if _read_json(checkpoints / "recipe.json") != identity:     # checkpoints of another recipe: start over
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
        counts = (_read_json(resume / HISTOGRAM_FILE) or {}).get("counts") if resume else None
        histogram = RunningHistogram(task.k, counts)
    if recipe.reward in EXACT_REWARDS:
        policy = ExactPolicy(task, recipe.refresh_every, seed, _read_json(resume / POLICY_FILE) if resume else None)
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


def _read_json(path: Path):
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


# -- the arms: params -> recipes, training, selection -------------------------------------------------------
def recipes_from_params(recipes: dict, grid: dict | None = None) -> list[Recipe]:
    """Recipes from params (already validated by lib.config); a recipe named in `grid` becomes one recipe per
    (learning_rate, steps), named <recipe>_lr<lr>_s<steps>, in place of the recipe itself."""
    out = []
    for name, spec in recipes.items():
        base = Recipe(name=name, **{**spec, "seeds": tuple(spec.get("seeds", (0,)))})
        axes = (grid or {}).get(name)
        if not axes:
            out.append(base)
            continue
        for lr in axes.get("learning_rate", [base.learning_rate]):
            for steps in axes.get("steps", [base.steps]):
                out.append(replace(base, name=f"{name}_lr{lr:g}_s{steps}", learning_rate=float(lr), steps=int(steps)))
    unknown = sorted(set(grid or {}) - set(recipes))
    if unknown:
        raise ValueError(f"grid names recipe(s) {unknown} that params do not define; recipes: {', '.join(recipes)}")
    return out


def prefix_run(recipe: Recipe, recipes: list[Recipe], seed: int) -> Recipe | None:
    """The longest recipe whose first `recipe.steps` steps are this recipe's run, if any: under a constant learning
    rate a run of N steps is the first N steps of a longer run with the same settings and seed."""
    if recipe.lr_schedule != "constant":
        return None
    same = lambda r: {**asdict(r), "name": "", "steps": 0, "seeds": ()} == {**asdict(recipe), "name": "", "steps": 0, "seeds": ()}  # noqa: E731
    longer = [r for r in recipes if r.steps > recipe.steps and seed in r.seeds and same(r)]
    return max(longer, key=lambda r: r.steps) if longer else None


def finished_log(recipe: Recipe, seed: int, task: Task, spec: models.ModelSpec, run_dir: Path,
                 generation: dict | None) -> pd.DataFrame | None:
    """The training log of a finished adapter that matches the recipe, or None."""
    done = adapter_dir(run_dir, recipe.name, seed)
    if _read_json(done / "recipe.json") != recipe_identity(recipe, seed, task, spec, generation):
        return None
    return pd.read_csv(done / "training_log.csv").rename(columns={"seed": "train_seed"})


def publish_prefix(recipe: Recipe, longer: Recipe, seed: int, task: Task, spec: models.ModelSpec, run_dir: Path,
                   log: pd.DataFrame, keep_steps: tuple[int, ...], generation: dict | None) -> pd.DataFrame | None:
    """Publish `recipe` (seed) from the checkpoints of the longer run it is the beginning of; None if they are gone."""
    checkpoints = checkpoint_dir(run_dir, longer.name, seed)
    kept = [s for s in keep_steps if 0 < s < recipe.steps]
    needed = [checkpoints / f"checkpoint-{s}" for s in (*kept, recipe.steps)]
    if not all(p.exists() for p in needed):
        return None
    out = adapter_dir(run_dir, recipe.name, seed)
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    if not copy_adapter_files(needed[-1], tmp):
        return None
    own_log = log[log["step"] <= recipe.steps].assign(recipe=recipe.name).reset_index(drop=True)
    finish_adapter(tmp, out, recipe_identity(recipe, seed, task, spec, generation), own_log, checkpoints, kept)
    return own_log


def train_all(spec: models.ModelSpec, task: Task, recipes: list[Recipe], run_dir: Path,
              eval_every: int, save_every: int, generation: dict | None = None,
              dose_steps: tuple[int, ...] = ()) -> pd.DataFrame:
    """Every recipe × seed. A finished adapter is read back, not retrained; an interrupted one resumes. A recipe
    that is the beginning of a longer one (a step grid under a constant learning rate) is published from the
    longer run's checkpoints."""
    logs: dict[tuple[str, int], pd.DataFrame] = {}
    for recipe in sorted(recipes, key=lambda r: -r.steps):          # longer runs first: shorter ones reuse them
        for seed in recipe.seeds:
            log = finished_log(recipe, seed, task, spec, run_dir, generation)
            longer = prefix_run(recipe, recipes, seed)
            if log is None and longer is not None and (longer.name, seed) in logs:
                log = publish_prefix(recipe, longer, seed, task, spec, run_dir, logs[(longer.name, seed)],
                                     tuple(dose_steps), generation)
            if log is None:
                shorter = tuple(r.steps for r in recipes if prefix_run(r, recipes, seed) == recipe)
                print(f"training {recipe.name} seed {seed} ({recipe.steps} steps, {recipe.reward})", flush=True)
                log = train(spec, task, recipe, seed, run_dir, eval_every, save_every, generation=generation,
                            keep_steps=tuple(sorted(set(dose_steps) | set(shorter))))[1]
            logs[(recipe.name, seed)] = log
    return pd.concat([logs[(r.name, s)] for r in recipes for s in r.seeds if (r.name, s) in logs], ignore_index=True)


def final_points(logs: pd.DataFrame) -> pd.DataFrame:
    """Per recipe and seed: exact TV and raw mass before training and at the last measurement, and the valid rate
    of the last 10 steps."""
    rows = []
    for (recipe, seed), log in logs.groupby(["recipe", "train_seed"], sort=False):
        measured = log.dropna(subset=["exact_tv"])
        last = measured.iloc[-1] if len(measured) else None
        valid = log["valid_rate"].dropna() if "valid_rate" in log else pd.Series(dtype=float)
        rows.append(dict(recipe=recipe, train_seed=seed, steps=int(log["step"].max()),
                         start_exact_tv=measured.iloc[0]["exact_tv"] if len(measured) else float("nan"),
                         exact_tv=last["exact_tv"] if last is not None else float("nan"),
                         raw_mass=last["raw_mass"] if last is not None else float("nan"),
                         valid_rate_last10=valid.tail(10).mean() if len(valid) else float("nan")))
    return pd.DataFrame(rows)


def select_recipe(final: pd.DataFrame, control: str, min_valid_mass: float, roles: dict[str, str] | None = None,
                  chosen: str | None = None) -> pd.DataFrame:
    """Choose the spread recipe on the trained task alone: lowest mean exact TV among the spread recipes (`roles`:
    recipe -> Recipe.role; without it every recipe but the control) whose mean raw valid mass reaches
    min_valid_mass; if none does, the lowest TV among them. `chosen` keeps an earlier choice (made on the
    screening seeds) while the table shows every seed trained since.

    Column `role`: selected (the chosen one), control (the control recipe), ablation (another spread recipe), or
    the recipe's own role (placebo, reverse, format, reference); `recipe_role` is always the recipe's own."""
    roles = roles or {}
    role_of = lambda r: roles.get(r, "control" if r == control else "spread")   # noqa: E731
    table = final.groupby("recipe", sort=False).agg(seeds=("train_seed", "nunique"), exact_tv=("exact_tv", "mean"),
                                                    raw_mass=("raw_mass", "mean")).reset_index()
    table["recipe_role"] = [role_of(r) for r in table["recipe"]]
    candidates = table[(table["recipe_role"] == "spread") & (table["recipe"] != control)]
    if candidates.empty:
        raise ValueError(f"no spread recipe besides the control {control!r}: add one with role: spread to params")
    eligible = candidates[candidates["raw_mass"] >= min_valid_mass]
    pool, reason = (eligible, f"lowest exact TV with raw valid mass >= {min_valid_mass}") if len(eligible) else \
        (candidates, f"lowest exact TV (no spread recipe reached raw valid mass {min_valid_mass})")
    if chosen is None:
        chosen = pool.sort_values("exact_tv").iloc[0]["recipe"]
    else:
        reason += ", on the screening seeds"
    table["role"] = ["control" if r == control else "selected" if r == chosen else
                     "ablation" if role == "spread" else role for r, role in zip(table["recipe"], table["recipe_role"])]
    table["reason"] = [reason if r == chosen else "" for r in table["recipe"]]
    return table


def train_arms(spec: models.ModelSpec, task: Task, recipes: list[Recipe], run_dir: Path, control: str,
               min_valid_mass: float, eval_every: int, save_every: int, generation: dict | None = None,
               dose_steps: tuple[int, ...] = (), selected_seeds: tuple[int, ...] = ()
               ) -> tuple[list[Recipe], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every arm: train every recipe on its seeds, select the spread recipe on the trained task, then train the
    selected one on `selected_seeds` too. Returns (recipes as trained, logs, final points, selection)."""
    if control not in {r.name for r in recipes}:
        raise ValueError(f"control_recipe {control!r} is not a recipe; recipes: {', '.join(r.name for r in recipes)}")
    roles = {r.name: r.role for r in recipes}
    logs = train_all(spec, task, recipes, run_dir, eval_every, save_every, generation, dose_steps)
    screen = select_recipe(final_points(logs), control, min_valid_mass, roles)
    chosen = screen.loc[screen["role"] == "selected", "recipe"].item()
    recipe = next(r for r in recipes if r.name == chosen)
    extra = tuple(s for s in selected_seeds if s not in recipe.seeds)
    if extra:
        recipes = [replace(r, seeds=(*r.seeds, *extra)) if r.name == chosen else r for r in recipes]
        more = train_all(spec, task, [replace(recipe, seeds=extra)], run_dir, eval_every, save_every, generation,
                         dose_steps)
        logs = pd.concat([logs, more], ignore_index=True)
    final = final_points(logs)
    return recipes, logs, final, select_recipe(final, control, min_valid_mass, roles, chosen if extra else None)


def arms_table(recipes: list[Recipe], final: pd.DataFrame, selection: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: recipe, role, reward, learning rate, steps, seeds, and the trained task's exact TV and raw
    valid mass before and after training (means over seeds)."""
    roles = selection.set_index("recipe")["role"].to_dict()
    rows = []
    for r in recipes:
        mine = final[final["recipe"] == r.name]
        sampled = r.reward not in DIRECT_OBJECTIVES       # the direct objectives sample nothing
        rows.append(dict(recipe=r.name, role=roles.get(r.name, r.role), reward=r.reward, lr=r.learning_rate,
                         schedule=r.lr_schedule, steps=r.steps, G=r.num_generations if sampled else None,
                         groups=r.groups_per_step if sampled else None,
                         seeds=len(mine), start_exact_tv=mine["start_exact_tv"].mean(), exact_tv=mine["exact_tv"].mean(),
                         exact_tv_min=mine["exact_tv"].min(), exact_tv_max=mine["exact_tv"].max(),
                         raw_mass=mine["raw_mass"].mean()))
    return pd.DataFrame(rows).astype({"G": "Int64", "groups": "Int64"})


def main(argv: list[str] | None = None) -> int:
    """Train every arm of a profile's 04 params (resuming from checkpoints), e.g. on several GPUs:
    accelerate launch --config_file params/accelerate/zero3.yaml -m lib.grpo --profile qwen3-30b-a3b"""
    import argparse
    from lib import config, tasks

    parser = argparse.ArgumentParser(prog="python -m lib.grpo", description=main.__doc__)
    parser.add_argument("--profile", required=True, help="a directory under params/, e.g. qwen3-30b-a3b")
    parser.add_argument("--recipes", help="comma list of recipe names: train only these, without selection "
                                          "(default: every arm, with selection)")
    args = parser.parse_args(argv)
    cfg = config.load(args.profile, "04")
    recipes = recipes_from_params(cfg.recipes, cfg.params.get("grid"))
    task = tasks.get(cfg.task)
    dose_steps = tuple(cfg.params.get("dose_steps", ()))
    if args.recipes:
        wanted = args.recipes.split(",")
        unknown = sorted(set(wanted) - {r.name for r in recipes})
        if unknown:
            parser.error(f"unknown recipe(s) {unknown}; the profile has: {', '.join(r.name for r in recipes)}")
        logs = train_all(cfg.model, task, [r for r in recipes if r.name in wanted], cfg.run_dir, cfg.eval_every,
                         cfg.save_every, cfg.params.get("generation"), dose_steps)
        final = final_points(logs)
    else:
        _, _, final, _ = train_arms(cfg.model, task, recipes, cfg.run_dir, cfg.control_recipe, cfg.min_valid_mass,
                                    cfg.eval_every, cfg.save_every, cfg.params.get("generation"), dose_steps,
                                    tuple(cfg.params.get("selected_seeds", ())))
    if int(os.environ.get("RANK", "0")) == 0:
        print(final.to_string(index=False))
        print(f"adapters under {cfg.run_dir / 'adapters'}; notebook 04 reads them back (make report "
              f"PROFILE={args.profile} NB=04)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
