"""Plain feed-forward critics; which inputs they see is decided by the algorithm that builds them."""

from __future__ import annotations

import torch
from torch import nn

from liir.nn.agent import one_hot_agent_ids


def coma_critic_input_dim(state_shape: int, obs_shape: int, n_agents: int, n_actions: int) -> int:
    """Size of one agent's COMA-style critic input: state + obs + 2·N·A + N."""
    return state_shape + obs_shape + 2 * n_agents * n_actions + n_agents


def coma_critic_inputs(
    state: torch.Tensor,
    obs: torch.Tensor,
    actions_onehot: torch.Tensor,
    last_actions_onehot: torch.Tensor,
) -> torch.Tensor:
    """Per-agent critic inputs (..., N, S + O + 2NA + N) from state (..., S), obs (..., N, O), actions (..., N, A).

    Order as the authors: state, own obs, every agent's current action with agent i's own block
    zeroed (agent i's value or baseline must not see u_i), all last actions, one-hot id.
    Leading dims are free, so one time slot (B, ...) works as well as whole episodes (B, T, ...).
    """
    n, a = actions_onehot.shape[-2:]
    lead = actions_onehot.shape[:-2]
    others = 1.0 - torch.eye(n, dtype=actions_onehot.dtype, device=actions_onehot.device)
    current = (others.unsqueeze(-1) * actions_onehot.unsqueeze(-3)).reshape(*lead, n, n * a)
    last = last_actions_onehot.reshape(*lead, 1, n * a).expand(*lead, n, n * a)
    state = state.unsqueeze(-2).expand(*lead, n, state.shape[-1])
    ids = one_hot_agent_ids(obs).to(obs.dtype)
    return torch.cat([state, obs, current, last, ids], dim=-1)


class MLPCritic(nn.Module):
    """Linear -> ReLU -> Linear -> ReLU -> Linear: pymarl's two-layer critic trunk with ``out_dim`` heads.

    Used as V(o_i, i) per agent (IAC), as V(s) shared by the team (Central-V) and as COMA's Q(·, u_i) for
    every action of agent i.
    """

    def __init__(self, input_dim: int, hidden_dim: int, out_dim: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(input_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs)

    def layers(self) -> list[nn.Linear]:
        """The linear layers in order (ReLU between them), for fitting the critic by hand."""
        return [m for m in self.net if isinstance(m, nn.Linear)]
