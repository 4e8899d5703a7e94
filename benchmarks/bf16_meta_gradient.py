"""Cosine between LIIR's exact per-sample meta-gradient ∂J_ex/∂r_in of a float32 update and of a bf16-autocast
update from the same state and batch, every ``--every`` updates, as JSON lines (docs/liir.md, "Precision").

    python benchmarks/bf16_meta_gradient.py env=smac_2s3z [--updates 21] [--every 5] [any Hydra override ...]
"""

from __future__ import annotations

import argparse
import copy
import json

import torch
from learn_speed import bind_optimisers, build_learner  # run as a script: benchmarks/ is on the path

from liir import ops
from liir.data.runner import EpisodeRunner


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=21)
    parser.add_argument("--every", type=int, default=5)
    args, overrides = parser.parse_known_args(argv)
    _, env, module = build_learner(["algo=liir", *overrides])
    captured: list[torch.Tensor] = []
    exact_eta_gradient = ops.exact_eta_gradient

    def capturing(*a):
        grads, j_ex = exact_eta_gradient(*a)
        captured.append(torch.cat([g.flatten().float() for g in grads]))
        return grads, j_ex

    ops.exact_eta_gradient = capturing
    runner = EpisodeRunner(env)
    for update in range(args.updates):
        rollout = runner.run(module.policy, test_mode=False)
        if update % args.every == 0:
            for bf16 in (False, True):
                twin = copy.deepcopy(module)
                bind_optimisers(twin)
                for source, target in zip(module.optimizers(), twin.optimizers(), strict=True):
                    target.load_state_dict(source.state_dict())
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    twin.learn(rollout)
            g32, g16 = captured[-2:]
            cosine = float(torch.nn.functional.cosine_similarity(g32, g16, dim=0))
            print(json.dumps({"update": update, "cosine": round(cosine, 4), "norm_f32": float(g32.norm())}))
        module.learn(rollout)


if __name__ == "__main__":
    main()
