"""``StarCraft2Env``: SMAC's single-environment class, backed by the batched simulator with B = 1.

Constructor arguments (also positionally, in SMAC's order), method names, public attributes, unit
dictionaries and return types follow ``smac.env.StarCraft2Env`` (smac-interface.md §1, §3), so code written
against SMAC runs unchanged. Differences: no game process (``save_replay`` does nothing; ``render`` draws the
simulator's state with matplotlib, see ``render.py``, instead of SMAC's pygame window), the random
stream comes from ``seed`` (0 when None), the ``*_RL`` unit-type ids start at ``RL_TYPE_BASE``, and ``step``
raises ``NeedsResetError`` before the first ``reset`` and after the episode ended (SMAC would go on
stepping a finished game).

The step is compiled by default (``compile=False`` runs it eagerly; where torch.compile fails, one warning and
eager): SMAC clients get the simulator's speed without knowing the flag. Each step's outputs become numpy arrays
once, and the getters read them.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from liir.envs.base import EnvOutput, UnavailableActionError
from liir.envs.smac.sim.config import N_ACTIONS_NO_ATTACK, N_OBS_HEIGHT, N_OBS_PATHING, SHOOT_RANGE, SIGHT_RANGE
from liir.envs.smac.sim.core import SmacSim
from liir.envs.smac.sim.multiagentenv import MultiAgentEnv
from liir.envs.smac.sim.roster import TYPE_BITS
from liir.envs.smac.sim.state import SimState
from liir.envs.smac.sim.vec import StepArrays, smac_stats
from liir.envs.smac.terrain import MAP_SIZE, terrain
from liir.envs.smac.units import RL_TYPE_BASE, UNIT_TYPES

# SMAC's constructor arguments in its positional order (their defaults live in ``SmacConfig``)
SMAC_ARGS = (
    "map_name",
    "step_mul",
    "move_amount",
    "difficulty",
    "game_version",
    "seed",
    "continuing_episode",
    "obs_all_health",
    "obs_own_health",
    "obs_last_action",
    "obs_pathing_grid",
    "obs_terrain_height",
    "obs_instead_of_state",
    "obs_timestep_number",
    "state_last_action",
    "state_timestep_number",
    "reward_sparse",
    "reward_only_positive",
    "reward_death_value",
    "reward_win",
    "reward_defeat",
    "reward_negative_scale",
    "reward_scale",
    "reward_scale_rate",
    "replay_dir",
    "replay_prefix",
    "window_size_x",
    "window_size_y",
    "heuristic_ai",
    "heuristic_rest",
    "debug",
)
_PRIVATE_ARGS = {"step_mul": "_step_mul", "move_amount": "_move_amount"}  # SMAC keeps these two as _attributes
# unit types whose SMAC id attribute ``<name>_id`` exists, in the order of SMAC's ``unit_max_cooldown`` table
_RL_NAMES = ("marine", "marauder", "medivac", "stalker", "zealot", "colossus", "hydralisk", "zergling", "baneling")
_MAX_SHIELD = {"stalker": 80, "zealot": 50, "colossus": 150}  # SMAC's ``unit_max_shield`` (stock or RL id)


class NeedsResetError(RuntimeError):
    """``step`` was called before the first ``reset`` or after the episode ended."""


class Direction(enum.IntEnum):
    """SMAC's move directions for ``can_move``."""

    NORTH = 0
    SOUTH = 1
    EAST = 2
    WEST = 3


@dataclass
class Point:
    """A unit position (``unit.pos.x``, ``unit.pos.y``), as in SC2's raw unit proto."""

    x: float
    y: float


@dataclass
class Unit:
    """The raw unit proto fields SMAC and its wrappers read."""

    tag: int
    unit_type: int
    owner: int  # 1 agents, 2 enemies
    pos: Point
    health: float
    health_max: float
    shield: float
    shield_max: float
    energy: float
    weapon_cooldown: float  # game loops


class StarCraft2Env(MultiAgentEnv):
    """One SMAC battle with SMAC's public interface (see the module docstring)."""

    def __init__(self, *args: Any, device: str | torch.device = "cpu", compile: bool = True, **kwargs: Any) -> None:
        if len(args) > len(SMAC_ARGS):
            raise TypeError(f"StarCraft2Env takes at most {len(SMAC_ARGS)} positional arguments ({len(args)} given)")
        for name, value in zip(SMAC_ARGS, args, strict=False):
            if name in kwargs:
                raise TypeError(f"StarCraft2Env got multiple values for argument '{name}'")
            kwargs[name] = value
        map_name, seed = kwargs.pop("map_name", "8m"), kwargs.pop("seed", None)
        self._sim = sim = SmacSim(
            1, device, 0 if seed is None else seed, map_name, compile=compile, eager_fallback=True, **kwargs
        )
        lay, m, cfg = sim.layout, sim.map, sim.cfg
        for f in dataclasses.fields(cfg):
            setattr(self, _PRIVATE_ARGS.get(f.name, f.name), getattr(cfg, f.name))
        self.obs_own_health = cfg.own_health
        self.window_size = (cfg.window_size_x, cfg.window_size_y)
        self.map_name, self._seed = map_name, seed
        self.n_agents, self.n_enemies, self.n_actions = lay.n_agents, lay.n_enemies, lay.n_actions
        self.episode_limit = m.limit
        self.n_obs_pathing, self.n_obs_height = N_OBS_PATHING, N_OBS_HEIGHT
        self.n_actions_no_attack, self.n_actions_move = N_ACTIONS_NO_ATTACK, 4
        self._agent_race, self._bot_race = m.a_race, m.b_race
        self.shield_bits_ally, self.shield_bits_enemy = lay.shield_ally, lay.shield_enemy
        self.unit_type_bits, self.map_type = m.unit_type_bits, m.map_type
        self.ally_state_attr_names, self.enemy_state_attr_names = sim.agent_features(), sim.enemy_features()
        # SMAC's values before the first reset; ``_launch`` sets the map's
        self.max_reward = self.n_enemies * cfg.reward_death_value + cfg.reward_win
        self._min_unit_type = 0
        for name in _RL_NAMES:
            setattr(self, f"{name}_id", 0)
        self.map_x = self.map_y = self.max_distance_x = self.max_distance_y = 0
        self.pathing_grid: np.ndarray | None = None
        self.terrain_height: np.ndarray | None = None
        self._unit_types: list[int] | None = None
        self._episode_count = self._episode_steps = self._total_steps = 0
        self.battles_won = self.battles_game = self.timeouts = self.force_restarts = 0
        self.last_stats = None
        self.reward = 0.0
        self.renderer = self._run_config = self._sc2_proc = self._controller = None
        self.last_action = np.zeros((self.n_agents, self.n_actions))
        self._eye = np.eye(self.n_actions)
        self._launched = False
        self._needs_reset = True
        self._prev: SimState | None = None  # the state before the last step (None right after a reset)
        self._units: tuple[SimState, dict[int, Unit], dict[int, Unit]] | None = None
        self._arrays: StepArrays | None = None  # the last reset's or step's outputs
        self._avail_lists: list[list[int]] | None = None  # their availability as SMAC's lists, made on first use

    # -- what SMAC learns from the game at the first reset ----------------------------------------------------
    def _launch(self) -> None:
        """Map size, grids, unit-type ids and the enemies' health pool, as SMAC reads them from the game."""
        sim = self._sim
        ter = terrain(sim.map.terrain)
        self.map_x = self.map_y = self.max_distance_x = self.max_distance_y = MAP_SIZE
        self.pathing_grid, self.terrain_height = ter.pathable.copy(), ter.height.astype(np.float64)
        n = self.n_agents
        ally_names = sorted(set(sim.roster.names[:n]))
        self._min_unit_type = RL_TYPE_BASE
        for i, name in enumerate(ally_names):
            setattr(self, f"{name}_id", RL_TYPE_BASE + i)
        self._type_ids = [RL_TYPE_BASE + ally_names.index(name) for name in sim.roster.names[:n]]
        self._type_ids += [t.sc2_id for t in sim.roster.types[n:]]
        self._unit_types = list(self._type_ids)
        self.max_reward = sim.scorer.max_reward
        self._launched = True

    # -- episode ----------------------------------------------------------------------------------------
    def reset(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Start a new battle; returns (obs list, state)."""
        if not self._launched:
            self._launch()
        self._take(self._sim.reset())
        self._episode_steps = 0
        self._prev = None
        self._needs_reset = False
        self.last_action = np.zeros((self.n_agents, self.n_actions))
        return self.get_obs(), self.get_state()

    def step(self, actions: Any) -> tuple[float, bool, dict[str, Any]]:
        """Apply one action per agent (any iterable of ints, numpy or torch scalars, or a CPU/CUDA tensor);
        SMAC's (reward, terminated, info). Actions out of range raise ``IndexError``, unavailable or negative
        ones ``AssertionError`` (as SMAC's indexing and asserts do)."""
        if self._needs_reset:
            raise NeedsResetError(
                "call reset() before step(): " + ("the episode ended" if self._launched else "no episode started yet")
            )
        actions_int = [int(a) for a in actions]
        if len(actions_int) != self.n_agents:
            raise AssertionError(f"expected {self.n_agents} actions, got {len(actions_int)}")
        last_action = self._eye[actions_int]  # IndexError past n_actions, as SMAC
        if not self.heuristic_ai and min(actions_int) < 0:
            raise AssertionError(f"Agent {int(np.argmin(actions_int))} cannot perform action {min(actions_int)}")
        acts = torch.tensor([a % self.n_actions for a in actions_int], device=self._sim.device).view(1, -1)
        self._prev = self._sim.state
        try:
            out = self._sim.step(acts)
        except UnavailableActionError as err:
            raise AssertionError(f"Agent action not available: {err}") from err
        self.last_action = last_action  # the submitted actions, also under heuristic_ai
        if self.heuristic_ai:  # SMAC overwrites the caller's actions with those taken
            for i, a in enumerate(self._sim.last_actions[0].tolist()):
                actions[i] = a
        arrays = self._take(out)
        self._total_steps += 1
        self._episode_steps += 1
        terminated = bool(arrays.ended[0])
        info: dict[str, Any] = {
            "battle_won": bool(arrays.battle_won[0]),
            "dead_allies": int(arrays.dead_allies[0]),
            "dead_enemies": int(arrays.dead_enemies[0]),
        }
        if terminated:
            self.battles_game += 1
            self.battles_won += info["battle_won"]
            self._episode_count += 1
            self._needs_reset = True
        if arrays.timeout[0]:
            self.timeouts += 1
            if self.continuing_episode:
                info["episode_limit"] = True
        self.reward = float(arrays.reward[0])
        return self.reward, terminated, info

    def _take(self, out: EnvOutput) -> StepArrays:
        """Keeps ``out`` as numpy arrays: the getters read them instead of converting per call."""
        self._arrays = StepArrays.of(out)
        self._avail_lists = None
        return self._arrays

    def _current(self) -> StepArrays:
        assert self._arrays is not None, "call reset() first"
        return self._arrays

    # -- SMAC's unit dictionaries, built on access from the current state ----------------------------------------
    def _unit_dicts(self, st: SimState) -> tuple[dict[int, Unit], dict[int, Unit]]:
        """(agents, enemies) of ``st``: id -> ``Unit``; dead units keep their last position with health 0."""
        r, n = self._sim.roster, self.n_agents
        cols = torch.stack([st.pos[0, :, 0], st.pos[0, :, 1], st.health[0], st.shield[0], st.energy[0], st.cooldown[0]])
        x, y, health, shield, energy, cooldown = cols.tolist()
        health_max, shield_max = r.health_max.tolist(), r.shield_max.tolist()
        tag0 = (int(st.episode[0]) + 1) << 16  # new units, new tags each episode
        units = [
            Unit(
                tag=tag0 + u,
                unit_type=t,
                owner=1 if u < n else 2,
                pos=Point(x[u], y[u]),
                health=health[u],
                health_max=health_max[u],
                shield=shield[u],
                shield_max=shield_max[u],
                energy=energy[u],
                weapon_cooldown=cooldown[u],
            )
            for u, t in enumerate(self._type_ids)
        ]
        return dict(enumerate(units[:n])), dict(enumerate(units[n:]))

    def _current_units(self) -> tuple[dict[int, Unit], dict[int, Unit]]:
        if not self._launched:
            return {}, {}
        st = self._sim.state
        if self._units is None or self._units[0] is not st:
            self._units = (st, *self._unit_dicts(st))
        return self._units[1], self._units[2]

    @property
    def agents(self) -> dict[int, Unit]:
        """SMAC's agent units by id (empty before the first reset)."""
        return self._current_units()[0]

    @property
    def enemies(self) -> dict[int, Unit]:
        """SMAC's enemy units by id (empty before the first reset)."""
        return self._current_units()[1]

    @property
    def previous_ally_units(self) -> dict[int, Unit] | None:
        """The agents before the last step (None after a reset), as SMAC's ``update_units`` keeps them."""
        return None if self._prev is None else self._unit_dicts(self._prev)[0]

    @property
    def previous_enemy_units(self) -> dict[int, Unit] | None:
        """The enemies before the last step (None after a reset)."""
        return None if self._prev is None else self._unit_dicts(self._prev)[1]

    def _death_tracker(self, lo: int, hi: int) -> np.ndarray:
        """SMAC marks deaths inside ``reward_battle``, which the sparse reward skips: then they stay 0."""
        dead = (self._sim.state.health[0, lo:hi] <= 0).double().cpu().numpy()
        return np.zeros(hi - lo) if self.reward_sparse or not self._launched else dead

    @property
    def death_tracker_ally(self) -> np.ndarray:
        return self._death_tracker(0, self.n_agents)

    @property
    def death_tracker_enemy(self) -> np.ndarray:
        return self._death_tracker(self.n_agents, self.n_agents + self.n_enemies)

    def get_unit_by_id(self, a_id: int) -> Unit:
        return self.agents[a_id]

    def get_unit_types(self) -> list[int] | None:
        """Unit-type ids, agents (their ``*_RL`` ids) then enemies (stock ids); None before the first reset."""
        return self._unit_types

    # -- SMAC's helpers on units ------------------------------------------------------------------------------
    def reward_battle(self) -> float:
        """The last step's dense reward before the win/defeat bonus and scaling (0 with ``reward_sparse``)."""
        if self._prev is None:
            return 0.0
        p, s = self._prev, self._sim.state
        return float(self._sim.scorer.battle(p.health, p.shield, s.health, s.shield)[0])

    @staticmethod
    def distance(x1: float, y1: float, x2: float, y2: float) -> float:
        return math.hypot(x2 - x1, y2 - y1)

    def unit_shoot_range(self, agent_id: int) -> int:
        return int(SHOOT_RANGE)

    def unit_sight_range(self, agent_id: int) -> int:
        return int(SIGHT_RANGE)

    def unit_max_cooldown(self, unit: Unit) -> float:
        """SMAC's cooldown normaliser by unit-type id (15 for any other type)."""
        table = {getattr(self, f"{name}_id"): UNIT_TYPES[name].max_cd for name in _RL_NAMES}
        return table.get(unit.unit_type, 15)

    def unit_max_shield(self, unit: Unit) -> int | None:
        """SMAC's hard-coded maximum shield by stock or ``*_RL`` id; None for other units."""
        for name, shield in _MAX_SHIELD.items():
            if unit.unit_type in (UNIT_TYPES[name].sc2_id, getattr(self, f"{name}_id")):
                return shield
        return None

    def get_unit_type_id(self, unit: Unit, ally: bool) -> int:
        """The unit's one-hot index: relative RL id for agents, SMAC's per-map table of stock ids for enemies."""
        if ally:
            return unit.unit_type - self._min_unit_type
        if self.map_type not in TYPE_BITS:
            raise ValueError(f"map_type {self.map_type!r} has no enemy unit-type bits")
        order = TYPE_BITS[self.map_type][1]
        name = next((t for t in order if UNIT_TYPES[t].sc2_id == unit.unit_type), order[-1])
        return order.index(name)

    def only_medivac_left(self, ally: bool) -> bool:
        """SMAC's MMM end rule: no living non-medivac agent, or exactly one enemy left and it is a medivac."""
        if self.map_type != "MMM":
            return False
        units = self.agents if ally else self.enemies
        alive = [u for u in units.values() if u.health > 0 and u.unit_type != self.medivac_id]
        if ally:
            return not alive
        return len(alive) == 1 and alive[0].unit_type == UNIT_TYPES["medivac"].sc2_id

    def check_bounds(self, x: int, y: int) -> bool:
        return 0 <= x < self.map_x and 0 <= y < self.map_y

    def can_move(self, unit: Unit, direction: Direction) -> bool:
        """SMAC's probe: the cell half a move away, truncated with ``int()``, inside the map and pathable."""
        m = self._move_amount / 2
        dx, dy = {Direction.NORTH: (0, m), Direction.SOUTH: (0, -m), Direction.EAST: (m, 0)}.get(direction, (-m, 0))
        x, y = int(unit.pos.x + dx), int(unit.pos.y + dy)
        assert self.pathing_grid is not None, "call reset() first"
        return self.check_bounds(x, y) and bool(self.pathing_grid[x, y])

    def get_surrounding_points(self, unit: Unit, include_self: bool = False) -> list[tuple[int, int]]:
        """The 8 sample points around the unit (N4, S4, E4, W4, NE, SW, SE, NW), and its own cell."""
        x, y, ma = int(unit.pos.x), int(unit.pos.y), self._move_amount
        points = [(x, y + 2 * ma), (x, y - 2 * ma), (x + 2 * ma, y), (x - 2 * ma, y)]
        points += [(x + ma, y + ma), (x - ma, y - ma), (x + ma, y - ma), (x - ma, y + ma)]
        return points + [(x, y)] if include_self else points

    def _grid_at(self, grid: np.ndarray | None, points: list[tuple[int, int]]) -> list[Any]:
        assert grid is not None, "call reset() first"
        return [grid[x, y] if self.check_bounds(x, y) else 1 for x, y in points]

    def get_surrounding_pathing(self, unit: Unit) -> list[Any]:
        return self._grid_at(self.pathing_grid, self.get_surrounding_points(unit))

    def get_surrounding_height(self, unit: Unit) -> list[Any]:
        return self._grid_at(self.terrain_height, self.get_surrounding_points(unit, include_self=True))

    # -- observations -------------------------------------------------------------------------------------
    def _obs_dtype(self) -> type:
        return np.float64 if self.obs_timestep_number else np.float32  # SMAC's np.append quirk

    def get_obs(self) -> list[np.ndarray]:
        return list(self._current().obs[0].astype(self._obs_dtype()))

    def get_obs_agent(self, agent_id: int) -> np.ndarray:
        return self._current().obs[0, agent_id].astype(self._obs_dtype())

    def get_state(self) -> np.ndarray:
        return self._current().state[0].copy()

    def get_avail_agent_actions(self, agent_id: int) -> list[int]:
        if self._avail_lists is None:
            self._avail_lists = self._current().avail[0].view(np.uint8).tolist()
        return self._avail_lists[agent_id][:]

    def get_avail_actions(self) -> list[list[int]]:
        return [self.get_avail_agent_actions(i) for i in range(self.n_agents)]

    def get_state_dict(self) -> dict[str, Any]:
        """SMAC's structured state (also with ``obs_instead_of_state``): float64 ally and enemy rows, the last
        actions and the timestep as a float when switched on."""
        lay = self._sim.layout
        flat = self._sim.features.structured_state(self._sim.state)[0].cpu().numpy().astype(np.float64)
        na, ne = lay.n_agents * lay.nf_al_state, lay.n_enemies * lay.nf_en_state
        out: dict[str, Any] = {
            "allies": flat[:na].reshape(lay.n_agents, lay.nf_al_state),
            "enemies": flat[na : na + ne].reshape(lay.n_enemies, lay.nf_en_state),
        }
        if self.state_last_action:
            out["last_action"] = self.last_action
        if self.state_timestep_number:
            out["timestep"] = self._episode_steps / self.episode_limit
        return out

    def get_visibility_matrix(self) -> np.ndarray:
        """(n_agents, n_agents + n_enemies) bool: both alive and centre distance < sight range."""
        st, n = self._sim.state, self.n_agents
        alive = st.health[0] > 0
        d = torch.cdist(st.pos[0, :n], st.pos[0])
        vis = (d < SIGHT_RANGE) & alive[:n, None] & alive[None, :]
        vis[torch.arange(n), torch.arange(n)] = False
        return vis.cpu().numpy()

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
        return len(self.ally_state_attr_names)

    def get_enemy_num_attributes(self) -> int:
        return len(self.enemy_state_attr_names)

    def get_env_info(self) -> dict[str, Any]:
        return super().get_env_info() | {
            "agent_features": self.ally_state_attr_names,
            "enemy_features": self.enemy_state_attr_names,
        }

    def get_stats(self) -> dict[str, float]:
        return smac_stats(self)

    # -- process management (nothing to manage) ---------------------------------------------------------------
    def seed(self) -> int | None:
        return self._seed

    def render(self, mode: str = "human") -> np.ndarray | None:
        """SMAC's modes: ``"rgb_array"`` returns the current state as an (H, W, 3) uint8 picture, 480 px wide,
        drawn as ``liir.evaluate render=true`` draws its battle GIFs; ``"human"`` shows it in a matplotlib
        window that later calls update, or, where matplotlib has no interactive backend (a headless machine),
        warns and shows nothing."""
        from liir.envs.smac.sim import render as drawing  # matplotlib is imported only for a picture

        if mode not in ("human", "rgb_array"):
            raise ValueError(f"render mode {mode!r} is not supported; use 'human' or 'rgb_array'")
        title = f"{self.map_name}, step {self._episode_steps}"
        frame = drawing.rgb_frame(drawing.Scene.of(self._sim), drawing.Battle.now(self._sim.state), title)
        if mode == "rgb_array":
            return frame
        self.renderer = drawing.show(frame, self.renderer)
        return None

    def save_replay(self) -> None:
        """No replays without the game."""

    def full_restart(self) -> None:
        self.reset()

    def close(self) -> None:
        """Close the ``render`` window, if one is open (no game process to stop)."""
        if self.renderer is not None:
            from liir.envs.smac.sim.render import close_window

            close_window(self.renderer)
            self.renderer = None
