"""On-policy actor-critic learners sharing one rollout/loss skeleton: IAC, Central-V and COMA.

The actor is pymarl's shared RNN agent acting with the ε-floor policy π̃; the critic is trained on
TD(λ) targets from a hard-updated target critic, either one optimiser step per time step as pymarl's
``seq`` mode or one step over the whole batch (``batch``). The policy gradient uses the advantage
G_t − V at the taken actions, with log π̃ exactly the behaviour distribution.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import nn

from liir.algos.base import MARLModule
from liir.algos.controller import (
    LinearSchedule,
    MultiAgentController,
    SoftmaxPolicy,
    exploration_probs,
    one_hot_agent_ids,
)
from liir.data.episode import EpisodeBatch
from liir.data.runner import Rollout
from liir.envs.base import EnvInfo
from liir.nn.critics import MLPCritic, coma_critic_input_dim, coma_critic_inputs
from liir.returns import lambda_returns

CRITIC_TRAIN_MODES = ("seq", "batch")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over entries where ``mask`` (broadcastable to x) is True."""
    mask = mask.expand_as(x).to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def taken_log_probs(probs: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log π(u) (B, T, N) of the taken actions; 0 on padded transitions (where probabilities are 0)."""
    taken = probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    return torch.log(torch.where(mask.unsqueeze(-1), taken, torch.ones_like(taken)))


class ActorCritic(MARLModule):
    """Skeleton of the on-policy actor-critic family; subclasses choose what the critic sees."""

    def __init__(
        self,
        env_info: EnvInfo,
        lr: float,
        critic_lr: float,
        optim_alpha: float,
        optim_eps: float,
        grad_norm_clip: float,
        gamma: float,
        td_lambda: float,
        target_update_interval: int,
        critic_train_mode: Literal["seq", "batch"],
        epsilon_start: float,
        epsilon_finish: float,
        epsilon_anneal_time: int,
        mask_before_softmax: bool,
        rnn_hidden_dim: int,
        critic_hidden_dim: int,
        obs_agent_id: bool,
        obs_last_action: bool,
    ) -> None:
        super().__init__(env_info)
        if critic_train_mode not in CRITIC_TRAIN_MODES:
            raise ValueError(f"critic_train_mode must be one of {CRITIC_TRAIN_MODES}, got {critic_train_mode!r}")
        self.save_hyperparameters(ignore=["env_info"])
        self.controller = MultiAgentController(
            env_info.obs_shape,
            env_info.n_agents,
            env_info.n_actions,
            rnn_hidden_dim,
            obs_agent_id,
            obs_last_action,
        )
        schedule = LinearSchedule(epsilon_start, epsilon_finish, epsilon_anneal_time)
        self.policy = SoftmaxPolicy(self.controller, schedule, mask_before_softmax)
        self.critic = self.build_critic()
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.critic_training_steps = 0
        self.last_target_update_step = 0

    # --- what subclasses define ---
    def critic_input_dim(self) -> int:
        raise NotImplementedError

    def critic_inputs(self, batch: EpisodeBatch) -> torch.Tensor:
        """(B, T+1, V, in): inputs of the V value heads per slot (V = N agents or 1 for the team)."""
        raise NotImplementedError

    def build_critic(self) -> nn.Module:
        """The critic network; a state-value MLP unless a subclass needs more heads."""
        return MLPCritic(self.critic_input_dim(), self.hparams.critic_hidden_dim)

    def critic_parameters(self) -> list[nn.Parameter]:
        """What the critic optimiser trains."""
        return list(self.critic.parameters())

    # --- the update ---
    def configure_optimizers(self):
        hp = self.hparams
        return [
            self.rmsprop(self.controller.parameters(), hp.lr),
            self.rmsprop(self.critic_parameters(), hp.critic_lr),
        ]

    def rmsprop(self, params, lr: float) -> torch.optim.RMSprop:
        """pymarl's optimiser: RMSprop without momentum, with the run's α and ε."""
        return torch.optim.RMSprop(params, lr=lr, alpha=self.hparams.optim_alpha, eps=self.hparams.optim_eps)

    def before_rollout(self) -> None:
        self.policy.set_t_env(self.t_env)

    def learn(self, rollout: Rollout) -> dict[str, float]:
        hp = self.hparams
        batch = rollout.batch.truncated()
        inputs = self.critic_inputs(batch)
        with torch.no_grad():
            target_values = self.target_critic(inputs).squeeze(-1)
        targets = lambda_returns(batch.reward, target_values, batch.terminated, batch.mask, hp.gamma, hp.td_lambda)
        values, metrics = self.fit_critic(lambda t: self.critic(inputs[:, t]).squeeze(-1), targets, batch.mask)
        advantages = (targets - values).expand(-1, -1, self.env_info.n_agents)
        metrics.update(self.train_actor(batch, advantages))
        return metrics

    def fit_critic(
        self,
        predict: Callable[[int | slice], torch.Tensor],
        targets: torch.Tensor,
        mask: torch.Tensor,
        taken: Callable[[torch.Tensor, int | slice], torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Regress the critic on ``targets`` (B, T, V); return its outputs before each update, and metrics.

        ``predict(t)`` evaluates the critic at time index ``t`` (an int, or a slice of all steps in
        ``batch`` mode); ``taken(output, t)`` picks the values regressed on the targets (default: the
        output itself; COMA picks Q at the taken actions). In ``seq`` mode the steps run backwards with
        one optimiser step each (pymarl), so later steps' updates are seen by earlier ones.
        """
        hp = self.hparams
        critic_opt = self.optimizers()[1]
        taken = taken or (lambda output, t: output)
        params = self.critic_parameters()
        steps = range(targets.shape[1])
        if hp.critic_train_mode == "batch":
            all_steps = slice(0, len(steps))
            output = predict(all_steps)
            values = taken(output, all_steps)
            loss = masked_mean((values - targets.detach()) ** 2, mask.unsqueeze(-1))
            grad_norms, losses = [self.optimise(critic_opt, loss, params, hp.grad_norm_clip, "critic")], [loss.detach()]
            self._count_critic_step()
            outputs, values = output.detach(), values.detach()
        else:
            outputs, values = None, torch.zeros_like(targets)
            grad_norms, losses = [], []
            for t in reversed(steps):
                if not bool(mask[:, t].any()):
                    continue
                output = predict(t)
                v_t = taken(output, t)
                loss = masked_mean((v_t - targets[:, t].detach()) ** 2, mask[:, t].unsqueeze(-1))
                grad_norms.append(self.optimise(critic_opt, loss, params, hp.grad_norm_clip, "critic"))
                losses.append(loss.detach())
                if outputs is None:
                    outputs = output.new_zeros((output.shape[0], len(steps)) + output.shape[1:])
                outputs[:, t], values[:, t] = output.detach(), v_t.detach()
                self._count_critic_step()
        mask3 = mask.unsqueeze(-1)
        metrics = {
            "critic_loss": float(torch.stack(losses).mean()),
            "critic_grad_norm": sum(grad_norms) / len(grad_norms),
            "td_error_abs": float(masked_mean((targets - values).abs(), mask3)),
            "value_mean": float(masked_mean(values, mask3)),
            "target_mean": float(masked_mean(targets, mask3)),
        }
        return outputs, metrics

    def _count_critic_step(self) -> None:
        self.critic_training_steps += 1
        if self.critic_training_steps - self.last_target_update_step >= self.hparams.target_update_interval:
            self.target_critic.load_state_dict(self.critic.state_dict())
            self.last_target_update_step = self.critic_training_steps

    def train_actor(
        self, batch: EpisodeBatch, advantages: torch.Tensor | Callable[[torch.Tensor], torch.Tensor]
    ) -> dict[str, float]:
        """One policy-gradient step: −E[A · log π̃(u)] over real transitions, agents averaged.

        ``advantages`` (B, T, N), or a function of the policy's π̃ (B, T, N, A) (detached) giving them, for
        baselines that average over the policy (COMA).
        """
        hp = self.hparams
        actor_opt = self.optimizers()[0]
        logits = self.controller.unroll(batch)[:, :-1]
        probs = exploration_probs(logits, batch.avail_actions[:, :-1], self.policy.epsilon, hp.mask_before_softmax)
        if callable(advantages):
            advantages = advantages(probs.detach())
        log_pi = taken_log_probs(probs, batch.actions[:, :-1], batch.mask)
        mask = batch.mask.unsqueeze(-1)
        loss = -masked_mean(advantages.detach() * log_pi, mask)
        grad_norm = self.optimise(actor_opt, loss, list(self.controller.parameters()), hp.grad_norm_clip, "actor")
        entropy = -(probs * torch.log(probs.clamp(min=1e-12))).sum(-1)
        return {
            "pg_loss": float(loss.detach()),
            "agent_grad_norm": grad_norm,
            "advantage_mean": float(masked_mean(advantages, mask)),
            "pi_entropy": float(masked_mean(entropy.detach(), mask)),
            "epsilon": self.policy.epsilon,
        }

    def extra_state(self) -> dict[str, Any]:
        return {
            "critic_training_steps": self.critic_training_steps,
            "last_target_update_step": self.last_target_update_step,
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.critic_training_steps = state["critic_training_steps"]
        self.last_target_update_step = state["last_target_update_step"]
        self.policy.set_t_env(self.t_env)


class IndependentActorCritic(ActorCritic):
    """IAC: each agent's critic V(o_i, i) sees only its own observation (parameters shared)."""

    def critic_input_dim(self) -> int:
        return self.env_info.obs_shape + self.env_info.n_agents

    def critic_inputs(self, batch: EpisodeBatch) -> torch.Tensor:
        return torch.cat([batch.obs, one_hot_agent_ids(batch.obs)], dim=-1)


class CentralV(ActorCritic):
    """Central-V: one centralised critic V(s) of the global state, shared as every agent's baseline."""

    def critic_input_dim(self) -> int:
        return self.env_info.state_shape

    def critic_inputs(self, batch: EpisodeBatch) -> torch.Tensor:
        return batch.state.unsqueeze(2)


def counterfactual_baseline(q_values: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """COMA's baseline Σ_a π(a|τ_i) Q_i(s, (u_-i, a)) (…, N) from Q and π, both (…, N, A)."""
    return (probs * q_values).sum(-1)


class COMA(ActorCritic):
    """COMA (Foerster et al. 2018): a centralised Q_i(s, u_-i, ·) per agent and the counterfactual advantage.

    The critic reads the same per-agent input as LIIR's (state, own obs, the other agents' current
    actions, all last actions, id) and outputs Q for each of agent i's actions; it is fitted to TD(λ)
    returns of the target critic's Q at the taken actions. The advantage Q(u_i) − Σ_a π̃(a)Q(a) uses the
    Q values the critic had before each of its updates (as pymarl) and is not normalised.
    """

    def critic_input_dim(self) -> int:
        info = self.env_info
        return coma_critic_input_dim(info.state_shape, info.obs_shape, info.n_agents, info.n_actions)

    def critic_inputs(self, batch: EpisodeBatch) -> torch.Tensor:
        return coma_critic_inputs(batch.state, batch.obs, batch.actions_onehot, batch.last_actions_onehot)

    def build_critic(self) -> nn.Module:
        return MLPCritic(self.critic_input_dim(), self.hparams.critic_hidden_dim, self.env_info.n_actions)

    def learn(self, rollout: Rollout) -> dict[str, float]:
        hp = self.hparams
        batch = rollout.batch.truncated()
        inputs = self.critic_inputs(batch)
        actions = batch.actions.unsqueeze(-1)

        def taken(q: torch.Tensor, t: int | slice) -> torch.Tensor:
            return q.gather(-1, actions[:, t]).squeeze(-1)

        with torch.no_grad():
            target_q = self.target_critic(inputs).gather(-1, actions).squeeze(-1)
        targets = lambda_returns(batch.reward, target_q, batch.terminated, batch.mask, hp.gamma, hp.td_lambda)
        q_values, metrics = self.fit_critic(lambda t: self.critic(inputs[:, t]), targets, batch.mask, taken)
        q_taken = taken(q_values, slice(0, batch.max_steps))
        metrics.update(self.train_actor(batch, lambda probs: q_taken - counterfactual_baseline(q_values, probs)))
        return metrics
