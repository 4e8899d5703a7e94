"""The SMAC-style faces compile by default: the compiled path's plumbing (announcement, markers, eager fallback) with a
stand-in compiler, the vectorised face against the single one, and (slow) the real compiled build."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from test_sim_faces import random_actions

from liir.envs.smac.sim import StarCraft2Env, core
from liir.envs.smac.sim.vec import StarCraft2VecEnv

NOTICE = "compiling the 3m step, about a minute, once"


@pytest.fixture
def markers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Compile markers under ``tmp_path`` (a cold cache), nothing announced yet in this process."""
    monkeypatch.setattr(core, "cache_dir", lambda: str(tmp_path))
    monkeypatch.setattr(core, "_ANNOUNCED", set())
    return tmp_path / "liir"


@pytest.fixture
def fake_compiler(monkeypatch: pytest.MonkeyPatch, markers: Path) -> list[Callable]:
    """torch.compile as the identity, recording what it was given."""
    compiled: list[Callable] = []

    def identity(fn: Callable, **kwargs: object) -> Callable:
        compiled.append(fn)
        return fn

    monkeypatch.setattr(torch, "compile", identity)
    return compiled


def play(env: StarCraft2Env, steps: int, seed: int) -> list:
    """A pymarl-style episode loop: everything the face returns, step by step."""
    gen = torch.Generator().manual_seed(seed)
    trace = [env.reset()]
    for _ in range(steps):
        avail = torch.tensor([env.get_avail_agent_actions(i) for i in range(env.n_agents)], dtype=torch.bool)
        reward, terminated, info = env.step(random_actions(avail.unsqueeze(0), gen)[0].tolist())
        trace.append((env.get_obs(), env.get_state(), env.get_avail_actions(), reward, terminated, info))
        if terminated:
            trace.append(env.reset())
    return trace


def assert_same_trace(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_equal(x, y)


def test_default_face_runs_the_compiled_path_with_the_eager_trajectory(fake_compiler: list[Callable]) -> None:
    fast = StarCraft2Env("3m", seed=5)
    assert [fn.__name__ for fn in fake_compiler] == ["_step_impl", "_features_impl", "_reset_impl"]
    eager = StarCraft2Env("3m", seed=5, compile=False)
    assert len(fake_compiler) == 3 and eager._sim._step == eager._sim._step_impl
    trace = play(fast, 80, seed=1)
    assert len(trace) > 81  # 80 steps past 3m's limit of 60: an episode ended and restarted
    assert_same_trace(trace, play(eager, 80, seed=1))


def test_first_build_is_announced_once_and_remembered_on_disk(
    fake_compiler: list[Callable], markers: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=core.__name__):
        env = StarCraft2Env("3m")
        env.reset()
        env.step([1, 1, 1])
        StarCraft2Env("3m").reset()  # a second instance in this process reuses dynamo's build: no message
    assert caplog.messages == [NOTICE]
    assert sorted(p.name.rsplit("-", 1)[1] for p in markers.iterdir()) == ["_reset_impl", "_step_impl"]
    caplog.clear()
    core._ANNOUNCED.clear()  # what a new process starts with: only the markers beside inductor's cache remain
    with caplog.at_level(logging.WARNING, logger=core.__name__):
        StarCraft2Env("3m").reset()
    assert caplog.messages == []


def test_no_compiler_falls_back_to_eager_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, markers: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_compile(fn: Callable, **kwargs: object) -> Callable:
        def call(*args: object) -> object:
            raise torch._dynamo.exc.BackendCompilerFailed("inductor", RuntimeError("no C++ compiler found"), None)

        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    env = StarCraft2Env("3m", seed=5)
    with caplog.at_level(logging.WARNING, logger=core.__name__):
        trace = play(env, 30, seed=1)
    assert len(caplog.messages) == 2 and caplog.messages[0] == NOTICE  # the attempt, then its failure
    assert "no C++ compiler found" in caplog.messages[1] and "running it uncompiled" in caplog.messages[1]
    assert not markers.exists()
    assert env._sim._step == env._sim._step_impl and env._sim._reset == env._sim._reset_impl
    assert_same_trace(trace, play(StarCraft2Env("3m", seed=5, compile=False), 30, seed=1))


def test_vectorised_face_copy_0_is_the_single_face() -> None:
    """Copy b's stream depends on (seed, b) only, so copy 0 of the batch replays the single face with that seed."""
    vec = StarCraft2VecEnv(3, "3m", seed=4, compile=False)
    single = StarCraft2Env("3m", seed=4, compile=False)
    obs, state = vec.reset()
    assert obs.shape == (3, 3, vec.get_env_info()["obs_shape"]) and state.shape == (
        3,
        vec.get_env_info()["state_shape"],
    )
    obs1, state1 = single.reset()
    gen = torch.Generator().manual_seed(0)
    for _ in range(80):  # past 3m's limit of 60: episodes end and restart
        np.testing.assert_array_equal(obs[0], np.stack(obs1))
        np.testing.assert_array_equal(state[0], state1)
        assert vec.get_avail_actions()[0].tolist() == single.get_avail_actions()
        actions = random_actions(torch.from_numpy(vec.get_avail_actions() > 0), gen).numpy()
        reward, terminated, info = vec.step(actions)
        r1, t1, info1 = single.step(actions[0])
        assert (reward[0], terminated[0], info["battle_won"][0]) == (np.float32(r1), t1, info1["battle_won"])
        assert set(info) == {"battle_won", "dead_allies", "dead_enemies", "episode_limit"}
        if terminated.any():
            obs, state = vec.reset(terminated)
        else:
            obs, state = vec.get_obs(), vec.get_state()
        obs1, state1 = single.reset() if t1 else (single.get_obs(), single.get_state())
    assert vec.get_stats()["battles_game"] >= single.get_stats()["battles_game"] > 0


@pytest.mark.slow
def test_compiled_face_matches_eager_and_a_new_process_reuses_the_build() -> None:
    """The real compiled 2s3z step (about a minute on a cold cache): same trajectory as eager to float rounding
    (20 steps, where rounding stays ~1e-6), and a second process loads inductor's cached build instead of compiling
    and says nothing."""
    compiled, eager = StarCraft2Env("2s3z", seed=3), StarCraft2Env("2s3z", seed=3, compile=False)
    for a, b in zip(play(compiled, 20, seed=2), play(eager, 20, seed=2), strict=True):
        np.testing.assert_allclose(np.stack(a[0]), np.stack(b[0]), atol=1e-5)
        np.testing.assert_allclose(a[1], b[1], atol=1e-5)
        if len(a) > 2:  # a step: availability, flags and info exactly, the reward to rounding
            assert a[3] == pytest.approx(b[3], abs=1e-5) and (a[2], a[4], a[5]) == (b[2], b[4], b[5])
    script = (
        "import json, torch; from liir.envs.smac.sim import StarCraft2Env; env = StarCraft2Env('2s3z'); env.reset(); "
        "env.step([1] * 5); env.step([1] * 5); c = torch._dynamo.utils.counters['inductor']; "
        "print(json.dumps({'hit': c['fxgraph_cache_hit'], 'miss': c['fxgraph_cache_miss']}))"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=600)
    assert json.loads(run.stdout)["miss"] == 0 and json.loads(run.stdout)["hit"] > 0
    assert "compiling" not in run.stderr
