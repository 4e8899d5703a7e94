"""One pool worker: a process that owns one SMAC ``StarCraft2Env`` and serves reset/step over a socket.

Started by the pool as ``python -m liir.envs.smac.sc2.worker <fd> <pool pid>`` in its own session (so the pool
can kill the worker together with the game it launched, and a terminal's Ctrl-C reaches only the trainer). A
watchdog thread kills that session when the pool's process dies, even by SIGKILL, and even while the env hangs.
It imports only numpy and the env class: a real-game worker never loads torch.

Protocol: the first message is ``("init", spec)``; then ``(command, argument)`` pairs, each answered by
``("ok", payload)`` or ``("error", traceback)``. After an error, or when the pool's end of the socket
closes, the worker closes its env and exits.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np


def env_class(worker_env: str) -> type:
    """The ``StarCraft2Env``-compatible class a worker builds."""
    if worker_env == "sc2":
        from smac.env import StarCraft2Env

        return StarCraft2Env
    if worker_env == "sim":
        from liir.envs.smac.sim import StarCraft2Env

        return StarCraft2Env
    module, _, name = worker_env.partition(":")
    return getattr(importlib.import_module(module), name)


def env_info(env: Any) -> dict[str, Any]:
    """The sizes and feature names the pool reports in its ``EnvInfo``."""
    return {**env.get_env_info(), "n_enemies": env.n_enemies}


def observe(env: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(obs (N, O) float32, state (S,) float32, avail (N, A) bool) of the current state."""
    return (
        np.asarray(env.get_obs(), dtype=np.float32),
        np.asarray(env.get_state(), dtype=np.float32),
        np.asarray(env.get_avail_actions(), dtype=bool),
    )


def reset(env: Any, _: None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    env.reset()
    return observe(env)


def step(env: Any, actions: np.ndarray) -> tuple | None:
    """SMAC's step mapped to the batched protocol's flags (as ``SmacSim`` sets them); None for a void episode.

    ``terminated`` is pymarl's learner flag (SMAC's flag unless the time limit ended a continuing episode);
    ``episode_limit`` is the time limit, read from SMAC's ``timeouts`` counter (SMAC only puts it in ``info``
    with ``continuing_episode``). SMAC answers a game protocol error with a full restart and an empty ``info``:
    that episode is void, and the restarted game has no units to observe until the next reset.
    """
    timeouts = env.timeouts
    reward, terminated, info = env.step(actions.tolist())
    if "battle_won" not in info:
        return None
    learner_terminated = bool(terminated) and not info.get("episode_limit", False)
    return (
        *observe(env),
        float(reward),
        learner_terminated,
        env.timeouts > timeouts,
        bool(info["battle_won"]),
        int(info["dead_allies"]),
        int(info["dead_enemies"]),
    )


def save_replay(env: Any, _: None) -> list[str]:
    """SMAC's ``save_replay``; returns the replay files it wrote (SMAC itself only logs the path)."""
    folder = _replay_folder(env)
    before = set(folder.glob("*.SC2Replay")) if folder else set()
    written = env.save_replay()
    if isinstance(written, str):
        return [written]
    return sorted(str(p) for p in set(folder.glob("*.SC2Replay")) - before) if folder else []


def _replay_folder(env: Any) -> Path | None:
    """Where pysc2 writes SMAC's replays (``replay_dir`` relative to the game's Replays folder)."""
    run_config = getattr(env, "_run_config", None)
    if run_config is None:
        return None
    return Path(run_config.abs_replay_path(env.replay_dir))


COMMANDS: dict[str, Callable[[Any, Any], Any]] = {"reset": reset, "step": step, "save_replay": save_replay}


def serve(conn: Connection) -> None:
    """Build the env from the init message, then answer commands until ``close`` or the pool goes away."""
    try:
        _, spec = conn.recv()
    except EOFError:
        return
    sys.path[:] = spec["sys_path"]  # as multiprocessing's spawn: test-only env classes import here too
    env = None
    try:
        env = env_class(spec["worker_env"])(map_name=spec["map_name"], seed=spec["seed"], **spec["smac_kwargs"])
        conn.send(("ok", env_info(env)))
        while True:
            command, argument = conn.recv()
            if command == "close":
                return
            conn.send(("ok", COMMANDS[command](env, argument)))
    except EOFError:
        return  # the pool is gone: close the env and exit
    except Exception:
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        if env is not None:
            env.close()


WATCHDOG_INTERVAL_S = 0.5


def die_with_parent(parent_pid: int) -> None:
    """Kill this worker's process group (itself and its game) once ``parent_pid`` is no longer its parent.

    A thread polling the parent pid rather than a parent-death signal: the signal would kill only the worker,
    orphaning the game, and a thread still runs while the main thread hangs in a game call (which waits on
    sockets, releasing the GIL). The pid comes from the pool, so a parent that died before this ran is seen too.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(WATCHDOG_INTERVAL_S)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the trainer decides when workers stop
    die_with_parent(int(sys.argv[2]))
    serve(Connection(int(sys.argv[1])))
