"""AdamW that leaves the weights alone on a step without a learning signal.

A GRPO group whose replies all earn one reward (all invalid, or one answer eight times) has advantage exactly 0
(lib.rewards puts rewards on a grid), so with beta 0 every gradient is exactly 0. Plain Adam still moves the
weights on such a step: its first moment carries the last real gradient, so one signal step keeps pushing for
the next ten or so (measured on Qwen2.5-Coder-0.5B, validity reward at lr 5e-5: one step with a signal, at step 13
of 20, took integer 1-100's exact TV from 0.28 to 0.84 by step 20, every other step silent). Skipping those steps,
moments included, makes a run's movement the sum of its real signals, as DAPO's dynamic sampling does by leaving
zero-advantage groups out of the batch. Under several processes the decision is taken jointly (all-reduce), so
every rank skips or steps together.
"""
from __future__ import annotations

import torch


def has_signal(optimizer: torch.optim.Optimizer) -> bool:
    """Whether any gradient this optimizer holds is non-zero, over every process. True when it holds none (a
    sharding engine that keeps gradients elsewhere): only a step known to be silent is skipped."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return True
    local = torch.tensor(float(any(bool(g.any()) for g in grads)))
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        local = local.to(grads[0].device)
        dist.all_reduce(local, op=dist.ReduceOp.MAX)
    return bool(local.item())


class SilentStepSkippingAdamW(torch.optim.AdamW):
    """torch's AdamW, except that `step` does nothing (no weight, moment or step-count change) when every
    gradient is exactly zero. `skipped` counts the steps left out."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.skipped = 0

    def step(self, closure=None):
        if closure is None and not has_signal(self):
            self.skipped += 1
            return None
        return super().step(closure)


def skipping_optimizer(trainer) -> tuple[type, dict] | None:
    """(optimizer class, kwargs) for a transformers Trainer's `optimizer_cls_and_kwargs`: the trainer's own
    choice with AdamW swapped for SilentStepSkippingAdamW; None (keep the trainer's choice) for any other
    optimizer."""
    cls, kwargs = trainer.get_optimizer_cls_and_kwargs(trainer.args, trainer.model)
    return (SilentStepSkippingAdamW, kwargs) if cls is torch.optim.AdamW else None
