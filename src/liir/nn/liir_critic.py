"""LIIR's critic (liir-reference §1.2): proxy values, intrinsic rewards and the extrinsic value.

A shared 128-128 trunk reads a COMA-style per-agent input; the proxy-value and intrinsic-reward heads read
the trunk. The extrinsic value V_ex is either the paper's V_ex(s; φ), its own network of the global state
alone, or the authors' head on all agents' trunk features (which see every current action). The trunk and
the proxy-value head belong to the proxy-critic optimiser, the intrinsic-reward head and V_ex (η in the
code's sense) to the meta optimiser, so the two groups are exposed separately.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from liir.nn.critics import MLPCritic


class LIIRCritic(nn.Module):
    """Trunk Linear-ReLU-Linear-ReLU; heads V_proxy_i and r_in(·, i) = s·tanh(x/s); V_ex of the state or of all agents.

    ``state_dim`` given: V_ex is an ``MLPCritic`` of the state (``state_value``); ``None``: a linear head on the
    concatenated agents' trunk features (``joint_action_value``, the authors').
    """

    def __init__(
        self,
        input_dim: int,
        n_agents: int,
        n_actions: int,
        hidden_dim: int = 128,
        r_in_scale: float = 10.0,
        state_dim: int | None = None,
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
        self.v_ex_head = nn.Linear(hidden_dim * n_agents, 1) if state_dim is None else None
        self.v_ex_net = MLPCritic(state_dim, hidden_dim) if state_dim is not None else None

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Trunk features (..., N, H) of per-agent inputs (..., N, in)."""
        return self.trunk(inputs)

    def proxy_values(self, features: torch.Tensor) -> torch.Tensor:
        """V_proxy_i (..., N)."""
        return self.v_proxy_head(features).squeeze(-1)

    def intrinsic_rewards(self, features: torch.Tensor) -> torch.Tensor:
        """r_in (..., N, A) = s·tanh(x/s) for every action of every agent.

        The η losses are meant to get ``features.detach()``: the trunk is trained by the proxy-critic
        loss only, and detaching is the modern-PyTorch equivalent of the authors' stale graph (§4.1).
        """
        s = self.r_in_scale
        return s * torch.tanh(self.r_in_head(features) / s)

    def state_value(self, state: torch.Tensor) -> torch.Tensor:
        """V_ex(s; φ) (...) of the global state (..., S): the paper's extrinsic value, blind to observations and
        actions."""
        if self.v_ex_net is None:
            raise ValueError("this critic's V_ex is the joint-action head; call joint_action_value")
        return self.v_ex_net(state).squeeze(-1)

    def joint_action_value(self, features: torch.Tensor) -> torch.Tensor:
        """The authors' V_ex (...) from all agents' trunk features (..., N, H), whatever the batch size."""
        if self.v_ex_head is None:
            raise ValueError("this critic's V_ex is a network of the state; call state_value")
        return self.v_ex_head(features.flatten(-2)).squeeze(-1)

    def proxy_layers(self) -> list[nn.Linear]:
        """The linear layers of the V_proxy path, trunk then head (ReLU between them), for fitting by hand."""
        return [*(m for m in self.trunk if isinstance(m, nn.Linear)), self.v_proxy_head]

    def proxy_parameters(self) -> Iterator[nn.Parameter]:
        """Trunk and V_proxy head: the proxy-critic optimiser's parameters."""
        yield from self.trunk.parameters()
        yield from self.v_proxy_head.parameters()

    def eta_parameters(self) -> Iterator[nn.Parameter]:
        """r_in head and V_ex: the η (meta) optimiser's parameters, as in the authors' code."""
        yield from self.r_in_head.parameters()
        yield from (self.v_ex_net if self.v_ex_net is not None else self.v_ex_head).parameters()
