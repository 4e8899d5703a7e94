"""SMAC's constructor flags and the feature sizes they imply (smac-interface.md §1, §7, §8).

``SmacConfig`` mirrors ``StarCraft2Env``'s keyword arguments with SMAC's own defaults (they are part
of the interface being reproduced); ``cooldown_jitter`` is the only simulator-specific switch.
``Layout`` computes every block width exactly as SMAC's ``get_*_size`` methods do.
"""

from __future__ import annotations

from dataclasses import dataclass

from liir.envs.smac.maps import MapParams

N_ACTIONS_NO_ATTACK = 6
N_OBS_PATHING = 8
N_OBS_HEIGHT = 9
SHOOT_RANGE = 6.0  # SMAC's unit_shoot_range, every unit
SIGHT_RANGE = 9.0  # SMAC's unit_sight_range, every unit


@dataclass(frozen=True)
class SmacConfig:
    """SMAC's ``StarCraft2Env`` keyword arguments (minus ``map_name`` and ``seed``), SMAC's defaults."""

    step_mul: int = 8
    move_amount: float = 2
    difficulty: str = "7"
    game_version: str | None = None
    continuing_episode: bool = False
    obs_all_health: bool = True
    obs_own_health: bool = True
    obs_last_action: bool = False
    obs_pathing_grid: bool = False
    obs_terrain_height: bool = False
    obs_instead_of_state: bool = False
    obs_timestep_number: bool = False
    state_last_action: bool = True
    state_timestep_number: bool = False
    reward_sparse: bool = False
    reward_only_positive: bool = True
    reward_death_value: float = 10
    reward_win: float = 200
    reward_defeat: float = 0
    reward_negative_scale: float = 0.5
    reward_scale: bool = True
    reward_scale_rate: float = 20
    replay_dir: str = ""
    replay_prefix: str = ""
    window_size_x: int = 1920
    window_size_y: int = 1200
    heuristic_ai: bool = False
    heuristic_rest: bool = False
    debug: bool = False
    cooldown_jitter: bool = True  # simulator only: SC2's -1..+2 game-loop jitter after each shot

    @property
    def own_health(self) -> bool:
        """SMAC forces own health on when all health is observed."""
        return self.obs_own_health or self.obs_all_health


@dataclass(frozen=True)
class Layout:
    """Feature block widths of one map under one set of flags."""

    n_agents: int
    n_enemies: int
    n_actions: int
    utb: int  # unit_type_bits
    shield_ally: int
    shield_enemy: int
    move: int
    nf_en: int
    nf_al: int
    own: int
    obs_size: int  # SMAC's get_obs_size()
    obs_len: int  # length actually produced (one more with obs_timestep_number, a SMAC quirk)
    nf_al_state: int
    nf_en_state: int
    state_size: int  # SMAC's get_state_size()
    state_len: int  # length actually produced

    @staticmethod
    def build(m: MapParams, c: SmacConfig) -> Layout:
        """Compute the sizes exactly as SMAC does."""
        n, e, utb = m.n_agents, m.n_enemies, m.unit_type_bits
        n_actions = N_ACTIONS_NO_ATTACK + e
        sa, se = int(m.a_race == "P"), int(m.b_race == "P")
        move = 4 + N_OBS_PATHING * c.obs_pathing_grid + N_OBS_HEIGHT * c.obs_terrain_height
        nf_en = 4 + utb + (1 + se if c.obs_all_health else 0)
        nf_al = 4 + utb + (1 + sa if c.obs_all_health else 0) + (n_actions if c.obs_last_action else 0)
        own = utb + (1 + sa if c.own_health else 0) + int(c.obs_timestep_number)
        obs_size = move + e * nf_en + (n - 1) * nf_al + own
        obs_len = obs_size + int(c.obs_timestep_number)
        nf_al_s, nf_en_s = 4 + sa + utb, 3 + se + utb
        if c.obs_instead_of_state:
            state_size, state_len = obs_size * n, obs_len * n
        else:
            state_size = n * nf_al_s + e * nf_en_s + n * n_actions * c.state_last_action + int(c.state_timestep_number)
            state_len = state_size
        return Layout(
            n,
            e,
            n_actions,
            utb,
            sa,
            se,
            move,
            nf_en,
            nf_al,
            own,
            obs_size,
            obs_len,
            nf_al_s,
            nf_en_s,
            state_size,
            state_len,
        )
