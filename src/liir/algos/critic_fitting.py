"""Regressing a critic on fixed return targets, shared by every actor-critic learner (COMA, Central-V, IAC, LIIR).

pymarl trains the critic either one optimiser step per time step, backwards in time (``seq``: later
steps' updates are seen by earlier ones), or once over the whole batch (``batch``), and copies the
critic into its target network every ``target_update_interval`` critic steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import nn

from liir.ops import masked_mean

Predict = Callable[[int | slice], torch.Tensor]
Taken = Callable[[torch.Tensor, int | slice], torch.Tensor]
ApplyLoss = Callable[[torch.Tensor], float]


def _whole(output: torch.Tensor, t: int | slice) -> torch.Tensor:
    return output


class CriticFitter:
    """Fits ``critic`` to targets and hard-updates ``target_critic``; its step counters go into checkpoints."""

    def __init__(
        self,
        critic: nn.Module,
        target_critic: nn.Module,
        mode: Literal["seq", "batch"],
        target_update_interval: int,
    ) -> None:
        self.critic, self.target_critic = critic, target_critic
        self.mode = mode
        self.target_update_interval = target_update_interval
        self.critic_training_steps = 0
        self.last_target_update_step = 0

    def fit(
        self, predict: Predict, targets: torch.Tensor, mask: torch.Tensor, apply: ApplyLoss, taken: Taken = _whole
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Regress on ``targets`` (B, T, V); return the critic's outputs before each update, and metrics.

        ``predict(t)`` evaluates the critic at time index ``t`` (an int, or a slice of all steps in
        ``batch`` mode); ``taken(output, t)`` picks the values regressed on the targets (default: the
        output itself; COMA picks Q at the taken actions); ``apply(loss)`` takes one optimiser step and
        returns the gradient norm.
        """
        targets = targets.detach()
        if self.mode == "batch":
            outputs, values, losses, grad_norms = self._fit_batch(predict, targets, mask, apply, taken)
        else:
            outputs, values, losses, grad_norms = self._fit_sequence(predict, targets, mask, apply, taken)
        mask3 = mask.unsqueeze(-1)
        metrics = {
            "critic_loss": float(torch.stack(losses).mean()),
            "critic_grad_norm": sum(grad_norms) / len(grad_norms),
            "td_error_abs": float(masked_mean((targets - values).abs(), mask3)),
            "value_mean": float(masked_mean(values, mask3)),
            "target_mean": float(masked_mean(targets, mask3)),
        }
        return outputs, metrics

    def _fit_batch(self, predict: Predict, targets, mask, apply: ApplyLoss, taken: Taken):
        all_steps = slice(0, targets.shape[1])
        output = predict(all_steps)
        values = taken(output, all_steps)
        loss = masked_mean((values - targets) ** 2, mask.unsqueeze(-1))
        grad_norm = apply(loss)
        self._count_step()
        return output.detach(), values.detach(), [loss.detach()], [grad_norm]

    def _fit_sequence(self, predict: Predict, targets, mask, apply: ApplyLoss, taken: Taken):
        steps = targets.shape[1]
        outputs, values = None, torch.zeros_like(targets)
        losses, grad_norms = [], []
        for t in reversed(range(steps)):
            if not bool(mask[:, t].any()):
                continue
            output = predict(t)
            v_t = taken(output, t)
            loss = masked_mean((v_t - targets[:, t]) ** 2, mask[:, t].unsqueeze(-1))
            grad_norms.append(apply(loss))
            losses.append(loss.detach())
            if outputs is None:
                outputs = output.new_zeros((output.shape[0], steps) + output.shape[1:])
            outputs[:, t], values[:, t] = output.detach(), v_t.detach()
            self._count_step()
        return outputs, values, losses, grad_norms

    def _count_step(self) -> None:
        self.critic_training_steps += 1
        if self.critic_training_steps - self.last_target_update_step >= self.target_update_interval:
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
