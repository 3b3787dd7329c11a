"""Tests for lib.silent_steps: a step whose gradients are all exactly zero leaves weights and moments alone."""
from __future__ import annotations

import copy

import torch

from lib.silent_steps import SilentStepSkippingAdamW, has_signal, skipping_optimizer


def _model_and_step(cls):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    optimizer = cls(model.parameters(), lr=0.1)
    model(torch.ones(1, 4)).sum().backward()          # one real gradient
    optimizer.step()
    return model, optimizer


def _silent_step(model, optimizer) -> None:
    optimizer.zero_grad(set_to_none=False)            # gradients present and exactly zero, as after a group with
    optimizer.step()                                  # advantage 0 everywhere


def test_a_silent_step_moves_nothing_where_plain_adamw_keeps_moving():
    plain, plain_opt = _model_and_step(torch.optim.AdamW)
    before = copy.deepcopy(plain.state_dict())
    _silent_step(plain, plain_opt)
    assert not torch.equal(before["weight"], plain.weight.detach())     # momentum carries the last gradient on

    model, optimizer = _model_and_step(SilentStepSkippingAdamW)
    weights, state = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    _silent_step(model, optimizer)
    assert torch.equal(weights["weight"], model.weight.detach()) and torch.equal(weights["bias"], model.bias.detach())
    after = optimizer.state_dict()
    for key, moments in state["state"].items():
        assert all(torch.equal(torch.as_tensor(value), torch.as_tensor(after["state"][key][name]))
                   for name, value in moments.items())
    assert optimizer.skipped == 1


def test_a_step_with_a_signal_is_adamw_exactly():
    torch.manual_seed(0)
    reference = torch.nn.Linear(3, 1)
    model = copy.deepcopy(reference)
    steps = [(torch.optim.AdamW(reference.parameters(), lr=0.05), reference),
             (SilentStepSkippingAdamW(model.parameters(), lr=0.05), model)]
    for optimizer, net in steps:
        for x in (1.0, -2.0, 0.5):
            optimizer.zero_grad()
            net(torch.full((1, 3), x)).sum().backward()
            optimizer.step()
    assert torch.equal(reference.weight, model.weight) and steps[1][0].skipped == 0


def test_no_gradients_held_counts_as_a_signal():
    optimizer = SilentStepSkippingAdamW(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    assert has_signal(optimizer)                       # e.g. a sharding engine keeps the gradients elsewhere


def test_the_trainer_gets_the_skipping_class_only_in_place_of_adamw():
    class Trainer:
        args, model = None, None

        def __init__(self, cls):
            self.cls = cls

        def get_optimizer_cls_and_kwargs(self, args, model):
            return self.cls, {"lr": 1e-4, "betas": (0.9, 0.999)}

    assert skipping_optimizer(Trainer(torch.optim.AdamW)) == (SilentStepSkippingAdamW,
                                                              {"lr": 1e-4, "betas": (0.9, 0.999)})
    assert skipping_optimizer(Trainer(torch.optim.SGD)) is None
