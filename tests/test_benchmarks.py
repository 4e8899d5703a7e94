"""Smoke runs of the benchmark scripts (the numbers themselves are reported, not asserted)."""

import copy
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from liir.data.runner import EpisodeRunner

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    """A benchmark script as a module; benchmarks/ goes on the path, as when the scripts run, for their imports."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_speed_reports_one_result():
    result = load("train_speed").main(["env=pursuit1d", "algo=central_v", "t_max=160", "batch_size_run=4"])
    assert result["env_steps"] >= 160 and result["env_steps_per_sec"] > 0 and result["peak_rss_mb"] > 0
    assert (
        0 < result["learner_s_per_update"] and 0 < result["rollout_s_per_update"] and result["precision"] == "32-true"
    )


def test_learn_speed_reports_one_result():
    result = load("learn_speed").main(["env=pursuit1d", "algo=liir", "batch_size_run=4", "--repeats", "2"])
    assert result["env_steps"] > 0 and result["learn_s_median"] > 0 and len(result["learn_s"]) == 2


def test_meta_gradient_agreement_measures_tiny_vectors_exactly():
    """The meta-gradient's norm is ~1e-8: torch's cosine_similarity, which clamps norms at 1e-8, gave 0.73 for a
    vector against itself."""
    agreement = load("meta_gradient_agreement").agreement
    g = torch.tensor([3e-9, -4e-9, 5e-10])
    assert agreement(g, g) == pytest.approx((1.0, 0.0))
    assert agreement(g, 2 * g) == pytest.approx((1.0, 1.0))
    assert agreement(g, -g)[0] == pytest.approx(-1.0)


def test_meta_gradient_agreement_twins_leave_the_original_untouched():
    """A twin's update must not reach the original's optimiser state (loading a state dict keeps its tensors)."""
    bench = load("meta_gradient_agreement")
    _, env, module = load("learn_speed").build_learner(["env=pursuit1d", "algo=liir", "batch_size_run=4"])
    rollout = EpisodeRunner(env).run(module.policy, test_mode=False)
    module.learn(rollout)
    before = [copy.deepcopy(o.state_dict()["state"]) for o in module.optimizers()]
    bench.twin_update(module, rollout, False, "finite_difference", 1e-3)
    after = [o.state_dict()["state"] for o in module.optimizers()]
    for old, new in zip(before, after, strict=True):
        for index, state in old.items():
            for key, value in state.items():
                assert torch.equal(value, new[index][key]), (index, key)
