"""``Sc2EnvPool``: B worker processes, each running one SMAC ``StarCraft2Env``, behind the batched protocol.

Each worker (``worker.py``) is started with ``subprocess`` in a new session, so its pid is also the id of a
process group that holds the worker and every game process it launched. The pool only ever signals those
groups, through the ``Popen`` objects it created: never a process found by name.

Faults: a worker that dies, raises, or does not answer within ``step_timeout`` seconds (``launch_timeout``
for its first reset, which launches the game) is killed with its group and started again with a fresh
seed. Its unfinished episode is void: ``step`` reports it in ``EnvOutput.aborted`` and the runner drops it.
SMAC's own recovery from a game protocol error (a full restart with an empty ``info``) is reported the same
way. ``max_failures`` failures of one worker without a successful step in between stop the run with
``Sc2WorkerError``.

Seeds: worker ``i`` in its ``g``-th start gets ``worker_seed(seed, i, g)`` (see there), passed to
``StarCraft2Env(seed=...)``, which the game uses as its random seed.

Copies whose episode has ended ignore their actions and repeat their last observation with zero reward,
as ``SmacSim`` does, so with the simulator's class in the workers the pool reproduces
``SmacSim(batch_size=1, seed=worker_seed(seed, i, 0))`` copy by copy.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np
import torch

from liir.envs.base import BatchedEnv, EnvInfo, EnvOutput, check_actions_available
from liir.envs.smac.sc2.install import Sc2SetupError

log = logging.getLogger(__name__)

WORKER_ENVS = ("sc2", "sim")  # or "package.module:Class", a class with StarCraft2Env's constructor and methods
CLOSE_GRACE_S = 10.0  # how long a closing worker may take to close its game before its group is killed


class Sc2WorkerError(RuntimeError):
    """A worker failed ``max_failures`` times in a row; the message carries the last failure."""


def worker_seed(run_seed: int, index: int, generation: int) -> int:
    """The seed of worker ``index`` in its ``generation``-th start (0 = first; +1 per restart or resume).

    31 bits of numpy's ``SeedSequence(run_seed mod 2**64, spawn_key=(index, generation))``: independent
    streams per worker and start, a valid SC2 ``random_seed``, and the same value on every platform.
    """
    seq = np.random.SeedSequence(run_seed % 2**64, spawn_key=(index, generation))
    return int(seq.generate_state(1)[0]) & 0x7FFFFFFF


@dataclass(frozen=True)
class PoolOptions:
    """``env.env_args.sc2``: what the workers run and how long they may take (see conf/env/smac_*.yaml)."""

    worker_env: str
    step_timeout: float
    launch_timeout: float
    max_failures: int

    def __post_init__(self) -> None:
        if self.worker_env not in WORKER_ENVS and ":" not in self.worker_env:
            raise ValueError(
                f"sc2.worker_env={self.worker_env!r} is not allowed; use {' or '.join(WORKER_ENVS)} "
                "or 'package.module:Class'"
            )
        for key in ("step_timeout", "launch_timeout", "max_failures"):
            if getattr(self, key) <= 0:
                raise ValueError(f"sc2.{key}={getattr(self, key)!r} is not allowed: it must be positive")


@dataclass(frozen=True)
class _Failed:
    reason: str


class _Worker:
    """One worker process (its own session: pid = process-group id) and the pool's end of its socket."""

    def __init__(self, spec: dict[str, Any]) -> None:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # B workers share the cores
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "liir.envs.smac.sc2.worker", str(theirs.fileno()), str(os.getpid())],
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                env=env,
            )
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.send("init", spec)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, command: str, argument: Any) -> bool:
        try:
            self.conn.send((command, argument))
            return True
        except OSError:  # the worker is gone
            return False

    def kill(self) -> None:
        """SIGKILL the worker's group (the worker and any game it started), then reap the worker.

        The worker is reaped only here, after the signal, so the group id cannot have been reused.
        """
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):  # the group is already empty
            pass
        self.proc.wait()
        self.conn.close()


def _shutdown(workers: list[_Worker | None]) -> None:
    """Ask every worker to close its env, give them ``CLOSE_GRACE_S`` together, then kill their groups."""
    live = [w for w in workers if w is not None]
    pending = [w.conn for w in live if w.send("close", None)]
    deadline = time.monotonic() + CLOSE_GRACE_S
    while pending and (left := deadline - time.monotonic()) > 0:
        for conn in wait(pending, left):
            try:
                conn.recv()  # an answer still in flight (an interrupted call): drain it
            except (EOFError, OSError):  # the worker has exited
                pending.remove(conn)
    for w in live:
        w.kill()
    workers[:] = [None] * len(workers)


class Sc2EnvPool(BatchedEnv):
    """B SMAC battles in B worker processes (``backend=sc2``): see the module docstring."""

    def __init__(
        self,
        batch_size: int,
        device: str | torch.device,
        seed: int,
        map_name: str,
        options: PoolOptions,
        smac_kwargs: dict[str, Any],
        metadata: dict[str, Any],
    ) -> None:
        self.device = torch.device(device)
        self.seed, self.map_name, self.options = seed, map_name, options
        self.smac_kwargs = dict(smac_kwargs)
        self.heuristic = bool(self.smac_kwargs.get("heuristic_ai", False))
        self.restarts = 0
        self._generations = [0] * batch_size
        self._failures = [0] * batch_size
        self._launched = np.zeros(batch_size, dtype=bool)
        self._workers: list[_Worker | None] = [None] * batch_size
        self._finalizer = weakref.finalize(self, _shutdown, self._workers)  # also at interpreter exit
        try:
            infos = self._start(range(batch_size))
        except BaseException:
            self.close()
            raise
        first = infos[0]
        if any(info != first for info in infos.values()):
            raise Sc2WorkerError(f"workers disagree on the env's sizes: {infos}")
        b, n, a = batch_size, first["n_agents"], first["n_actions"]
        self._obs = np.zeros((b, n, first["obs_shape"]), dtype=np.float32)
        self._state = np.zeros((b, first["state_shape"]), dtype=np.float32)
        self._avail = np.zeros((b, n, a), dtype=bool)
        self._dead = np.zeros((2, b), dtype=np.int64)  # allies, enemies
        self._done = np.ones(b, dtype=bool)
        self.info = EnvInfo(
            n_agents=n,
            n_actions=a,
            obs_shape=first["obs_shape"],
            state_shape=first["state_shape"],
            episode_limit=first["episode_limit"],
            batch_size=b,
            device=self.device,
            metadata={
                **metadata,
                "map_name": map_name,
                "worker_env": options.worker_env,
                "n_enemies": first["n_enemies"],
                "agent_features": first.get("agent_features"),
                "enemy_features": first.get("enemy_features"),
            },
        )

    # -- the batched protocol ---------------------------------------------------------------------------
    @property
    def done(self) -> torch.Tensor:
        return self._tensor(self._done)

    def reset(self, mask: torch.Tensor | None = None) -> EnvOutput:
        b = self.info.batch_size
        todo = list(range(b)) if mask is None else np.flatnonzero(mask.cpu().numpy()).tolist()
        while todo:
            answers = self._call(todo, "reset", {})
            todo = []
            for i, answer in answers.items():
                if isinstance(answer, _Failed):  # nothing was played yet: restart and try again
                    self._restart(i, answer.reason)
                    todo.append(i)
                    continue
                self._obs[i], self._state[i], self._avail[i] = answer
                self._dead[:, i] = 0
                self._done[i] = False
                self._launched[i] = True
        zeros = np.zeros(b, dtype=bool)
        return self._output(np.zeros(b, dtype=np.float32), zeros, zeros, zeros, zeros)

    def step(self, actions: torch.Tensor) -> EnvOutput:
        actions = actions.detach().to("cpu", torch.long)
        active = ~self._done
        if not self.heuristic:  # SMAC's heuristic AI replaces the actions, as in SmacSim
            check_actions_available(actions, torch.from_numpy(self._avail), torch.from_numpy(active))
        b = self.info.batch_size
        reward = np.zeros(b, dtype=np.float32)
        terminated, limit, won, aborted = (np.zeros(b, dtype=bool) for _ in range(4))
        acts = actions.numpy()
        answers = self._call(np.flatnonzero(active).tolist(), "step", {i: acts[i] for i in range(b)})
        for i, answer in answers.items():
            if isinstance(answer, _Failed) or answer is None:
                aborted[i] = self._done[i] = True
                if answer is None:  # SMAC restarted its game after a protocol error
                    self._count_restart(i, "SMAC restarted the game after a protocol error")
                else:
                    self._restart(i, answer.reason)
                continue
            (
                self._obs[i],
                self._state[i],
                self._avail[i],
                reward[i],
                terminated[i],
                limit[i],
                won[i],
                self._dead[0, i],
                self._dead[1, i],
            ) = answer
            self._done[i] = terminated[i] or limit[i]
            self._failures[i] = 0
        return self._output(reward, terminated, limit, won, aborted)

    def rng_state(self) -> dict[str, list[int]]:
        """Each worker's seed generation. The game's random state itself cannot be read (see ``load_rng_state``)."""
        return {"seed_generations": list(self._generations)}

    def load_rng_state(self, state: dict[str, list[int]] | None) -> None:
        """Restart every worker in the generation after the saved one.

        A resumed run thus plays fresh seeds (never a replay of the episodes already trained on), and two
        resumes of one checkpoint start from the same seeds. With the simulator's class in the workers that
        makes a resume reproducible; the real game does not promise identical battles for one seed, and
        neither continues the interrupted run's exact random stream.
        """
        if state is None:
            return
        generations = state["seed_generations"]
        if len(generations) != self.info.batch_size:
            raise ValueError(
                f"the saved pool state has {len(generations)} workers, this pool has "
                f"{self.info.batch_size}; resume with the same batch size"
            )
        _shutdown(self._workers)
        self._generations = [g + 1 for g in generations]
        self._launched[:] = False
        self._done[:] = True
        self._start(range(self.info.batch_size))

    def counters(self) -> dict[str, float]:
        return {"sc2_restarts": float(self.restarts)}

    def close(self) -> None:
        """Close every worker's env and kill what is left of each worker's process group."""
        self._finalizer()

    # -- replays and introspection ----------------------------------------------------------------------
    def save_replay(self) -> list[str]:
        """Save each launched worker's replay (all its episodes since the game started); the written paths."""
        if self.options.worker_env != "sc2":
            raise Sc2SetupError(
                f"replays need the real game (env.env_args.sc2.worker_env=sc2); this pool runs "
                f"worker_env={self.options.worker_env}, which writes no replays"
            )
        answers = self._call(np.flatnonzero(self._launched).tolist(), "save_replay", {})
        failed = {i: a.reason for i, a in answers.items() if isinstance(a, _Failed)}
        if failed:
            raise Sc2WorkerError(f"saving replays failed in workers {failed}")
        return [path for i in sorted(answers) for path in answers[i]]

    def worker_pids(self) -> list[int | None]:
        """The workers' process ids (each also its process-group id), for diagnostics and tests."""
        return [None if w is None else w.pid for w in self._workers]

    # -- workers ---------------------------------------------------------------------------------------
    def _spec(self, i: int) -> dict[str, Any]:
        return {
            "worker_env": self.options.worker_env,
            "map_name": self.map_name,
            "seed": worker_seed(self.seed, i, self._generations[i]),
            "smac_kwargs": self.smac_kwargs,
            "sys_path": list(sys.path),
        }

    def _start(self, indices) -> dict[int, dict[str, Any]]:
        """Start workers ``indices`` (in parallel) until each has built its env; their env infos."""
        infos: dict[int, dict[str, Any]] = {}
        todo = list(indices)
        while todo:
            for i in todo:
                self._workers[i] = _Worker(self._spec(i))
            answers = self._gather(todo, {i: self.options.launch_timeout for i in todo})
            todo = []
            for i, answer in answers.items():
                if isinstance(answer, _Failed):
                    self._retire(i, answer.reason)
                    todo.append(i)
                else:
                    infos[i] = answer
        return infos

    def _restart(self, i: int, reason: str) -> None:
        self._retire(i, reason)
        self._start([i])

    def _retire(self, i: int, reason: str) -> None:
        """Kill a failed worker's group, count the failure and move it to its next seed generation."""
        worker = self._workers[i]
        self._workers[i] = None
        if worker is not None:
            worker.kill()
            reason = f"{reason} (pid {worker.pid}, exit status {worker.proc.returncode})"
        self._generations[i] += 1
        self._launched[i] = False
        self._count_restart(i, reason)

    def _count_restart(self, i: int, reason: str) -> None:
        self.restarts += 1
        self._failures[i] += 1
        log.warning("sc2 worker %d: %s; restarting it (restart %d of this pool)", i, reason, self.restarts)
        if self._failures[i] >= self.options.max_failures:
            raise Sc2WorkerError(
                f"sc2 worker {i} failed {self._failures[i]} times in a row "
                f"(sc2.max_failures={self.options.max_failures}); last failure: {reason}"
            )

    def _call(self, indices: list[int], command: str, arguments: dict[int, Any]) -> dict[int, Any]:
        """Send ``command`` to workers ``indices`` at once, then collect every answer or failure."""
        failed = {}
        for i in indices:
            worker = self._workers[i]
            if worker is None or not worker.send(command, arguments.get(i)):
                failed[i] = _Failed("the worker process is gone")
        timeouts = {
            i: self.options.step_timeout if self._launched[i] else self.options.launch_timeout
            for i in indices
            if i not in failed
        }
        return {**failed, **self._gather(list(timeouts), timeouts)}

    def _gather(self, indices: list[int], timeouts: dict[int, float]) -> dict[int, Any]:
        """Each worker's answer, or ``_Failed`` when it died, raised, or was silent past its timeout."""
        start = time.monotonic()
        pending = {self._workers[i].conn: i for i in indices}
        answers: dict[int, Any] = {}
        while pending:
            now = time.monotonic()
            for conn, i in list(pending.items()):
                if now - start >= timeouts[i]:
                    answers[i] = _Failed(f"no answer within {timeouts[i]:g} s (hung)")
                    del pending[conn]
            if not pending:
                break
            for conn in wait(list(pending), max(0.0, min(start + timeouts[i] for i in pending.values()) - now)):
                i = pending.pop(conn)
                try:
                    status, payload = conn.recv()
                except (EOFError, OSError):
                    answers[i] = _Failed("the worker process died")
                else:
                    answers[i] = payload if status == "ok" else _Failed(f"its env raised:\n{payload}")
        return answers

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(self.device, copy=True)

    def _output(
        self, reward: np.ndarray, terminated: np.ndarray, limit: np.ndarray, won: np.ndarray, aborted: np.ndarray
    ) -> EnvOutput:
        t = self._tensor
        return EnvOutput(
            obs=t(self._obs),
            state=t(self._state),
            avail_actions=t(self._avail),
            reward=t(reward),
            terminated=t(terminated),
            episode_limit=t(limit),
            battle_won=t(won),
            dead_allies=t(self._dead[0]),
            dead_enemies=t(self._dead[1]),
            aborted=t(aborted),
        )
