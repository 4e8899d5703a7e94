"""The simulator's own options (``env.env_args.sim``): validation and a clear error when compilation fails."""

import pytest
import torch

from liir.envs.smac import make_smac_env
from liir.envs.smac.sim.core import SimCompileError


def test_unknown_sim_option_is_named() -> None:
    with pytest.raises(ValueError, match=r"env\.env_args\.sim\.fuse; allowed: compile"):
        make_smac_env("sim", 1, "cpu", 0, "3m", sim={"fuse": True})


def test_failed_compilation_says_how_to_run_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_compile(fn, **kwargs):
        def call(*args):
            raise torch._dynamo.exc.BackendCompilerFailed("inductor", RuntimeError("no C++ compiler found"), None)

        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    env = make_smac_env("sim", 2, "cpu", 0, "3m", sim={"compile": True})
    with pytest.raises(SimCompileError, match=r"no C\+\+ compiler found.*env\.env_args\.sim\.compile=false"):
        env.reset()
    with pytest.raises(SimCompileError, match=r"no C\+\+ compiler found"):
        env.step(torch.ones(2, 3, dtype=torch.long))


def test_sim_compile_off_is_the_plain_step() -> None:
    env = make_smac_env("sim", 2, "cpu", 0, "3m", sim={"compile": False})
    assert (env._step, env._reset) == (env._step_impl, env._reset_impl)


def test_compiled_sim_allows_one_compiled_step_per_map_and_batch_of_a_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 8)  # torch's default
    make_smac_env("sim", 2, "cpu", 0, "3m", sim={"compile": True})
    assert torch._dynamo.config.recompile_limit >= 64
