"""Finding the real game: the oxwhirl ``smac`` package, StarCraft II and SMAC_Maps, and the ``auto`` choice.

Everything here only reads the file system and imports ``smac``; nothing launches the game. The game
folder follows pysc2's rules: ``SC2PATH`` when set, else the platform's default install location.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from liir.envs.smac.maps import get_map

log = logging.getLogger(__name__)

SMAC_INSTALL = "pip install git+https://github.com/oxwhirl/smac.git"
SMAC_MAPS_URL = "https://github.com/oxwhirl/smac/releases/download/v0.1-beta1/SMAC_Maps.zip"
DEFAULT_SC2PATH = {  # pysc2's defaults when SC2PATH is unset
    "Linux": "~/StarCraftII",
    "Darwin": "/Applications/StarCraft II",
    "Windows": "C:/Program Files (x86)/StarCraft II",
}


class Sc2SetupError(ValueError):
    """``backend=sc2`` cannot run: the message names what is missing and how to install it.

    The entry points report it like a ``ConfigError`` (one line, exit status 2).
    """


@dataclass(frozen=True)
class Sc2Install:
    """A usable real-game installation: the game folder and the version a run will use."""

    path: Path
    version: str  # "4.10.0" when pysc2 knows the build, else "build75689"; the requested game_version if set
    build: int | None


@dataclass(frozen=True)
class BackendChoice:
    """What ``backend=auto`` resolved to, and why (the one-line notice)."""

    backend: str
    reason: str
    install: Sc2Install | None = None


def check_smac_package() -> None:
    """Raise ``Sc2SetupError`` unless oxwhirl's ``smac.env.StarCraft2Env`` imports."""
    spec = importlib.util.find_spec("smac")
    if spec is None:
        raise Sc2SetupError(
            f"backend=sc2 needs the oxwhirl SMAC package, which is not installed: {SMAC_INSTALL} "
            "(the PyPI package named 'smac' is SMAC3, an unrelated optimiser)"
        )
    locations = [Path(p) for p in (spec.submodule_search_locations or [])]
    if not any((p / "env").is_dir() for p in locations):
        where = ", ".join(map(str, locations)) or spec.origin
        smac3 = any(
            (p / "facade").exists() or (p / "scenario").exists() or (p / "scenario.py").exists() for p in locations
        )
        what = "SMAC3 (the hyper-parameter optimiser from PyPI)" if smac3 else "not oxwhirl's SMAC (no smac.env)"
        raise Sc2SetupError(
            f"the installed 'smac' package at {where} is {what}; backend=sc2 needs oxwhirl's "
            f"StarCraft Multi-Agent Challenge: pip uninstall smac && {SMAC_INSTALL}"
        )
    try:
        module = importlib.import_module("smac.env")
        module.StarCraft2Env  # noqa: B018 - the class the workers build
    except Exception as exc:  # a broken dependency (pysc2, protobuf<3.21) surfaces as any exception
        raise Sc2SetupError(
            f"oxwhirl SMAC is installed but 'from smac.env import StarCraft2Env' fails: "
            f"{type(exc).__name__}: {exc}; reinstall it with {SMAC_INSTALL}"
        ) from exc


def sc2_path() -> tuple[Path, str]:
    """The StarCraft II folder pysc2 will use, and where that choice came from."""
    if os.environ.get("SC2PATH"):
        return Path(os.environ["SC2PATH"]).expanduser(), "SC2PATH"
    system = platform.system()
    return Path(DEFAULT_SC2PATH.get(system, DEFAULT_SC2PATH["Linux"])).expanduser(), f"the {system} default"


def _version_name(build: int) -> str:
    """pysc2's name for a game build (its version table), or ``build<N>`` when pysc2 does not know it."""
    try:
        from pysc2.run_configs import lib

        names = [v.game_version for v in lib.VERSIONS.values() if v.build_version == build]
    except Exception:  # pysc2 missing or a layout without the table: the build number still identifies it
        names = []
    return max(names, key=lambda v: tuple(int(x) for x in v.split(".") if x.isdigit())) if names else f"build{build}"


def find_game(map_name: str, game_version: str | None = None) -> Sc2Install:
    """The StarCraft II installation with SMAC_Maps holding ``map_name``; ``Sc2SetupError`` names what is missing."""
    path, source = sc2_path()
    versions = path / "Versions"
    builds = (
        sorted(int(p.name[4:]) for p in versions.glob("Base*") if p.name[4:].isdigit()) if versions.is_dir() else []
    )
    if not builds:
        raise Sc2SetupError(
            f"StarCraft II not found at {path} (from {source}: no Versions/Base* folder); install it (Linux: "
            "Blizzard's s2client-proto package, e.g. SC2.4.10, unzipped to ~/StarCraftII) or set SC2PATH to the "
            "game folder"
        )
    maps = path / "Maps" / "SMAC_Maps"
    if not maps.is_dir():
        raise Sc2SetupError(
            f"SMAC_Maps missing: {maps} does not exist; download {SMAC_MAPS_URL} and unzip it into {path / 'Maps'}"
        )
    if not (maps / f"{map_name}.SC2Map").is_file():
        raise Sc2SetupError(f"SMAC_Maps at {maps} has no {map_name}.SC2Map; reinstall the maps from {SMAC_MAPS_URL}")
    return Sc2Install(path, game_version or _version_name(builds[-1]), None if game_version else builds[-1])


def check_map(map_name: str) -> None:
    """An unknown map as ``Sc2SetupError`` listing SMAC's maps."""
    try:
        get_map(map_name)
    except ValueError as exc:
        raise Sc2SetupError(str(exc)) from None


def check_sc2(map_name: str, game_version: str | None = None) -> Sc2Install:
    """Everything ``backend=sc2`` with the real game needs, checked in install order."""
    check_map(map_name)
    check_smac_package()
    return find_game(map_name, game_version)


_NOTICES: set[str] = set()


def choose_backend(map_name: str, game_version: str | None = None) -> BackendChoice:
    """``backend=auto``: the real game when it can run, else the simulator; logs the reason once per process."""
    try:
        install = check_sc2(map_name, game_version)
        choice = BackendChoice(
            "sc2", f"oxwhirl smac, StarCraft II {install.version} at {install.path} and SMAC_Maps found", install
        )
    except Sc2SetupError as exc:
        if "unknown SMAC map" in str(exc):
            raise
        choice = BackendChoice("sim", str(exc))
    notice = f"env.backend=auto runs {choice.backend}: {choice.reason}"
    if notice not in _NOTICES:
        _NOTICES.add(notice)
        log.info(notice)
    return choice
