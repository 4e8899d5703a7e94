"""Regressing a critic on fixed return targets, shared by every actor-critic learner (COMA, Central-V, IAC, LIIR).

pymarl trains the critic either one optimiser step per time step, backwards in time (``seq``: later
steps' updates are seen by earlier ones), or once over the whole batch (``batch``), and copies the
critic into its target network every ``target_update_interval`` critic steps. The critic is a ReLU MLP
given by its linear layers (a value head, or COMA's Q per action read at the taken action); ``seq``
runs its per-step update through the hand-written ``FlatMLPRegression`` (``mlp_step.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from liir.algos.mlp_step import FlatMLPRegression
from liir.ops import masked_mean


@dataclass(frozen=True)
class CriticOptimiser:
    """How the critic takes a step: its optimiser (``seq``), one autograd step (``batch``) and the finite check."""

    optimizer: torch.optim.Optimizer  # the critic's torch.optim.RMSprop, unwrapped
    clip: float | None  # gradient-norm bound
    apply: Callable[[torch.Tensor], float]  # one autograd optimiser step on a loss; returns the gradient norm
    require_finite: Callable[[torch.Tensor, str], None]  # raises NonFiniteLossError


def mlp_forward(layers: Sequence[nn.Linear], inputs: torch.Tensor) -> torch.Tensor:
    """Linear-ReLU-…-Linear over ``inputs`` (..., in), as the critic modules compute it."""
    x = inputs
    for layer in layers[:-1]:
        x = torch.relu(layer(x))
    return layers[-1](x)


class CriticFitter:
    """Fits the MLP ``layers`` of ``critic`` to targets and hard-updates ``target_critic``; its step counters go
    into checkpoints."""

    def __init__(
        self,
        critic: nn.Module,
        target_critic: nn.Module,
        layers: Sequence[nn.Linear],
        mode: Literal["seq", "batch"],
        target_update_interval: int,
    ) -> None:
        self.critic, self.target_critic, self.layers = critic, target_critic, list(layers)
        self.mode = mode
        self.target_update_interval = target_update_interval
        self.critic_training_steps = 0
        self.last_target_update_step = 0

    def fit(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor,
        optimiser: CriticOptimiser,
        actions: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Regress on ``targets`` (B, T, V); return the critic's outputs before each update, and metrics.

        ``inputs`` (B, ≥T, V, in) are the critic's inputs per time slot. The regressed value is the
        output itself (a value critic, outputs (B, T, V)), or with ``actions`` (B, ≥T, V) the output at
        the taken action (COMA, outputs (B, T, V, A)).
        """
        targets, steps = targets.detach(), targets.shape[1]
        inputs = inputs[:, :steps]
        actions = actions[:, :steps] if actions is not None else None
        if self.mode == "batch":
            outputs, values, losses, grad_norms = self._fit_batch(inputs, targets, mask, optimiser, actions)
        else:
            outputs, values, losses, grad_norms = self._fit_sequence(inputs, targets, mask, optimiser, actions)
        mask3 = mask.unsqueeze(-1)
        metrics = {
            "critic_loss": float(torch.stack(losses).mean()),
            "critic_grad_norm": sum(grad_norms) / len(grad_norms),
            "td_error_abs": float(masked_mean((targets - values).abs(), mask3)),
            "value_mean": float(masked_mean(values, mask3)),
            "target_mean": float(masked_mean(targets, mask3)),
        }
        return outputs, metrics

    def _fit_batch(self, inputs, targets, mask, optimiser: CriticOptimiser, actions):
        output = mlp_forward(self.layers, inputs)
        values = _regressed(output, actions)
        loss = masked_mean((values - targets) ** 2, mask.unsqueeze(-1))
        grad_norm = optimiser.apply(loss)
        self._count_step()
        output = output.detach()
        return output if actions is not None else output.squeeze(-1), values.detach(), [loss.detach()], [grad_norm]

    @torch.no_grad()
    def _fit_sequence(self, inputs, targets, mask, optimiser: CriticOptimiser, actions):
        """pymarl's ``seq`` mode: one step per time step with real transitions, from the last to the first.

        Each step regresses only the rows of episodes still running (pymarl's masked mean: padding rows add
        nothing to the loss or its gradient), gathered per step: with episodes sorted longest first they
        are the first ``live`` of the order. Outputs at padded slots are 0.
        """
        b, steps, v = targets.shape
        dtype = self.layers[0].weight.dtype  # the parameters' (targets may come from a bf16-autocast target critic)
        order = torch.argsort(mask.sum(1), descending=True, stable=True)
        live = mask.sum(0).tolist()  # episodes running at each step
        regression = FlatMLPRegression(self.layers, optimiser.optimizer, optimiser.clip)
        outputs, values = None, targets.new_zeros(targets.shape, dtype=dtype)
        losses, grad_norms = [], []
        # the small per-step operations stay in the parameters' precision under a mixed-precision trainer;
        # closing writes parameters and optimiser state back however the steps end (a refused step included)
        with torch.autocast(inputs.device.type, enabled=False), closing(regression):
            for t in reversed(range(steps)):
                if live[t] == 0:
                    continue
                running, n = order[: live[t]], live[t] * v
                x = inputs[:, t].index_select(0, running).view(n, -1).to(dtype)
                target = targets[:, t].index_select(0, running).view(n).to(dtype)
                taken = actions[:, t].index_select(0, running).view(n) if actions is not None else None
                out, value, loss, grad_norm = regression.step(x, target, taken)
                _require_finite(optimiser, loss, grad_norm)
                regression.apply(grad_norm)
                if outputs is None:
                    outputs = out.new_zeros((b, steps, v, out.shape[-1]))
                outputs[:, t].index_copy_(0, running, out.view(live[t], v, -1))
                values[:, t].index_copy_(0, running, value.view(live[t], v))
                losses.append(loss)
                grad_norms.append(grad_norm)
                self._count_step(regression)
        torch.clear_autocast_cache()  # the weights changed in place: bf16-mixed's cached copies of them are stale
        outputs = outputs if actions is not None else outputs.squeeze(-1)
        return outputs, values, losses, torch.stack(grad_norms).tolist()  # one host read for all steps' norms

    def _count_step(self, regression: FlatMLPRegression | None = None) -> None:
        self.critic_training_steps += 1
        if self.critic_training_steps - self.last_target_update_step >= self.target_update_interval:
            if regression is not None:
                regression.sync()
            self.target_critic.load_state_dict(self.critic.state_dict())
            self.last_target_update_step = self.critic_training_steps

    def state_dict(self) -> dict[str, Any]:
        return {
            "critic_training_steps": self.critic_training_steps,
            "last_target_update_step": self.last_target_update_step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.critic_training_steps = state["critic_training_steps"]
        self.last_target_update_step = state["last_target_update_step"]


def _regressed(output: torch.Tensor, actions: torch.Tensor | None) -> torch.Tensor:
    """The values regressed on the targets: the output itself, or the output at the taken actions."""
    if actions is None:
        return output.squeeze(-1)
    return output.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def _require_finite(optimiser: CriticOptimiser, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
    """One host read per step: a non-finite loss always gives a non-finite gradient norm."""
    if not bool(torch.isfinite(grad_norm)):
        optimiser.require_finite(loss, "critic loss")
        optimiser.require_finite(grad_norm, "critic gradient norm")
