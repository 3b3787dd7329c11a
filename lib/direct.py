"""Training without RL: the LoRA adapter fitted by gradient descent on the trained task's exact distribution.

Every step scores every answer of A by teacher forcing with gradients (the chat prompt once, its KV cache shared
by all answers, as lib.sampling scores), each answer's mass summed over its surface forms, and minimises:

- kl_uniform (the reference arm): KL(uniform ‖ p_θ(· | bare reply)) = −log k − mean_a log p_θ(a | bare), p_θ
  renormalized over A: the direct route to a uniform conditional distribution. Raw valid mass is left free.
- self_distill (the format control): −Σ_a p₀(a) log P_θ(a), with P_θ(a) the raw probability of the bare reply a
  and p₀ the untrained model's distribution over A: the expected loss of fine-tuning on bare answers drawn from
  vanilla's own exact distribution, computed exactly instead of sampled. Its optimum puts all mass on bare
  answers (raw mass 1) and keeps the conditional distribution at p₀: it moves format, not spread.

The steps run in transformers' Trainer with the recipe's learning rate and schedule (AdamW, as GRPO's), the
same LoRA configuration and the same checkpoints, so lib.grpo resumes and publishes it like any other arm.
Full-batch and deterministic: a resumed run gives the same adapter as an uninterrupted one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import Trainer

from lib.models import LoadedModel
from lib.sampling import CACHE_KW, TransformersBackend
from lib.tasks import Task

OBJECTIVES = ("kl_uniform", "self_distill")


@dataclass(frozen=True)
class AnswerTokens:
    """A task's chat prompt and every surface form of every answer, as token ids (ending in end-of-turn)."""
    prompt: list[int]
    forms: list[list[int]]
    owner: list[int]         # index in A of each form
    k: int
    pad: int

    @classmethod
    def of(cls, loaded: LoadedModel, task: Task) -> "AnswerTokens":
        backend = TransformersBackend(loaded)
        forms, owner = [], []
        for i, answer in enumerate(task.answers):
            for form in task.surface_forms(answer):
                forms.append(backend._encode(form + backend.end_of_turn))
                owner.append(i)
        return cls(backend.prompt_ids(task.prompt), forms, owner, task.k, loaded.tokenizer.pad_token_id)


def answer_logprobs(model, tokens: AnswerTokens) -> torch.Tensor:
    """log P(bare reply a) for every a in A at T = 1, differentiable: shape (k,).

    The same computation as TransformersBackend._score (one prompt pass, right-padded answers on its KV cache)
    in one batch, without inference mode, so gradients reach the adapter through the prompt and the answers."""
    device = next(model.parameters()).device
    prompt = torch.tensor([tokens.prompt], device=device)
    out = model(input_ids=prompt, use_cache=True)
    width = max(len(ids) for ids in tokens.forms)
    batch = torch.tensor([ids + [tokens.pad] * (width - len(ids)) for ids in tokens.forms], device=device)
    total = torch.log_softmax(out.logits[0, -1].float(), dim=-1)[batch[:, 0]]
    if width > 1:
        cache = getattr(out, CACHE_KW)
        cache.batch_repeat_interleave(len(tokens.forms))
        positions = torch.arange(prompt.shape[1], prompt.shape[1] + width - 1, device=device)
        logits = model(input_ids=batch[:, :-1], position_ids=positions.expand(len(tokens.forms), -1),
                       use_cache=True, **{CACHE_KW: cache}).logits.float()
        lengths = torch.tensor([len(ids) for ids in tokens.forms], device=device)
        real = torch.arange(1, width, device=device)[None, :] < lengths[:, None]
        token_logp = torch.log_softmax(logits, dim=-1).gather(-1, batch[:, 1:, None])[..., 0]
        total = total + (token_logp * real).sum(dim=1)
    owner = torch.tensor(tokens.owner, device=device)
    per_answer = torch.full((tokens.k, len(tokens.forms)), float("-inf"), device=device)
    per_answer[owner, torch.arange(len(tokens.forms), device=device)] = total
    return torch.logsumexp(per_answer, dim=1)        # an answer's mass summed over its surface forms


def kl_uniform_loss(logp: torch.Tensor) -> torch.Tensor:
    """KL(uniform ‖ p), p = logp renormalized over A."""
    k = logp.numel()
    conditional = logp - torch.logsumexp(logp, dim=0)
    return -torch.log(torch.tensor(float(k))) - conditional.mean()


def self_distill_loss(logp: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Expected negative log-likelihood of bare answers drawn from `target` (a distribution over A)."""
    return -(target * logp).sum()


class ExactObjective:
    """One of OBJECTIVES on a task; self_distill's target is vanilla's distribution, scored before the adapter exists."""

    def __init__(self, kind: str, tokens: AnswerTokens, vanilla_model=None):
        if kind not in OBJECTIVES:
            raise ValueError(f"unknown objective {kind!r}; allowed: {', '.join(OBJECTIVES)}")
        self.kind, self.tokens, self.target = kind, tokens, None
        if kind == "self_distill":
            with torch.no_grad():
                self.target = torch.softmax(answer_logprobs(vanilla_model, tokens), dim=0)

    def loss(self, model) -> torch.Tensor:
        logp = answer_logprobs(model, self.tokens)
        return kl_uniform_loss(logp) if self.kind == "kl_uniform" else self_distill_loss(logp, self.target)


class ExactObjectiveTrainer(Trainer):
    """transformers' Trainer whose loss is an ExactObjective; the dataset only counts steps."""

    def __init__(self, *args, objective: ExactObjective, **kwargs):
        super().__init__(*args, **kwargs)
        self.objective = objective

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = self.objective.loss(model)
        return (loss, None) if return_outputs else loss


def make_trainer(loaded: LoadedModel, task: Task, kind: str, seed: int, args, peft_config,
                 callbacks: list) -> ExactObjectiveTrainer:
    """The Trainer for a direct objective (args: transformers TrainingArguments; peft_config: the LoRA config)."""
    from peft import get_peft_model
    from transformers import set_seed

    if peft_config is None:
        raise ValueError(f"{kind} trains a LoRA adapter: set lora: true in its recipe")
    tokens = AnswerTokens.of(loaded, task)
    objective = ExactObjective(kind, tokens, vanilla_model=loaded.model)
    set_seed(seed)                       # the adapter's initialisation
    model = get_peft_model(loaded.model, peft_config)
    steps = [{"step": i} for i in range(args.max_steps)]
    return ExactObjectiveTrainer(model=model, args=args, train_dataset=steps, objective=objective,
                                 data_collator=lambda rows: {"step": torch.tensor([r["step"] for r in rows])},
                                 callbacks=callbacks)
