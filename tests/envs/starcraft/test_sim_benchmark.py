"""Smoke test of the simulator's speed benchmark: it runs and prints one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "sim_speed.py"


def test_sim_speed_prints_one_json_line() -> None:
    cmd = [sys.executable, str(SCRIPT), "--map", "3m", "--batch", "4", "--steps", "5", "--warmup", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert result["impl"] == "liir-sim" and result["batch"] == 4 and result["env_steps_per_sec"] > 0


def test_single_speed_prints_one_json_line() -> None:
    script = SCRIPT.with_name("single_speed.py")
    cmd = [sys.executable, str(script), "--map", "3m", "--steps", "5", "--warmup", "2", "--eager"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert result["single_steps_per_sec"] > 0 and result["batched_b1_steps_per_sec"] > 0
