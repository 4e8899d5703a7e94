"""Experiment presets compose with every algorithm and set the documented protocols (liir-reference §3, §8)."""

import pytest

from liir.config import validate
from tests.configs import compose_cfg

ALGOS = ("liir", "coma", "central_v", "iac", "qmix", "vdn", "iql")


@pytest.mark.parametrize("algo", ALGOS)
def test_pymarl_smac_v1_protocol(algo):
    cfg = compose_cfg("experiment=pymarl_smac_v1", "env=smac_2s3z", f"algo={algo}")
    validate(cfg)
    assert (cfg.t_max, cfg.test_interval, cfg.test_nepisode) == (2050000, 10000, 32)
    assert cfg.algo.name == algo and cfg.env.env_args.map_name == "2s3z"


@pytest.mark.parametrize("algo", ALGOS)
def test_liir_paper_protocol(algo):
    cfg = compose_cfg("experiment=liir_paper", "env=smac_3m", f"algo={algo}")
    validate(cfg)
    assert (cfg.t_max, cfg.batch_size_run, cfg.test_interval, cfg.test_nepisode) == (10050000, 32, 20000, 32)
    assert cfg.save_model_interval == 2000000
    assert cfg.env.env_args.reward_only_positive is False and cfg.env.env_args.state_last_action is False


def test_pursuit_fig2_trains_liir_on_pursuit():
    cfg = compose_cfg("experiment=pursuit_fig2")
    validate(cfg)
    assert cfg.env.name == "pursuit1d" and cfg.algo.name == "liir" and cfg.algo.meta_grad == "exact"
    assert cfg.batch_size_run == 32 and cfg.t_max == 200000
    assert cfg.algo == compose_cfg("env=pursuit1d", "algo=liir").algo  # LIIR's own defaults: one config for every seed
