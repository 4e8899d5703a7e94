"""Typed configs, composed in-process: every bad value is refused with its key, value and what is allowed, and
what reaches constructors, checkpoints and W&B is plain strings and numbers. (The command line's one-line report
of these errors is tested through the real entry point in test_entrypoints.py.)"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException, OverrideParseException
from lightning.pytorch.callbacks import ProgressBar
from omegaconf import OmegaConf

from liir.build import make_env, make_module, make_trainer, resolve_device
from liir.callbacks import (
    EnvStepCheckpoint,
    EnvStepProgressBar,
    GreedyTest,
    RunMetadata,
    StopAtTMax,
    TrainMetricsLogger,
)
from liir.cli import CONF_DIR, describe_composition_error
from liir.config import Backend, ConfigError, SmacEnvConfig, plain, validate
from liir.train import make_callbacks, record_runtime_facts
from tests.configs import compose_cfg

ALGOS = sorted(p.stem for p in (Path(CONF_DIR) / "algo").glob("*.yaml"))


def config_error(*overrides: str, config_name: str = "config") -> str:
    """The one-line message the entry points print for ``overrides`` (composition or constraint error)."""
    try:
        validate(compose_cfg(*overrides, config_name=config_name))
    except ConfigCompositionException as exc:
        return describe_composition_error(exc)
    except ConfigError as exc:
        return str(exc)
    raise AssertionError(f"{overrides} were accepted")


def test_every_algo_composes_and_validates():
    for algo in ALGOS:
        validate(compose_cfg("env=smac_3m", f"algo={algo}"))


def test_every_smac_map_file_matches_the_smac_schema():
    """As Hydra merges it (composing each of the 24 maps would take seconds)."""
    for path in sorted((Path(CONF_DIR) / "env").glob("smac_*.yaml")):
        values = OmegaConf.load(path)
        assert OmegaConf.to_container(values.pop("defaults")) == [{"/schema/env@_here_": "smac"}, "_self_"]
        run = OmegaConf.create({"env": OmegaConf.merge(OmegaConf.structured(SmacEnvConfig), values)})
        env = OmegaConf.to_object(run.env)  # resolves env_args.backend: ${env.backend}
        assert env.name == path.stem and env.backend == Backend.auto


@pytest.mark.parametrize(
    "overrides, message",
    [
        # unknown names list the allowed ones
        (["env=no_such_env"], "env='no_such_env' is not allowed; use one of pursuit1d, smac_10m_vs_11m, "),
        (["algo=no_such_algo"], "algo='no_such_algo' is not allowed; use one of central_v, coma, iac, iql, liir, "),
        (
            ["experiment=nope"],
            "experiment='nope' is not allowed; use one of liir_figure3, liir_paper, pursuit_fig2, pymarl2_qmix, ",
        ),
        # choices (Enums)
        (["device=gpu"], "device='gpu' is not allowed; use one of cpu, cuda, auto"),
        (["algo.critic_train_mode=bogus"], "algo.critic_train_mode='bogus' is not allowed; use one of seq, batch"),
        (
            ["algo=liir", "algo.meta_grad=second_order"],
            "algo.meta_grad='second_order' is not allowed; use one of exact, reference, frozen",
        ),
        (
            ["algo=liir", "algo.advantage_normalisation=zscore"],
            "algo.advantage_normalisation='zscore' is not allowed; use one of masked, padded, none",
        ),
        (
            ["algo=liir", "algo.extrinsic_critic=q"],
            "algo.extrinsic_critic='q' is not allowed; use one of state, joint_action",
        ),
        (
            ["algo=liir", "algo.normalisation_gradient=exact"],
            "algo.normalisation_gradient='exact' is not allowed; use one of constant, differentiable",
        ),
        (
            ["algo=liir", "algo.meta_grad_normalisation=l2"],
            "algo.meta_grad_normalisation='l2' is not allowed; use one of unit, none",
        ),
        (["algo=liir", "algo.lookahead=adam"], "algo.lookahead='adam' is not allowed; use one of rmsprop, sgd"),
        (
            ["algo=liir", "algo.meta_grad_second_order=forward"],
            "algo.meta_grad_second_order='forward' is not allowed; use one of autograd, finite_difference",
        ),
        (["algo=liir", "algo.eta_optimiser=sgd"], "algo.eta_optimiser='sgd' is not allowed; use one of adam, rmsprop"),
        (["env=smac_3m", "env.backend=gpu"], "env.backend='gpu' is not allowed; use one of auto, sim, sc2"),
        (["env.env_args.target=moving"], "env.env_args.target='moving' is not allowed; use one of fixed, random"),
        (["algo=qmix", "algo.mixer.hypernet_layers=3"], "algo.mixer.hypernet_layers=3 is not allowed; use one of 1, 2"),
        # types
        (["algo.lr=abc"], "algo.lr='abc' is not allowed: Value 'abc' of type 'str' could not be converted to Float"),
        (["t_max=1.5"], "t_max=1.5 is not allowed: Value '1.5' of type 'float' could not be converted to Integer"),
        (["env=smac_3m", "env.env_args.sim.compile=maybe"], "env.env_args.sim.compile='maybe' is not allowed"),
        (["env=smac_3m", "env.env_args.sc2.step_timeout=soon"], "env.env_args.sc2.step_timeout='soon' is not allowed"),
        (["no_such_key=1"], "no_such_key is not a config key"),
        # positive numbers
        (["t_max=0"], "t_max=0 is not allowed: it must be a positive number"),
        (["batch_size_run=-2"], "batch_size_run=-2 is not allowed"),
        (["test_interval=0"], "test_interval=0 is not allowed"),
        (["test_nepisode=0"], "test_nepisode=0 is not allowed"),
        (["log_interval=0"], "log_interval=0 is not allowed"),
        (["save_model_interval=-1"], "save_model_interval=-1 is not allowed"),
        (["torch_threads=0"], "torch_threads=0 is not allowed"),
        (["algo.lr=0"], "algo.lr=0.0 is not allowed"),
        (["algo.critic_lr=-0.1"], "algo.critic_lr=-0.1 is not allowed"),
        (["algo=liir", "algo.eta_lr=0"], "algo.eta_lr=0.0 is not allowed"),
        (["algo=liir", "algo.meta_grad_perturbation=0"], "algo.meta_grad_perturbation=0.0 is not allowed"),
        (["algo.target_update_interval=0"], "algo.target_update_interval=0 is not allowed"),
        (["algo=qmix", "algo.datamodule.batch_size=0"], "algo.datamodule.batch_size=0 is not allowed"),
        (["algo=iql", "algo.datamodule.buffer_size=0"], "algo.datamodule.buffer_size=0 is not allowed"),
        (
            ["algo=vdn", "algo.datamodule.updates_per_rollout=-1"],
            "algo.datamodule.updates_per_rollout=-1 is not allowed: it must be a positive number",
        ),
        (["algo=qmix", "algo.td_lambda=-0.1"], "algo.td_lambda=-0.1 is not allowed: it must lie in [0, 1]"),
        (["algo=iql", "algo.optimizer=sgd"], "algo.optimizer='sgd' is not allowed; use one of rmsprop, adam"),
        # the replay buffer holds a training batch and one round of collected episodes
        (
            ["algo=vdn", "algo.datamodule.buffer_size=16"],
            "algo.datamodule.buffer_size=16 is not allowed: it must be at least algo.datamodule.batch_size=32",
        ),
        (
            ["algo=qmix", "batch_size_run=8", "algo.datamodule.buffer_size=4", "algo.datamodule.batch_size=2"],
            "algo.datamodule.buffer_size=4 is not allowed: it must be at least batch_size_run=8",
        ),
    ],
)
def test_bad_value_is_one_line_naming_it(overrides, message):
    error = config_error(*overrides)
    assert message in error and "\n" not in error


def test_allowed_edge_values_pass():
    validate(compose_cfg("torch_threads=null", "device=auto", "env=smac_3m", "env.backend=sim"))
    validate(compose_cfg("algo=qmix", "algo.mixer.hypernet_layers=1", "algo.datamodule.buffer_size=32"))


def test_evaluate_arguments_are_checked():
    assert config_error("test_nepisode=1", config_name="evaluate") == (
        "ckpt_path is missing: give it on the command line (ckpt_path=...)"
    )
    assert "test_nepisode=0 is not allowed" in config_error("ckpt_path=x", "test_nepisode=0", config_name="evaluate")
    assert "device='tpu' is not allowed" in config_error("ckpt_path=x", "device=tpu", config_name="evaluate")


def test_an_unparsable_override_is_one_line():
    with pytest.raises(OverrideParseException) as info:
        compose_cfg("t_max=[1")
    error = describe_composition_error(info.value)
    assert error.startswith("cannot read 't_max=[1': ") and "\n" not in error


def enums_in(value) -> list:
    if isinstance(value, dict):
        return [e for v in value.values() for e in enums_in(v)]
    if isinstance(value, list):
        return [e for v in value for e in enums_in(v)]
    return [value] if isinstance(value, Enum) else []


@pytest.mark.parametrize("overrides", [("algo=liir",), ("env=smac_3m", "algo=qmix")])
def test_stored_config_is_plain_values(overrides):
    """Checkpoints, W&B and .hydra/config.yaml get strings and numbers, never Enum members."""
    stored = plain(compose_cfg(*overrides))
    assert enums_in(stored) == []
    assert stored["device"] == "cpu" and type(stored["device"]) is str
    assert stored["callbacks"]["stop_at_t_max"]["t_max"] == stored["t_max"]  # interpolations resolved


def test_choices_reach_the_constructors_as_strings():
    cfg = compose_cfg("algo=liir", "algo.meta_grad=reference", "env.env_args.target=random")
    env = make_env(cfg, 2, resolve_device(cfg.device), seed=0)
    module = make_module(cfg, env)
    assert type(module.hparams["meta_grad"]) is str and module.hparams["meta_grad"] == "reference"
    assert type(module.hparams["critic_train_mode"]) is str


def test_lambda_from_the_command_line_reaches_liir():
    cfg = compose_cfg("algo=liir", "algo.intrinsic_lambda=0.1")
    assert make_module(cfg, make_env(cfg, 2, resolve_device("cpu"), seed=0)).hparams["intrinsic_lambda"] == 0.1


def test_a_config_stored_as_plain_dict_rebuilds_env_and_module():
    """``evaluate`` rebuilds from the checkpoint's stored dict, also one stored before trainer/callbacks existed."""
    for algo in ("liir", "qmix"):
        stored = plain(compose_cfg(f"algo={algo}"))
        del stored["trainer"], stored["callbacks"]
        old = OmegaConf.create(stored)
        env = make_env(old, 2, resolve_device(old.device), seed=0)
        assert make_module(old, env).hparams["lr"] == old.algo.lr


def test_runtime_facts_are_added_to_the_typed_config(pursuit_env):
    cfg = compose_cfg()
    record_runtime_facts(cfg, pursuit_env())
    validate(cfg)
    assert plain(cfg)["env"]["runtime"] == {"backend": "native", "sc2_version": None}


def build_callbacks(tmp_path, *overrides: str):
    cfg = compose_cfg(*overrides)
    env = make_env(cfg, 2, resolve_device(cfg.device), seed=0)
    return cfg, make_callbacks(cfg, env, tmp_path, run_id="r")


def test_default_callbacks_run_the_protocol_in_order(tmp_path):
    cfg, callbacks = build_callbacks(tmp_path, "save_model_interval=70")
    assert [type(c) for c in callbacks.values()] == [
        StopAtTMax,
        TrainMetricsLogger,
        GreedyTest,
        RunMetadata,
        EnvStepProgressBar,
        EnvStepCheckpoint,
    ]
    assert callbacks["checkpoint"].save_model_interval == 70
    assert callbacks["checkpoint"].dirpath == tmp_path / "checkpoints"
    assert callbacks["progress_bar"].test is callbacks["greedy_test"]
    assert callbacks["run_metadata"].config["algo"]["name"] == "central_v"
    trainer = make_trainer(cfg, resolve_device("cpu"), list(callbacks.values()), logger=False)
    assert trainer.precision == "32-true" and isinstance(trainer.progress_bar_callback, EnvStepProgressBar)


def test_callbacks_and_trainer_are_set_from_the_command_line(tmp_path):
    cfg, callbacks = build_callbacks(
        tmp_path,
        "save_model=false",
        "callbacks.progress_bar=null",
        "callbacks.greedy_test.test_nepisode=3",
        "trainer.precision=bf16-mixed",
    )
    assert "checkpoint" not in callbacks and "progress_bar" not in callbacks
    assert callbacks["greedy_test"].test_nepisode == 3
    trainer = make_trainer(cfg, resolve_device("cpu"), list(callbacks.values()), logger=False)
    assert trainer.precision == "bf16-mixed"
    assert not any(isinstance(c, ProgressBar) for c in trainer.callbacks)


def test_a_trainer_or_callback_argument_refused_by_its_class_is_a_config_error(tmp_path):
    cfg, callbacks = build_callbacks(tmp_path, "trainer.precision=bogus")
    with pytest.raises(ConfigError, match="^trainer: Precision 'bogus' is invalid"):
        make_trainer(cfg, resolve_device("cpu"), list(callbacks.values()), logger=False)
    with pytest.raises(ConfigError, match="^callbacks.train_metrics: .*unexpected keyword argument 'every'"):
        build_callbacks(tmp_path, "+callbacks.train_metrics.every=3")
