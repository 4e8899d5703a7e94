"""The SMAC family of environments behind liir's batched protocol, selected by backend.

``sim``: the built-in simulator (``SmacSim``). ``sc2``: the real game through oxwhirl's ``smac`` package in a
pool of worker processes (``sc2/pool.py``). ``auto``: ``sc2`` when the package, StarCraft II and SMAC_Maps
are installed, else ``sim``, with a one-line notice. Importing this package stays light (no torch), because
every real-game worker process imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from liir.envs.smac.maps import SMAC_MAPS, get_map

if TYPE_CHECKING:
    import torch

    from liir.envs.base import BatchedEnv

BACKENDS = ("auto", "sim", "sc2")
_NEEDS_OPTIONS = (
    "backend=sc2 needs env.env_args.sc2 (worker_env, step_timeout, launch_timeout, max_failures); "
    "see conf/env/smac_3m.yaml"
)


SIM_OPTIONS = ("compile",)


def make_smac_env(
    backend: str,
    batch_size: int,
    device: str | torch.device,
    seed: int,
    map_name: str,
    sc2: Mapping[str, Any] | None = None,
    sim: Mapping[str, Any] | None = None,
    **smac_kwargs: Any,
) -> BatchedEnv:
    """Build B SMAC battles on ``map_name`` with SMAC's keyword arguments, on the chosen backend.

    ``sc2`` holds the real-game pool's options (``PoolOptions``: worker_env, step_timeout, launch_timeout,
    max_failures); the simulator ignores them. ``sim`` holds the simulator's (``compile``); the real game
    ignores them. ``env.info.metadata`` names the backend that runs
    (``"sc2"`` only when the workers run the real game) and, with the game, ``sc2_version``.
    """
    from liir.envs.smac.sc2.install import check_map, check_sc2, choose_backend

    if backend not in BACKENDS:
        raise ValueError(f"unknown SMAC backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    sim_options = dict(sim or {})
    unknown = sorted(set(sim_options) - set(SIM_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown simulator option(s) env.env_args.sim.{', '.join(unknown)}; allowed: {', '.join(SIM_OPTIONS)}"
        )
    options = None
    if sc2 is not None:
        from liir.envs.smac.sc2.pool import PoolOptions

        options = PoolOptions(**dict(sc2))
    elif backend == "sc2":
        raise ValueError(_NEEDS_OPTIONS)
    install = None
    if backend == "auto":
        get_map(map_name)  # an unknown map is an error, not a reason to fall back
        choice = choose_backend(map_name, smac_kwargs.get("game_version"))
        backend, install = choice.backend, choice.install
    elif backend == "sc2":
        check_map(map_name)
        if options is None or options.worker_env == "sc2":
            install = check_sc2(map_name, smac_kwargs.get("game_version"))
    else:
        get_map(map_name)
    if backend == "sim":
        from liir.envs.smac.sim import SmacSim

        return SmacSim(batch_size=batch_size, device=device, seed=seed, map_name=map_name, **sim_options, **smac_kwargs)
    if options is None:
        raise ValueError(_NEEDS_OPTIONS)
    from liir.envs.smac.sc2.pool import Sc2EnvPool

    metadata: dict[str, Any] = {"backend": "sc2" if options.worker_env == "sc2" else options.worker_env}
    if install is not None and options.worker_env == "sc2":
        metadata.update(sc2_version=install.version, sc2_path=str(install.path))
    return Sc2EnvPool(batch_size, device, seed, map_name, options, smac_kwargs, metadata)


def save_replays(env: BatchedEnv) -> list[str]:
    """Save StarCraft II replays of the episodes ``env`` played; the written files (``evaluate save_replay=true``).

    Only the real game writes replays: any other env raises ``Sc2SetupError`` saying so.
    """
    from liir.envs.smac.sc2.install import Sc2SetupError

    if not hasattr(env, "save_replay"):
        backend = env.info.metadata.get("backend", "native")
        raise Sc2SetupError(f"replays need the real game (env.backend=sc2); this run uses backend={backend}")
    return env.save_replay()


__all__ = ["BACKENDS", "SMAC_MAPS", "make_smac_env", "save_replays"]
