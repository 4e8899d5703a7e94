"""The simulator's PettingZoo ParallelEnv passes PettingZoo's own API test (skipped without the extra)."""

from __future__ import annotations

import pytest

pytest.importorskip("pettingzoo")

from pettingzoo.test import parallel_api_test  # noqa: E402

from liir.envs.smac.sim.pz_env import StarCraft2PZEnv  # noqa: E402


@pytest.mark.parametrize("map_name", ["3m", "MMM"])
def test_parallel_api(map_name: str) -> None:
    parallel_api_test(StarCraft2PZEnv(map_name, seed=0, compile=False), num_cycles=200)


def test_names_masks_and_episode_end() -> None:
    env = StarCraft2PZEnv("2s3z", compile=False)
    assert env.possible_agents == ["stalker_0", "stalker_1", "zealot_0", "zealot_1", "zealot_2"]
    obs, _ = env.reset(seed=1)
    assert obs["stalker_0"]["action_mask"].tolist() == env.env.get_avail_agent_actions(0)[1:]
    done = False
    while not done:  # every agent stops: the battle ends, or the time limit truncates
        _, rewards, terms, truncs, _ = env.step({agent: 0 for agent in env.agents})
        assert len(set(rewards.values())) == 1
        done = not env.agents
    assert all(terms[a] or truncs[a] for a in terms)
