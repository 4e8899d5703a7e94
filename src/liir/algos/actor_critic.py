"""On-policy actor-critic baselines: IAC, Central-V and COMA.

Each is the shared stochastic actor (``actor.py``) plus a critic fitted to TD(λ) targets from a
hard-updated target critic (``critic_fitting.py``); they differ only in what the critic reads and in
the advantage: G_t − V for the state-value critics, Q(u_i) − Σ_a π̃(a)Q(a) for COMA.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import torch

from liir import ops
from liir.algos.actor import make_softmax_policy, policy_gradient_step
from liir.algos.base import MARLModule, rmsprop
from liir.algos.critic_fitting import CriticFitter, CriticOptimiser
from liir.data.episode import EpisodeBatch
from liir.data.runner import Rollout
from liir.envs.base import EnvInfo
from liir.nn.agent import one_hot_agent_ids
from liir.nn.critics import MLPCritic, coma_critic_input_dim, coma_critic_inputs


class ActorCritic(MARLModule):
    """The shared learner: subclasses say what the critic reads (``critic_input_dim``, ``critic_inputs``)."""

    critic_heads = 1  # outputs per critic slot: a value, or COMA's Q per action

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
        self.save_hyperparameters(ignore=["env_info"])
        self.policy = make_softmax_policy(
            env_info,
            rnn_hidden_dim,
            obs_agent_id,
            obs_last_action,
            epsilon_start,
            epsilon_finish,
            epsilon_anneal_time,
            mask_before_softmax,
        )
        self.controller = self.policy.controller
        self.critic = MLPCritic(self.critic_input_dim(), critic_hidden_dim, self.critic_heads)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.critic_fitter = CriticFitter(
            self.critic, self.target_critic, self.critic.layers(), critic_train_mode, target_update_interval
        )

    def critic_input_dim(self) -> int:
        raise NotImplementedError

    def critic_inputs(self, batch: EpisodeBatch) -> torch.Tensor:
        """(B, T+1, V, in): inputs of the critic per slot (V = N agents or 1 for the team)."""
        raise NotImplementedError

    def configure_optimizers(self):
        hp = self.hparams
        return [
            rmsprop(self.controller.parameters(), hp.lr, hp.optim_alpha, hp.optim_eps),
            rmsprop(self.critic.parameters(), hp.critic_lr, hp.optim_alpha, hp.optim_eps),
        ]

    def apply_actor_loss(self, loss: torch.Tensor) -> float:
        params = list(self.controller.parameters())
        return self.optimise(self.optimizers()[0], loss, params, self.hparams.grad_norm_clip, "actor")

    def apply_critic_loss(self, loss: torch.Tensor) -> float:
        params = list(self.critic.parameters())
        return self.optimise(self.optimizers()[1], loss, params, self.hparams.grad_norm_clip, "critic")

    def critic_optimiser(self) -> CriticOptimiser:
        optimizer = self.unwrapped_optimizer(1)
        return CriticOptimiser(optimizer, self.hparams.grad_norm_clip, self.apply_critic_loss, self.require_finite)

    def learn(self, rollout: Rollout) -> dict[str, float]:
        """Fit V to TD(λ) returns, then a policy step on the advantage G − V (V before each critic update)."""
        hp = self.hparams
        batch = rollout.batch.truncated()
        inputs = self.critic_inputs(batch)
        with torch.no_grad():
            target_values = ops.on_filled_slots(self.target_critic, inputs, batch.filled).squeeze(-1)
        targets = ops.lambda_returns(batch.reward, target_values, batch.terminated, batch.mask, hp.gamma, hp.td_lambda)
        values, critic_metrics = self.critic_fitter.fit(inputs, targets, batch.mask, self.critic_optimiser())
        advantages = (targets - values).expand(-1, -1, self.env_info.n_agents)
        actor_metrics = policy_gradient_step(self.policy, batch, advantages, self.apply_actor_loss)
        return {**critic_metrics, **actor_metrics}

    def extra_state(self) -> dict[str, Any]:
        return self.critic_fitter.state_dict()

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.critic_fitter.load_state_dict(state)


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


class COMA(ActorCritic):
    """COMA (Foerster et al. 2018): a centralised Q_i(s, u_-i, ·) per agent and the counterfactual advantage.

    The critic reads the same per-agent input as LIIR's (state, own obs, the other agents' current
    actions, all last actions, id) and outputs Q for each of agent i's actions; it is fitted to TD(λ)
    returns of the target critic's Q at the taken actions. The advantage Q(u_i) − Σ_a π̃(a)Q(a) uses the
    Q values the critic had before each of its updates (as pymarl) and is not normalised.
    """

    @property
    def critic_heads(self) -> int:
        return self.env_info.n_actions

    def critic_input_dim(self) -> int:
        info = self.env_info
        return coma_critic_input_dim(info.state_shape, info.obs_shape, info.n_agents, info.n_actions)

    def critic_inputs(self, batch: EpisodeBatch) -> torch.Tensor:
        return coma_critic_inputs(batch.state, batch.obs, batch.actions_onehot, batch.last_actions_onehot)

    def learn(self, rollout: Rollout) -> dict[str, float]:
        """Fit Q(·, u_i) to TD(λ) returns, then a policy step on the counterfactual advantage."""
        hp = self.hparams
        batch = rollout.batch.truncated()
        inputs = self.critic_inputs(batch)
        actions = batch.actions
        with torch.no_grad():
            target_q = ops.on_filled_slots(self.target_critic, inputs, batch.filled)
            target_q = target_q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        targets = ops.lambda_returns(batch.reward, target_q, batch.terminated, batch.mask, hp.gamma, hp.td_lambda)
        q_values, critic_metrics = self.critic_fitter.fit(inputs, targets, batch.mask, self.critic_optimiser(), actions)
        q_taken = q_values.gather(-1, actions[:, :-1].unsqueeze(-1)).squeeze(-1)

        def counterfactual_advantages(probs: torch.Tensor) -> torch.Tensor:
            return q_taken - ops.counterfactual_baseline(q_values, probs)

        actor_metrics = policy_gradient_step(self.policy, batch, counterfactual_advantages, self.apply_actor_loss)
        return {**critic_metrics, **actor_metrics}
