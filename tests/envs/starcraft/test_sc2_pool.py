"""The real-game pool hosting the simulator's StarCraft2Env in real worker processes (no game needed).

One pool is shared by the module (process start-up dominates); faults come from ``sc2_faults.FaultyEnv``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch
from sc2_faults import all_gone, recorded_pids

from liir.data.runner import EpisodeRunner
from liir.envs.smac import make_smac_env
from liir.envs.smac.sc2 import pool as pool_module
from liir.envs.smac.sc2.pool import Sc2EnvPool, Sc2WorkerError, worker_seed
from liir.envs.smac.sim import SmacSim

SEED = 7
OPTIONS = dict(worker_env="sc2_faults:FaultyEnv", step_timeout=2.0, launch_timeout=120.0, max_failures=3)


@pytest.fixture(scope="module")
def fault_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def pool(fault_dir):
    env = make_smac_env("sc2", 2, "cpu", SEED, "3m", sc2=OPTIONS, fault_dir=str(fault_dir))
    yield env
    env.close()


class RandomPolicy:
    """Uniform over available actions; ``hook(t)`` runs before each step's choice."""

    def __init__(self, hook=lambda t: None) -> None:
        self.hook, self.t, self.gen = hook, 0, torch.Generator().manual_seed(0)

    def start_episodes(self, batch_size: int) -> None:
        self.t = 0

    def act(self, obs, avail_actions, test_mode):
        self.hook(self.t)
        self.t += 1
        return random_actions(avail_actions, self.gen)


def random_actions(avail: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b, n, a = avail.shape
    probs = avail.float().view(-1, a) + 1e-12 * (~avail.any(-1)).float().view(-1, 1)  # ended copies: anything
    return torch.multinomial(probs, 1, generator=gen).view(b, n)


def assert_same(pool_out, ref_outs) -> None:
    for key in (
        "obs",
        "state",
        "avail_actions",
        "reward",
        "terminated",
        "episode_limit",
        "battle_won",
        "dead_allies",
        "dead_enemies",
    ):
        expected = torch.cat([getattr(r, key) for r in ref_outs])
        assert torch.equal(getattr(pool_out, key), expected), key
    assert not bool(pool_out.aborted.any())


def test_pool_equals_the_in_process_simulator_step_by_step(pool):
    pool.load_rng_state({"seed_generations": [4, 9]})  # fresh workers in generations 5 and 10
    refs = [
        SmacSim(batch_size=1, device="cpu", seed=worker_seed(SEED, i, g), map_name="3m") for i, g in enumerate((5, 10))
    ]
    assert worker_seed(SEED, 0, 5) != worker_seed(SEED, 1, 10)
    gen = torch.Generator().manual_seed(1)
    out = pool.reset()
    assert_same(out, [r.reset() for r in refs])
    for phase in range(2):
        while not bool(pool.done.all()):
            actions = random_actions(out.avail_actions, gen)
            out = pool.step(actions)
            assert_same(out, [r.step(actions[i : i + 1]) for i, r in enumerate(refs)])
            assert torch.equal(pool.done, torch.cat([r.done for r in refs]))
        if phase == 0:  # restart copy 0 only: copy 1 stays ended and repeats its last observation
            out = pool.reset(torch.tensor([True, False]))
            assert_same(out, [refs[0].reset(), refs[1].reset(torch.tensor([False]))])
    assert pool.counters() == {"sc2_restarts": 0.0}


def test_unavailable_action_names_the_copy(pool):
    out = pool.reset()
    actions = random_actions(out.avail_actions, torch.Generator().manual_seed(2))
    actions[1, 2] = 8  # attack enemy 2: out of range at spawn
    with pytest.raises(ValueError, match="env 1, agent 2: action 8 is not available"):
        pool.step(actions)


def test_killed_worker_is_restarted_and_its_episode_dropped(pool):
    runner = EpisodeRunner(pool)
    before = pool.restarts
    victim = pool.worker_pids()[0]
    rollout = runner.run(RandomPolicy(lambda t: t == 3 and os.kill(victim, signal.SIGKILL)), test_mode=False)
    assert rollout.batch.batch_size == 1 and all(len(v) == 1 for v in rollout.stats.values())
    assert int(rollout.stats["ep_length"][0]) == rollout.env_steps > 3
    assert rollout.counters == {"sc2_restarts": before + 1.0}
    assert all_gone({victim}) and pool.worker_pids()[0] != victim
    assert runner.run(RandomPolicy(), test_mode=False).batch.batch_size == 2  # the new worker plays on


def test_hung_worker_is_killed_with_its_processes_and_restarted(pool, fault_dir):
    runner = EpisodeRunner(pool)
    before, pids = pool.restarts, pool.worker_pids()
    (fault_dir / "hang").touch()
    start = time.monotonic()
    rollout = runner.run(RandomPolicy(), test_mode=False)
    assert time.monotonic() - start >= OPTIONS["step_timeout"]
    assert rollout.batch.batch_size == 1 and pool.restarts == before + 1
    (hung,) = set(pids) - set(pool.worker_pids())
    leaked_child = int((fault_dir / f"pids-{hung}").read_text().split()[1])
    assert all_gone({hung, leaked_child})  # the worker's whole process group is gone


def test_env_error_and_smac_protocol_restart_void_both_episodes_and_the_runner_replays(pool, fault_dir):
    runner = EpisodeRunner(pool)
    before, pids = pool.restarts, pool.worker_pids()
    (fault_dir / "raise").touch()
    (fault_dir / "protocol").touch()
    rollout = runner.run(RandomPolicy(), test_mode=False)  # the first step voids both copies
    assert rollout.batch.batch_size == 2 and pool.restarts == before + 2
    assert len(set(pids) - set(pool.worker_pids())) == 1  # only the raising worker was replaced
    assert not (fault_dir / "raise").exists() and not (fault_dir / "protocol").exists()


def test_repeated_failures_stop_the_run(tmp_path):
    (tmp_path / "crash_always").touch()
    env = make_smac_env("sc2", 1, "cpu", SEED, "3m", sc2={**OPTIONS, "max_failures": 1}, fault_dir=str(tmp_path))
    try:
        env.reset()
        with pytest.raises(Sc2WorkerError, match=r"worker 0 failed 1 times in a row.*max_failures=1.*died"):
            env.step(torch.ones(1, 3, dtype=torch.long))  # stop
    finally:
        env.close()
    assert all_gone(recorded_pids(tmp_path))


def test_ctrl_c_during_a_hung_step_then_close_leaves_no_process(pool, fault_dir, monkeypatch):
    monkeypatch.setattr(pool_module, "CLOSE_GRACE_S", 1.0)  # the hung worker never answers "close": kill sooner
    out = pool.reset()
    (fault_dir / "hang").touch()
    pool.options = pool.options.__class__(**{**OPTIONS, "step_timeout": 60.0})  # hang until interrupted
    # Ctrl-C as a terminal sends it: Python's own handler (whatever an earlier test in this process left; conftest
    # restores it afterwards), delivered to the main thread, blocked in the pool's wait
    signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(1.0, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        pool.step(random_actions(out.avail_actions, torch.Generator().manual_seed(3)))
    timer.join()
    pool.close()
    pool.close()  # idempotent
    recorded = recorded_pids(fault_dir)
    assert len(recorded) >= 4  # every worker this pool started and its leaked child
    assert all_gone(recorded)
    assert pool.worker_pids() == [None, None]


def test_pool_is_a_batched_env_with_metadata(pool):
    assert isinstance(pool, Sc2EnvPool)
    meta = pool.info.metadata
    assert meta["backend"] == meta["worker_env"] == "sc2_faults:FaultyEnv" and "sc2_version" not in meta
    assert (pool.info.n_agents, pool.info.n_actions, pool.info.obs_shape, pool.info.state_shape) == (3, 9, 30, 48)
