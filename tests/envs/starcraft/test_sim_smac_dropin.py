"""Issue 15: SMAC's unit dictionaries, public attributes and helpers with SMAC's values, its fidelity fixes, and
batch-size-independent copies. Expected values are written from SMAC's formulas (smac-interface.md §1, §8, §13)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from liir.envs.smac.sim import MultiAgentEnv, NeedsResetError, SmacSim, StarCraft2Env
from liir.envs.smac.sim.config import SmacConfig
from liir.envs.smac.sim.single import SMAC_ARGS, Direction
from liir.envs.smac.units import RL_TYPE_BASE

BASE_ALLY = ["health", "energy/cooldown", "rel_x", "rel_y"]
BASE_ENEMY = ["health", "rel_x", "rel_y"]
# map: attributes after the first reset, from SMAC's constructor, _launch and _init_ally_unit_types
TABLE = {
    "3m": {
        "n_agents": 3,
        "n_enemies": 3,
        "n_actions": 9,
        "episode_limit": 60,
        "unit_type_bits": 0,
        "map_type": "marines",
        "shield_bits_ally": 0,
        "shield_bits_enemy": 0,
        "max_reward": 3 * 10 + 200 + 3 * 45,
        "ally_state_attr_names": BASE_ALLY,
        "enemy_state_attr_names": BASE_ENEMY,
        "marine_id": RL_TYPE_BASE,
        "stalker_id": 0,
        "medivac_id": 0,
    },
    "2s3z": {
        "n_agents": 5,
        "n_enemies": 5,
        "n_actions": 11,
        "episode_limit": 120,
        "unit_type_bits": 2,
        "map_type": "stalkers_and_zealots",
        "shield_bits_ally": 1,
        "shield_bits_enemy": 1,
        "max_reward": 5 * 10 + 200 + 2 * (80 + 80) + 3 * (100 + 50),
        "ally_state_attr_names": BASE_ALLY + ["shield", "type_0", "type_1"],
        "enemy_state_attr_names": BASE_ENEMY + ["shield", "type_0", "type_1"],
        "stalker_id": RL_TYPE_BASE,
        "zealot_id": RL_TYPE_BASE + 1,
        "marine_id": 0,
    },
    "MMM": {
        "n_agents": 10,
        "n_enemies": 10,
        "n_actions": 16,
        "episode_limit": 150,
        "unit_type_bits": 3,
        "map_type": "MMM",
        "shield_bits_ally": 0,
        "shield_bits_enemy": 0,
        "max_reward": 10 * 10 + 200 + 2 * 125 + 7 * 45 + 150,
        "ally_state_attr_names": BASE_ALLY + ["type_0", "type_1", "type_2"],
        "enemy_state_attr_names": BASE_ENEMY + ["type_0", "type_1", "type_2"],
        "marauder_id": RL_TYPE_BASE,
        "marine_id": RL_TYPE_BASE + 1,
        "medivac_id": RL_TYPE_BASE + 2,
    },
}
COMMON = {
    "n_actions_no_attack": 6,
    "n_actions_move": 4,
    "n_obs_pathing": 8,
    "n_obs_height": 9,
    "map_x": 32,
    "map_y": 32,
    "max_distance_x": 32,
    "max_distance_y": 32,
    "_min_unit_type": RL_TYPE_BASE,
    "_move_amount": 2,
    "_step_mul": 8,
    "difficulty": "7",
    "game_version": None,
    "continuing_episode": False,
    "obs_own_health": True,
    "obs_all_health": True,
    "obs_instead_of_state": False,
    "obs_last_action": False,
    "obs_pathing_grid": False,
    "obs_terrain_height": False,
    "obs_timestep_number": False,
    "state_last_action": True,
    "state_timestep_number": False,
    "reward_sparse": False,
    "reward_only_positive": True,
    "reward_death_value": 10,
    "reward_win": 200,
    "reward_defeat": 0,
    "reward_negative_scale": 0.5,
    "reward_scale": True,
    "reward_scale_rate": 20,
    "replay_dir": "",
    "replay_prefix": "",
    "window_size": (1920, 1200),
    "heuristic_ai": False,
    "heuristic_rest": False,
    "debug": False,
    "_seed": None,
    "_episode_count": 0,
    "_episode_steps": 0,
    "_total_steps": 0,
    "battles_won": 0,
    "battles_game": 0,
    "timeouts": 0,
    "force_restarts": 0,
}


def hold(env: StarCraft2Env) -> list[int]:
    """Stop for living agents, the no-op for dead ones."""
    return [1 if avail[1] else 0 for avail in env.get_avail_actions()]


@pytest.mark.parametrize("map_name", sorted(TABLE))
def test_attributes_have_smacs_values(map_name: str) -> None:
    env = StarCraft2Env(map_name, compile=False)
    env.reset()
    for name, value in (COMMON | TABLE[map_name]).items():
        assert getattr(env, name) == value, name
    assert env.pathing_grid.shape == (32, 32) and env.pathing_grid.dtype == bool
    assert (
        env.terrain_height.shape == (32, 32) and env.pathing_grid[:, 8:24].all() and not env.pathing_grid[:, :8].any()
    )


def test_helpers_have_smacs_values() -> None:
    env = StarCraft2Env("MMM", compile=False)
    env.reset()
    kinds = [env.agents[i].unit_type for i in range(10)]
    assert kinds == [env.marauder_id] * 2 + [env.marine_id] * 7 + [env.medivac_id]
    assert [env.unit_max_cooldown(env.agents[i]) for i in (0, 2, 9)] == [25, 15, 200]
    assert env.unit_max_cooldown(env.enemies[0]) == 15  # stock ids are not in SMAC's table
    assert [env.get_unit_type_id(env.agents[i], True) for i in (0, 2, 9)] == [0, 1, 2]
    enemy_ids = {env.enemies[e].unit_type: env.get_unit_type_id(env.enemies[e], False) for e in range(10)}
    assert enemy_ids == {51: 0, 48: 1, 54: 2}
    assert env.unit_max_shield(env.agents[0]) is None
    assert (env.unit_shoot_range(0), env.unit_sight_range(0)) == (6, 9)
    assert env.distance(0, 0, 3, 4) == 5
    assert env.reward_battle() == 0 and not env.only_medivac_left(True) and not env.only_medivac_left(False)
    p = env.agents[0].pos
    assert env.can_move(env.agents[0], Direction.NORTH) == bool(env.pathing_grid[int(p.x), int(p.y + 1)])
    assert env.get_surrounding_points(env.agents[0], include_self=True)[-1] == (int(p.x), int(p.y))
    assert len(env.get_surrounding_pathing(env.agents[0])) == 8 and len(env.get_surrounding_height(env.agents[0])) == 9

    pz = StarCraft2Env("2s3z", compile=False)
    pz.reset()
    assert [pz.unit_max_shield(pz.agents[i]) for i in range(5)] == [80, 80, 50, 50, 50]
    assert [pz.get_unit_type_id(pz.agents[i], True) for i in range(5)] == [0, 0, 1, 1, 1]
    # SMAC's enemy encoding: unit_type - 73, so zealot 0 and stalker 1 (the ally order reversed)
    assert {pz.enemies[e].unit_type: pz.get_unit_type_id(pz.enemies[e], False) for e in range(5)} == {73: 0, 74: 1}


def test_constructor_positional_in_smacs_order_and_base_class() -> None:
    fields = [f.name for f in dataclasses.fields(SmacConfig) if f.name != "cooldown_jitter"]
    assert [a for a in SMAC_ARGS if a not in ("map_name", "seed")] == fields
    env = StarCraft2Env("2s3z", 4, 3, "5", None, 11, True, compile=False)
    assert (env.map_name, env._step_mul, env._move_amount, env.difficulty, env.seed(), env.continuing_episode) == (
        "2s3z",
        4,
        3,
        "5",
        11,
        True,
    )
    with pytest.raises(TypeError, match="multiple values"):
        StarCraft2Env("3m", map_name="8m", compile=False)
    assert isinstance(env, MultiAgentEnv)
    with pytest.raises(NotImplementedError):
        MultiAgentEnv().step([0])


def test_unit_dictionaries_stay_current() -> None:
    env = StarCraft2Env("2s3z", seed=1, compile=False)
    assert env.agents == {} and env.enemies == {}
    env.reset()
    tags = {u.tag for u in env.agents.values()}
    for _ in range(40):
        _, terminated, _ = env.step(hold(env))
        sd = env.get_state_dict()
        for i, u in env.agents.items():
            assert u is env.get_unit_by_id(i) and u.owner == 1
            if u.health > 0:
                assert sd["allies"][i, 0] == pytest.approx(u.health / u.health_max)
                assert sd["allies"][i, 2] == pytest.approx((u.pos.x - 16) / 32)
                assert sd["allies"][i, 4] == pytest.approx(u.shield / u.shield_max)
                assert sd["allies"][i, 1] == pytest.approx(u.weapon_cooldown / env.unit_max_cooldown(u))
        for e, u in env.enemies.items():
            assert u.owner == 2 and (u.health > 0) == (sd["enemies"][e, 0] > 0)
            if u.health > 0:
                assert sd["enemies"][e, 1] == pytest.approx((u.pos.x - 16) / 32)
        np.testing.assert_array_equal(env.death_tracker_ally, [u.health <= 0 for u in env.agents.values()])
        np.testing.assert_array_equal(env.death_tracker_enemy, [u.health <= 0 for u in env.enemies.values()])
        assert env.previous_ally_units is not None
        if terminated:
            break
    assert env._episode_steps == env._total_steps > 30 and env._episode_count == int(terminated)
    assert {u.tag for u in env.agents.values()} == tags  # the same units all episode ...
    env.reset()
    assert not {u.tag for u in env.agents.values()} & tags  # ... and new ones after a reset
    assert env._episode_steps == 0 and not env.death_tracker_ally.any() and env.previous_ally_units is None
    assert env.get_unit_types() == [u.unit_type for u in env.agents.values()] + [
        u.unit_type for u in env.enemies.values()
    ]


def test_own_block_keeps_its_zero_slot_without_health_or_type_bits() -> None:
    flags = {"obs_all_health": False, "obs_own_health": False, "obs_timestep_number": True}
    env = StarCraft2Env("3m", **flags, compile=False)
    obs, _ = env.reset()
    assert env.get_obs_size() == 25 and all(o.shape == (26,) for o in obs)  # SMAC: size 25, vectors 26 long
    assert obs[0][-2] == 0 and obs[0].dtype == np.float64
    batched = SmacSim(batch_size=1, device="cpu", seed=0, map_name="3m", **flags)
    assert batched.reset().obs.shape[-1] == batched.info.obs_shape == 26


def test_heuristic_ai_records_the_submitted_actions() -> None:
    env = StarCraft2Env("3m", heuristic_ai=True, compile=False)
    env.reset()
    actions = [1, 1, 1]
    env.step(actions)
    np.testing.assert_array_equal(env.last_action, np.eye(9)[[1, 1, 1]])
    assert actions != [1, 1, 1]  # overwritten with the heuristic's attacks
    assert env.last_action.dtype == np.float64


def test_step_needs_reset() -> None:
    env = StarCraft2Env("3m", compile=False)
    with pytest.raises(NeedsResetError, match="no episode started"):
        env.step([1, 1, 1])
    env.reset()
    terminated = False
    while not terminated:
        _, terminated, _ = env.step(hold(env))
    with pytest.raises(NeedsResetError, match="episode ended"):
        env.step([1, 1, 1])


def test_out_of_range_actions_raise_smacs_exceptions() -> None:
    env = StarCraft2Env("3m", compile=False)
    env.reset()
    with pytest.raises(IndexError):
        env.step([9, 1, 1])
    with pytest.raises(AssertionError):
        env.step([-1, 1, 1])
    with pytest.raises(AssertionError):
        env.step([6, 1, 1])  # no enemy in range at the start


def test_types_and_values_before_and_after_reset() -> None:
    env = StarCraft2Env("3m", state_timestep_number=True, obs_instead_of_state=True, compile=False)
    assert env.max_reward == 3 * 10 + 200  # SMAC adds the enemies' pool at the first reset
    assert env.last_action.dtype == np.float64 and env.get_unit_types() is None
    env.reset()
    env.step([1, 1, 1])
    sd = env.get_state_dict()
    assert isinstance(sd["timestep"], float) and sd["timestep"] == 1 / 60
    assert sd["allies"].shape == (3, 4) and sd["last_action"].dtype == np.float64


def test_move_west_at_the_border_uses_float64_truncation() -> None:
    env = StarCraft2Env("3s_vs_3z", compile=False)  # the whole map is pathable
    env.reset()
    env._sim.state.pos[0, 0, 0] = 1.9e-10
    env._take(env._sim.observe())
    assert env.get_avail_agent_actions(0)[5] == 1  # int(1.9e-10 - 1) == 0: inside the map, as in SMAC
    assert env.can_move(env.agents[0], Direction.WEST)


@pytest.mark.parametrize(
    "kind",
    [
        "list",
        "numpy",
        "torch_scalars",
        "tensor",
        pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
    ],
)
def test_actions_in_every_form_smac_accepts(kind: str) -> None:
    env = StarCraft2Env("3m", compile=False)
    env.reset()
    acts = [1, 2, 3]
    given = {
        "list": lambda: acts,
        "numpy": lambda: list(np.array(acts, dtype=np.int64)),
        "torch_scalars": lambda: [torch.tensor(a) for a in acts],
        "tensor": lambda: torch.tensor(acts),
        "cuda": lambda: torch.tensor(acts, device="cuda"),
    }[kind]()
    env.step(given)
    np.testing.assert_array_equal(env.last_action.argmax(1), acts)


@pytest.mark.parametrize("map_name", ["MMM", "1c3s5z"])
def test_copy_trajectory_does_not_depend_on_batch_size(map_name: str) -> None:
    """Copy 0 of a batch of 4 equals a batch of 1 bit for bit (sums over units run in a fixed order)."""
    small = SmacSim(batch_size=1, device="cpu", seed=0, map_name=map_name)
    large = SmacSim(batch_size=4, device="cpu", seed=0, map_name=map_name)
    out_s, out_l = small.reset(), large.reset()
    gen, other = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)

    def sample(avail: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        b, n, a = avail.shape
        return torch.multinomial(avail.float().view(b * n, a), 1, generator=g).view(b, n)

    for _ in range(100):  # the sums drifted apart by step 40 (MMM) and 64 (1c3s5z)
        acts = sample(out_s.avail_actions, gen)
        out_s = small.step(acts)
        out_l = large.step(torch.cat([acts, sample(out_l.avail_actions[1:], other)]))
        assert torch.equal(small.state.pos[0], large.state.pos[0])
        assert torch.equal(out_s.obs[0], out_l.obs[0]) and torch.equal(out_s.reward[0], out_l.reward[0])
        if bool(out_s.ended[0]):
            out_s, out_l = small.reset(), large.reset()
