"""The map registry and the feature sizes against SMAC's tables (smac-interface.md §11, liir-reference §1.3)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from liir.envs.smac import make_smac_env
from liir.envs.smac.maps import SMAC_MAPS, get_map
from liir.envs.smac.sim import StarCraft2Env
from liir.envs.smac.sim.config import Layout, SmacConfig
from liir.envs.smac.sim.roster import Roster
from liir.envs.smac.terrain import terrain

# map: n_agents, n_enemies, limit, n_actions, obs, state (SMAC's default = pymarl's sc2.yaml flags)
SMAC_TABLE = {
    "3m": (3, 3, 60, 9, 30, 48),
    "8m": (8, 8, 120, 14, 80, 168),
    "25m": (25, 25, 150, 31, 250, 950),
    "5m_vs_6m": (5, 6, 70, 12, 55, 98),
    "8m_vs_9m": (8, 9, 120, 15, 85, 179),
    "10m_vs_11m": (10, 11, 150, 17, 105, 243),
    "27m_vs_30m": (27, 30, 180, 36, 285, 1170),
    "MMM": (10, 10, 150, 16, 160, 290),
    "MMM2": (10, 12, 180, 18, 176, 322),
    "2s3z": (5, 5, 120, 11, 80, 120),
    "3s5z": (8, 8, 150, 14, 128, 216),
    "3s5z_vs_3s6z": (8, 9, 170, 15, 136, 230),
    "3s_vs_3z": (3, 3, 150, 9, 36, 54),
    "3s_vs_4z": (3, 4, 200, 10, 42, 61),
    "3s_vs_5z": (3, 5, 250, 11, 48, 68),
    "1c3s5z": (9, 9, 180, 15, 162, 270),
    "2m_vs_1z": (2, 1, 150, 7, 16, 26),
    "corridor": (6, 24, 400, 30, 156, 282),
    "6h_vs_8z": (6, 8, 150, 14, 78, 140),
    "2s_vs_1sc": (2, 1, 300, 7, 17, 27),
    "so_many_baneling": (7, 32, 100, 38, 202, 397),
    "bane_vs_bane": (24, 24, 200, 30, 336, 984),
    "2c_vs_64zg": (2, 64, 400, 70, 332, 342),
}
MAX_REWARD = {
    "3m": 365,
    "2s3z": 1020,
    "MMM": 1015,
    "1c3s5z": 1870,
    "2s_vs_1sc": 510,
    "2c_vs_64zg": 3080,
    "bane_vs_bane": 1260,
    "corridor": 1280,
}
CONF = Path(__file__).resolve().parents[3] / "conf" / "env"


def test_registry_has_every_smac_map() -> None:
    assert set(SMAC_MAPS) == set(SMAC_TABLE)


@pytest.mark.parametrize("name", sorted(SMAC_TABLE))
def test_sizes_match_smac_default_and_pymarl_flags(name: str) -> None:
    n, e, limit, n_actions, obs, state = SMAC_TABLE[name]
    m = get_map(name)
    assert (m.n_agents, m.n_enemies, m.limit) == (n, e, limit)
    lay = Layout.build(m, SmacConfig())
    assert (lay.n_actions, lay.obs_size, lay.state_size) == (n_actions, obs, state)
    pymarl = OmegaConf.to_container(OmegaConf.load(CONF / f"smac_{name}.yaml").env_args)
    flags = {k: v for k, v in pymarl.items() if k not in ("_target_", "backend", "map_name", "sc2", "sim")}
    lay_pymarl = Layout.build(m, SmacConfig(**flags))
    assert (lay_pymarl.obs_size, lay_pymarl.state_size) == (obs, state)
    liir = Layout.build(m, SmacConfig(state_last_action=False))  # the LIIR paper's env args
    assert liir.state_size == state - n * n_actions


def test_liir_paper_sizes() -> None:
    for name, (obs, state) in {"3m": (30, 21), "8m": (80, 56), "2s3z": (80, 65), "3s5z": (128, 104)}.items():
        lay = Layout.build(get_map(name), SmacConfig(state_last_action=False))
        assert (lay.obs_size, lay.state_size) == (obs, state)


@pytest.mark.parametrize(
    "flags, obs, state",
    [
        ({"obs_last_action": True}, 48, 48),
        ({"obs_pathing_grid": True}, 38, 48),
        ({"obs_terrain_height": True}, 39, 48),
        ({"obs_all_health": False}, 25, 48),
        ({"obs_all_health": False, "obs_own_health": False}, 24, 48),
        ({"obs_timestep_number": True}, 31, 48),
        ({"obs_instead_of_state": True}, 30, 90),
        ({"state_last_action": False, "state_timestep_number": True}, 30, 22),
    ],
)
def test_flag_sizes_3m(flags: dict, obs: int, state: int) -> None:
    env = StarCraft2Env(map_name="3m", **flags, compile=False)
    assert (env.get_obs_size(), env.get_state_size()) == (obs, state)
    obs_list, st = env.reset()
    extra = int(flags.get("obs_timestep_number", False))  # SMAC's quirk: one element longer than get_obs_size
    assert all(o.shape == (obs + extra,) for o in obs_list)
    assert st.shape == (state + extra * 3 * flags.get("obs_instead_of_state", False),)


@pytest.mark.parametrize("name", sorted(MAX_REWARD))
def test_max_reward(name: str) -> None:
    env = StarCraft2Env(map_name=name, compile=False)
    env.reset()  # SMAC adds the enemies' health and shields at the first reset
    assert env.max_reward == MAX_REWARD[name]


@pytest.mark.parametrize("name", sorted(SMAC_TABLE))
def test_spawn_on_pathable_ground_without_overlap(name: str) -> None:
    m = get_map(name)
    ter = terrain(m.terrain)
    r = Roster.build(m, ter, torch.device("cpu"))
    cells = r.init_pos.floor().long()
    assert bool(torch.from_numpy(ter.pathable)[cells[:, 0], cells[:, 1]].all())
    d = torch.cdist(r.init_pos, r.init_pos) + torch.eye(len(r.names)) * 100
    same = r.collision_group[:, None] == r.collision_group[None, :]
    assert bool((d[same] >= (r.radius[:, None] + r.radius[None, :])[same]).all())


def test_ally_order_follows_smac() -> None:
    def names(m: str) -> list[str]:
        return Roster.build(get_map(m), terrain(get_map(m).terrain), torch.device("cpu")).names

    assert names("2s3z")[:5] == ["stalker"] * 2 + ["zealot"] * 3
    assert names("1c3s5z")[:9] == ["colossus"] + ["stalker"] * 3 + ["zealot"] * 5
    assert names("MMM")[:10] == ["marauder"] * 2 + ["marine"] * 7 + ["medivac"]
    assert names("MMM")[10:] == ["marine"] * 7 + ["marauder"] * 2 + ["medivac"]
    assert names("bane_vs_bane")[:24] == ["baneling"] * 4 + ["zergling"] * 20
    r = Roster.build(get_map("8m"), terrain("band"), torch.device("cpu"))
    xy = [tuple(p) for p in r.init_pos[:8].tolist()]
    assert xy == sorted(xy)  # within a type: by x, then y


def test_unknown_map_and_backend_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown SMAC map 'nope'.*3m.*2c_vs_64zg"):
        make_smac_env("sim", 2, "cpu", 0, "nope")
    with pytest.raises(ValueError, match=r"unknown SMAC backend 'sc3'.*sim"):
        make_smac_env("sc3", 2, "cpu", 0, "3m")
    with pytest.raises(TypeError):
        make_smac_env("sim", 2, "cpu", 0, "3m", not_a_smac_flag=True)


@pytest.mark.parametrize("name", ["3m", "2s3z", "MMM2"])
def test_hydra_config_instantiates(name: str) -> None:
    cfg = OmegaConf.create({"env": OmegaConf.load(CONF / f"smac_{name}.yaml")})
    env = instantiate(cfg.env.env_args, batch_size=3, device="cpu", seed=1)
    n, e, limit, n_actions, obs, state = SMAC_TABLE[name]
    assert (env.info.n_agents, env.info.n_actions, env.info.obs_shape, env.info.state_shape) == (
        n,
        n_actions,
        obs,
        state,
    )
    assert env.info.batch_size == 3 and env.info.episode_limit == limit
    assert env.info.metadata["backend"] == "sim"
    single = StarCraft2Env(map_name=name, compile=False)
    single.reset()
    assert math.isclose(env.info.metadata["max_reward"], single.max_reward)


def test_every_map_has_a_config() -> None:
    for name in SMAC_MAPS:
        cfg = OmegaConf.load(CONF / f"smac_{name}.yaml")
        assert cfg.name == f"smac_{name}" and cfg.env_args.map_name == name and cfg.backend == "auto"
