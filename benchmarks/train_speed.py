"""End-to-end training speed and peak memory for any env/algo, as one JSON line.

    python benchmarks/train_speed.py env=pursuit1d algo=iac [t_max=20000] [any Hydra override ...]

It composes the same config as ``python -m liir.train`` (its trainer; loggers, tests and checkpoints off),
trains for ``t_max`` env steps after a short warm-up, and reports env-steps/s (training rollouts + updates),
updates/s and the process's peak resident memory (and peak CUDA memory on a GPU). ``env_steps_per_cpu_sec``
divides by the process's CPU time instead of the wall clock: on a machine shared with other jobs it moves less
with their load than the wall-clock rate.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import lightning.pytorch as pl
import torch
from hydra import compose, initialize_config_dir

from liir.build import make_datamodule, make_env, make_module, make_trainer, resolve_device, set_torch_threads
from liir.callbacks import StopAtTMax

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
WARMUP_STEPS = 2000


class SplitTimer:
    """Seconds (wall clock, and CPU as ``<key>_cpu``) spent in chosen methods, patched on the instances so the
    package itself stays untouched."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, obj: object, method: str, key: str) -> None:
        inner = getattr(obj, method)

        def timed(*args, **kwargs):
            start, cpu_start = time.perf_counter(), time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[key] += time.perf_counter() - start
                self.seconds[f"{key}_cpu"] += time.process_time() - cpu_start

        object.__setattr__(obj, method, timed)


def fit(cfg, env, t_max: int) -> tuple[float, float, int, int, dict[str, float]]:
    """Train a fresh module for ``t_max`` env steps; return seconds, CPU seconds, env steps, updates (training
    steps) and the seconds spent collecting rollouts, in the learner and (LIIR) in its η step.

    The env is shared between the warm-up and the measured run, so a compiled simulator compiles only once.
    """
    device = resolve_device(cfg.device)
    pl.seed_everything(cfg.seed, verbose=False)
    module = make_module(cfg, env)
    datamodule = make_datamodule(cfg, env, module.policy)
    split = SplitTimer()
    split.wrap(datamodule.runner, "run", "rollout")
    split.wrap(module, "learn", "learner")
    if hasattr(module, "eta_step"):
        split.wrap(module, "eta_step", "eta_step")
    trainer = make_trainer(cfg, device, [StopAtTMax(t_max)], logger=False)
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer.fit(module, datamodule=datamodule)
    updates = trainer.fit_loop.epoch_loop.batch_progress.total.completed
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return seconds, cpu_seconds, module.t_env, updates, dict(split.seconds)


def main(overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["t_max=20000", *overrides])
    set_torch_threads(cfg.torch_threads)
    env = make_env(cfg, cfg.batch_size_run, resolve_device(cfg.device), cfg.seed)
    fit(cfg, env, min(WARMUP_STEPS, cfg.t_max))
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    seconds, cpu_seconds, steps, updates, split = fit(cfg, env, cfg.t_max)
    result = {
        "bench": "train_speed",
        "env": cfg.env.name,
        "algo": cfg.algo.name,
        "device": cfg.device,
        "precision": str(cfg.trainer.precision),
        "batch_size_run": cfg.batch_size_run,
        "env_steps": steps,
        "seconds": round(seconds, 3),
        "env_steps_per_sec": round(steps / seconds, 1),
        "env_steps_per_cpu_sec": round(steps / cpu_seconds, 1),
        "updates_per_sec": round(updates / seconds, 2),
        **{f"{key}_s_per_update": round(value / max(updates, 1), 4) for key, value in split.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if torch.cuda.is_available():
        result["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
