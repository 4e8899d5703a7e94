"""Pictures of simulated battles (``envs/smac/sim/render.py``): recording, frames, GIFs, traces, ``render()``."""

from __future__ import annotations

from dataclasses import fields

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from liir.data.runner import EpisodeRunner
from liir.envs.smac.maps import SMAC_MAPS, get_map
from liir.envs.smac.sim import SmacSim, StarCraft2Env
from liir.envs.smac.sim.config import N_ACTIONS_NO_ATTACK
from liir.envs.smac.sim.render import (
    DPI,
    FRAME_DPI,
    HOLD_MS,
    PANEL_INCHES,
    STEP_MS,
    Battle,
    BattleRecorder,
    RenderError,
    Scene,
    battle_frames,
    plot_traces,
    rgb_frame,
    write_gif,
)
from liir.envs.smac.sim.roster import Roster
from liir.envs.smac.terrain import terrain

PANEL_PX = int(PANEL_INCHES * DPI)


class ChargePolicy:
    """Attack the first enemy in range, else move east (towards the enemies): short battles."""

    def start_episodes(self, batch_size: int) -> None:
        pass

    def act(self, obs: torch.Tensor, avail_actions: torch.Tensor, test_mode: bool) -> torch.Tensor:
        attacks = avail_actions[..., N_ACTIONS_NO_ATTACK:]
        first_attack = N_ACTIONS_NO_ATTACK + attacks.int().argmax(-1)
        fallback = torch.where(avail_actions[..., 4], 4, avail_actions.int().argmax(-1))  # east, or what is left
        return torch.where(attacks.any(-1), first_attack, fallback)


@pytest.fixture(scope="module")
def recorded():
    """Two 3m episodes played by the runner on a recorder: (scene, rollout, battles)."""
    recorder = BattleRecorder(SmacSim(batch_size=2, device="cpu", seed=3, map_name="3m"))
    rollout = EpisodeRunner(recorder).run(ChargePolicy(), test_mode=True)
    return recorder.scene(), rollout, recorder.battles()


def test_the_recorder_keeps_every_state_and_action_of_each_episode(recorded):
    scene, rollout, battles = recorded
    lengths = rollout.batch.lengths.tolist()
    assert [b.n_states for b in battles] == [n + 1 for n in lengths]  # the start and after each step
    for b, (battle, length) in enumerate(zip(battles, lengths, strict=True)):
        assert np.array_equal(battle.actions, rollout.batch.actions[b, :length].numpy())
        assert np.allclose(battle.health[0], scene.health_max)  # starts at full health
        assert not np.allclose(battle.pos[0], battle.pos[-1])  # units moved
        assert int(rollout.stats["dead_allies"][b]) == int((battle.health[-1, : scene.n_agents] <= 0).sum())


def test_only_the_simulator_can_be_recorded(pursuit_env):
    with pytest.raises(RenderError, match="backend=native"):
        BattleRecorder(pursuit_env())


def test_gif_has_a_frame_per_state_and_the_curves_panel_only_when_given(recorded, tmp_path):
    scene, _, battles = recorded
    battle = battles[0]
    curves = np.linspace(-1, 1, (battle.n_states - 1) * scene.n_agents).reshape(-1, scene.n_agents)
    write_gif(tmp_path / "with.gif", battle_frames(scene, battle, "3m", "won", curves, "r_in"))
    with Image.open(tmp_path / "with.gif") as gif:
        assert gif.n_frames == battle.n_states and gif.size[1] == PANEL_PX and gif.size[0] > 2 * PANEL_PX
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
        assert durations == [STEP_MS] * (battle.n_states - 1) + [HOLD_MS]
    first_steps = Battle(**{f.name: getattr(battle, f.name)[: 2 if f.name == "actions" else 3] for f in fields(Battle)})
    write_gif(tmp_path / "without.gif", battle_frames(scene, first_steps, "3m", "won"))
    with Image.open(tmp_path / "without.gif") as gif:
        assert gif.n_frames == 3 and gif.size == (PANEL_PX, PANEL_PX)


def test_traces_figure_is_a_png(recorded, tmp_path):
    scene, _, battles = recorded
    battle = battles[1]
    curves = np.zeros((battle.n_states - 1, scene.n_agents))
    plot_traces(tmp_path / "traces.png", scene, battle, curves, "r_in", "3m")
    with Image.open(tmp_path / "traces.png") as png:
        png.load()
        assert png.format == "PNG" and png.size[0] > 400 and png.size[1] > 3 * 150  # a panel per agent


@pytest.mark.parametrize("name", sorted(SMAC_MAPS))
def test_every_map_draws_its_spawn(name):
    """Every map's terrain and roster draw (from the unit tables: no simulator, whose path planning is slow)."""
    m = get_map(name)
    roster = Roster.build(m, terrain(m.terrain), torch.device("cpu"))
    u = len(roster.names)
    spawn = Battle(
        pos=roster.init_pos.numpy()[None],
        health=roster.health_max.numpy()[None],
        shield=roster.shield_max.numpy()[None],
        order=np.zeros((1, u), dtype=np.int64),
        target=np.full((1, u), -1),
        actions=np.zeros((0, roster.n_agents), dtype=np.int64),
    )
    frame = rgb_frame(Scene.build(m, roster), spawn, name)
    assert frame.dtype == np.uint8 and frame.shape[1] == PANEL_INCHES * FRAME_DPI and frame.shape[2] == 3
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 10  # terrain, units, bars


def test_rgb_array_is_a_picture_of_the_current_state():
    env = StarCraft2Env("3m", seed=1, compile=False)
    env.reset()
    start = env.render(mode="rgb_array")
    assert start.dtype == np.uint8 and start.ndim == 3 and start.shape[1:] == (PANEL_INCHES * FRAME_DPI, 3)
    for _ in range(3):
        env.step([4] * env.n_agents)  # all agents move east
    moved = env.render(mode="rgb_array")
    assert moved.shape == start.shape and (moved != start).any(axis=2).mean() > 0.001
    assert np.array_equal(env.render(mode="rgb_array"), moved)  # the same state, the same picture


def test_human_mode_without_a_display_warns_and_shows_nothing():
    matplotlib.use("Agg")  # headless, as on a machine without a display
    env = StarCraft2Env("3m", compile=False)
    env.reset()
    with pytest.warns(UserWarning, match="cannot open a window"):
        assert env.render() is None
    with pytest.raises(ValueError, match="'ansi' is not supported"):
        env.render(mode="ansi")
    env.close()
