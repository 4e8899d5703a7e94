import signal
from pathlib import Path

import pytest
import torch

from liir.envs.pursuit import Pursuit1D
from tests.runs import OUTPUT, TRAINED_ALGOS, train_grid


@pytest.fixture
def pursuit_env():
    def make(batch_size: int = 4, seed: int = 0, episode_limit: int = 6) -> Pursuit1D:
        return Pursuit1D(
            batch_size=batch_size,
            device="cpu",
            seed=seed,
            episode_limit=episode_limit,
            init_low=-5,
            init_high=5,
            target="fixed",
            target_value=0,
            target_low=-5,
            target_high=5,
            value_scale=10.0,
            reward_scale=0.01,
        )

    return make


@pytest.fixture(autouse=True)
def _restore_sigint():
    """A test that installs its own SIGINT handler (the sc2 pool's Ctrl-C test) leaves the process's handler as it
    found it, for the tests that share its pytest worker."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def ac_hparams() -> dict:
    """Small actor-critic hyper-parameters for fast learner tests."""
    return dict(
        lr=5e-4,
        critic_lr=5e-4,
        optim_alpha=0.99,
        optim_eps=1e-5,
        grad_norm_clip=10.0,
        gamma=0.99,
        td_lambda=0.8,
        target_update_interval=4,
        critic_train_mode="seq",
        epsilon_start=0.5,
        epsilon_finish=0.01,
        epsilon_anneal_time=100,
        mask_before_softmax=True,
        rnn_hidden_dim=8,
        critic_hidden_dim=16,
        obs_agent_id=True,
        obs_last_action=True,
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> dict[str, Path]:
    """Short runs of the actor-critics and LIIR on pursuit, made once by one real ``--multirun`` (`tests/runs.py`)."""
    sweep = tmp_path_factory.mktemp("runs") / "sweep"
    result = train_grid(sweep, f"algo={','.join(TRAINED_ALGOS)}")
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep / OUTPUT).write_text(result.stdout + result.stderr)
    return {algo: sweep / algo for algo in TRAINED_ALGOS}


@pytest.fixture(scope="session")
def resumed(trained, tmp_path_factory) -> dict[str, Path]:
    """IAC, COMA and LIIR resumed from their ``trained`` checkpoints up to t_max=480, by one ``--multirun`` whose
    ``ckpt_path`` interpolates each job's algo name."""
    sweep = tmp_path_factory.mktemp("resumed") / "sweep"
    ckpt = trained["iac"].parent / "${algo.name}" / "checkpoints" / "last.ckpt"
    result = train_grid(sweep, "algo=iac,coma,liir", "t_max=480", f"ckpt_path={ckpt}")
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep / OUTPUT).write_text(result.stdout + result.stderr)
    return {algo: sweep / algo for algo in ("iac", "coma", "liir")}
