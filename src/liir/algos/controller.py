"""The multi-agent controller: builds agent inputs, keeps recurrent state while acting, picks actions.

It is the policy callable the rollout runner drives, and the learners use ``unroll`` to recompute
the same outputs over stored episodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from liir.data.episode import EpisodeBatch
from liir.nn.agent import RNNAgent, agent_inputs
from liir.ops import exploration_probs, sample_categorical


@dataclass(frozen=True)
class LinearSchedule:
    """pymarl's linear ε decay from ``start`` to ``finish`` over ``anneal_time`` env steps."""

    start: float
    finish: float
    anneal_time: int

    def __call__(self, t_env: int) -> float:
        frac = min(max(t_env, 0) / max(self.anneal_time, 1), 1.0)
        return self.start + frac * (self.finish - self.start)


class MultiAgentController(nn.Module):
    """Shared RNN agent + input building + action selection (ε-floor multinomial or ε-greedy)."""

    def __init__(
        self,
        obs_shape: int,
        n_agents: int,
        n_actions: int,
        rnn_hidden_dim: int,
        obs_agent_id: bool,
        obs_last_action: bool,
    ) -> None:
        super().__init__()
        self.n_agents, self.n_actions = n_agents, n_actions
        self.obs_agent_id, self.obs_last_action = obs_agent_id, obs_last_action
        input_dim = obs_shape + n_actions * obs_last_action + n_agents * obs_agent_id
        self.agent = RNNAgent(input_dim, n_actions, rnn_hidden_dim)
        self.hidden: torch.Tensor | None = None
        self.last_actions: torch.Tensor | None = None

    def _inputs(self, obs: torch.Tensor, last_actions_onehot: torch.Tensor) -> torch.Tensor:
        return agent_inputs(obs, last_actions_onehot if self.obs_last_action else None, self.obs_agent_id)

    def unroll(self, batch: EpisodeBatch) -> torch.Tensor:
        """Agent outputs (B, T+1, N, A) over stored episodes, from a zero hidden state; slots past an
        episode's last filled one are not computed (0 there)."""
        steps = batch.filled.sum(1)
        return self.agent.unroll(self._inputs(batch.obs, batch.last_actions_onehot), steps)

    def forward(self, batch: EpisodeBatch) -> torch.Tensor:
        """``unroll``, as the forward ``torch.func.functional_call`` runs with substituted parameters."""
        return self.unroll(batch)

    # --- acting (the runner's policy protocol) ---
    def start_episodes(self, batch_size: int) -> None:
        """Zero the recurrent state and the last actions for a new batch of episodes."""
        device = self.agent.fc1.weight.device
        self.hidden = self.agent.initial_hidden(batch_size, self.n_agents)
        self.last_actions = torch.zeros(batch_size, self.n_agents, self.n_actions, device=device)

    def forward_step(self, obs: torch.Tensor) -> torch.Tensor:
        """Outputs (B, N, A) for the current step; advances the recurrent state."""
        outputs, self.hidden = self.agent.step(self._inputs(obs, self.last_actions), self.hidden)
        return outputs

    def record_actions(self, actions: torch.Tensor) -> None:
        self.last_actions = F.one_hot(actions, self.n_actions).float()


class ExplorationPolicy:
    """The runner's policy: the controller's outputs for this step, an action selector, and ε from ``t_env``."""

    def __init__(self, controller: MultiAgentController, schedule: LinearSchedule) -> None:
        self.controller = controller
        self.schedule = schedule
        self.epsilon = schedule.start

    def set_t_env(self, t_env: int) -> None:
        self.epsilon = self.schedule(t_env)

    def start_episodes(self, batch_size: int) -> None:
        self.controller.start_episodes(batch_size)

    def select(self, outputs: torch.Tensor, avail_actions: torch.Tensor, test_mode: bool) -> torch.Tensor:
        """Actions (B, N) from the agents' outputs (B, N, A)."""
        raise NotImplementedError

    @torch.no_grad()
    def act(self, obs: torch.Tensor, avail_actions: torch.Tensor, test_mode: bool) -> torch.Tensor:
        actions = self.select(self.controller.forward_step(obs), avail_actions, test_mode)
        self.controller.record_actions(actions)
        return actions


class SoftmaxPolicy(ExplorationPolicy):
    """Acting with pymarl's ``multinomial`` selector: sample π̃ in training, argmax at test time."""

    def __init__(self, controller: MultiAgentController, schedule: LinearSchedule, mask_before_softmax: bool):
        super().__init__(controller, schedule)
        self.mask_before_softmax = mask_before_softmax

    def select(self, outputs: torch.Tensor, avail_actions: torch.Tensor, test_mode: bool) -> torch.Tensor:
        epsilon = 0.0 if test_mode else self.epsilon
        probs = exploration_probs(outputs, avail_actions, epsilon, self.mask_before_softmax)
        if test_mode:
            return probs.argmax(-1)
        return sample_categorical(probs)


def epsilon_greedy(q_values: torch.Tensor, avail_actions: torch.Tensor, epsilon: float) -> torch.Tensor:
    """pymarl's ε-greedy selector: per agent, a uniformly random available action with probability ε,
    otherwise the available action of highest Q. Unavailable actions are never chosen."""
    greedy = q_values.masked_fill(~avail_actions, float("-inf")).argmax(-1)
    if epsilon <= 0.0:
        return greedy
    # the argmax of i.i.d. uniform scores over the available actions is a uniform choice among them
    random_actions = torch.rand_like(q_values).masked_fill(~avail_actions, -1.0).argmax(-1)
    explore = torch.rand(greedy.shape, device=greedy.device) < epsilon
    return torch.where(explore, random_actions, greedy)


class EpsilonGreedyPolicy(ExplorationPolicy):
    """Acting with pymarl's ``epsilon_greedy`` selector on the agents' Q-values; greedy at test time."""

    def select(self, outputs: torch.Tensor, avail_actions: torch.Tensor, test_mode: bool) -> torch.Tensor:
        return epsilon_greedy(outputs, avail_actions, 0.0 if test_mode else self.epsilon)
