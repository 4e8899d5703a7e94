"""How closely LIIR's per-sample meta-gradient ∂J_ex/∂r_in under a cheaper variant agrees with the reference
(float32, second-order term by autograd), from the same state and batch every ``--every`` updates, as JSON lines
(docs/liir.md, "Precision" and "The second-order term").

    python benchmarks/meta_gradient_agreement.py env=smac_2s3z --variant bf16|finite_difference
        [--perturbation 0.01 ...] [--updates 21] [--every 5] [any Hydra override ...]

``bf16``: the update under bf16 autocast. ``finite_difference``: ``algo.meta_grad_second_order=finite_difference``
at each ``--perturbation``. Each line gives the cosine and the relative error ‖g − g_ref‖ / ‖g_ref‖.
Training itself follows the reference update.
"""

from __future__ import annotations

import argparse
import copy
import json

import torch
from learn_speed import bind_optimisers, build_learner  # run as a script: benchmarks/ is on the path

from liir import ops
from liir.data.runner import EpisodeRunner


def capture_meta_gradients(captured: list[torch.Tensor]) -> None:
    """Make both ways of taking the meta-gradient append their per-sample result to ``captured``."""

    def capturing(original):
        def wrapper(*args):
            grads, j_ex = original(*args)
            captured.append(torch.cat([g.flatten().float() for g in grads]))
            return grads, j_ex

        return wrapper

    for name in ("exact_eta_gradient", "finite_difference_eta_gradient"):
        setattr(ops, name, capturing(getattr(ops, name)))


def twin_update(module, rollout, bf16: bool, second_order: str, perturbation: float) -> None:
    """One update of a copy of ``module`` with the given variant. The optimiser states are copied too: loading a
    state dict keeps its tensors, and the copy's steps would update the original's running averages in place."""
    twin = copy.deepcopy(module)
    twin.hparams.meta_grad_second_order, twin.hparams.meta_grad_perturbation = second_order, perturbation
    bind_optimisers(twin)
    for source, target in zip(module.optimizers(), twin.optimizers(), strict=True):
        target.load_state_dict(copy.deepcopy(source.state_dict()))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        twin.learn(rollout)


def agreement(reference: torch.Tensor, variant: torch.Tensor) -> tuple[float, float]:
    """(cosine, ‖variant − reference‖ / ‖reference‖) in float64. Not torch's ``cosine_similarity``: it clamps each
    norm at 1e-8, and meta-gradients are often smaller."""
    reference, variant = reference.double(), variant.double()
    cosine = reference @ variant / (reference.norm() * variant.norm())
    return float(cosine), float((variant - reference).norm() / reference.norm())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("bf16", "finite_difference"), default="bf16")
    parser.add_argument("--perturbation", type=float, nargs="+", default=[1e-2])
    parser.add_argument("--updates", type=int, default=21)
    parser.add_argument("--every", type=int, default=5)
    args, overrides = parser.parse_known_args(argv)
    _, env, module = build_learner(["algo=liir", "algo.meta_grad_second_order=autograd", *overrides])
    captured: list[torch.Tensor] = []
    capture_meta_gradients(captured)
    variants = (
        [(True, "autograd", 0.0)]
        if args.variant == "bf16"
        else [(False, "finite_difference", perturbation) for perturbation in args.perturbation]
    )
    runner = EpisodeRunner(env)
    for update in range(args.updates):
        rollout = runner.run(module.policy, test_mode=False)
        if update % args.every == 0:
            twin_update(module, rollout, False, "autograd", 0.0)
            reference = captured[-1]
            for bf16, second_order, perturbation in variants:
                twin_update(module, rollout, bf16, second_order, perturbation)
                cosine, relative_error = agreement(reference, captured[-1])
                row = {"update": update, "variant": args.variant, "perturbation": perturbation or None}
                row |= {"cosine": round(cosine, 6), "relative_error": relative_error, "norm": float(reference.norm())}
                print(json.dumps(row))
        module.learn(rollout)


if __name__ == "__main__":
    main()
