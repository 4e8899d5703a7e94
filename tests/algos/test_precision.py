"""``trainer.precision=bf16-mixed``: Lightning runs each training step under CPU/CUDA autocast (bf16 matmuls, float32
weights). One learner update on a fixed batch must match float32 up to bf16's rounding."""

import copy

import pytest
import torch
from tests.configs import compose_cfg

from liir.build import make_module
from liir.data.runner import EpisodeRunner


def _bind_optimisers(module) -> None:
    """The module's own optimisers, without a Trainer (as benchmarks/learn_speed.py)."""
    optimizers = module.configure_optimizers()
    module.optimizers = lambda: optimizers
    module.manual_backward = lambda loss: loss.backward()


@pytest.mark.parametrize("algo", ["coma", "central_v", "iac", "liir"])
def test_one_update_under_bf16_autocast_matches_float32(pursuit_env, algo):
    """The critic's ``seq`` fit takes one optimiser step per time step inside one training step. Tolerances:
    bf16 keeps 8 significant bits (0.4% per operation); over the ~10 sequential critic steps of this batch the
    critic's loss and gradient norm stay within 15% of float32's (measured: 0.2–8%). Before autocast's weight
    cache was cleared after each step, every step after the first read the first step's weights: the loss came
    out 2% of float32's (Central-V)."""
    cfg = compose_cfg("env=pursuit1d", f"algo={algo}")
    env = pursuit_env(batch_size=8, episode_limit=10, seed=1)
    module = make_module(cfg, env)
    rollout = EpisodeRunner(env).run(module.policy, test_mode=False)
    metrics = {}
    for bf16 in (False, True):
        twin = copy.deepcopy(module)
        _bind_optimisers(twin)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            metrics[bf16] = twin.learn(rollout)
    for key in ("critic_loss", "critic_grad_norm", "value_mean"):
        assert metrics[True][key] == pytest.approx(metrics[False][key], rel=0.15), key
