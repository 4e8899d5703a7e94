"""``StarCraft2VecEnv``: many SMAC battles stepped together in one process, with SMAC's method names and numpy
arrays per copy, for trainers that step many environments (EPyMARL's parallel runner, Gymnasium vector envs)
without subprocesses.

``StepArrays`` is the numpy view of one batched step that this class and the single-environment face both read,
so that neither converts per agent or per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from liir.envs.base import EnvOutput
from liir.envs.smac.sim.core import SmacSim


@dataclass(frozen=True)
class StepArrays:
    """One step's outputs as numpy arrays with a leading copy axis (views of the simulator's fresh CPU tensors)."""

    obs: np.ndarray  # (B, N, O) float32
    state: np.ndarray  # (B, S) float32
    avail: np.ndarray  # (B, N, A) bool
    reward: np.ndarray  # (B,) float32
    ended: np.ndarray  # (B,) bool: SMAC's ``terminated`` (a battle outcome or the time limit)
    timeout: np.ndarray  # (B,) bool: the time limit ended the episode
    battle_won: np.ndarray  # (B,) bool
    dead_allies: np.ndarray  # (B,) int64
    dead_enemies: np.ndarray  # (B,) int64

    @classmethod
    def of(cls, out: EnvOutput) -> StepArrays:
        return cls(
            *(
                t.numpy(force=True)
                for t in (
                    out.obs,
                    out.state,
                    out.avail_actions,
                    out.reward,
                    out.ended,
                    out.episode_limit,
                    out.battle_won,
                    out.dead_allies,
                    out.dead_enemies,
                )
            )
        )


class StarCraft2VecEnv:
    """``n_envs`` SMAC battles as one batch: ``reset``, ``step`` and the getters return numpy arrays per copy.

    ``step`` takes (n_envs, n_agents) actions and returns (reward (B,), terminated (B,), info) with info's
    ``battle_won``, ``dead_allies``, ``dead_enemies`` and ``episode_limit`` (a time-out under
    ``continuing_episode``, as SMAC's key) as (B,) arrays. A copy whose episode ended ignores its actions (any
    index in range) until ``reset`` restarts it (all copies, or those of a (B,) bool ``mask``). The step is
    compiled by default, as in ``StarCraft2Env``; an unavailable action raises ``UnavailableActionError`` naming
    copy, agent and action.
    """

    def __init__(
        self,
        n_envs: int,
        map_name: str = "8m",
        seed: int = 0,
        device: str | torch.device = "cpu",
        compile: bool = True,
        **smac_kwargs: Any,
    ) -> None:
        self.sim = SmacSim(n_envs, device, seed, map_name, compile=compile, eager_fallback=True, **smac_kwargs)
        info = self.sim.info
        self.n_envs, self.n_agents, self.n_actions = n_envs, info.n_agents, info.n_actions
        self.episode_limit = info.episode_limit
        self.battles_won = self.battles_game = self.timeouts = self.force_restarts = 0
        self._arrays: StepArrays | None = None

    def reset(self, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Restart every copy (or those of ``mask``); returns (obs (B, N, O), state (B, S))."""
        self._arrays = StepArrays.of(self.sim.reset(None if mask is None else torch.as_tensor(mask)))
        return self.get_obs(), self.get_state()

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        arrays = self._arrays = StepArrays.of(self.sim.step(torch.as_tensor(np.asarray(actions))))
        self.battles_game += int(arrays.ended.sum())
        self.battles_won += int(arrays.battle_won.sum())
        self.timeouts += int(arrays.timeout.sum())
        info = {
            "battle_won": arrays.battle_won,
            "dead_allies": arrays.dead_allies,
            "dead_enemies": arrays.dead_enemies,
            "episode_limit": arrays.timeout & self.sim.cfg.continuing_episode,
        }
        return arrays.reward.copy(), arrays.ended.copy(), info

    def _current(self) -> StepArrays:
        assert self._arrays is not None, "call reset() first"
        return self._arrays

    def get_obs(self) -> np.ndarray:
        return self._current().obs.copy()

    def get_state(self) -> np.ndarray:
        return self._current().state.copy()

    def get_avail_actions(self) -> np.ndarray:
        """(B, N, A) int64 0/1, as SMAC's lists of ints."""
        return self._current().avail.astype(np.int64)

    def get_env_info(self) -> dict[str, Any]:
        """SMAC's sizes; ``obs_shape`` is the length of the arrays returned."""
        info = self.sim.info
        return {
            "state_shape": info.state_shape,
            "obs_shape": info.obs_shape,
            "n_actions": self.n_actions,
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
        }

    def get_stats(self) -> dict[str, float]:
        """SMAC's counters over all copies."""
        return smac_stats(self)

    def close(self) -> None:
        """Nothing to release."""


def smac_stats(env: Any) -> dict[str, float]:
    """SMAC's ``get_stats`` from an env's counters (ZeroDivisionError before the first battle ends, as SMAC)."""
    return {
        "battles_won": env.battles_won,
        "battles_game": env.battles_game,
        "battles_draw": env.timeouts,
        "win_rate": env.battles_won / env.battles_game,
        "timeouts": env.timeouts,
        "restarts": env.force_restarts,
    }
