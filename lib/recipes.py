"""A training recipe: the reward (or direct objective), its role among the arms, and the training settings
of one 04 run. Torch-free, so lib.config derives the allowed keys and types of a params recipe from this
dataclass before any model loads."""
from __future__ import annotations

from dataclasses import dataclass

# What an arm is for. Selection picks among `spread` recipes only; the others are there to be compared with it.
ROLES = {
    "spread": "a candidate spread recipe (selection picks among these, on the trained task alone)",
    "control": "validity only: teaches the format and nothing about spread (the 'collapse' arm)",
    "placebo": "a reward with the exact reward's scale and no spread signal",
    "reverse": "rewards concentration on the trained task",
    "format": "self-distillation on vanilla's own bare answers: raises raw mass, keeps the distribution",
    "reference": "no RL: gradient descent on KL(uniform || p) over the trained task's answers",
}
# The arms trained beside the selected recipe, in the order tables list them.
ARM_ROLES = ("control", "placebo", "reverse", "format", "reference")
LR_SCHEDULES = ("linear", "constant")   # constant: the checkpoint at step s is a run of s steps


@dataclass(frozen=True)
class Recipe:
    name: str
    reward: str                     # a lib.rewards reward, or a lib.direct objective (kl_uniform, self_distill)
    role: str = "spread"            # one of ROLES
    seeds: tuple[int, ...] = (0,)
    lora: bool = True               # False: full fine-tuning
    lora_r: int = 16
    lora_alpha: int = 32
    learning_rate: float = 1e-4
    lr_schedule: str = "linear"     # one of LR_SCHEDULES (trl's default is linear decay to 0)
    beta: float = 0.0               # KL weight against the reference model (trl default 0)
    steps: int = 50
    num_generations: int = 8
    groups_per_step: int = 1        # prompts (groups of G replies) per step; every group is the task's own prompt
    refresh_every: int = 1          # exact-distribution rewards: rescore the policy every N steps
    max_completion_length: int = 12
    temperature: float = 1.0

    # Fields that do not decide the trained weights (kept out of lib.grpo.recipe_identity), and fields left out
    # of it while they hold the default they had before they existed (adapters trained then are still valid).
    NOT_IDENTITY = ("role", "seeds")
    IDENTITY_DEFAULTS = {"lr_schedule": "linear", "groups_per_step": 1, "refresh_every": 1}
