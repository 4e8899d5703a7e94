"""The LIIR paper's 1D pursuit game as a batched torch environment.

Two agents hold integers x and y and each step add an action in {-1, 0, +1} to their own value. An
agent's action is *good* when it moves the team sum x + y towards the hidden target z, *bad* when it
moves the sum away, *neutral* when it is 0 or the sum already equals z. The team earns +0.01 when both
actions are good and -0.01 when both are bad. The labels are reported every step (``extras``): of the
taken actions (``action_label`` (B, N)) and of every action each agent could have taken in that state
(``action_labels_all`` (B, N, A)), so that learned intrinsic rewards can be compared with them (the
paper's Figure 2).
"""

from __future__ import annotations

from typing import Literal

import torch

from liir.envs.base import BatchedEnv, EnvInfo, EnvOutput, check_actions_available

N_AGENTS = 2
ACTION_DELTAS = (-1, 0, 1)  # action index -> change of the agent's value
GOOD, NEUTRAL, BAD = 1, 0, -1


def label_actions(team_sum: torch.Tensor, target: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """Labels GOOD/NEUTRAL/BAD of value changes ``deltas`` (B, ...) given the current sum (B,)."""
    direction = torch.sign(target - team_sum).reshape(-1, *(1,) * (deltas.dim() - 1))  # 0 at the target
    return (torch.sign(deltas) * direction).to(torch.int8)


def team_reward(labels: torch.Tensor, reward_scale: float) -> torch.Tensor:
    """(B,) +scale when every agent's action is good, -scale when every one is bad, else 0."""
    all_good = (labels == GOOD).all(-1)
    all_bad = (labels == BAD).all(-1)
    return reward_scale * (all_good.float() - all_bad.float())


class Pursuit1D(BatchedEnv):
    """B copies of the 1D pursuit game; see the module docstring for the rules."""

    def __init__(
        self,
        batch_size: int,
        device: str | torch.device,
        seed: int,
        episode_limit: int,
        init_low: int,
        init_high: int,
        target: Literal["fixed", "random"],
        target_value: int,
        target_low: int,
        target_high: int,
        value_scale: float,
        reward_scale: float,
    ) -> None:
        if target not in ("fixed", "random"):
            raise ValueError(f"pursuit target must be 'fixed' or 'random', got {target!r}")
        if episode_limit <= 0 or init_low > init_high or target_low > target_high:
            raise ValueError(
                f"invalid pursuit ranges: episode_limit={episode_limit}, init=[{init_low}, {init_high}], "
                f"target=[{target_low}, {target_high}]"
            )
        self.device = torch.device(device)
        self.info = EnvInfo(
            n_agents=N_AGENTS,
            n_actions=len(ACTION_DELTAS),
            obs_shape=2,
            state_shape=3,
            episode_limit=episode_limit,
            batch_size=batch_size,
            device=self.device,
            metadata={"name": "pursuit1d", "action_deltas": ACTION_DELTAS},
        )
        self.init_range = (init_low, init_high)
        self.target_mode = target
        self.target_value = target_value
        self.target_range = (target_low, target_high)
        self.value_scale = value_scale
        self.reward_scale = reward_scale
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self._deltas = torch.tensor(ACTION_DELTAS, device=self.device)
        self.values = torch.zeros(batch_size, N_AGENTS, dtype=torch.long, device=self.device)
        self.target = torch.zeros(batch_size, dtype=torch.long, device=self.device)
        self.steps = torch.zeros(batch_size, dtype=torch.long, device=self.device)
        self._done = torch.ones(batch_size, dtype=torch.bool, device=self.device)

    @property
    def done(self) -> torch.Tensor:
        return self._done

    def rng_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def load_rng_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)

    def _randint(self, low: int, high: int, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randint(low, high + 1, shape, generator=self.generator, device=self.device)

    def reset(self, mask: torch.Tensor | None = None) -> EnvOutput:
        b = self.info.batch_size
        mask = torch.ones(b, dtype=torch.bool, device=self.device) if mask is None else mask
        new_values = self._randint(*self.init_range, (b, N_AGENTS))
        if self.target_mode == "random":
            new_target = self._randint(*self.target_range, (b,))
        else:
            new_target = torch.full((b,), self.target_value, device=self.device)
        self.values = torch.where(mask.unsqueeze(-1), new_values, self.values)
        self.target = torch.where(mask, new_target, self.target)
        self.steps = torch.where(mask, 0, self.steps)
        self._done = self._done & ~mask
        zeros = torch.zeros(b, dtype=torch.bool, device=self.device)
        return self._output(torch.zeros(b, device=self.device), zeros, zeros, {})

    def step(self, actions: torch.Tensor) -> EnvOutput:
        active = ~self._done
        check_actions_available(actions, self._avail_actions(), active)
        deltas = self._deltas[actions] * active.unsqueeze(-1)
        team_sum = self.values.sum(-1)
        labels = label_actions(team_sum, self.target, deltas)
        all_deltas = self._deltas.expand(*actions.shape, -1) * active[:, None, None]
        labels_all = label_actions(team_sum, self.target, all_deltas)
        reward = team_reward(labels, self.reward_scale) * active
        self.values = self.values + deltas
        self.steps = self.steps + active.long()
        limit = active & (self.steps >= self.info.episode_limit)
        self._done = self._done | limit
        terminated = torch.zeros_like(limit)
        return self._output(reward, terminated, limit, {"action_label": labels, "action_labels_all": labels_all})

    def _avail_actions(self) -> torch.Tensor:
        b, n, a = self.info.batch_size, self.info.n_agents, self.info.n_actions
        return torch.ones(b, n, a, dtype=torch.bool, device=self.device)

    def _output(
        self,
        reward: torch.Tensor,
        terminated: torch.Tensor,
        episode_limit: torch.Tensor,
        extras: dict[str, torch.Tensor],
    ) -> EnvOutput:
        values = self.values.float() / self.value_scale
        obs = torch.stack([values, values.flip(-1)], dim=-1)  # agent i sees (own, partner)
        state = torch.cat([values, (self.target.float() / self.value_scale).unsqueeze(-1)], dim=-1)
        zeros = torch.zeros_like(self.steps)
        return EnvOutput(
            obs=obs,
            state=state,
            avail_actions=self._avail_actions(),
            reward=reward,
            terminated=terminated,
            episode_limit=episode_limit,
            battle_won=torch.zeros_like(terminated),
            dead_allies=zeros,
            dead_enemies=zeros,
            extras=extras,
        )
