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


class _CatSteps(torch.autograd.Function):
    """``torch.cat(steps)`` whose backward is one ``split``.

    torch's own cat backward narrows each step's gradient out of the whole, and under ``create_graph`` (LIIR's
    η step differentiates the unroll's gradient again) every one of those narrows back-propagates as a zero
    tensor of the whole sequence with one step filled in: quadratic in T, 60 ms of a 0.5 s LIIR update on
    smac_2s3z. ``split``'s own backward is a single cat.
    """

    @staticmethod
    def forward(ctx, *steps: torch.Tensor) -> torch.Tensor:
        ctx.sizes = [step.shape[0] for step in steps]
        return torch.cat(steps)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return grad.split(ctx.sizes)


def cat_steps(steps: list[torch.Tensor]) -> torch.Tensor:
    """Per-step tensors (R_t, ...) concatenated into (Σ R_t, ...), with a backward linear in the number of steps."""
    return _CatSteps.apply(*steps)


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

        ``steps`` (B,), if given, is how many leading slots of each sequence are real (default: all T). Only
        those are computed, packed as ``nn.utils.rnn.PackedSequence`` packs them: time-major, and at each
        step the rows of the sequences still running, longest sequences first, so that they are a prefix of
        the previous step's rows. A batch padded to its longest episode is about half padding on SMAC maps
        where a few games time out. Padded slots' outputs are 0.

        The input layer runs once over all packed slots; only the GRU cell steps through time. The packed
        steps are ``split`` and the hidden states ``cat_steps``-ed, never indexed one by one: a per-step index
        back-propagates as a zero tensor of the whole sequence, quadratic in T (twice so under LIIR's double
        backward).
        """
        b, t, n, _ = inputs.shape
        if steps is None:
            steps = torch.full((b,), t, device=inputs.device)
        order = torch.argsort(steps, descending=True, stable=True)
        slots = torch.arange(t, device=inputs.device).unsqueeze(1)  # (T, 1)
        running = steps[order].unsqueeze(0) > slots  # (T, B): sequence order[j] still running at slot t
        packed = (order.unsqueeze(0) * t + slots)[running]  # flat (B·T) slot of each packed row, time-major
        rows_per_step = (running.sum(1) * n).tolist()  # one host read per unroll
        x = torch.relu(self.fc1(inputs.flatten(0, 1).index_select(0, packed)))  # (K, N, H)
        h = self.initial_hidden(b * n)
        hiddens = []
        for x_t in x.view(-1, self.hidden_dim).split(rows_per_step):
            if x_t.shape[0] == 0:
                break
            h = self.rnn(x_t, h[: x_t.shape[0]])
            hiddens.append(h)
        out = self.fc2(cat_steps(hiddens)).view(packed.shape[0], n, -1)
        return out.new_zeros(b * t, n, out.shape[-1]).index_copy(0, packed, out).view(b, t, n, -1)
