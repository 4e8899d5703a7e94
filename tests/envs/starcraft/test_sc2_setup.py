"""backend=sc2's setup errors and backend=auto's choice, produced by arranging fake packages and SC2PATH."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import pytest

from liir.build import env_tags
from liir.envs.smac import make_smac_env, save_replays
from liir.envs.smac.sc2 import install
from liir.envs.smac.sc2.install import Sc2SetupError, check_sc2, choose_backend

REAL_SMAC = importlib.util.find_spec("smac") is not None
OPTIONS = dict(worker_env="sc2", step_timeout=30.0, launch_timeout=120.0, max_failures=2)

# oxwhirl's package, played by liir's simulator class; save_replay writes where pysc2 would
OXWHIRL_ENV = """
import os
from pathlib import Path
from liir.envs.smac.sim import StarCraft2Env as _Sim

class _RunConfig:
    def abs_replay_path(self, replay_dir):
        return os.path.join(os.environ["FAKE_SC2_REPLAYS"], replay_dir)

class StarCraft2Env(_Sim):
    def __init__(self, map_name="8m", replay_dir="", **kwargs):
        super().__init__(map_name, replay_dir=replay_dir, compile=False, **kwargs)
        self.replay_dir, self._run_config = replay_dir, _RunConfig()

    def save_replay(self):
        Path(self._run_config.abs_replay_path(self.replay_dir), f"{self.map_name}_{os.getpid()}.SC2Replay").touch()
"""


def smac_modules() -> dict:
    return {name: module for name, module in sys.modules.items() if name == "smac" or name.startswith("smac.")}


@pytest.fixture(autouse=True)
def _restore_smac_modules():
    """Fake ``smac`` packages imported by a test must not leak into later tests."""
    before = smac_modules()
    yield
    for name in smac_modules():
        del sys.modules[name]
    sys.modules.update(before)


def fake_package(root: Path, files: dict[str, str], monkeypatch) -> None:
    """A ``smac`` package made of ``files`` under ``root``, first on the import path."""
    for name, text in files.items():
        (root / "smac" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "smac" / name).write_text(text)
    for name in smac_modules():
        del sys.modules[name]
    monkeypatch.syspath_prepend(str(root))


def fake_game(root: Path, maps: list[str] | None) -> Path:
    """A StarCraft II folder with build 75689 and, unless ``maps`` is None, SMAC_Maps holding ``maps``."""
    (root / "Versions" / "Base75689").mkdir(parents=True)
    if maps is not None:
        (root / "Maps" / "SMAC_Maps").mkdir(parents=True)
        for name in maps:
            (root / "Maps" / "SMAC_Maps" / f"{name}.SC2Map").touch()
    return root


@pytest.fixture
def oxwhirl(tmp_path, monkeypatch) -> None:
    fake_package(tmp_path / "pkg", {"__init__.py": "", "env/__init__.py": OXWHIRL_ENV}, monkeypatch)


@pytest.mark.skipif(REAL_SMAC, reason="a smac package is installed here")
def test_missing_package_says_how_to_install_it():
    with pytest.raises(Sc2SetupError, match=r"not installed: pip install git\+https://github.com/oxwhirl/smac.git"):
        check_sc2("3m")


def test_smac3_is_detected(tmp_path, monkeypatch):
    fake_package(tmp_path, {"__init__.py": '__version__ = "2.0.2"\n', "facade/__init__.py": ""}, monkeypatch)
    with pytest.raises(Sc2SetupError, match=r"is SMAC3 \(the hyper-parameter optimiser.*pip uninstall smac && pip"):
        check_sc2("3m")


def test_broken_oxwhirl_import_is_reported(tmp_path, monkeypatch):
    fake_package(tmp_path, {"__init__.py": "", "env/__init__.py": "import pysc2_missing_here\n"}, monkeypatch)
    with pytest.raises(Sc2SetupError, match=r"from smac.env import StarCraft2Env' fails: ModuleNotFoundError"):
        check_sc2("3m")


def test_game_not_found_names_sc2path_and_the_default(oxwhirl, tmp_path, monkeypatch):
    monkeypatch.setenv("SC2PATH", str(tmp_path / "nowhere"))
    with pytest.raises(Sc2SetupError, match=rf"StarCraft II not found at {tmp_path / 'nowhere'} \(from SC2PATH"):
        check_sc2("3m")
    monkeypatch.delenv("SC2PATH")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(install.platform, "system", lambda: "Linux")
    default = tmp_path / "StarCraftII"
    with pytest.raises(Sc2SetupError, match=rf"not found at {default} \(from the Linux default.*SC2PATH"):
        check_sc2("3m")


def test_missing_maps_say_where_they_go(oxwhirl, tmp_path, monkeypatch):
    monkeypatch.setenv("SC2PATH", str(fake_game(tmp_path / "sc2", None)))
    with pytest.raises(Sc2SetupError, match=rf"SMAC_Maps missing: .*unzip it into {tmp_path / 'sc2' / 'Maps'}"):
        check_sc2("3m")
    (tmp_path / "sc2" / "Maps" / "SMAC_Maps").mkdir(parents=True)
    with pytest.raises(Sc2SetupError, match=r"SMAC_Maps at .* has no 3m.SC2Map"):
        check_sc2("3m")


def test_unknown_map_lists_the_maps():
    with pytest.raises(Sc2SetupError, match=r"unknown SMAC map 'nope'; known maps: 3m, 8m"):
        make_smac_env("sc2", 1, "cpu", 0, "nope", sc2=OPTIONS)


def test_auto_falls_back_to_the_simulator_with_one_notice(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SC2PATH", str(tmp_path / "nowhere"))
    monkeypatch.setattr(install, "_NOTICES", set())
    with caplog.at_level(logging.INFO, logger="liir"):
        for _ in range(2):
            env = make_smac_env("auto", 2, "cpu", 0, "3m", sc2=OPTIONS)
    assert env.info.metadata["backend"] == "sim" and env_tags(env) == ["backend:sim"]
    (notice,) = [r.getMessage() for r in caplog.records if "env.backend=auto" in r.getMessage()]
    assert notice.startswith("env.backend=auto runs sim: ") and "\n" not in notice
    with pytest.raises(Sc2SetupError, match="replays need the real game"):
        save_replays(env)


def test_auto_runs_the_game_when_installed_and_saves_replays(oxwhirl, tmp_path, monkeypatch):
    monkeypatch.setenv("SC2PATH", str(fake_game(tmp_path / "sc2", ["3m"])))
    monkeypatch.setenv("FAKE_SC2_REPLAYS", str(tmp_path))
    choice = choose_backend("3m")
    assert choice.backend == "sc2" and "StarCraft II build75689" in choice.reason
    env = make_smac_env("auto", 1, "cpu", 0, "3m", sc2=OPTIONS)
    try:
        assert env.info.metadata["backend"] == "sc2" and env.info.metadata["sc2_version"] == "build75689"
        assert env_tags(env) == ["backend:sc2", "sc2_version:build75689"]
        env.reset()
        (replay,) = save_replays(env)
        assert Path(replay).parent == tmp_path and replay.endswith(".SC2Replay")
    finally:
        env.close()


def test_worker_env_choices_and_option_checks():
    from liir.envs.smac.sc2.pool import PoolOptions
    from liir.envs.smac.sc2.worker import env_class
    from liir.envs.smac.sim import StarCraft2Env

    assert env_class("sim") is StarCraft2Env and env_class("liir.envs.smac.sim:StarCraft2Env") is StarCraft2Env
    with pytest.raises(ValueError, match=r"sc2.worker_env='game' is not allowed; use sc2 or sim or 'package.module"):
        PoolOptions(**{**OPTIONS, "worker_env": "game"})
    with pytest.raises(ValueError, match=r"sc2.step_timeout=0 is not allowed: it must be positive"):
        PoolOptions(**{**OPTIONS, "step_timeout": 0})
    with pytest.raises(ValueError, match=r"backend=sc2 needs env.env_args.sc2"):
        make_smac_env("sc2", 1, "cpu", 0, "3m")
