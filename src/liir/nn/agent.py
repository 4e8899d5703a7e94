"""pymarl's recurrent agent: one network shared by all agents, told apart by a one-hot id input."""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


class _StackSteps(torch.autograd.Function):
    """``torch.stack(steps, dim=1)`` whose backward is one ``unbind``.

    torch's own stack backward ``select``s each step's gradient, and under ``create_graph`` (LIIR's η step
    differentiates the unroll's gradient again) every one of those selects back-propagates as a zero tensor
    of the whole stack with one step filled in: quadratic in T, 60 ms of a 0.5 s LIIR update on smac_2s3z.
    ``unbind``'s own backward is a single stack.
    """

    @staticmethod
    def forward(ctx, *steps: torch.Tensor) -> torch.Tensor:
        return torch.stack(steps, dim=1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return grad.unbind(1)


def stack_steps(steps: list[torch.Tensor]) -> torch.Tensor:
    """Per-step tensors (R, ...) stacked time-second into (R, T, ...), with a backward linear in T."""
    return _StackSteps.apply(*steps)


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

    def unroll(self, inputs: torch.Tensor, steps: torch.Tensor | None = None) -> torch.Tensor:
        """Whole sequences from a zero hidden state: inputs (B, T, N, in) -> outputs (B, T, N, A).

        ``steps`` (B,), if given, is how many leading slots of each sequence are real: the GRU cell then
        steps only the rows of sequences still running, because a batch padded to its longest episode is
        mostly padding on maps where a few games time out (on 2s3z about 40% of the row-steps). Sequences
        are sorted longest first so the running rows are always a prefix, a view. A padded slot's output
        is ``fc2`` of a zero hidden state: finite, and for the caller to mask.

        The input layer runs once over all time steps; only the GRU cell steps through time. The steps are
        ``unbind``-ed rather than indexed: the backward of one indexed step writes a zero gradient the
        size of the whole sequence, which made the unroll's backward quadratic in T. The input layer's output
        is laid out time-major once, so each step's rows are a view rather than a copy.
        """
        b, t, n, _ = inputs.shape
        order = None if steps is None else torch.argsort(steps, descending=True, stable=True)
        if order is not None:
            inputs = inputs.index_select(0, order)
        x = torch.relu(self.fc1(inputs)).transpose(0, 1).contiguous()  # (T, B, N, H): each step one block
        rows = b * n
        running = [rows] * t if steps is None else self._running_rows(steps[order], t, n)
        h = self.initial_hidden(rows)
        hiddens = []
        for x_t, live in zip(x.unbind(0), running, strict=True):
            h = self.rnn(x_t.view(rows, -1)[:live], h[:live])
            hiddens.append(h if live == rows else F.pad(h, (0, 0, 0, rows - live)))
        out = self.fc2(stack_steps(hiddens).reshape(b, n, t, -1).transpose(1, 2))
        return out if order is None else out.index_select(0, torch.argsort(order))

    @staticmethod
    def _running_rows(sorted_steps: torch.Tensor, t: int, n: int) -> list[int]:
        """Rows (sequence x agent) still running at each of ``t`` slots, for sequences sorted longest first;
        read on the host once per unroll."""
        slots = torch.arange(t, device=sorted_steps.device)
        return ((sorted_steps.unsqueeze(0) > slots.unsqueeze(1)).sum(1) * n).tolist()
