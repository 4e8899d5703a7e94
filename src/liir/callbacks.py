"""Callbacks that run the training protocol on the environment-step clock (pymarl's run loop).

Lightning's ``global_step`` counts optimiser steps; every schedule here (stop, log, test, save) counts
environment steps, ``pl_module.t_env``, and every metric is written with ``env_steps`` as its step.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.callbacks.progress import ProgressBar
from lightning.pytorch.utilities.exceptions import SIGTERMException
from tqdm.auto import tqdm

from liir.algos.base import MARLModule, StepOutputs
from liir.checkpointing import atomic_copy
from liir.data.runner import EpisodeRunner, Rollout, summarise

log = logging.getLogger("liir")


def log_metrics(trainer: pl.Trainer, metrics: dict[str, float], t_env: int) -> None:
    """Send ``metrics`` plus ``env_steps`` to every logger, stepped by environment steps."""
    metrics = {**metrics, "env_steps": float(t_env)}
    for logger in trainer.loggers:
        logger.log_metrics(metrics, step=t_env)


def play_test_episodes(runner: EpisodeRunner, module: MARLModule, n_episodes: int) -> list[Rollout]:
    """Exactly ``n_episodes`` greedy episodes, played in whole batches of the runner's env.

    Batches continue until enough episodes are in: the real-game pool can void some (see ``EpisodeRunner``).
    """
    rollouts: list[Rollout] = []
    played = 0
    while played < n_episodes:
        rollout = runner.run(module.policy, test_mode=True)
        keep = min(rollout.batch.batch_size, n_episodes - played)
        if keep < rollout.batch.batch_size:
            rollout = Rollout(
                rollout.batch.index(slice(0, keep)), {k: v[:keep] for k, v in rollout.stats.items()}, rollout.counters
            )
        rollouts.append(rollout)
        played += keep
    return rollouts


def run_test_episodes(runner: EpisodeRunner, module: MARLModule, n_episodes: int) -> list[dict]:
    """Statistics of exactly ``n_episodes`` greedy episodes, merged into one dict."""
    stats = [rollout.stats for rollout in play_test_episodes(runner, module, n_episodes)]
    return [{key: torch.cat([s[key] for s in stats]) for key in stats[0]}]


class StopAtTMax(Callback):
    """Stops training once ``t_env`` reaches ``t_max`` environment steps."""

    def __init__(self, t_max: int) -> None:
        self.t_max = t_max

    def on_train_batch_end(self, trainer, pl_module: MARLModule, outputs, batch, batch_idx) -> None:
        if pl_module.t_env >= self.t_max:
            trainer.should_stop = True


class TrainMetricsLogger(Callback):
    """Every ``log_interval`` env steps (and at ``t_max``): pymarl's episode metrics, learner metrics and
    env-steps/s."""

    def __init__(self, log_interval: int) -> None:
        self.log_interval = log_interval
        self.last_log_t = -log_interval
        self._episode_stats: list[dict] = []
        self._learner_metrics: list[dict[str, float]] = []
        self._clock: tuple[float, int] | None = None

    def on_train_start(self, trainer, pl_module: MARLModule) -> None:
        self._clock = (time.perf_counter(), pl_module.t_env)

    def on_train_batch_end(self, trainer, pl_module: MARLModule, outputs: StepOutputs, batch, batch_idx) -> None:
        rollout = outputs["rollout"]
        self._episode_stats.append(rollout.stats)
        self._learner_metrics.append(outputs["metrics"])
        due = pl_module.t_env - self.last_log_t >= self.log_interval
        if not due and not trainer.should_stop:
            return
        now = time.perf_counter()
        start_time, start_t = self._clock
        metrics = summarise(self._episode_stats)
        for key in self._learner_metrics[-1]:
            metrics[key] = sum(m[key] for m in self._learner_metrics) / len(self._learner_metrics)
        metrics["env_steps_per_sec"] = (pl_module.t_env - start_t) / max(now - start_time, 1e-9)
        metrics["episodes"] = float(pl_module.episodes)
        metrics.update(rollout.counters)  # e.g. sc2_restarts with the real game
        log_metrics(trainer, metrics, pl_module.t_env)
        if due:  # the last log at t_max is outside the schedule, which a resumed run continues
            self.last_log_t = pl_module.t_env
        self._episode_stats, self._learner_metrics = [], []
        self._clock = (now, pl_module.t_env)

    def state_dict(self) -> dict[str, Any]:
        return {"last_log_t": self.last_log_t}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last_log_t = state_dict["last_log_t"]


class GreedyTest(Callback):
    """Every ``test_interval`` env steps (and at the end): ``test_nepisode`` greedy episodes.

    The final test is outside the schedule: it moves neither the next scheduled test nor the test environment's
    random stream, so a run resumed from the final checkpoint tests at the same steps, on the same episodes, as
    one that never stopped.
    """

    def __init__(self, runner: EpisodeRunner, test_interval: int, test_nepisode: int) -> None:
        self.runner = runner
        self.test_interval = test_interval
        self.test_nepisode = test_nepisode
        self.last_test_t = -test_interval
        self.latest_t: int | None = None  # the env step of ``latest``
        self.latest: dict[str, float] = {}

    def _test(self, trainer, pl_module: MARLModule) -> None:
        self.latest = summarise(run_test_episodes(self.runner, pl_module, self.test_nepisode), "test_")
        log_metrics(trainer, self.latest, pl_module.t_env)
        self.latest_t = pl_module.t_env

    def on_train_batch_end(self, trainer, pl_module: MARLModule, outputs, batch, batch_idx) -> None:
        if pl_module.t_env - self.last_test_t >= self.test_interval:
            self._test(trainer, pl_module)
            self.last_test_t = pl_module.t_env

    def on_train_end(self, trainer, pl_module: MARLModule) -> None:
        if self.latest_t != pl_module.t_env:
            rng_state = self.runner.env.rng_state()
            self._test(trainer, pl_module)
            self.runner.env.load_rng_state(rng_state)

    def state_dict(self) -> dict[str, Any]:
        return {"last_test_t": self.last_test_t, "env_rng_state": self.runner.env.rng_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last_test_t = state_dict["last_test_t"]
        if "env_rng_state" in state_dict:  # checkpoints before issue 13 lack it
            self.runner.env.load_rng_state(state_dict["env_rng_state"])


class EnvStepCheckpoint(Callback):
    """Saves ``t_env_<N>.ckpt`` every ``save_model_interval`` env steps and at the end; keeps ``last.ckpt``.

    Files are written atomically (see ``AtomicCheckpointIO``), so an interrupted save never leaves a
    truncated checkpoint behind.
    """

    def __init__(self, dirpath: str | Path, save_model_interval: int) -> None:
        self.dirpath = Path(dirpath)
        self.save_model_interval = save_model_interval
        self.last_save_t = 0
        self.last_path: Path | None = None

    def save(self, trainer: pl.Trainer, t_env: int) -> Path:
        self.last_save_t = t_env
        path = self.dirpath / f"t_env_{t_env}.ckpt"
        trainer.save_checkpoint(path, weights_only=False)  # our checkpoints are full state, not weights
        atomic_copy(path, self.dirpath / "last.ckpt")
        self.last_path = path
        return path

    def on_train_batch_end(self, trainer, pl_module: MARLModule, outputs, batch, batch_idx) -> None:
        if pl_module.t_env - self.last_save_t >= self.save_model_interval:
            self.save(trainer, pl_module.t_env)

    def save_unless_saved(self, trainer: pl.Trainer, t_env: int) -> Path:
        """The checkpoint of ``t_env``, written now unless this run wrote it already."""
        if self.last_path is None or self.last_save_t != t_env:
            self.save(trainer, t_env)
        return self.last_path

    def on_train_end(self, trainer, pl_module: MARLModule) -> None:
        self.save_unless_saved(trainer, pl_module.t_env)

    def on_exception(self, trainer, pl_module: MARLModule, exception: BaseException) -> None:
        """Ctrl-C and SIGTERM (a cluster's preemption, ``docker stop``) keep the work done so far: the state after
        the last completed update is saved, and the log says where."""
        if not isinstance(exception, KeyboardInterrupt | SIGTERMException):
            return
        path = self.save_unless_saved(trainer, pl_module.t_env)
        signal = "SIGTERM" if isinstance(exception, SIGTERMException) else "Ctrl-C"
        log.warning("%s at t_env=%d: saved the run; resume with ckpt_path=%s", signal, pl_module.t_env, path)

    def state_dict(self) -> dict[str, Any]:
        return {"last_save_t": self.last_save_t}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last_save_t = state_dict["last_save_t"]


class RunMetadata(Callback):
    """Stores the resolved run config and the W&B run id in every checkpoint (``checkpoint['liir_run']``).

    ``evaluate`` replays a checkpoint with its own config, and a resumed run continues the same W&B run.
    """

    def __init__(self, config: dict[str, Any], wandb_run_id: str | None) -> None:
        self.config = config
        self.wandb_run_id = wandb_run_id

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint["liir_run"] = {"config": self.config, "wandb_run_id": self.wandb_run_id}


class EnvStepProgressBar(ProgressBar):
    """A progress bar over environment steps: ``t_env / t_max``, env-steps/s and the latest test return."""

    def __init__(self, t_max: int, test: GreedyTest) -> None:
        super().__init__()
        self.t_max = t_max
        self.test = test
        self._bar: tqdm | None = None
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer, pl_module: MARLModule) -> None:
        if self._enabled:
            self._bar = tqdm(
                total=self.t_max,
                initial=pl_module.t_env,
                desc="env steps",
                unit="step",
                dynamic_ncols=True,
                smoothing=0.1,
            )

    def on_train_batch_end(self, trainer, pl_module: MARLModule, outputs, batch, batch_idx) -> None:
        if self._bar is None:
            return
        self._bar.update(min(pl_module.t_env, self.t_max) - self._bar.n)
        test_return = self.test.latest.get("test_return_mean")
        if test_return is not None:
            self._bar.set_postfix(test_return=f"{test_return:.3g}", refresh=False)

    def on_train_end(self, trainer, pl_module) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
