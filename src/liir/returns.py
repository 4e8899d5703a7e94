"""Return targets for actor-critic learners (pure tensor functions, tested against hand computations)."""

from __future__ import annotations

import torch


def lambda_returns(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminated: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    td_lambda: float,
) -> torch.Tensor:
    """TD(λ) returns G_t = r_t + γ(1 − d_t)[(1 − λ)V_{t+1} + λG_{t+1}] for every real transition.

    Shapes: ``rewards``, ``terminated``, ``mask`` are (B, T) or broadcastable to ``values[:, :-1]``;
    ``values`` is (B, T+1, ...), slot t holding V of the state before transition t. The return after an
    episode's last transition is the value of its final state, so a time-limited episode (mask ends,
    ``terminated`` False) bootstraps from V(s_L) while a terminated one does not bootstrap at all. On
    padded slots (mask False) the result is V_t; callers mask those entries out of their losses.
    Gradients flow into ``rewards`` and ``values``.
    """
    extra_dims = values.dim() - 2
    expand = (slice(None), slice(None)) + (None,) * extra_dims
    rewards = rewards if rewards.dim() == values.dim() else rewards[expand]
    not_done = (~terminated[expand]).to(values.dtype)
    mask = mask[expand]
    steps = rewards.shape[1]
    ret = values[:, steps]
    out = []
    for t in range(steps - 1, -1, -1):
        bootstrap = (1.0 - td_lambda) * values[:, t + 1] + td_lambda * ret
        ret = torch.where(mask[:, t], rewards[:, t] + gamma * not_done[:, t] * bootstrap, values[:, t])
        out.append(ret)
    return torch.stack(out[::-1], dim=1)
