"""SMAC's interface on hand-built situations: availability, feature layouts, reward, termination."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from smac_arena import act, arena

from liir.envs.base import UnavailableActionError
from liir.envs.smac.sim import SmacSim, StarCraft2Env
from liir.envs.smac.sim.state import Order


def test_availability_rules() -> None:
    env, out = arena("3m", {0: (10.0, 8.5), 1: (10.0, 16.0), 3: (16.0, 8.5), 4: (16.01, 16.0)})
    av = out.avail_actions[0].int().tolist()
    # agent 0: south probe (10, 7.5) is off the band; enemy 3 at exactly 6 (<=), enemy 4 at 6.01 out of range
    assert av[0] == [0, 1, 1, 0, 1, 1, 1, 0, 0]
    assert av[1] == [0, 1, 1, 1, 1, 1, 0, 0, 0]
    assert av[2] == [1, 0, 0, 0, 0, 0, 0, 0, 0]  # dead: no-op only


def test_medivac_targets_allies() -> None:
    env, out = arena("MMM2", {0: (10.0, 16.0), 2: (14.0, 16.0), 9: (12.0, 16.0), 10: (13.0, 16.0)})
    av = out.avail_actions[0, 9].int().tolist()
    assert av[6:] == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # allies 0 and 2 (alive, not medivac); never 10, 11


def test_illegal_action_names_env_agent_action() -> None:
    env = SmacSim(batch_size=2, device="cpu", seed=0, map_name="3m")
    env.reset()
    with pytest.raises(UnavailableActionError, match=r"env 0, agent 1: action 7"):
        env.step(torch.tensor([[1, 7, 1], [1, 1, 1]]))
    single = StarCraft2Env(map_name="3m", compile=False)
    single.reset()
    with pytest.raises(AssertionError):
        single.step([0, 1, 1])  # no-op is only for dead agents


def test_obs_layout_2s3z() -> None:
    # agent 0 stalker at (10,16); ally 1 stalker 3 away; ally 2 zealot 9.5 away (not visible); ally 3 dead;
    # enemy 5 (stalker) 4 away, enemy 8 (zealot) 8 away (visible, not attackable); enemy 9 dead
    place = {
        0: (10.0, 16.0),
        1: (10.0, 19.0),
        2: (19.5, 16.0),
        4: (10.0, 12.0),
        5: (14.0, 16.0),
        6: (10.0, 22.0),
        7: (10.0, 23.0),
        8: (10.0, 8.0 + 0.0),
    }
    env, out = arena("2s3z", place)
    env.state.pos[0, 8] = torch.tensor([18.0, 16.0])
    env.state.health[0, 5] = 40.0
    env.state.shield[0, 5] = 20.0
    env.state.health[0, 1] = 60.0
    obs = env.observe().obs[0, 0].tolist()
    assert len(obs) == 80
    assert obs[:4] == [1, 1, 1, 1]
    enemy = [obs[4 + 8 * k : 12 + 8 * k] for k in range(5)]
    assert enemy[0] == pytest.approx([1, 4 / 9, 4 / 9, 0, 40 / 80, 20 / 80, 0, 1])  # enemy stalker: type bit 1
    assert enemy[1] == pytest.approx([1, 6 / 9, 0, 6 / 9, 1, 1, 0, 1])  # exactly 6 away: attackable (<= 6)
    assert enemy[3] == pytest.approx([0, 8 / 9, 8 / 9, 0, 1, 1, 1, 0])  # enemy zealot: type bit 0
    assert enemy[4] == [0] * 8  # dead
    ally = [obs[44 + 8 * k : 52 + 8 * k] for k in range(4)]
    assert ally[0] == pytest.approx([1, 3 / 9, 0, 3 / 9, 60 / 80, 1, 1, 0])  # ally stalker: type bit 0
    assert ally[1] == [0] * 8  # 9.5 away: out of sight
    assert ally[2] == [0] * 8  # dead
    assert ally[3] == pytest.approx([1, 4 / 9, 0, -4 / 9, 1, 1, 0, 1])  # ally zealot: type bit 1
    assert obs[76:] == pytest.approx([1, 1, 1, 0])  # own health, shield, type


def test_state_layout_and_dead_agent_obs() -> None:
    env, out = arena("3m", {0: (10.0, 16.0), 1: (20.0, 12.0), 3: (13.0, 16.0)})
    env.state.cooldown[0, 0] = 7.5
    env.state.health[0, 3] = 9.0
    out = env.observe()
    s = out.state[0].tolist()
    assert len(s) == 48
    assert s[0:4] == pytest.approx([1, 7.5 / 15, (10 - 16) / 32, 0])
    assert s[4:8] == pytest.approx([1, 0, 4 / 32, -4 / 32])
    assert s[8:12] == [0, 0, 0, 0]
    assert s[12:15] == pytest.approx([9 / 45, -3 / 32, 0])
    assert s[15:21] == [0] * 6
    assert s[21:] == [0] * 27  # no actions yet
    assert out.obs[0, 2].abs().sum().item() == 0  # dead agent: all zeros
    act(env, 6, 1, 0)
    s = env.observe().state[0].tolist()
    assert s[21:30] == [0, 0, 0, 0, 0, 0, 1, 0, 0] and s[39:48] == [1, 0, 0, 0, 0, 0, 0, 0, 0]


def test_flawless_win_returns_20_and_sparse_reward() -> None:
    cases = [
        ({}, 20.0),
        ({"reward_only_positive": False}, 20.0),
        ({"reward_sparse": True}, 20 / 1020),
        ({"reward_sparse": True, "reward_scale": False}, 1.0),
    ]
    for kwargs, expected in cases:
        env, _ = arena(
            "2s3z",
            {
                0: (10.0, 16.0),
                1: (10.0, 17.5),
                5: (14.0, 16.0),
                6: (14.0, 17.5),
                7: (14.0, 14.5),
                8: (15.2, 16.8),
                9: (15.2, 15.2),
            },
            **kwargs,
        )
        total, out = 0.0, None
        for _ in range(120):
            alive = [k for k in range(5) if env.state.health[0, 5 + k] > 0]
            out = act(env, 6 + alive[0], 6 + alive[0], 0, 0, 0)
            total += out.reward.item()
            if bool(out.terminated[0]):
                break
        assert bool(out.battle_won[0])
        assert total == pytest.approx(expected, rel=1e-5), kwargs


def test_negative_reward_part() -> None:
    env, _ = arena("3m", {0: (10.0, 16.0), 3: (14.0, 16.0)}, passive_enemies=False, reward_only_positive=False)
    out = act(env, 1, 0, 0)  # the enemy marine shoots once, agent 0 stops
    assert env.state.health[0, 0].item() == pytest.approx(39.0)
    assert out.reward.item() == pytest.approx(-0.5 * 6 / (365 / 20))
    env, _ = arena("3m", {0: (10.0, 16.0), 3: (14.0, 16.0)}, passive_enemies=False)
    assert act(env, 1, 0, 0).reward.item() == 0.0  # only positive (default)


def test_time_limit_and_continuing_episode() -> None:
    for continuing in (False, True):
        env, _ = arena("3m", {0: (10.0, 16.0), 3: (20.0, 16.0)}, continuing_episode=continuing)
        for t in range(60):
            out = act(env, 1, 0, 0)
            assert bool(out.ended[0]) == (t == 59)
        assert bool(out.episode_limit[0]) and bool(out.terminated[0]) != continuing
        assert bool(env.done[0])
        out = act(env, 1, 0, 0)  # an ended copy ignores actions until reset
        assert out.reward.item() == 0 and not bool(out.ended[0])
    single = StarCraft2Env(map_name="3m", continuing_episode=True, compile=False)
    single.reset()
    single._sim.state.order[0, 3:] = Order.IDLE
    for _ in range(60):
        r, terminated, info = single.step([1, 1, 1])
    assert terminated and info["episode_limit"] and not info["battle_won"]
    assert single.get_stats()["timeouts"] == 1 and single.get_stats()["battles_game"] == 1


def test_reset_mask_resets_only_selected_copies() -> None:
    env = SmacSim(batch_size=3, device="cpu", seed=0, map_name="3m")
    env.reset()
    for _ in range(5):
        env.step(torch.tensor([[4, 4, 4]] * 3))
    moved = env.state.pos.clone()
    env.reset(torch.tensor([False, True, False]))
    assert torch.equal(env.state.pos[0], moved[0]) and torch.equal(env.state.pos[2], moved[2])
    assert torch.equal(env.state.pos[1], env.roster.init_pos)
    assert env.state.steps.tolist() == [5, 0, 5]


def test_single_face_types_and_env_info() -> None:
    env = StarCraft2Env(map_name="2s3z", seed=3, compile=False)
    obs, state = env.reset()
    assert isinstance(obs, list) and all(o.dtype == np.float32 and o.shape == (80,) for o in obs)
    assert state.dtype == np.float32 and state.shape == (120,)
    info = env.get_env_info()
    assert {k: info[k] for k in ("state_shape", "obs_shape", "n_actions", "n_agents", "episode_limit")} == {
        "state_shape": 120,
        "obs_shape": 80,
        "n_actions": 11,
        "n_agents": 5,
        "episode_limit": 120,
    }
    assert info["agent_features"] == ["health", "energy/cooldown", "rel_x", "rel_y", "shield", "type_0", "type_1"]
    assert info["enemy_features"] == ["health", "rel_x", "rel_y", "shield", "type_0", "type_1"]
    avail = env.get_avail_actions()
    assert isinstance(avail, list) and avail[0] == env.get_avail_agent_actions(0) and avail[0][:2] == [0, 1]
    reward, terminated, info = env.step([1] * 5)
    assert isinstance(reward, float) and isinstance(terminated, bool)
    assert set(info) == {"battle_won", "dead_allies", "dead_enemies"}
    assert env.seed() == 3 and env._episode_steps == 1
    sd = env.get_state_dict()
    assert sd["allies"].shape == (5, 7) and sd["enemies"].shape == (5, 6) and sd["last_action"].shape == (5, 11)
    assert env.get_visibility_matrix().shape == (5, 10)
    with pytest.raises(ZeroDivisionError):
        env.get_stats()


@pytest.mark.parametrize("map_name", ["3m", "5m_vs_6m", "MMM2"])
def test_heuristic_ai_plays_and_reports_actions(map_name: str) -> None:
    env = StarCraft2Env(map_name=map_name, heuristic_ai=True, heuristic_rest=True, compile=False)
    env.reset()
    actions = [1] * env.n_agents
    env.step(actions)
    assert all(a in (0, 2, 3, 4, 5) for a in actions)  # enemies out of range: move toward the target (rest)
    for _ in range(env.episode_limit):
        actions = [0] * env.n_agents
        _, terminated, _ = env.step(actions)
        if terminated:
            break
    assert terminated


def test_pathing_height_and_timestep_features() -> None:
    env, _ = arena(
        "3m",
        {0: (10.5, 9.5), 3: (20.0, 16.0)},
        obs_pathing_grid=True,
        obs_terrain_height=True,
        obs_timestep_number=True,
    )
    act(env, 1, 0, 0)
    obs = env.observe().obs[0, 0].tolist()
    assert len(obs) == 30 + 17 + 2  # move feats grow by 8 + 9; the timestep adds SMAC's extra slot + value
    # samples from cell (10, 9): N4 (10,13), S4 (10,5), E4 (14,9), W4 (6,9), NE (12,11), SW (8,7), SE (12,7), NW (8,11)
    assert obs[4:12] == [1, 0, 1, 1, 1, 0, 0, 1]
    band = 64 / 255
    assert obs[12:21] == pytest.approx([band, 0, band, band, band, 0, 0, band, band])
    assert obs[-2:] == pytest.approx([0, 1 / 60])  # the unwritten own-feats slot, then steps / limit
