"""``StarCraft2Env``: SMAC's single-environment class, backed by the batched simulator with B = 1.

Method names, arguments and return types follow ``smac.env.StarCraft2Env`` (smac-interface.md §3):
lists of numpy arrays, a float reward, a bool and SMAC's info dict, so code written against SMAC runs
unchanged. Differences: no game process (``render``/``save_replay`` do nothing), no raw unit protos
in ``agents``/``enemies``, and the random stream comes from ``seed`` (0 when None).
"""

from __future__ import annotations

from collections.abc import MutableSequence, Sequence
from typing import Any

import numpy as np
import torch

from liir.envs.base import UnavailableActionError
from liir.envs.smac.sim.config import SHOOT_RANGE, SIGHT_RANGE
from liir.envs.smac.sim.core import SmacSim


class StarCraft2Env:
    """One SMAC battle with SMAC's public interface (see the module docstring)."""

    def __init__(
        self, map_name: str = "8m", *, seed: int | None = None, device: str | torch.device = "cpu", **kwargs: Any
    ) -> None:
        self._seed = seed
        self._sim = SmacSim(batch_size=1, device=device, seed=0 if seed is None else seed, map_name=map_name, **kwargs)
        lay, m = self._sim.layout, self._sim.map
        self.map_name = map_name
        self.n_agents, self.n_enemies, self.n_actions = lay.n_agents, lay.n_enemies, lay.n_actions
        self.episode_limit = m.limit
        self.max_reward = self._sim.scorer.max_reward
        self.continuing_episode = self._sim.cfg.continuing_episode
        self.battles_won = self.battles_game = self.timeouts = self.force_restarts = 0
        self._episode_steps = 0
        self.reward = 0.0
        self.last_action = np.zeros((self.n_agents, self.n_actions), dtype=np.float32)
        self._obs: torch.Tensor | None = None
        self._state: torch.Tensor | None = None

    # -- episode ----------------------------------------------------------------------------------------
    def reset(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Start a new battle; returns (obs list, state)."""
        self._take(self._sim.reset())
        self._episode_steps = 0
        return self.get_obs(), self.get_state()

    def step(self, actions: Sequence[int]) -> tuple[float, bool, dict[str, Any]]:
        """Apply one action per agent; SMAC's (reward, terminated, info)."""
        acts = torch.as_tensor(np.asarray(list(actions), dtype=np.int64), device=self._sim.device).view(1, -1)
        try:
            out = self._sim.step(acts)
        except UnavailableActionError as err:
            raise AssertionError(f"Agent action not available: {err}") from err
        if self._sim.cfg.heuristic_ai and isinstance(actions, MutableSequence | np.ndarray):
            actions[:] = self._sim.last_actions[0].tolist()  # SMAC overwrites the list with the actions taken
        self._take(out)
        self._episode_steps += 1
        o = self._sim.last_outcome
        assert o is not None
        terminated = bool(o.battle_over[0] | o.timeout[0])
        info: dict[str, Any] = {
            "battle_won": bool(out.battle_won[0]),
            "dead_allies": int(out.dead_allies[0]),
            "dead_enemies": int(out.dead_enemies[0]),
        }
        if terminated:
            self.battles_game += 1
            self.battles_won += info["battle_won"]
        if bool(o.timeout[0]):
            self.timeouts += 1
            if self.continuing_episode:
                info["episode_limit"] = True
        self.reward = float(out.reward[0])
        return self.reward, terminated, info

    def _take(self, out: Any) -> None:
        self._obs, self._state, self._avail = out.obs[0], out.state[0], out.avail_actions[0]
        self.last_action = self._sim.state.last_action[0].cpu().numpy()

    # -- observations -------------------------------------------------------------------------------------
    def _obs_dtype(self) -> type:
        return np.float64 if self._sim.cfg.obs_timestep_number else np.float32  # SMAC's np.append quirk

    def get_obs(self) -> list[np.ndarray]:
        return [self.get_obs_agent(i) for i in range(self.n_agents)]

    def get_obs_agent(self, agent_id: int) -> np.ndarray:
        assert self._obs is not None, "call reset() first"
        return self._obs[agent_id].cpu().numpy().astype(self._obs_dtype())

    def get_state(self) -> np.ndarray:
        assert self._state is not None, "call reset() first"
        return self._state.cpu().numpy().astype(np.float32)

    def get_avail_agent_actions(self, agent_id: int) -> list[int]:
        return [int(v) for v in self._avail[agent_id].tolist()]

    def get_avail_actions(self) -> list[list[int]]:
        return [self.get_avail_agent_actions(i) for i in range(self.n_agents)]

    def get_state_dict(self) -> dict[str, np.ndarray]:
        """SMAC's structured state: ally rows, enemy rows, optional last actions and timestep."""
        lay, cfg = self._sim.layout, self._sim.cfg
        st = self._sim.features.all(self._sim.state)[2]
        if cfg.obs_instead_of_state:
            raise NotImplementedError("get_state_dict() is undefined with obs_instead_of_state")
        flat = st[0].cpu().numpy()
        na, ne = lay.n_agents * lay.nf_al_state, lay.n_enemies * lay.nf_en_state
        out = {
            "allies": flat[:na].reshape(lay.n_agents, lay.nf_al_state),
            "enemies": flat[na : na + ne].reshape(lay.n_enemies, lay.nf_en_state),
        }
        rest = flat[na + ne :]
        if cfg.state_last_action:
            out["last_action"] = rest[: lay.n_agents * lay.n_actions].reshape(lay.n_agents, lay.n_actions)
        if cfg.state_timestep_number:
            out["timestep"] = rest[-1:]
        return out

    def get_visibility_matrix(self) -> np.ndarray:
        """(n_agents, n_agents + n_enemies) bool: both alive and centre distance < sight range."""
        st, n = self._sim.state, self.n_agents
        alive = st.health[0] > 0
        d = torch.cdist(st.pos[0, :n], st.pos[0])
        vis = (d < SIGHT_RANGE) & alive[:n, None] & alive[None, :]
        vis[torch.arange(n), torch.arange(n)] = False
        return vis.cpu().numpy()

    def get_unit_types(self) -> list[int]:
        """Stock SC2 unit-type ids, agents then enemies (the game's custom ``*_RL`` ids do not exist here)."""
        return self._sim.roster.sc2_id.tolist()

    # -- sizes and info -------------------------------------------------------------------------------------
    def get_obs_size(self) -> int:
        return self._sim.layout.obs_size

    def get_state_size(self) -> int:
        return self._sim.layout.state_size

    def get_total_actions(self) -> int:
        return self.n_actions

    def get_obs_move_feats_size(self) -> int:
        return self._sim.layout.move

    def get_obs_enemy_feats_size(self) -> tuple[int, int]:
        return self.n_enemies, self._sim.layout.nf_en

    def get_obs_ally_feats_size(self) -> tuple[int, int]:
        return self.n_agents - 1, self._sim.layout.nf_al

    def get_obs_own_feats_size(self) -> int:
        return self._sim.layout.own

    def get_ally_num_attributes(self) -> int:
        return len(self._sim.agent_features())

    def get_enemy_num_attributes(self) -> int:
        return len(self._sim.enemy_features())

    def unit_shoot_range(self, agent_id: int) -> float:
        return SHOOT_RANGE

    def unit_sight_range(self, agent_id: int) -> float:
        return SIGHT_RANGE

    def get_env_info(self) -> dict[str, Any]:
        return {
            "state_shape": self.get_state_size(),
            "obs_shape": self.get_obs_size(),
            "n_actions": self.n_actions,
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
            "agent_features": self._sim.agent_features(),
            "enemy_features": self._sim.enemy_features(),
        }

    def get_stats(self) -> dict[str, float]:
        return {
            "battles_won": self.battles_won,
            "battles_game": self.battles_game,
            "battles_draw": self.timeouts,
            "win_rate": self.battles_won / self.battles_game,
            "timeouts": self.timeouts,
            "restarts": self.force_restarts,
        }

    # -- process management (nothing to manage) ---------------------------------------------------------------
    def seed(self) -> int | None:
        return self._seed

    def render(self, mode: str = "human") -> None:
        """No renderer: the simulator runs render-free."""

    def save_replay(self) -> None:
        """No replays without the game."""

    def full_restart(self) -> None:
        self.reset()

    def close(self) -> None:
        """Nothing to release."""
