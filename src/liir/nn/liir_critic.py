"""LIIR's critic (liir-reference §1.2): proxy values, intrinsic rewards and the extrinsic value in one net.

A shared 128-128 trunk reads a COMA-style per-agent input; three heads read the trunk. The trunk and
the proxy-value head belong to the proxy-critic optimiser, the intrinsic-reward and extrinsic-value
heads (η in the code's sense) to the meta optimiser, so the two groups are exposed separately.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn


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
        return self.intrinsic_rewards(features), self.extrinsic_value(features)

    def intrinsic_rewards(self, features: torch.Tensor) -> torch.Tensor:
        """r_in (..., N, A) = s·tanh(x/s) for every action of every agent."""
        s = self.r_in_scale
        return s * torch.tanh(self.r_in_head(features) / s)

    def extrinsic_value(self, features: torch.Tensor) -> torch.Tensor:
        """V_ex (...) from all agents' trunk features (..., N, H)."""
        return self.v_ex_head(features.flatten(-2)).squeeze(-1)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(V_proxy (..., N), r_in (..., N, A), V_ex (...)) for inputs (..., N, in)."""
        features = self.features(inputs)
        return (self.proxy_values(features), *self.eta_heads(features))

    def proxy_layers(self) -> list[nn.Linear]:
        """The linear layers of the V_proxy path, trunk then head (ReLU between them), for fitting by hand."""
        return [*(m for m in self.trunk if isinstance(m, nn.Linear)), self.v_proxy_head]

    def proxy_parameters(self) -> Iterator[nn.Parameter]:
        """Trunk and V_proxy head: the proxy-critic optimiser's parameters."""
        yield from self.trunk.parameters()
        yield from self.v_proxy_head.parameters()

    def eta_parameters(self) -> Iterator[nn.Parameter]:
        """r_in head and V_ex head: the η (meta) optimiser's parameters, as in the authors' code."""
        yield from self.r_in_head.parameters()
        yield from self.v_ex_head.parameters()
