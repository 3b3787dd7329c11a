"""A GRPO recipe: the reward and the training settings of one 04 run. Torch-free, so lib.config
derives the allowed keys and types of a params recipe from this dataclass before any model loads."""
from __future__ import annotations

from dataclasses import dataclass


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
