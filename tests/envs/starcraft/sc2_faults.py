"""A ``StarCraft2Env`` for the pool's fault tests: liir's simulator class with faults injected on demand.

The pool's workers import it by name (``worker_env="sc2_faults:FaultyEnv"``). A fault is requested by
creating a file in ``fault_dir``; the first worker that steps while it exists claims it (by deleting it).
Every instance starts a ``sleep`` child that its ``close`` leaves running, as a leaked game process
would, and records its own pid and the child's in ``fault_dir``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from liir.envs.smac.sim import StarCraft2Env

FAULTS = ("hang", "crash", "raise", "protocol")  # plus "crash_always", which is never claimed


class FaultyEnv(StarCraft2Env):
    def __init__(self, map_name: str = "3m", *, fault_dir: str, **kwargs: Any) -> None:
        super().__init__(map_name, compile=False, **kwargs)  # the pool tests time start-up: no compilation
        self.fault_dir = Path(fault_dir)
        self.child = subprocess.Popen(["sleep", "600"])
        (self.fault_dir / f"pids-{os.getpid()}").write_text(f"{os.getpid()} {self.child.pid}")

    def _claim(self, fault: str) -> bool:
        try:
            (self.fault_dir / fault).unlink()
            return True
        except FileNotFoundError:
            return False

    def step(self, actions):
        claimed = next((f for f in FAULTS if self._claim(f)), None)
        if claimed == "hang":
            time.sleep(600)
        if claimed == "crash" or (self.fault_dir / "crash_always").exists():
            os.kill(os.getpid(), signal.SIGKILL)
        if claimed == "raise":
            raise RuntimeError("injected game error")
        if claimed == "protocol":
            return 0, True, {}  # SMAC's answer after restarting the game on a protocol error
        return super().step(actions)


def recorded_pids(fault_dir: Path) -> set[int]:
    """Every worker and leaked-child pid any FaultyEnv recorded in ``fault_dir``."""
    return {int(p) for f in fault_dir.glob("pids-*") for p in f.read_text().split()}


def all_gone(pids: set[int], timeout: float = 10.0) -> bool:
    """Every process in ``pids`` has died within ``timeout`` s (SIGKILL is delivered asynchronously)."""
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")
