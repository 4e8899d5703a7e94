"""Seconds per learner update on one fixed batch of episodes (no rollouts, no Lightning loop), as one JSON line.

    python benchmarks/learn_speed.py env=smac_2s3z algo=liir [--repeats 6] [any Hydra override ...]

Collects one rollout of ``batch_size_run`` episodes with the fresh policy, then times ``learn`` on it
``--repeats`` times (the first is a warm-up) and reports the median: the learner's cost isolated from the
simulator's, for comparing learner changes side by side. The simulator runs uncompiled (only the rollout uses it).
``trainer.precision=bf16-mixed`` runs ``learn`` under bf16 autocast, as Lightning's precision plugin does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from liir.build import make_env, make_module, set_torch_threads
from liir.data.runner import EpisodeRunner

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def bind_optimisers(module) -> None:
    """The module's own optimisers, without a Trainer, so ``learn`` runs outside Lightning's loop."""
    optimizers = module.configure_optimizers()
    module.optimizers = lambda: optimizers
    module.manual_backward = lambda loss: loss.backward()


def build_learner(overrides: list[str]):
    """(config, env, module) from ``overrides`` on CPU, seeded, with the simulator uncompiled (only rollouts use it)
    and the module's optimisers bound."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    if "sim" in cfg.env.env_args:
        cfg.env.env_args.sim.compile = False
    set_torch_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    env = make_env(cfg, cfg.batch_size_run, torch.device("cpu"), cfg.seed)
    module = make_module(cfg, env)
    bind_optimisers(module)
    return cfg, env, module


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=6)
    args, overrides = parser.parse_known_args(argv)
    cfg, env, module = build_learner(overrides)
    rollout = EpisodeRunner(env).run(module.policy, test_mode=False)
    bf16 = cfg.trainer.precision == "bf16-mixed"
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            module.learn(rollout)
        seconds.append(time.perf_counter() - start)
    return {
        "bench": "learn_speed",
        "env": cfg.env.name,
        "algo": cfg.algo.name,
        "batch_size_run": cfg.batch_size_run,
        "precision": str(cfg.trainer.precision),
        "env_steps": rollout.env_steps,
        "learn_s_median": round(statistics.median(seconds[1:]), 4),
        "learn_s": [round(s, 4) for s in seconds],
    }


if __name__ == "__main__":
    print(json.dumps(main()))
