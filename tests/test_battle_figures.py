"""``python -m liir.evaluate render=true``: Figures 4 and 5 from short SMAC runs (LIIR, and QMIX without r_in)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

import liir.evaluate
from liir.envs.smac.sim.render import DPI, PANEL_INCHES
from liir.evaluate import evaluate
from tests.runs import main_in_process, train_in_process

PANEL_PX = int(PANEL_INCHES * DPI)
TINY_SMAC = ("env=smac_3m", "env.backend=sim", "env.env_args.sim.compile=false", "t_max=60", "batch_size_run=2")
TINY_SMAC += ("test_interval=60", "test_nepisode=2", "log_interval=60", "logger=csv")


@pytest.fixture(scope="module")
def smac_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A few dozen env steps of LIIR and QMIX on 3m (the simulator, uncompiled), trained in this process."""
    root = tmp_path_factory.mktemp("smac")
    for algo in ("liir", "qmix"):
        train_in_process(root / algo, *TINY_SMAC, f"algo={algo}")
    return {algo: root / algo / "checkpoints" / "last.ckpt" for algo in ("liir", "qmix")}


def gif_frames(path: Path) -> tuple[int, tuple[int, int]]:
    with Image.open(path) as gif:
        return gif.n_frames, gif.size


def test_liir_battle_gif_has_a_frame_per_state_and_its_traces(smac_checkpoints, tmp_path):
    report = evaluate(smac_checkpoints["liir"], tmp_path, test_nepisode=1, render=True)
    length = int(report["test_ep_length_mean"])  # one episode: its length
    frames, (width, height) = gif_frames(tmp_path / "battle_0.gif")
    assert frames == length + 1 and height == PANEL_PX and width > 2 * PANEL_PX  # the r_in panel beside
    with Image.open(tmp_path / "intrinsic_traces_0.png") as png:
        png.load()
        assert png.format == "PNG" and png.size[1] > 3 * 150  # a panel per agent
    assert report["rendered"] == [str(tmp_path / "battle_0.gif"), str(tmp_path / "intrinsic_traces_0.png")]


def test_other_algorithms_get_battles_without_r_in(smac_checkpoints, tmp_path):
    report = evaluate(smac_checkpoints["qmix"], tmp_path, test_nepisode=3, render=True, render_episodes=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["battle_0.gif", "battle_1.gif"]
    counts = [gif_frames(tmp_path / f"battle_{i}.gif") for i in range(2)]
    assert all(size == (PANEL_PX, PANEL_PX) for _, size in counts)
    assert all(n > 1 for n, _ in counts) and "rendered" in report


def test_without_render_nothing_is_recorded_or_drawn_and_the_metrics_are_the_same(smac_checkpoints, tmp_path):
    plain = evaluate(smac_checkpoints["liir"], tmp_path / "plain", test_nepisode=2)
    rendered = evaluate(smac_checkpoints["liir"], tmp_path / "rendered", test_nepisode=2, render=True)
    assert "rendered" not in plain and not list((tmp_path / "plain").iterdir())
    assert {k: v for k, v in rendered.items() if k != "rendered"} == plain


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("render_episodes=0",), "render_episodes=0 is not allowed: it must be a positive number"),
        (("render_episodes=3", "test_nepisode=2"), "render_episodes=3 is not allowed: it must be at most the 2"),
        (("render_episodes=5",), "render_episodes=5 is not allowed: it must be at most the 2"),  # the run's 2
        (("render_episodes=many",), "render_episodes='many' is not allowed"),
    ],
)
def test_bad_render_episodes_is_one_error_line(smac_checkpoints, tmp_path, capsys, args, message):
    out = tmp_path / "eval.json"
    with pytest.raises(SystemExit) as exit_info:
        main_in_process(
            liir.evaluate, f"ckpt_path={smac_checkpoints['liir']}", "render=true", *args, f"eval_path={out}"
        )
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("liir: error: ") and message in line
    assert not out.exists()


def test_render_on_pursuit_is_one_error_line(tmp_path, capsys):
    train_in_process(tmp_path / "run", "algo=iac", "t_max=16", "logger=csv")
    capsys.readouterr()  # what training printed
    with pytest.raises(SystemExit) as exit_info:
        main_in_process(liir.evaluate, f"ckpt_path={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}", "render=true")
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("liir: error: render=true draws the built-in SMAC simulator's state")
    assert "backend=native" in line and not (tmp_path / "run" / "checkpoints" / "eval.json").exists()


def test_eval_json_lists_the_rendered_files(smac_checkpoints, tmp_path):
    out = tmp_path / "eval.json"
    main_in_process(liir.evaluate, f"ckpt_path={smac_checkpoints['qmix']}", "render=true", f"eval_path={out}")
    assert json.loads(out.read_text())["rendered"] == [str(tmp_path / "battle_0.gif")]
