"""What every liir LightningModule shares: the env-step clock, rollout bookkeeping and checkpoint extras."""

from __future__ import annotations

import random
from typing import Any, TypedDict

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn

from liir.algos.controller import ExplorationPolicy
from liir.data.runner import Rollout
from liir.envs.base import EnvInfo


class NonFiniteLossError(FloatingPointError):
    """A loss, a gradient or a weight became NaN or infinite; training stops instead of writing corrupted weights."""


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


class StepOutputs(TypedDict):
    """What ``training_step`` returns and the callbacks receive as ``outputs``."""

    rollout: Rollout  # the episodes this update learned from (their stats and the env's counters)
    metrics: dict[str, float]  # the learner's scalar metrics


def rmsprop(params, lr: float, alpha: float, eps: float) -> torch.optim.RMSprop:
    """pymarl's optimiser: RMSprop without momentum."""
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, eps=eps)


class MARLModule(pl.LightningModule):
    """Base of all algorithms: manual optimisation driven by rollouts, with ``t_env`` as the clock.

    Subclasses provide ``policy`` (what the runner acts with; its ε follows ``t_env``) and
    ``learn(rollout)`` (the update). ``training_step`` returns ``{"rollout": …, "metrics": …}``, which the
    logging callbacks read as the step's ``outputs``.
    """

    policy: ExplorationPolicy

    def __init__(self, env_info: EnvInfo) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.env_info = env_info
        self.t_env = 0
        self.episodes = 0

    def learn(self, rollout: Rollout) -> dict[str, float]:
        """Update the networks from ``rollout``; return scalar learner metrics."""
        raise NotImplementedError

    def training_step(self, dataloader_iter) -> StepOutputs:
        self.policy.set_t_env(self.t_env)  # the next rollout is collected with this ε
        rollout: Rollout = next(dataloader_iter)[0]  # Lightning yields (batch, batch_idx, dataloader_idx)
        self.t_env += rollout.env_steps
        self.episodes += rollout.batch.batch_size
        return {"rollout": rollout, "metrics": self.learn(rollout)}

    def unwrapped_optimizer(self, index: int) -> torch.optim.Optimizer:
        """The torch optimiser behind ``self.optimizers()[index]`` (Lightning wraps it), for hand-written steps."""
        optimizer = self.optimizers()[index]
        return getattr(optimizer, "optimizer", optimizer)

    def optimise(
        self, optimizer, loss: torch.Tensor, params: list[nn.Parameter], clip: float | None, name: str
    ) -> float:
        """One manual optimiser step on ``loss``; returns the gradient norm before clipping.

        A non-finite loss or gradient norm stops training before ``optimizer.step()``: clipping an infinite norm
        multiplies the gradients by 0, which turns their infinite entries into NaN weights.
        """
        self.require_finite(loss, f"{name} loss")
        optimizer.zero_grad()
        self.manual_backward(loss)
        return self._clip_and_step(optimizer, params, clip, name)

    def optimise_with_gradients(
        self,
        optimizer,
        loss: torch.Tensor,
        params: list[nn.Parameter],
        grads: list[torch.Tensor],
        clip: float | None,
        name: str,
    ) -> float:
        """``optimise`` when the gradients of ``loss`` were already computed along with something else."""
        self.require_finite(loss, f"{name} loss")
        optimizer.zero_grad()
        for param, grad in zip(params, grads, strict=True):
            param.grad = grad
        return self._clip_and_step(optimizer, params, clip, name)

    def _clip_and_step(self, optimizer, params: list[nn.Parameter], clip: float | None, name: str) -> float:
        max_norm = clip if clip is not None else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        self.require_finite(grad_norm, f"{name} gradient norm")
        optimizer.step()
        # Under trainer.precision=bf16-mixed autocast caches its low-precision copy of each weight until the
        # training step ends; after an in-place step that copy is stale, and the next forward (the seq critic's
        # next time step, LIIR's next pass) would still read the old weights.
        torch.clear_autocast_cache()
        return float(grad_norm)

    def require_finite(self, value: torch.Tensor, what: str) -> None:
        if not bool(torch.isfinite(value)):
            raise NonFiniteLossError(
                f"{what} is {float(value.detach())} at t_env={self.t_env}: training stopped before the "
                f"update; lower the learning rate or check the rewards"
            )

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
        self.policy.set_t_env(self.t_env)
