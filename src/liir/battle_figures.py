"""The paper's Figures 4 and 5: battles of greedy test episodes, and LIIR's intrinsic rewards along them.

``liir.evaluate render=true`` plays its test episodes on a ``BattleRecorder`` and hands them here: the first
``render_episodes`` become ``battle_<i>.gif`` (``i`` from 0, one frame per state: the start and after each
step, the last held), and for an algorithm with intrinsic rewards (LIIR) the r_in of each agent's taken
action advances beside the battle and ``intrinsic_traces_<i>.png`` shows it with the agent's health, shield,
actions and death.
"""

from __future__ import annotations

from pathlib import Path

import torch

from liir.data.runner import Rollout
from liir.envs.smac.sim.render import BattleRecorder, battle_frames, plot_traces, write_gif
from liir.intrinsic_analysis import taken_intrinsic_rewards

R_IN_LABEL = "r_in of the taken action"


def outcome(won: bool, length: int, limit: int) -> str:
    """How an episode ended, for its last frame's title."""
    if won:
        return "won"
    return "time limit" if length >= limit else "lost"


def render_battles(
    module, rollouts: list[Rollout], recorder: BattleRecorder, out_dir: Path, n_episodes: int, title: str
) -> list[str]:
    """Write the figures of the first ``n_episodes`` episodes of ``rollouts`` (played on ``recorder``) into
    ``out_dir``; return the written paths."""
    scene = recorder.scene()
    battles = recorder.battles()[:n_episodes]
    won = torch.cat([r.stats["battle_won"] for r in rollouts]).tolist()
    r_in = taken_intrinsic_rewards(module, rollouts) if hasattr(module, "intrinsic_rewards") else None
    written = []
    for i, battle in enumerate(battles):
        length = battle.n_states - 1
        curves = None if r_in is None else r_in[i].numpy()
        assert curves is None or curves.shape[0] == length, "recorded states and played steps agree"
        name = f"{title}, test episode {i}"
        frames = battle_frames(
            scene, battle, name, outcome(bool(won[i]), length, recorder.info.episode_limit), curves, R_IN_LABEL
        )
        gif = out_dir / f"battle_{i}.gif"
        write_gif(gif, frames)
        written.append(str(gif))
        if curves is not None:
            traces = out_dir / f"intrinsic_traces_{i}.png"
            plot_traces(traces, scene, battle, curves, R_IN_LABEL, name)
            written.append(str(traces))
    return written
