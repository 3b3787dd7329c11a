"""GRPO on one prompt with trl's GRPOTrainer (+ peft LoRA, or full fine-tuning), with checkpoints
that resume to the same result, and a learning curve that includes the trained task's exact TV."""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
from transformers import TrainerCallback

from lib import distributions, metrics, models
from lib.conditions import adapter_dir
from lib.rewards import RunningHistogram, make_reward
from lib.sampling import TransformersBackend
from lib.tasks import Task

HISTOGRAM_FILE = "reward_histogram.json"


@dataclass(frozen=True)
class Recipe:
    name: str
    reward: str                     # validity | uniqueness | histogram (lib.rewards)
    seeds: tuple[int, ...] = (0,)
    lora: bool = True               # False: full fine-tuning
    lora_r: int = 16
    lora_alpha: int = 32
    learning_rate: float = 1e-4
    beta: float = 0.0               # KL weight against the reference model (trl default 0)
    steps: int = 50
    num_generations: int = 8
    max_completion_length: int = 12
    temperature: float = 1.0


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
        if self.histogram is not None:
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
    dist = distributions.exact_distribution(TransformersBackend(loaded), task, 1.0)
    if was_training:
        model.train()
    return {"exact_tv": metrics.exact_tv(dist.p), "raw_mass": metrics.raw_mass(dist.logp)}


def latest_checkpoint(output_dir: Path) -> Path | None:
    found = sorted(Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return found[-1] if found else None


def train(spec: models.ModelSpec, task: Task, recipe: Recipe, seed: int, run_dir: Path,
          eval_every: int = 10, save_every: int = 10, extra_callbacks: tuple = ()) -> tuple[Path, pd.DataFrame]:
    """Train one recipe for one seed; resume from the newest checkpoint when there is one.

    Returns the saved adapter (or model) directory and the per-step log.
    """
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    out = adapter_dir(run_dir, recipe.name, seed)
    checkpoints = Path(run_dir) / "checkpoints" / recipe.name / f"seed{seed}"
    identity = recipe_identity(recipe, seed, task, spec)
    if _read_json(checkpoints / "recipe.json") != identity:     # checkpoints of another recipe: start over
        shutil.rmtree(checkpoints, ignore_errors=True)
        checkpoints.mkdir(parents=True)
        (checkpoints / "recipe.json").write_text(json.dumps(identity))
    loaded = models.load(spec)
    resume = latest_checkpoint(checkpoints)
    histogram = None
    if recipe.reward == "histogram":
        saved = resume / HISTOGRAM_FILE if resume else None
        counts = json.loads(saved.read_text())["counts"] if saved and saved.exists() else None
        histogram = RunningHistogram(task.k, counts)
    reward = make_reward(recipe.reward, task, recipe.num_generations, histogram)

    on_cpu = not torch.cuda.is_available()
    args = GRPOConfig(
        output_dir=str(checkpoints), max_steps=recipe.steps, learning_rate=recipe.learning_rate, beta=recipe.beta,
        num_generations=recipe.num_generations, per_device_train_batch_size=recipe.num_generations,
        max_completion_length=recipe.max_completion_length, temperature=recipe.temperature,
        logging_steps=1, save_strategy="steps", save_steps=save_every, seed=seed, data_seed=seed,
        report_to="none", use_cpu=on_cpu, bf16=not on_cpu and spec.dtype == "bfloat16",
        gradient_checkpointing=False, disable_tqdm=False)
    prompts = Dataset.from_list([{"prompt": [{"role": "user", "content": task.prompt}]}]
                                * recipe.steps * recipe.num_generations)
    peft_config = LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=0.0, task_type="CAUSAL_LM",
                             target_modules="all-linear") if recipe.lora else None
    trainer = GRPOTrainer(model=loaded.model, reward_funcs=[reward], args=args, train_dataset=prompts,
                          processing_class=loaded.tokenizer, peft_config=peft_config,
                          callbacks=[HistogramCheckpointCallback(histogram),
                                     ExactTVCallback(task, loaded.tokenizer, eval_every), *extra_callbacks])
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    log = training_log(trainer.state.log_history, recipe.name, seed)
    if trainer.state.global_step >= recipe.steps:
        tmp = out.with_name(out.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        trainer.save_model(str(tmp))
        (tmp / "recipe.json").write_text(json.dumps(identity))
        log.to_csv(tmp / "training_log.csv", index=False)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)    # a finished adapter appears whole, or not at all
    return out, log


def recipe_identity(recipe: Recipe, seed: int, task: Task, spec: models.ModelSpec) -> dict:
    """Everything that decides a trained adapter; a saved adapter or checkpoint is reused only if it matches."""
    return json.loads(json.dumps({**asdict(recipe), "seed": seed, "task": task.id, "prompt": task.prompt,
                                  "model": spec.source}))


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
        row = rows.setdefault(int(step), {"recipe": recipe, "seed": seed, "step": int(step)})
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
              eval_every: int, save_every: int) -> pd.DataFrame:
    """Every recipe × seed. A finished adapter is read back, not retrained; an interrupted one resumes."""
    logs = []
    for recipe in recipes:
        for seed in recipe.seeds:
            done = adapter_dir(run_dir, recipe.name, seed)
            if _read_json(done / "recipe.json") == recipe_identity(recipe, seed, task, spec):
                logs.append(pd.read_csv(done / "training_log.csv"))
                continue
            print(f"training {recipe.name} seed {seed} ({recipe.steps} steps, reward {recipe.reward})", flush=True)
            logs.append(train(spec, task, recipe, seed, run_dir, eval_every, save_every)[1])
    return pd.concat(logs, ignore_index=True)


def final_points(logs: pd.DataFrame) -> pd.DataFrame:
    """Per recipe and seed: the last measured exact TV and raw mass, and the valid rate of the last 10 steps."""
    rows = []
    for (recipe, seed), log in logs.groupby(["recipe", "seed"], sort=False):
        measured = log.dropna(subset=["exact_tv"])
        last = measured.iloc[-1] if len(measured) else None
        rows.append(dict(recipe=recipe, seed=seed, steps=int(log["step"].max()),
                         start_exact_tv=measured.iloc[0]["exact_tv"] if len(measured) else float("nan"),
                         exact_tv=last["exact_tv"] if last is not None else float("nan"),
                         raw_mass=last["raw_mass"] if last is not None else float("nan"),
                         valid_rate_last10=log.tail(10)["valid_rate"].mean() if "valid_rate" in log else float("nan")))
    return pd.DataFrame(rows)


def select_recipe(final: pd.DataFrame, control: str, min_valid_mass: float) -> pd.DataFrame:
    """Choose the spread recipe on the trained task alone: lowest mean exact TV among recipes (not the
    control) whose mean raw valid mass reaches min_valid_mass; if none does, the lowest TV overall."""
    table = final.groupby("recipe", sort=False).agg(seeds=("seed", "nunique"), exact_tv=("exact_tv", "mean"),
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
