"""What every liir LightningModule shares: the env-step clock, rollout bookkeeping and checkpoint extras."""

from __future__ import annotations

import random
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn

from liir.data.runner import Policy, Rollout
from liir.envs.base import EnvInfo


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; training stops instead of writing corrupted weights."""


def capture_rng_states() -> dict[str, Any]:
    """Every random stream the learner draws from (action sampling, shuffling, initialisation)."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


class MARLModule(pl.LightningModule):
    """Base of all algorithms: manual optimisation driven by rollouts, with ``t_env`` as the clock.

    Subclasses provide ``policy`` (what the runner acts with) and ``learn(rollout)`` (the update). After
    each step ``last_rollout`` and ``last_metrics`` hold what the logging callbacks report.
    """

    policy: Policy

    def __init__(self, env_info: EnvInfo) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.env_info = env_info
        self.t_env = 0
        self.episodes = 0
        self.last_rollout: Rollout | None = None
        self.last_metrics: dict[str, float] = {}

    def learn(self, rollout: Rollout) -> dict[str, float]:
        """Update the networks from ``rollout``; return scalar learner metrics."""
        raise NotImplementedError

    def before_rollout(self) -> None:
        """Hook run just before the next training rollout is collected (e.g. set ε from ``t_env``)."""

    def training_step(self, dataloader_iter) -> None:
        self.before_rollout()
        rollout: Rollout = next(dataloader_iter)[0]  # Lightning yields (batch, batch_idx, dataloader_idx)
        self.t_env += rollout.env_steps
        self.episodes += rollout.batch.batch_size
        self.last_metrics = self.learn(rollout)
        self.last_rollout = rollout

    def optimise(
        self, optimizer, loss: torch.Tensor, params: list[nn.Parameter], clip: float | None, name: str
    ) -> float:
        """One manual optimiser step on ``loss``; returns the gradient norm before clipping."""
        if not bool(torch.isfinite(loss)):
            raise NonFiniteLossError(
                f"{name} loss is {float(loss)} at t_env={self.t_env}: training stopped before the "
                f"update; lower the learning rate or check the rewards."
            )
        optimizer.zero_grad()
        self.manual_backward(loss)
        max_norm = clip if clip is not None else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        optimizer.step()
        return float(grad_norm)

    def extra_state(self) -> dict[str, Any]:
        """Counters of subclasses that must survive a resume."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what ``extra_state`` returned."""

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["liir_module"] = {
            "t_env": self.t_env,
            "episodes": self.episodes,
            "rng": capture_rng_states(),
            "extra": self.extra_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["liir_module"]
        self.t_env, self.episodes = state["t_env"], state["episodes"]
        restore_rng_states(state["rng"])
        self.load_extra_state(state["extra"])
