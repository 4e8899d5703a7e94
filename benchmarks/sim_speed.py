"""Env-steps/s of the built-in SMAC simulator, comparable to ../shared/bench/smax_speed.py.

Steps B environments for STEPS steps with uniformly random available actions and automatic reset of
ended copies, after a warm-up (which includes compilation when ``--compile`` is on), and prints one JSON
line. One env-step = one step of one environment. On a CPU the simulator's tensors are small, so one
intra-op thread is fastest (``--threads``, default 1).

    python benchmarks/sim_speed.py --map 2s3z --batch 64 [--steps 1000] [--device cpu] [--compile]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from liir.envs.smac import make_smac_env


def run(env, steps: int, gen: torch.Generator) -> None:  # noqa: ANN001 - any BatchedEnv
    out = env.reset()
    for _ in range(steps):
        # uniform over the available actions: the largest of i.i.d. uniform keys (as SMAX's Gumbel-max sampling)
        keys = torch.rand(out.avail_actions.shape, generator=gen, device=out.avail_actions.device)
        actions = torch.where(out.avail_actions, keys, -1.0).argmax(-1)
        out = env.step(actions)
        ended = out.ended
        if bool(ended.any()):
            out = env.reset(ended)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--map", default="2s3z")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--device", default="cpu")
    p.add_argument("--compile", action="store_true", help="torch.compile the game loop")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    env = make_smac_env("sim", args.batch, device, args.seed, args.map, sim={"compile": args.compile})
    gen = torch.Generator(device=device).manual_seed(args.seed)
    t0 = time.perf_counter()
    run(env, args.warmup, gen)
    warmup_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    run(env, args.steps, gen)
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    result = {
        "impl": "liir-sim",
        "map": args.map,
        "batch": args.batch,
        "steps": args.steps,
        "device": str(device),
        "compile": args.compile,
        "threads": torch.get_num_threads(),
        "warmup_s": round(warmup_s, 2),
        "seconds": round(elapsed, 3),
        "env_steps_per_sec": round(args.steps * args.batch / elapsed),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if device.type == "cuda":
        result["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
