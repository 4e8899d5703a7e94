"""Smoke runs of the benchmark scripts (the numbers themselves are reported, not asserted)."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
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
