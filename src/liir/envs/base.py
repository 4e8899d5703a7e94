"""The batched environment protocol every liir environment speaks.

An environment is a batch of ``B`` independent copies that exchange torch tensors on one device. The
runner, the algorithms and the benchmarks only ever see this protocol, so the 1D pursuit game, the
built-in SMAC simulator and the real-game subprocess pool are interchangeable.

Episode life cycle: ``reset()`` starts an episode in every copy (or in the copies selected by
``mask``). ``step(actions)`` advances every copy whose episode is still running; a copy whose episode
has ended ignores its actions and reports zero reward until it is reset. ``done`` tells which copies
have ended.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class EnvInfo:
    """Static sizes of a batched environment (pymarl's ``get_env_info`` plus the batch)."""

    n_agents: int
    n_actions: int
    obs_shape: int
    state_shape: int
    episode_limit: int
    batch_size: int
    device: torch.device
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class EnvOutput:
    """What ``reset`` and ``step`` return; shapes use B copies, N agents, A actions.

    ``terminated`` is the learner's terminal flag (no bootstrap past it); ``episode_limit`` says the
    time limit was reached at this step. An episode ends when either is set. ``extras`` carries
    environment-specific per-step tensors with a leading B dimension (for example the pursuit game's
    good/bad action labels). ``aborted`` (B,) bool, when set, marks copies whose episode is void (the
    real-game pool restarted a failed worker): the copy has ended and the runner drops its episode.
    Every tensor is new to this call and never written by the env afterwards: the runner keeps them until the
    rollout ends.
    """

    obs: torch.Tensor  # (B, N, O) float
    state: torch.Tensor  # (B, S) float
    avail_actions: torch.Tensor  # (B, N, A) bool
    reward: torch.Tensor  # (B,) float
    terminated: torch.Tensor  # (B,) bool
    episode_limit: torch.Tensor  # (B,) bool
    battle_won: torch.Tensor  # (B,) bool
    dead_allies: torch.Tensor  # (B,) long
    dead_enemies: torch.Tensor  # (B,) long
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    aborted: torch.Tensor | None = None  # (B,) bool

    @property
    def ended(self) -> torch.Tensor:
        """(B,) bool: the episode ended at this step (terminal or time limit)."""
        return self.terminated | self.episode_limit


class UnavailableActionError(ValueError):
    """An agent chose an action that is not available to it (SMAC asserts on this)."""


def unavailable_choices(actions: torch.Tensor, avail_actions: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """(B, N) bool: the ``active`` copies' agents whose action is out of range or not available."""
    n_actions = avail_actions.shape[-1]
    in_range = (actions >= 0) & (actions < n_actions)
    chosen_ok = avail_actions.gather(-1, actions.clamp(0, n_actions - 1).unsqueeze(-1)).squeeze(-1)
    return ~(in_range & chosen_ok) & active.unsqueeze(-1)


def check_actions_available(actions: torch.Tensor, avail_actions: torch.Tensor, active: torch.Tensor) -> None:
    """Raise ``UnavailableActionError`` naming env, agent and action for the first illegal choice.

    Only copies with ``active`` True are checked; ended copies ignore their actions.
    """
    bad = unavailable_choices(actions, avail_actions, active)
    if bool(bad.any()):
        env_idx, agent_idx = (int(i) for i in bad.nonzero()[0])
        action = int(actions[env_idx, agent_idx])
        allowed = avail_actions[env_idx, agent_idx].nonzero().flatten().tolist()
        raise UnavailableActionError(
            f"env {env_idx}, agent {agent_idx}: action {action} is not available (available actions: {allowed})"
        )


class BatchedEnv(ABC):
    """Abstract batch of ``B`` environments; see the module docstring for the contract."""

    info: EnvInfo

    @property
    @abstractmethod
    def done(self) -> torch.Tensor:
        """(B,) bool: the copy's current episode has ended and awaits ``reset``."""

    @abstractmethod
    def reset(self, mask: torch.Tensor | None = None) -> EnvOutput:
        """Start new episodes in all copies, or only where ``mask`` (B,) is True.

        Returns the full batch's observation; reward and flags are zero.
        """

    @abstractmethod
    def step(self, actions: torch.Tensor) -> EnvOutput:
        """Apply ``actions`` (B, N) long to every running copy.

        Raises ``UnavailableActionError`` for an unavailable action of a running copy.
        """

    def rng_state(self) -> Any:
        """The environment's random state, stored in checkpoints so a resumed run continues exactly."""
        return None

    def load_rng_state(self, state: Any) -> None:
        """Restore what ``rng_state`` returned."""

    def counters(self) -> dict[str, float]:
        """Cumulative event counts logged with the training metrics (e.g. the real game's ``sc2_restarts``)."""
        return {}

    def close(self) -> None:
        """Release resources (processes, files); a no-op for in-process tensor environments."""
