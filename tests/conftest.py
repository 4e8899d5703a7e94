import pytest
import torch

from liir.envs.pursuit import Pursuit1D


@pytest.fixture
def pursuit_env():
    def make(batch_size: int = 4, seed: int = 0, episode_limit: int = 6) -> Pursuit1D:
        return Pursuit1D(batch_size=batch_size, device="cpu", seed=seed, episode_limit=episode_limit, init_low=-5,
                         init_high=5, target="fixed", target_value=0, target_low=-5, target_high=5, value_scale=10.0,
                         reward_scale=0.01)

    return make


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
