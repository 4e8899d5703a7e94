"""A PettingZoo ``ParallelEnv`` over the simulator's ``StarCraft2Env``, so PettingZoo-based trainers can use it.

Needs the optional ``pettingzoo`` extra. Agents are named ``<unit type>_<k>`` in SMAC's agent order, as SMAC's own
PettingZoo wrapper names them; each sees ``{"observation", "action_mask"}`` with the no-op dropped (action ``a`` is
SMAC's ``a + 1``). An agent terminates when it dies or the battle ends; the time limit (or ``max_cycles``)
truncates the agents still alive.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from liir.envs.smac.sim.single import StarCraft2Env


class StarCraft2PZEnv(ParallelEnv):
    """One SMAC battle as a PettingZoo parallel environment (see the module docstring)."""

    metadata = {"name": "liir_smac_sim_v0", "render_modes": []}

    def __init__(self, map_name: str = "8m", max_cycles: int | None = None, **smac_kwargs: Any) -> None:
        self._smac_args = {"map_name": map_name, **smac_kwargs}
        self.env = StarCraft2Env(**self._smac_args)
        self.max_cycles = max_cycles
        names = self.env._sim.roster.names[: self.env.n_agents]
        self.possible_agents = [f"{name}_{names[:i].count(name)}" for i, name in enumerate(names)]
        self.agents: list[str] = []
        self._ids = {agent: i for i, agent in enumerate(self.possible_agents)}
        n_moves = self.env.n_actions - 1
        obs_len = self.env._sim.layout.obs_len
        self._obs_spaces = {
            agent: spaces.Dict(
                {
                    "observation": spaces.Box(-1.0, 1.0, (obs_len,), np.float32),
                    "action_mask": spaces.Box(0, 1, (n_moves,), np.int8),
                }
            )
            for agent in self.possible_agents
        }
        self._act_spaces = {agent: spaces.Discrete(n_moves) for agent in self.possible_agents}
        self._frames = 0

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    def _observe(self, agents: list[str]) -> dict[str, dict[str, np.ndarray]]:
        return {
            agent: {
                "observation": np.asarray(self.env.get_obs_agent(self._ids[agent]), dtype=np.float32),
                "action_mask": np.array(self.env.get_avail_agent_actions(self._ids[agent])[1:], dtype=np.int8),
            }
            for agent in agents
        }

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A new battle; a ``seed`` starts a new simulator with that random stream."""
        if seed is not None:
            self.env = StarCraft2Env(**(self._smac_args | {"seed": seed}))
        self.env.reset()
        self.agents = self.possible_agents[:]
        self._frames = 0
        return self._observe(self.agents), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        """Living agents without an action stop; returns (obs, rewards, terminations, truncations, infos)."""
        smac_actions = [0] * self.env.n_agents
        for agent in self.agents:
            a = actions.get(agent)
            smac_actions[self._ids[agent]] = 1 if a is None else int(a) + 1
        timeouts = self.env.timeouts
        reward, ended, _ = self.env.step(smac_actions)
        self._frames += 1
        timed_out = self.env.timeouts > timeouts or (self.max_cycles is not None and self._frames >= self.max_cycles)
        live = self.agents
        # SMAC offers the no-op to dead agents only: no unit records to build
        dead = {agent: self.env.get_avail_agent_actions(self._ids[agent])[0] == 1 for agent in live}
        terminations = {agent: dead[agent] or (ended and not timed_out) for agent in live}
        truncations = {agent: timed_out and not terminations[agent] for agent in live}
        obs = self._observe(live)
        self.agents = [agent for agent in live if not (terminations[agent] or truncations[agent])]
        return obs, dict.fromkeys(live, reward), terminations, truncations, {agent: {} for agent in live}

    def close(self) -> None:
        self.env.close()
