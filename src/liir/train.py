"""`python -m liir.train env=<env> algo=<algo> [key=value ...]`: compose the config, build, fit.

This file and ``evaluate.py`` are the only places that read the Hydra config as a whole.
"""

from __future__ import annotations

import logging
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import hydra
import lightning.pytorch as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from liir import cli, grid, warning_filters
from liir.algos.base import NonFiniteLossError
from liir.build import (
    env_tags,
    instantiate_part,
    make_datamodule,
    make_env,
    make_module,
    make_trainer,
    resolve_device,
    set_torch_threads,
    test_seed,
)
from liir.checkpointing import AtomicCheckpointIO, CheckpointError, read_checkpoint
from liir.config import ConfigError, RuntimeFacts, plain, validate
from liir.data.runner import EpisodeRunner, VoidEpisodesError
from liir.envs.base import BatchedEnv
from liir.envs.smac.sc2.install import Sc2SetupError
from liir.envs.smac.sim.core import SimCompileError
from liir.loggers import build_loggers, finish_wandb

log = logging.getLogger("liir")
CHECKPOINTS = "checkpoints"  # the run folder's checkpoint subfolder


def check_resume(cfg: DictConfig) -> dict[str, Any] | None:
    """The run metadata of ``ckpt_path`` plus its ``t_env`` and network shapes, after checking it was trained with
    the same env, algo and ``batch_size_run`` and has steps left before ``t_max``."""
    if cfg.ckpt_path is None:
        return None
    checkpoint = read_checkpoint(cfg.ckpt_path)
    shapes = {name: tuple(value.shape) for name, value in checkpoint["state_dict"].items()}
    run = {**checkpoint["liir_run"], "t_env": checkpoint["liir_module"]["t_env"], "shapes": shapes}
    for key in ("env.name", "algo.name", "batch_size_run"):  # the env's saved state is per copy
        saved, given = OmegaConf.select(OmegaConf.create(run["config"]), key), OmegaConf.select(cfg, key)
        if saved != given:
            key = key.removesuffix(".name")
            raise CheckpointError(
                f"checkpoint {cfg.ckpt_path!r} was trained with {key}={saved}, not {key}={given}; "
                f"resume with {key}={saved}"
            )
    if run["t_env"] >= cfg.t_max:
        raise ConfigError(
            f"checkpoint {cfg.ckpt_path!r} is at t_env={run['t_env']}, already t_max={cfg.t_max}: nothing to train; "
            f"give a larger t_max to continue it"
        )
    return run


def prepare_checkpoint_dir(cfg: DictConfig, checkpoint_dir: Path) -> None:
    """Refuse to mix two runs' checkpoints in one folder: a fresh run into a folder holding checkpoints needs
    ``overwrite=true`` (which deletes them). Temporary files of a save interrupted by a kill are removed."""
    for tmp in checkpoint_dir.glob(".*.tmp"):
        tmp.unlink()
    existing = sorted(checkpoint_dir.glob("*.ckpt"))
    if not existing or cfg.ckpt_path is not None:
        return
    if not cfg.overwrite:
        raise ConfigError(
            f"{str(checkpoint_dir)!r} already holds checkpoints of another run; resume it with "
            f"ckpt_path={checkpoint_dir / 'last.ckpt'}, choose another hydra.run.dir, or delete them: overwrite=true"
        )
    for path in existing:
        path.unlink()


def warn_if_resuming_elsewhere(ckpt_path: str, output_dir: Path, t_env: int) -> None:
    """A resume into another folder than the checkpoint's own run starts a new ``metrics.csv`` there; a grid job
    does so unless told its old folder (its sweep dir is new, its subdir numbered anew). Say how to continue."""
    checkpoint = Path(ckpt_path).resolve()
    run_dir = checkpoint.parent.parent
    if checkpoint.parent.name != CHECKPOINTS or run_dir == output_dir.resolve():
        return
    same_folder = (
        f"hydra.sweep.dir={run_dir.parent} hydra.sweep.subdir={run_dir.name}"
        if is_multirun()
        else f"hydra.run.dir={run_dir}"
    )
    cli.warn(
        f"resuming {ckpt_path!r} into the new folder {str(output_dir)!r}, whose metrics.csv starts after "
        f"t_env={t_env}; to continue in the run's own folder, add {same_folder}"
    )


def check_shapes(ckpt_path: str, saved: dict[str, tuple[int, ...]], module: pl.LightningModule) -> None:
    """Refuse a checkpoint whose networks differ from the ones this config builds (e.g. another rnn_hidden_dim)."""
    here = {name: tuple(value.shape) for name, value in module.state_dict().items()}
    for name in sorted(saved.keys() | here.keys()):
        if saved.get(name) != here.get(name):
            raise CheckpointError(
                f"checkpoint {ckpt_path!r} holds other networks than this config builds: {name} is "
                f"{saved.get(name)} there, {here.get(name)} here; resume with the checkpoint's algo settings"
            )


def record_runtime_facts(cfg: DictConfig, env: BatchedEnv) -> None:
    """Put what was resolved at run time (the backend that really runs, the game version) into the config,
    so the checkpoint, the W&B config and ``eval.json`` say which backend produced the numbers."""
    metadata = env.info.metadata
    cfg.env.runtime = RuntimeFacts(backend=metadata.get("backend", "native"), sc2_version=metadata.get("sc2_version"))


def make_callbacks(cfg: DictConfig, test_env: BatchedEnv, output_dir: Path, run_id: str) -> dict[str, Callback]:
    """``cfg.callbacks`` in their order, each with its run-time arguments (by entry name, see
    ``conf/callbacks/default.yaml``); null entries, and ``checkpoint`` without ``save_model``, are left out."""
    runtime = {
        "greedy_test": {"runner": EpisodeRunner(test_env)},
        "run_metadata": {"config": plain(cfg), "wandb_run_id": run_id},
        "checkpoint": {"dirpath": output_dir / CHECKPOINTS},
    }
    callbacks: dict[str, Callback] = {}
    for name, spec in cfg.callbacks.items():
        if spec is None or (name == "checkpoint" and not cfg.save_model):
            continue
        if name == "progress_bar":
            if "greedy_test" not in callbacks:
                raise ConfigError("callbacks.progress_bar shows the latest test return: it needs callbacks.greedy_test")
            runtime[name] = {"test": callbacks["greedy_test"]}
        callbacks[name] = instantiate_part(f"callbacks.{name}", spec, **runtime.get(name, {}))
    return callbacks


def train(cfg: DictConfig) -> dict[str, float]:
    """Build everything from ``cfg`` and fit; returns the last greedy test metrics."""
    validate(cfg)
    resumed = check_resume(cfg)
    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    if resumed:
        warn_if_resuming_elsewhere(cfg.ckpt_path, output_dir, resumed["t_env"])
    prepare_checkpoint_dir(cfg, output_dir / CHECKPOINTS)
    device = resolve_device(cfg.device)
    set_torch_threads(cfg.torch_threads)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    env = make_env(cfg, cfg.batch_size_run, device, cfg.seed)
    test_env = make_env(cfg, cfg.batch_size_run, device, test_seed(cfg.seed))
    module = make_module(cfg, env)
    if resumed:
        check_shapes(cfg.ckpt_path, resumed["shapes"], module)
    record_runtime_facts(cfg, env)
    run_id = resumed["wandb_run_id"] if resumed else uuid.uuid4().hex[:8]
    log.info(
        "env=%s algo=%s backend=%s device=%s output=%s",
        cfg.env.name,
        cfg.algo.name,
        cfg.env.runtime.backend,
        device,
        output_dir,
    )
    resume_t_env = resumed["t_env"] if resumed else None
    loggers = build_loggers(cfg, output_dir, list(hydra_cfg.overrides.task), run_id, env_tags(env), resume_t_env)
    callbacks = make_callbacks(cfg, test_env, output_dir, run_id)
    trainer = make_trainer(
        cfg,
        device,
        list(callbacks.values()),
        logger=loggers,
        plugins=[AtomicCheckpointIO()],
        default_root_dir=output_dir,
    )
    try:
        trainer.fit(module, datamodule=make_datamodule(cfg, env, module.policy), ckpt_path=cfg.ckpt_path)
    except NonFiniteLossError as exc:
        raise NonFiniteLossError(f"{exc}; the last finite checkpoint is {resume_point(cfg, callbacks)}") from exc
    except SIGTERMException as exc:
        raise Terminated(
            f"stopped by SIGTERM at t_env={module.t_env}; resume from {resume_point(cfg, callbacks)}"
        ) from exc
    finally:
        test_env.close()
        finish_wandb(loggers)
    latest = callbacks["greedy_test"].latest if "greedy_test" in callbacks else {}
    log.info("finished at t_env=%d; last test: %s", module.t_env, latest)
    return latest


class Terminated(BaseException):
    """SIGTERM ended the run after its checkpoint was saved; not an ``Exception``, so that a grid stops too."""


def resume_point(cfg: DictConfig, callbacks: dict[str, Callback]) -> str:
    """The newest checkpoint of this run (or the one it resumed from), quoted. Every checkpoint written is finite
    (``AtomicCheckpointIO``), and an interrupted run saves one on its way out."""
    saved = callbacks["checkpoint"].last_path if "checkpoint" in callbacks else None
    path = saved or cfg.ckpt_path
    return repr(str(path)) if path else "none (no checkpoint was written)"


SIGTERM_EXIT = 128 + signal.SIGTERM  # the shell's status for a process ended by SIGTERM
CLEAR_ERRORS = (ConfigError, CheckpointError, Sc2SetupError, SimCompileError, NonFiniteLossError, VoidEpisodesError)


def is_multirun() -> bool:
    return HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path=cli.CONF_DIR, config_name="config")
def run_job(cfg: DictConfig) -> float | None:
    """One run; in a multirun grid a failing job is reported and recorded, and the other jobs go on."""
    warning_filters.install()  # again here: a launcher may run the job in a fresh worker process
    grid.stop_with_launcher()
    (Path(HydraConfig.get().runtime.output_dir) / grid.ERROR_FILE).unlink(missing_ok=True)  # a rerun job's old failure
    try:
        return train(cfg).get("test_return_mean")
    except Terminated as exc:
        rest = "; the grid stops here, its later jobs were not run" if is_multirun() else ""
        print(f"liir: error: {exc}{rest}", file=sys.stderr)
        grid.exit_job(SIGTERM_EXIT)
    except Exception as exc:
        error = cli.unwrap(exc)
        clear = isinstance(error, CLEAR_ERRORS)
        if not is_multirun():
            if clear:
                cli.fail(str(error))
            raise
        print(f"liir: error: {error if clear else f'job failed with {type(error).__name__}: {error}'}", file=sys.stderr)
        grid.record_failed_job(exc)
    return None


def main() -> None:
    """Run the job or grid; a grid in which jobs failed ends with their summary and exit status 1."""
    grid.FAILED_JOBS.clear()
    grid.mark_launcher()
    warning_filters.install()
    cli.run(run_job)
    if grid.FAILED_JOBS:
        summary = "".join(f"\n  {line}" for line in grid.FAILED_JOBS)
        print(f"liir: error: {len(grid.FAILED_JOBS)} grid job(s) failed; tracebacks in:{summary}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
