"""LIIR through the real entry points: train, resume (``conftest.trained``/``resumed``), and evaluation with the
Figure 2 outputs. (λ from the command line and LIIR's choices are checked in-process in test_config.py.)"""

from __future__ import annotations

import pytest
import torch

from liir.checkpointing import CheckpointError
from liir.evaluate import evaluate
from tests.runs import read_csv

LIIR_METRICS = (
    "r_in_mean",
    "r_in_std",
    "r_in_mean_agent0",
    "r_in_std_agent1",
    "v_ex_loss",
    "eta_grad_norm",
    "intrinsic_lambda",
    "proxy_advantage_abs",
    "extrinsic_advantage_abs",
    "j_ex",
    "meta_grad_norm",
    "eta_step_norm",
)


def test_liir_run_logs_its_metrics_and_checkpoints_every_optimizer(trained):
    ckpt = torch.load(trained["liir"] / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert len(ckpt["optimizer_states"]) == 3  # agent, proxy critic, η + V_ex
    assert all(state["state"] for state in ckpt["optimizer_states"])  # each has taken steps
    assert ckpt["liir_run"]["config"]["algo"]["meta_grad"] == "exact"
    rows = [r for r in read_csv(trained["liir"] / "metrics.csv") if r.get("r_in_mean")]
    assert rows
    for key in LIIR_METRICS:
        value = float(rows[-1][key])
        assert value == value, key  # present and not NaN
    assert abs(float(rows[-1]["r_in_mean"])) < 10.0 and float(rows[-1]["intrinsic_lambda"]) == 0.01


def test_liir_resumes_from_its_checkpoint(trained, resumed):
    first = torch.load(trained["liir"] / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    second = torch.load(resumed["liir"] / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert second["liir_module"]["t_env"] >= 480 > first["liir_module"]["t_env"]
    assert len(second["optimizer_states"]) == 3
    steps = [float(r["env_steps"]) for r in read_csv(resumed["liir"] / "metrics.csv")]
    assert min(steps) > first["liir_module"]["t_env"]


def test_evaluate_writes_the_intrinsic_reward_figure_and_auc(trained, tmp_path):
    report = evaluate(trained["liir"] / "checkpoints" / "last.ckpt", tmp_path, test_nepisode=20)
    assert report["test_n_episodes"] == 20
    assert 0.0 <= report["r_in_auc_good_vs_bad"] <= 1.0
    assert report["r_in_n_good"] > 0 and report["r_in_n_bad"] > 0
    assert -10 < report["r_in_mean_good"] < 10 and -10 < report["r_in_mean_bad"] < 10
    png = (tmp_path / "intrinsic_rewards.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda ckpt: ckpt["liir_run"]["config"]["algo"].pop("meta_grad_normalisation"), "missing 1 required"),
        (lambda ckpt: ckpt["state_dict"].pop("critic.v_ex_net.net.0.weight"), "Missing key"),
    ],
    ids=["setting_added_since", "networks_changed_since"],
)
def test_checkpoint_of_another_liir_version_is_a_clear_error(trained, tmp_path, edit, message):
    """A LIIR checkpoint written before a setting or a network was added (e.g. V_ex(s) before it was its own
    network) is refused with a ``CheckpointError`` naming what does not fit, not a traceback."""
    ckpt = torch.load(trained["liir"] / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    edit(ckpt)
    old = tmp_path / "old.ckpt"
    torch.save(ckpt, old)
    with pytest.raises(CheckpointError, match=f"does not fit this liir version's liir .*{message}"):
        evaluate(old, tmp_path / "eval", test_nepisode=4)
    assert not (tmp_path / "eval").exists()
