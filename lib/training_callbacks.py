"""What runs beside a training run (lib.grpo): the trained task's exact TV measured during training, the reward's
state saved with each checkpoint, checkpoints at extra steps, and a stop for tests that simulate a killed run."""
from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback

from lib import distributions, metrics, models
from lib.rewards import ExactPolicy, RunningHistogram
from lib.sampling import TransformersBackend
from lib.tasks import Task

HISTOGRAM_FILE = "reward_histogram.json"
POLICY_FILE = "reward_exact_policy.json"


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
