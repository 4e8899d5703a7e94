"""LIIR's critic (liir-reference §1.2): proxy values, intrinsic rewards and the extrinsic value in one net.

A shared 128-128 trunk reads a COMA-style per-agent input; three heads read the trunk. The trunk and
the proxy-value head belong to the proxy-critic optimiser, the intrinsic-reward and extrinsic-value
heads (η in the code's sense) to the meta optimiser, so the two groups are exposed separately.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from liir.algos.controller import one_hot_agent_ids


def liir_critic_input_dim(state_shape: int, obs_shape: int, n_agents: int, n_actions: int) -> int:
    """Size of one agent's critic input: state + obs + 2·N·A + N."""
    return state_shape + obs_shape + 2 * n_agents * n_actions + n_agents


def liir_critic_inputs(
    state: torch.Tensor,
    obs: torch.Tensor,
    actions_onehot: torch.Tensor,
    last_actions_onehot: torch.Tensor,
) -> torch.Tensor:
    """Per-agent critic inputs (..., N, S + O + 2NA + N) from state (..., S), obs (..., N, O), actions (..., N, A).

    Order as the authors: state, own obs, every agent's current action with agent i's own block
    zeroed (so V_proxy_i is a baseline that does not see u_i), all last actions, one-hot id.
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


class LIIRCritic(nn.Module):
    """Trunk Linear-ReLU-Linear-ReLU; heads V_proxy_i, r_in(·, i) = s·tanh(x/s) and V_ex over all agents."""

    def __init__(
        self,
        input_dim: int,
        n_agents: int,
        n_actions: int,
        hidden_dim: int = 128,
        r_in_scale: float = 10.0,
    ) -> None:
        super().__init__()
        self.r_in_scale = r_in_scale
        self.trunk = nn.Sequential(
            nn.Linear(input_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
        )
        self.v_proxy_head = nn.Linear(hidden_dim, 1)
        self.r_in_head = nn.Linear(hidden_dim, n_actions)
        self.v_ex_head = nn.Linear(hidden_dim * n_agents, 1)

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Trunk features (..., N, H) of per-agent inputs (..., N, in)."""
        return self.trunk(inputs)

    def proxy_values(self, features: torch.Tensor) -> torch.Tensor:
        """V_proxy_i (..., N)."""
        return self.v_proxy_head(features).squeeze(-1)

    def eta_heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """r_in (..., N, A) and V_ex (...) from trunk features.

        The η losses are meant to get ``features.detach()``: the trunk is trained by the proxy-critic
        loss only, and detaching is the modern-PyTorch equivalent of the authors' stale graph (§4.1).
        V_ex reads the concatenated agents' features of the batch at hand, whatever its size.
        """
        s = self.r_in_scale
        r_in = s * torch.tanh(self.r_in_head(features) / s)
        v_ex = self.v_ex_head(features.flatten(-2)).squeeze(-1)
        return r_in, v_ex

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(V_proxy (..., N), r_in (..., N, A), V_ex (...)) for inputs (..., N, in)."""
        features = self.features(inputs)
        return (self.proxy_values(features), *self.eta_heads(features))

    def proxy_parameters(self) -> Iterator[nn.Parameter]:
        """Trunk and V_proxy head: the proxy-critic optimiser's parameters."""
        yield from self.trunk.parameters()
        yield from self.v_proxy_head.parameters()

    def eta_parameters(self) -> Iterator[nn.Parameter]:
        """r_in head and V_ex head: the η (meta) optimiser's parameters, as in the authors' code."""
        yield from self.r_in_head.parameters()
        yield from self.v_ex_head.parameters()
