"""A clean run is silent: train, resume and evaluate print no warnings (see ``liir.warning_filters``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

RUN = (
    "env=pursuit1d algo=iac batch_size_run=4 test_interval=24 test_nepisode=4 log_interval=24 save_model_interval=24"
).split()

NOISE = {
    "python warning": r"\.py:\d+: |\w+Warning\b",  # Lightning prints warnings as `file.py:line: message`
    "wandb warning": r"wandb: WARNING",
    "lightning weights_only default": r"`weights_only` was not set",
    "litlogger advert": r"Tip: For seamless cloud logging",
}
# Noise whose fix lies outside this change; strict, so the test says when a fix has landed and the entry can go.
PENDING = {
    "wandb warning": "loggers.py: Lightning's WandbLogger passes anonymous=None, recent wandb warns at any value",
    "lightning weights_only default": "callbacks.py: EnvStepCheckpoint.save should pass weights_only=False",
}


def run(cwd: Path, module: str, *args: str) -> str:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0"}
    result = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("quiet")
    text = run(root, "liir.train", f"hydra.run.dir={root / 'first'}", *RUN, "t_max=48")
    ckpt = root / "first" / "checkpoints" / "last.ckpt"
    text += run(root, "liir.train", f"hydra.run.dir={root / 'resumed'}", *RUN, "t_max=72", f"ckpt_path={ckpt}")
    text += run(root, "liir.evaluate", f"ckpt_path={ckpt}", "test_nepisode=2", f"eval_path={root / 'eval.json'}")
    return re.split(r"[\r\n]+", text)


@pytest.mark.parametrize(
    "kind",
    [pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=PENDING[k])) if k in PENDING else k for k in NOISE],
)
def test_clean_run_prints_no_warnings(output, kind):
    assert [line for line in output if re.search(NOISE[kind], line)] == []
