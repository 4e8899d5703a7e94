"""Env-steps/s of the SMAC-style faces (``StarCraft2Env``, its PettingZoo wrapper, ``StarCraft2VecEnv``) against
the batched face at B = 1.

``single``: what pymarl's episode runner does per step: ``get_obs``, ``get_state``, per-agent
``get_avail_agent_actions``, then ``step`` with uniformly random available actions, ``reset`` when the episode
ends. ``pettingzoo``: ``StarCraft2PZEnv.step`` with random actions from each agent's mask. ``vec``:
``StarCraft2VecEnv`` with ``--vec-envs`` copies, ``get_obs``/``get_state``/``get_avail_actions`` and ``step`` per
step, ended copies reset (counts env-steps: steps × copies). ``batched``: ``benchmarks/sim_speed.py``'s loop at
B = 1 (tensors in, tensors out). All run after a warm-up (which includes compilation on a cold cache) with one
intra-op thread; prints one JSON line.

    python benchmarks/single_speed.py --map 2s3z [--steps 2000] [--eager] [--faces single,pettingzoo,vec,batched]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable

import numpy as np
import torch

from liir.envs.smac import make_smac_env
from liir.envs.smac.sim import StarCraft2Env


def pymarl_loop(env: StarCraft2Env, seed: int) -> Callable[[int], None]:
    """``steps`` -> runs that many steps of pymarl's per-step calls on ``env``."""
    rng = random.Random(seed)
    env.reset()

    def run(steps: int) -> None:
        for _ in range(steps):
            env.get_obs()
            env.get_state()
            avail = [env.get_avail_agent_actions(i) for i in range(env.n_agents)]
            actions = [rng.choice([a for a, ok in enumerate(row) if ok]) for row in avail]
            _, terminated, _ = env.step(actions)
            if terminated:
                env.reset()

    return run


def pettingzoo_loop(map_name: str, compile: bool, seed: int) -> Callable[[int], None]:
    """``steps`` -> runs that many parallel-API steps of the PettingZoo wrapper with random masked actions."""
    from liir.envs.smac.sim.pz_env import StarCraft2PZEnv  # the optional pettingzoo extra

    env = StarCraft2PZEnv(map_name, seed=seed, compile=compile)
    rng = random.Random(seed)
    obs, _ = env.reset()

    def run(steps: int) -> None:
        nonlocal obs
        for _ in range(steps):
            actions = {a: rng.choice(obs[a]["action_mask"].nonzero()[0].tolist()) for a in env.agents}
            obs = env.step(actions)[0]
            if not env.agents:
                obs, _ = env.reset()

    return run


def vec_loop(map_name: str, n_envs: int, compile: bool, seed: int) -> Callable[[int], None]:
    """``steps`` -> runs that many steps of ``n_envs`` copies with random available actions."""
    from liir.envs.smac.sim.vec import StarCraft2VecEnv  # new with the fast faces: the older code lacks it

    env = StarCraft2VecEnv(n_envs, map_name, seed=seed, compile=compile)
    gen = np.random.default_rng(seed)
    env.reset()

    def run(steps: int) -> None:
        for _ in range(steps):
            env.get_obs()
            env.get_state()
            keys = gen.random((n_envs, env.n_agents, env.n_actions))
            _, terminated, _ = env.step(np.where(env.get_avail_actions() > 0, keys, -1.0).argmax(-1))
            if terminated.any():
                env.reset(terminated)

    return run


def batched_loop(map_name: str, compile: bool, seed: int) -> Callable[[int], None]:
    """``steps`` -> runs that many steps of the batched face at B = 1 with random available actions."""
    env = make_smac_env("sim", 1, "cpu", seed, map_name, sim={"compile": compile})
    gen = torch.Generator().manual_seed(seed)
    out = env.reset()

    def run(steps: int) -> None:
        nonlocal out
        for _ in range(steps):
            keys = torch.rand(out.avail_actions.shape, generator=gen)
            out = env.step(torch.where(out.avail_actions, keys, -1.0).argmax(-1))
            if bool(out.ended.any()):
                out = env.reset(out.ended)

    return run


def rate(run: Callable[[int], None], warmup: int, steps: int) -> float:
    run(warmup)
    t0 = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--map", default="2s3z")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument(
        "--warmup",
        type=int,
        default=1000,
        help="steps first (after the compile, the first full garbage collections are slow)",
    )
    p.add_argument("--eager", action="store_true", help="compile=False for both faces")
    p.add_argument("--faces", default="single,batched", help="comma-separated: single, pettingzoo, vec, batched")
    p.add_argument("--vec-envs", type=int, default=8, help="copies of the vec face")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    faces = args.faces.split(",")
    result: dict[str, object] = {"impl": "liir-sim-single", "map": args.map, "steps": args.steps}
    if "single" in faces:
        t0 = time.perf_counter()
        env = StarCraft2Env(map_name=args.map, seed=args.seed, **({"compile": False} if args.eager else {}))
        result["single_construct_s"] = round(time.perf_counter() - t0, 2)
        result["single_steps_per_sec"] = round(rate(pymarl_loop(env, args.seed), args.warmup, args.steps))
    if "pettingzoo" in faces:
        result["pettingzoo_steps_per_sec"] = round(
            rate(pettingzoo_loop(args.map, not args.eager, args.seed), args.warmup, args.steps)
        )
    if "vec" in faces:
        run = vec_loop(args.map, args.vec_envs, not args.eager, args.seed)
        result[f"vec{args.vec_envs}_env_steps_per_sec"] = round(rate(run, args.warmup, args.steps) * args.vec_envs)
    if "batched" in faces:
        result["batched_b1_steps_per_sec"] = round(
            rate(batched_loop(args.map, not args.eager, args.seed), args.warmup, args.steps)
        )
    result["compile"] = not args.eager
    print(json.dumps(result))


if __name__ == "__main__":
    main()
