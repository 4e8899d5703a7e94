"""Value-decomposition mixers: combine per-agent Q-values into one joint Q_tot for centralised training.

Both take agent Q-values (..., N) and the global state (..., S) and return Q_tot (..., 1), so the
learner treats "no mixer" (IQL, Q of shape (..., N)) and a mixer alike.
"""

from __future__ import annotations

import torch
from torch import nn

HYPERNET_LAYERS = (1, 2)


class VDNMixer(nn.Module):
    """VDN: Q_tot = Σ_i Q_i. Sizes and state are accepted for the interface every mixer shares, and unused."""

    def __init__(self, n_agents: int, state_dim: int) -> None:
        super().__init__()

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        return agent_qs.sum(-1, keepdim=True)


def hypernet(state_dim: int, out_dim: int, layers: int, embed: int) -> nn.Module:
    """State -> mixing weights: one Linear (pymarl's SMAC-beta setting) or Linear-ReLU-Linear (SMAC v1)."""
    if layers == 1:
        return nn.Linear(state_dim, out_dim)
    if layers == 2:
        return nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, out_dim))
    raise ValueError(f"hypernet_layers={layers!r} is not supported; use one of {HYPERNET_LAYERS}")


class QMixer(nn.Module):
    """QMIX: a one-hidden-layer monotone mixing network whose weights are generated from the state.

    Monotonicity ∂Q_tot/∂Q_i >= 0 holds because both weight matrices pass through ``abs`` and the
    hidden activation (ELU) is increasing; the biases, including the final V(s), are unconstrained.
    """

    def __init__(
        self, n_agents: int, state_dim: int, mixing_embed_dim: int, hypernet_layers: int, hypernet_embed: int
    ) -> None:
        super().__init__()
        self.n_agents, self.embed_dim = n_agents, mixing_embed_dim
        self.hyper_w1 = hypernet(state_dim, n_agents * mixing_embed_dim, hypernet_layers, hypernet_embed)
        self.hyper_w_final = hypernet(state_dim, mixing_embed_dim, hypernet_layers, hypernet_embed)
        self.hyper_b1 = nn.Linear(state_dim, mixing_embed_dim)
        self.v = nn.Sequential(nn.Linear(state_dim, mixing_embed_dim), nn.ReLU(), nn.Linear(mixing_embed_dim, 1))

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """agent_qs (..., N), states (..., S) -> Q_tot (..., 1)."""
        lead = agent_qs.shape[:-1]
        w1 = self.hyper_w1(states).abs().reshape(*lead, self.n_agents, self.embed_dim)
        b1 = self.hyper_b1(states)
        hidden = nn.functional.elu((agent_qs.unsqueeze(-2) @ w1).squeeze(-2) + b1)  # (..., E)
        w_final = self.hyper_w_final(states).abs()
        return (hidden * w_final).sum(-1, keepdim=True) + self.v(states)
