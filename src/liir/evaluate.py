"""`python -m liir.evaluate ckpt_path=<file.ckpt> [test_nepisode=N] [eval_path=...]`: greedy evaluation.

The checkpoint carries its run's resolved config, so the environment and the networks are rebuilt
exactly as trained; the metrics (pymarl's ``test_`` names) go to ``eval.json``. For a LIIR checkpoint on
an environment that labels actions (pursuit), it also writes ``intrinsic_rewards.png`` beside it and adds
the intrinsic-reward separation metrics (the paper's Figure 2). With ``render=true`` on the SMAC simulator
it draws the first ``render_episodes`` episodes there too (Figures 4 and 5, ``battle_figures``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
import lightning.pytorch as pl
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from liir import cli, warning_filters
from liir.algos.base import MARLModule, NonFiniteLossError
from liir.battle_figures import render_battles
from liir.build import make_env, make_module, resolve_device, set_torch_threads, test_seed
from liir.callbacks import play_test_episodes
from liir.checkpointing import CheckpointError, atomic_write, non_finite, read_checkpoint
from liir.config import ConfigError, too_many_renders, validate
from liir.data.runner import EpisodeRunner, summarise
from liir.envs.base import BatchedEnv
from liir.envs.smac import save_replays
from liir.envs.smac.sc2.install import Sc2SetupError
from liir.envs.smac.sim.render import BattleRecorder, RenderError
from liir.intrinsic_analysis import has_action_labels, intrinsic_reward_report

log = logging.getLogger("liir")


def evaluate(
    ckpt_path: str,
    output_dir: Path,
    test_nepisode: int | None = None,
    device: str | None = None,
    seed: int | None = None,
    save_replay: bool = False,
    render: bool = False,
    render_episodes: int = 1,
) -> dict[str, Any]:
    """Play greedy episodes with the checkpoint's policy; return the metrics and run facts.

    Figures (LIIR's ``intrinsic_rewards.png``; with ``render`` the battles of the first ``render_episodes``
    episodes) go to ``output_dir`` and are listed in the result; with ``save_replay`` the real game saves
    StarCraft II replays of the episodes (their paths are listed in the result).
    """
    checkpoint = read_checkpoint(ckpt_path)
    bad = non_finite(checkpoint["state_dict"])
    if bad:
        raise CheckpointError(f"checkpoint {str(ckpt_path)!r} holds NaN or inf weights ({', '.join(bad[:3])})")
    run_cfg = OmegaConf.create(checkpoint["liir_run"]["config"])  # plain values, as every liir version stored them
    n_episodes = test_nepisode or run_cfg.test_nepisode
    if render and render_episodes > n_episodes:
        raise ConfigError(too_many_renders(render_episodes, n_episodes))
    seed = run_cfg.seed if seed is None else seed
    set_torch_threads(run_cfg.get("torch_threads"))
    pl.seed_everything(seed, verbose=False)
    torch_device = resolve_device(device or run_cfg.device)
    env = make_env(run_cfg, min(run_cfg.batch_size_run, n_episodes), torch_device, test_seed(seed))
    module = rebuild_module(run_cfg, env, checkpoint["state_dict"], ckpt_path).to(torch_device)
    module.eval()
    output_dir.mkdir(parents=True, exist_ok=True)  # only once the checkpoint is known good
    replays: list[str] = []
    try:
        recorder = BattleRecorder(env) if render else None  # only then are the states kept
        rollouts = play_test_episodes(EpisodeRunner(recorder or env), module, n_episodes)
        if save_replay:
            replays = save_replays(env)
    finally:
        env.close()
    extra: dict[str, Any] = {"replays": replays} if save_replay else {}
    if hasattr(module, "intrinsic_rewards") and has_action_labels(rollouts):
        title = f"{run_cfg.algo.name} ({run_cfg.algo.meta_grad}) on {run_cfg.env.name}, {n_episodes} games"
        extra.update(intrinsic_reward_report(module, rollouts, output_dir / "intrinsic_rewards.png", title))
    if recorder is not None:
        t_env = checkpoint["liir_module"]["t_env"]
        title = f"{run_cfg.algo.name} on {run_cfg.env.name}, t_env={t_env}, seed {seed}"
        extra["rendered"] = render_battles(module, rollouts, recorder, output_dir, render_episodes, title)
    return {
        **summarise([rollout.stats for rollout in rollouts], "test_"),
        **extra,
        "env": run_cfg.env.name,
        "algo": run_cfg.algo.name,
        "backend": env.info.metadata.get("backend", "native"),
        "sc2_version": env.info.metadata.get("sc2_version"),
        "training_backend": run_cfg.env.get("runtime", {}).get("backend"),
        "t_env": checkpoint["liir_module"]["t_env"],
        "seed": seed,
        "ckpt_path": str(ckpt_path),
    }


def rebuild_module(run_cfg: DictConfig, env: BatchedEnv, state_dict: dict[str, Any], ckpt_path: str) -> MARLModule:
    """The checkpoint's module with its weights; a ``CheckpointError`` when this liir version builds other networks
    or takes other settings than the ones the checkpoint was written with (e.g. LIIR's V_ex before it became a
    network of the state)."""
    try:
        module = make_module(run_cfg, env)
        module.load_state_dict(state_dict)
    except (InstantiationException, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[-1]
        raise CheckpointError(
            f"checkpoint {str(ckpt_path)!r} does not fit this liir version's {run_cfg.algo.name} "
            f"(written by another version?): {reason}"
        ) from exc
    return module


@hydra.main(version_base="1.3", config_path=cli.CONF_DIR, config_name="evaluate")
def run_job(cfg: DictConfig) -> None:
    try:
        validate(cfg)
        path = Path(cfg.eval_path) if cfg.eval_path else Path(cfg.ckpt_path).parent / "eval.json"
        if path.is_dir():
            raise ConfigError(f"eval_path={str(path)!r} is a directory; give a file, e.g. {str(path / 'eval.json')!r}")
        result = evaluate(
            cfg.ckpt_path,
            path.parent,
            cfg.test_nepisode,
            cfg.device,
            cfg.seed,
            cfg.save_replay,
            cfg.render,
            cfg.render_episodes,
        )
    except Exception as exc:
        error = cli.unwrap(exc)
        if not isinstance(error, ConfigError | CheckpointError | Sc2SetupError | NonFiniteLossError | RenderError):
            raise
        cli.fail(str(error))
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(result, indent=2)))
    log.info(
        "wrote %s: test_return_mean=%.4g over %d episodes", path, result["test_return_mean"], result["test_n_episodes"]
    )


def main() -> None:
    warning_filters.install()
    cli.run(run_job)


if __name__ == "__main__":
    main()
