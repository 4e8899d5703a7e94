"""Experiment presets compose with every algorithm and set the documented protocols (liir-reference §3, §8)."""

import pytest
import torch

from liir.build import make_datamodule, make_module
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
    assert cfg.batch_size_run == 32 and cfg.t_max == 200000 and cfg.algo.eta_lr == 0.003
    assert compose_cfg("experiment=pursuit_fig2", "algo.eta_lr=0.001").algo.eta_lr == 0.001  # the CLI still wins


def test_pymarl2_qmix_sets_pymarl2s_fine_tuned_qmix(pursuit_env):
    cfg = compose_cfg("experiment=pymarl2_qmix", "env=smac_2s3z")
    validate(cfg)
    algo, replay = cfg.algo, cfg.algo.datamodule
    assert algo.name == "qmix" and cfg.batch_size_run == 8 and cfg.t_max == 10050000
    assert (algo.optimizer, algo.lr, algo.optim_eps, algo.grad_norm_clip) == ("adam", 0.001, 1e-8, 20.0)
    assert (algo.td_lambda, algo.gamma, algo.double_q, algo.target_update_interval) == (0.6, 0.99, True, 200)
    assert (algo.epsilon_start, algo.epsilon_finish, algo.epsilon_anneal_time) == (1.0, 0.05, 100000)
    assert (replay.buffer_size, replay.batch_size, replay.updates_per_rollout) == (5000, 128, 1)
    assert (algo.mixer.mixing_embed_dim, algo.mixer.hypernet_layers, algo.mixer.hypernet_embed) == (32, 2, 64)
    env = pursuit_env()  # the module and buffer need only the env's sizes
    module = make_module(cfg, env)
    assert type(module.configure_optimizers()) is torch.optim.Adam and module.policy.epsilon == 1.0
    assert make_datamodule(cfg, env, module.policy).updates_per_rollout == 1
    assert compose_cfg("experiment=pymarl2_qmix", "algo.td_lambda=0.3").algo.td_lambda == 0.3  # 6h_vs_8z's
