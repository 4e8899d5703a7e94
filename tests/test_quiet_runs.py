"""A clean run is silent: train, resume and evaluate print no warnings (see ``liir.warning_filters``)."""

from __future__ import annotations

import re

import pytest

from tests.runs import OUTPUT, run_module

NOISE = {
    "python warning": r"\.py:\d+: |\w+Warning\b",  # Lightning prints warnings as `file.py:line: message`
    "wandb warning": r"wandb: WARNING",
    "lightning weights_only default": r"`weights_only` was not set",
    "litlogger advert": r"Tip: For seamless cloud logging",
}


@pytest.fixture(scope="module")
def output(trained, resumed, tmp_path_factory) -> list[str]:
    """What the shared training and resume grids printed, and an evaluation of one of their checkpoints."""
    text = (trained["iac"].parent / OUTPUT).read_text() + (resumed["iac"].parent / OUTPUT).read_text()
    root = tmp_path_factory.mktemp("quiet")
    ckpt = trained["liir"] / "checkpoints" / "last.ckpt"
    result = run_module(
        "liir.evaluate", root, f"ckpt_path={ckpt}", "test_nepisode=2", f"eval_path={root / 'eval.json'}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text += result.stdout + result.stderr
    return re.split(r"[\r\n]+", text)


@pytest.mark.parametrize("kind", NOISE)
def test_clean_run_prints_no_warnings(output, kind):
    assert [line for line in output if re.search(NOISE[kind], line)] == []
