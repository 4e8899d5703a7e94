"""Plain feed-forward critics; which inputs they see is decided by the algorithm that builds them."""

from __future__ import annotations

import torch
from torch import nn


class MLPCritic(nn.Module):
    """Linear -> ReLU -> Linear -> ReLU -> Linear: pymarl's two-layer critic trunk with ``out_dim`` heads.

    Used as V(o_i, i) per agent (IAC) and as V(s) shared by the team (Central-V).
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
