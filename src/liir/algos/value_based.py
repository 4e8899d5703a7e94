"""pymarl's Q-learner for the value-based family: IQL (no mixer), VDN (sum) and QMIX (monotone mixer).

The agents are the same shared RNN as the actor-critic family, read as per-action Q-values and acted
on ε-greedily. Each update samples whole episodes from the replay buffer (``OffPolicyDataModule``, which
also says how many updates follow each collected rollout) and regresses the (mixed) Q of the taken actions
on double-Q targets from hard-updated target networks. The targets are TD(λ) returns over the bootstrap
values V_{t+1} = Q_target(s_{t+1}, argmax_u Q_online(s_{t+1}, u)); λ = 0 (pymarl) is the one-step target
r + γ(1 − terminated)·V_{t+1}, λ > 0 pymarl2's ``build_td_lambda_targets``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from liir.algos.base import MARLModule, rmsprop
from liir.algos.controller import EpsilonGreedyPolicy, LinearSchedule, MultiAgentController
from liir.data.datamodule import ReplayRollout
from liir.data.episode import EpisodeBatch
from liir.envs.base import EnvInfo
from liir.ops import greedy_next_values, lambda_returns, masked_mean

MixerFactory = Callable[..., nn.Module]  # called with n_agents and state_dim (a Hydra ``_partial_``)


class QLearner(MARLModule):
    """IQL, VDN or QMIX depending on ``mixer`` (None: every agent learns its own Q independently)."""

    def __init__(
        self,
        env_info: EnvInfo,
        mixer: MixerFactory | None,
        lr: float,
        optimizer: str,
        optim_alpha: float,
        optim_eps: float,
        grad_norm_clip: float,
        gamma: float,
        td_lambda: float,
        double_q: bool,
        target_update_interval: int,
        epsilon_start: float,
        epsilon_finish: float,
        epsilon_anneal_time: int,
        rnn_hidden_dim: int,
        obs_agent_id: bool,
        obs_last_action: bool,
    ) -> None:
        super().__init__(env_info)
        self.save_hyperparameters(ignore=["env_info", "mixer"])
        self.controller = MultiAgentController(
            env_info.obs_shape, env_info.n_agents, env_info.n_actions, rnn_hidden_dim, obs_agent_id, obs_last_action
        )
        self.mixer = mixer(n_agents=env_info.n_agents, state_dim=env_info.state_shape) if mixer else None
        self.target_controller = copy.deepcopy(self.controller).requires_grad_(False)
        self.target_mixer = copy.deepcopy(self.mixer).requires_grad_(False) if self.mixer else None
        self.policy = EpsilonGreedyPolicy(
            self.controller, LinearSchedule(epsilon_start, epsilon_finish, epsilon_anneal_time)
        )
        self.last_target_update_episode = 0

    def learned_parameters(self) -> list[nn.Parameter]:
        mixer_params = list(self.mixer.parameters()) if self.mixer else []
        return list(self.controller.parameters()) + mixer_params

    def configure_optimizers(self):
        """pymarl's RMSprop (α ``optim_alpha``, ε ``optim_eps``) or, as pymarl2, Adam with torch's β = (0.9, 0.999)
        and ε ``optim_eps`` (``optim_alpha`` is RMSprop's alone)."""
        hp = self.hparams
        if hp.optimizer == "adam":
            return torch.optim.Adam(self.learned_parameters(), lr=hp.lr, eps=hp.optim_eps)
        return rmsprop(self.learned_parameters(), hp.lr, hp.optim_alpha, hp.optim_eps)

    def learn(self, rollout: ReplayRollout) -> dict[str, float]:
        """One update per batch in ``rollout.samples`` (``algo.datamodule.updates_per_rollout`` of them, each
        sampled from the replay buffer); the metrics are their means. The target networks are due for a copy
        after every update, as in pymarl, but only the first after a rollout can find them due."""
        steps = []
        for batch in rollout.samples:
            steps.append(self.train_on(batch))
            if self.episodes - self.last_target_update_episode >= self.hparams.target_update_interval:
                self.update_targets()
        metrics = {key: sum(step[key] for step in steps) / len(steps) for key in steps[0]}
        metrics["epsilon"] = self.policy.epsilon
        return metrics

    def td_targets(self, batch: EpisodeBatch, online_qs: torch.Tensor) -> torch.Tensor:
        """TD(λ) targets (B, T, 1 with a mixer, else B, T, N) from the target networks' bootstrap values."""
        hp = self.hparams
        target_qs = self.target_controller.unroll(batch)[:, 1:]
        next_values = greedy_next_values(
            target_qs, batch.avail_actions[:, 1:], online_qs[:, 1:] if hp.double_q else None
        )
        if self.target_mixer is not None:
            next_values = self.target_mixer(next_values, batch.state[:, 1:])
        # lambda_returns wants V at every slot; slot 0 is no transition's bootstrap and is read only on padded
        # transitions (which the loss masks), so it is left at 0 rather than computed.
        values = torch.cat([torch.zeros_like(next_values[:, :1]), next_values], dim=1)
        return lambda_returns(batch.reward, values, batch.terminated, batch.mask, hp.gamma, hp.td_lambda)

    def train_on(self, batch: EpisodeBatch) -> dict[str, float]:
        """One optimiser step on the masked mean squared TD error over ``batch``."""
        qs = self.controller.unroll(batch)  # (B, T+1, N, A)
        chosen = qs[:, :-1].gather(-1, batch.actions[:, :-1].unsqueeze(-1)).squeeze(-1)  # (B, T, N)
        if self.mixer is not None:
            chosen = self.mixer(chosen, batch.state[:, :-1])
        with torch.no_grad():
            targets = self.td_targets(batch, qs.detach())
        mask = batch.mask.unsqueeze(-1)
        td_error = chosen - targets
        loss = masked_mean(td_error**2, mask)
        grad_norm = self.optimise(self.optimizers(), loss, self.learned_parameters(), self.hparams.grad_norm_clip, "td")
        return {
            "loss": float(loss.detach()),
            "grad_norm": grad_norm,
            "td_error_abs": float(masked_mean(td_error.detach().abs(), mask)),
            "q_taken_mean": float(masked_mean(chosen.detach(), mask)),
            "target_mean": float(masked_mean(targets, mask)),
        }

    def update_targets(self) -> None:
        """Hard copy of the online agent (and mixer) into the target networks."""
        self.target_controller.load_state_dict(self.controller.state_dict())
        if self.mixer is not None:
            self.target_mixer.load_state_dict(self.mixer.state_dict())
        self.last_target_update_episode = self.episodes

    def extra_state(self) -> dict[str, Any]:
        return {"last_target_update_episode": self.last_target_update_episode}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.last_target_update_episode = state["last_target_update_episode"]
