"""The stochastic actor shared by the actor-critic learners (COMA, Central-V, IAC, LIIR).

pymarl's shared RNN agent acts with the ε-floor policy π̃ (``multinomial`` selector); its update is one
policy-gradient step on −E[A·log π̃(u)], with log π̃ exactly the behaviour distribution.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from liir import ops
from liir.algos.controller import LinearSchedule, MultiAgentController, SoftmaxPolicy
from liir.data.episode import EpisodeBatch
from liir.envs.base import EnvInfo

Advantages = torch.Tensor | Callable[[torch.Tensor], torch.Tensor]


def make_softmax_policy(
    env_info: EnvInfo,
    rnn_hidden_dim: int,
    obs_agent_id: bool,
    obs_last_action: bool,
    epsilon_start: float,
    epsilon_finish: float,
    epsilon_anneal_time: int,
    mask_before_softmax: bool,
) -> SoftmaxPolicy:
    """A new shared RNN agent (``policy.controller``) acting with π̃, ε annealed over env steps."""
    controller = MultiAgentController(
        env_info.obs_shape, env_info.n_agents, env_info.n_actions, rnn_hidden_dim, obs_agent_id, obs_last_action
    )
    schedule = LinearSchedule(epsilon_start, epsilon_finish, epsilon_anneal_time)
    return SoftmaxPolicy(controller, schedule, mask_before_softmax)


def behaviour_probs(policy: SoftmaxPolicy, batch: EpisodeBatch) -> torch.Tensor:
    """π̃ (B, T, N, A) of the stored transitions at the policy's current parameters and ε (with graph)."""
    logits = policy.controller.unroll(batch)[:, :-1]
    return ops.exploration_probs(logits, batch.avail_actions[:, :-1], policy.epsilon, policy.mask_before_softmax)


def policy_gradient_step(
    policy: SoftmaxPolicy, batch: EpisodeBatch, advantages: Advantages, apply: Callable[[torch.Tensor], float]
) -> dict[str, float]:
    """One policy-gradient step; returns the actor's metrics.

    ``advantages`` (B, T, N), or a function of the (detached) π̃ (B, T, N, A) giving them, for baselines
    that average over the policy (COMA). ``apply(loss)`` takes the optimiser step and returns the
    gradient norm.
    """
    probs = behaviour_probs(policy, batch)
    if callable(advantages):
        advantages = advantages(probs.detach())
    log_pi = ops.taken_log_probs(probs, batch.actions[:, :-1], batch.mask)
    loss = ops.policy_gradient_loss(log_pi, advantages, batch.mask)
    return actor_metrics(policy, batch, probs, advantages, loss, apply(loss))


def actor_metrics(
    policy: SoftmaxPolicy,
    batch: EpisodeBatch,
    probs: torch.Tensor,
    advantages: torch.Tensor,
    loss: torch.Tensor,
    grad_norm: float,
) -> dict[str, float]:
    """The metrics of a policy-gradient step with loss ``loss`` on π̃ ``probs`` (B, T, N, A)."""
    mask = batch.mask.unsqueeze(-1)
    return {
        "pg_loss": float(loss.detach()),
        "agent_grad_norm": grad_norm,
        "advantage_mean": float(ops.masked_mean(advantages, mask)),
        "pi_entropy": float(ops.masked_mean(ops.entropy(probs.detach()), mask)),
        "epsilon": policy.epsilon,
    }
