"""Pre-allocated episode storage shared by the runner, the replay buffer and every learner.

A batch of ``B`` episodes padded to ``T`` transitions (``T`` = the environment's episode limit, or the
longest episode after ``truncated()``): slot ``t`` of the state-like tensors holds what was observed
before transition ``t``, so they have ``T + 1`` slots, while rewards and flags have ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import torch
import torch.nn.functional as F


@dataclass
class EpisodeBatch:
    """Tensors of ``B`` padded episodes (N agents, O obs size, S state size, A actions).

    ``actions[:, t]`` is the joint action taken at slot ``t``; like pymarl, the slot after an
    episode's last transition also holds an action chosen (not executed) at the final state, which
    critics conditioned on actions use for bootstrapping. ``filled[:, t]`` marks slots that hold an
    observed state; ``mask[:, t]`` marks real transitions.
    """

    obs: torch.Tensor  # (B, T+1, N, O) float
    state: torch.Tensor  # (B, T+1, S) float
    avail_actions: torch.Tensor  # (B, T+1, N, A) bool
    actions: torch.Tensor  # (B, T+1, N) long
    filled: torch.Tensor  # (B, T+1) bool
    reward: torch.Tensor  # (B, T) float
    terminated: torch.Tensor  # (B, T) bool, no bootstrap past this transition
    mask: torch.Tensor  # (B, T) bool, transition t is real
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # (B, T, ...) per transition

    @classmethod
    def empty(
        cls,
        batch_size: int,
        max_steps: int,
        n_agents: int,
        obs_shape: int,
        state_shape: int,
        n_actions: int,
        device: torch.device | str,
    ) -> EpisodeBatch:
        b, t = batch_size, max_steps
        return cls(
            obs=torch.zeros(b, t + 1, n_agents, obs_shape, device=device),
            state=torch.zeros(b, t + 1, state_shape, device=device),
            avail_actions=torch.zeros(b, t + 1, n_agents, n_actions, dtype=torch.bool, device=device),
            actions=torch.zeros(b, t + 1, n_agents, dtype=torch.long, device=device),
            filled=torch.zeros(b, t + 1, dtype=torch.bool, device=device),
            reward=torch.zeros(b, t, device=device),
            terminated=torch.zeros(b, t, dtype=torch.bool, device=device),
            mask=torch.zeros(b, t, dtype=torch.bool, device=device),
        )

    @property
    def batch_size(self) -> int:
        return self.obs.shape[0]

    @property
    def max_steps(self) -> int:
        return self.reward.shape[1]

    @property
    def n_agents(self) -> int:
        return self.obs.shape[2]

    @property
    def n_actions(self) -> int:
        return self.avail_actions.shape[-1]

    @property
    def device(self) -> torch.device:
        return self.obs.device

    @property
    def lengths(self) -> torch.Tensor:
        """(B,) long: number of real transitions per episode."""
        return self.mask.sum(1)

    @property
    def actions_onehot(self) -> torch.Tensor:
        """(B, T+1, N, A) float one-hot of ``actions``."""
        return F.one_hot(self.actions, self.n_actions).float()

    @property
    def last_actions_onehot(self) -> torch.Tensor:
        """(B, T+1, N, A) float: the one-hot action of the previous slot, zeros at t = 0."""
        onehot = self.actions_onehot
        return torch.cat([torch.zeros_like(onehot[:, :1]), onehot[:, :-1]], dim=1)

    def _map(self, fn) -> EpisodeBatch:
        tensors = {f.name: fn(getattr(self, f.name)) for f in fields(self) if f.name != "extras"}
        return replace(self, **tensors, extras={k: fn(v) for k, v in self.extras.items()})

    def truncated(self) -> EpisodeBatch:
        """Drop the padding after the longest episode (keeps one slot past its last transition)."""
        t = max(int(self.lengths.max()), 1)
        return replace(
            self,
            obs=self.obs[:, : t + 1],
            state=self.state[:, : t + 1],
            avail_actions=self.avail_actions[:, : t + 1],
            actions=self.actions[:, : t + 1],
            filled=self.filled[:, : t + 1],
            reward=self.reward[:, :t],
            terminated=self.terminated[:, :t],
            mask=self.mask[:, :t],
            extras={k: v[:, :t] for k, v in self.extras.items()},
        )

    def to(self, device: torch.device | str) -> EpisodeBatch:
        return self._map(lambda x: x.to(device))

    def index(self, idx: torch.Tensor | slice) -> EpisodeBatch:
        """Select episodes along the batch dimension."""
        return self._map(lambda x: x[idx])
