"""pymarl's recurrent agent: one network shared by all agents, told apart by a one-hot id input."""

from __future__ import annotations

import torch
from torch import nn


def one_hot_agent_ids(obs: torch.Tensor) -> torch.Tensor:
    """(..., N, N) identity rows matching obs (..., N, O): agent i's one-hot id."""
    n = obs.shape[-2]
    return torch.eye(n, device=obs.device).expand(*obs.shape[:-2], n, n)


def agent_inputs(obs: torch.Tensor, last_actions_onehot: torch.Tensor | None, obs_agent_id: bool) -> torch.Tensor:
    """pymarl's agent input: obs (..., N, O), then the one-hot last action (..., N, A) and a one-hot agent id."""
    parts = [obs]
    if last_actions_onehot is not None:
        parts.append(last_actions_onehot)
    if obs_agent_id:
        parts.append(one_hot_agent_ids(obs))
    return torch.cat(parts, dim=-1)


class RNNAgent(nn.Module):
    """Linear -> ReLU -> GRUCell -> Linear, giving per-action outputs (logits or Q-values)."""

    def __init__(self, input_dim: int, n_actions: int, hidden_dim: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.rnn = nn.GRUCell(hidden_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, n_actions)

    def initial_hidden(self, *batch_shape: int) -> torch.Tensor:
        return self.fc1.weight.new_zeros(*batch_shape, self.hidden_dim)

    def step(self, inputs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step: inputs (..., in), hidden (..., H) -> outputs (..., A), new hidden."""
        batch_shape = inputs.shape[:-1]
        x = torch.relu(self.fc1(inputs)).reshape(-1, self.hidden_dim)
        h = self.rnn(x, hidden.reshape(-1, self.hidden_dim))
        return self.fc2(h).reshape(*batch_shape, -1), h.reshape(*batch_shape, self.hidden_dim)

    def unroll(self, inputs: torch.Tensor) -> torch.Tensor:
        """Whole sequences from a zero hidden state: inputs (B, T, N, in) -> outputs (B, T, N, A).

        The input layer runs once over all time steps; only the GRU cell steps through time. The steps are
        ``unbind``-ed rather than indexed: the backward of one indexed step writes a zero gradient the
        size of the whole sequence, which made the unroll's backward quadratic in T. The input layer's output
        is laid out time-major once, so each step's rows are a view rather than a copy.
        """
        b, t, n, _ = inputs.shape
        x = torch.relu(self.fc1(inputs)).transpose(0, 1).contiguous()  # (T, B, N, H): each step one block
        h = self.initial_hidden(b * n)
        hiddens = []
        for x_t in x.unbind(0):
            h = self.rnn(x_t.view(b * n, -1), h)
            hiddens.append(h)
        return self.fc2(torch.stack(hiddens, dim=1).reshape(b, n, t, -1).transpose(1, 2))
