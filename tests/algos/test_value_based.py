"""The value-based family (IQL, VDN, QMIX): action selection, targets, target-network schedule, entry point."""

from __future__ import annotations

import functools
from itertools import combinations
from pathlib import Path
from unittest.mock import patch

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from tests.configs import compose_cfg
from tests.fitting import fit
from tests.runs import read_csv, train_in_process
from torch import nn

from liir.algos.controller import epsilon_greedy
from liir.algos.value_based import QLearner
from liir.build import make_datamodule, make_module
from liir.config import ConfigError, validate
from liir.data.datamodule import OffPolicyDataModule
from liir.data.runner import EpisodeRunner
from liir.nn.mixers import QMixer, VDNMixer
from liir.ops import greedy_next_values, lambda_returns

MIXERS = {
    "iql": None,
    "vdn": functools.partial(VDNMixer),
    "qmix": functools.partial(QMixer, mixing_embed_dim=8, hypernet_layers=2, hypernet_embed=16),
}


def q_hparams(**overrides) -> dict:
    hp = dict(
        optimizer="rmsprop",
        lr=5e-4,
        optim_alpha=0.99,
        optim_eps=1e-5,
        grad_norm_clip=10.0,
        gamma=0.99,
        td_lambda=0.0,
        double_q=True,
        target_update_interval=200,
        epsilon_start=1.0,
        epsilon_finish=0.05,
        epsilon_anneal_time=50000,
        rnn_hidden_dim=8,
        obs_agent_id=True,
        obs_last_action=True,
    )
    return {**hp, **overrides}


# --- action selection and ε ---


def test_epsilon_greedy_never_picks_unavailable_actions_and_explores_uniformly():
    q = torch.tensor([10.0, 5.0, 1.0, 0.0]).expand(2000, 3, 4)
    avail = torch.tensor([False, True, True, True]).expand(2000, 3, 4)
    assert bool((epsilon_greedy(q, avail, 0.0) == 1).all())  # best *available* action
    explored = epsilon_greedy(q, avail, 1.0)
    counts = torch.bincount(explored.flatten(), minlength=4).float() / explored.numel()
    assert counts[0] == 0 and torch.allclose(counts[1:], torch.full((3,), 1 / 3), atol=0.03)
    half = epsilon_greedy(q, avail, 0.5)
    assert (half == 1).float().mean().item() == pytest.approx(0.5 + 0.5 / 3, abs=0.02)


def test_epsilon_anneals_from_1_to_0_05_over_50k_env_steps_and_tests_are_greedy(pursuit_env):
    cfg = compose_cfg("algo=qmix")
    env = pursuit_env(batch_size=3)
    module = make_module(cfg, env)
    for t_env, eps in [(0, 1.0), (25000, 0.525), (50000, 0.05), (200000, 0.05)]:
        module.policy.set_t_env(t_env)
        assert module.policy.epsilon == pytest.approx(eps)
    module.policy.set_t_env(0)
    with torch.no_grad():
        module.controller.agent.fc2.bias.copy_(torch.arange(float(env.info.n_actions)))
        module.controller.agent.fc2.weight.zero_()
    rollout = EpisodeRunner(env).run(module.policy, test_mode=True)
    assert bool((rollout.batch.actions[:, :-1][rollout.batch.mask] == env.info.n_actions - 1).all())


# --- targets ---


def test_double_q_takes_the_online_argmax_and_the_target_value():
    online = torch.tensor([[1.0, 5.0, 9.0], [4.0, 3.0, 0.0]])
    target = torch.tensor([[7.0, 2.0, 100.0], [-1.0, 6.0, 8.0]])
    avail = torch.tensor([[True, True, False], [True, True, True]])  # agent 0's online best is unavailable
    assert greedy_next_values(target, avail, online).tolist() == [2.0, -1.0]
    assert greedy_next_values(target, avail, None).tolist() == [7.0, 8.0]  # plain max of the target net
    padding = torch.zeros(2, 3, dtype=torch.bool)
    assert greedy_next_values(target, padding, online).tolist() == [0.0, 0.0]
    assert greedy_next_values(target, padding, None).tolist() == [0.0, 0.0]


def pymarl2_td_lambda_targets(
    rewards: torch.Tensor, terminated: torch.Tensor, mask: torch.Tensor, values: torch.Tensor, gamma: float, lam: float
) -> torch.Tensor:
    """pymarl2's TD(λ) recursion (src/utils/rl_utils.py, build_td_lambda_targets), restated for these tests:
    ``values`` (B, T+1, K) are the bootstrap values at every slot; the last slot's is kept only for episodes
    that did not terminate, and the λ-part is carried back through padded steps unmasked."""
    flags = [x.unsqueeze(-1).to(values.dtype) for x in (rewards, terminated, mask)]
    reward, done, real = flags
    ret = values[:, -1] * (1 - done.sum(1))
    out = []
    for t in reversed(range(rewards.shape[1])):
        one_step = reward[:, t] + (1 - lam) * gamma * values[:, t + 1] * (1 - done[:, t])
        ret = lam * gamma * ret + real[:, t] * one_step
        out.append(ret)
    return torch.stack(out[::-1], dim=1)


def bootstrap_values(module: QLearner, batch, online: torch.Tensor) -> torch.Tensor:
    """Q_target(s_t, argmax_u Q_online(s_t, u)) at every slot, mixed by the target mixer: computed by hand."""
    target_qs = module.target_controller.unroll(batch)
    best = online.masked_fill(~batch.avail_actions, -torch.inf).argmax(-1, keepdim=True)
    values = target_qs.gather(-1, best).squeeze(-1)
    return module.target_mixer(values, batch.state) if module.target_mixer is not None else values


@pytest.mark.parametrize("algo", ["iql", "vdn", "qmix"])
def test_td_targets_bootstrap_from_the_target_networks_except_after_terminal(pursuit_env, algo):
    env = pursuit_env(batch_size=4, episode_limit=5)
    module = QLearner(env.info, MIXERS[algo], **q_hparams(gamma=0.5))
    batch = EpisodeRunner(env).run(module.policy, test_mode=False).batch.truncated()
    batch.terminated[0, 2] = True  # bootstraps are cut where terminated
    with torch.no_grad():
        online = module.controller.unroll(batch)
        targets = module.td_targets(batch, online)
        next_q = bootstrap_values(module, batch, online)[:, 1:]
    expected = batch.reward.unsqueeze(-1) + 0.5 * next_q * (~batch.terminated).unsqueeze(-1)
    assert targets.shape == (4, batch.max_steps, 2 if algo == "iql" else 1)
    real = batch.mask.unsqueeze(-1).expand_as(targets)
    assert torch.allclose(targets[real], expected[real])
    assert torch.allclose(targets[0, 2], batch.reward[0, 2].expand_as(targets[0, 2]))


def one_step_targets(module: QLearner, batch, online: torch.Tensor) -> torch.Tensor:
    """The one-step targets as QLearner computed them before TD(λ) (commit 0d4d7f7), kept here as the reference."""
    target_qs = module.target_controller.unroll(batch)[:, 1:]
    next_values = greedy_next_values(target_qs, batch.avail_actions[:, 1:], online[:, 1:])
    if module.target_mixer is not None:
        next_values = module.target_mixer(next_values, batch.state[:, 1:])
    not_terminal = (~batch.terminated).unsqueeze(-1).to(next_values.dtype)
    return batch.reward.unsqueeze(-1) + module.hparams.gamma * not_terminal * next_values


def end_early(batch, lengths: list[int | None]):
    """``batch`` with episode i terminated after ``lengths[i]`` transitions (None: left to run to the limit) and
    zero-padded after, as the runner stores episodes that end early (pursuit's never do)."""
    for i, n in enumerate(lengths):
        if n is not None:
            batch.terminated[i, n - 1] = True
            for x in (batch.mask, batch.reward, batch.terminated):
                x[i, n:] = 0
            for x in (batch.obs, batch.state, batch.avail_actions, batch.filled):
                x[i, n + 1 :] = 0
    return batch


@pytest.mark.parametrize("algo", ["iql", "qmix"])
def test_lambda_0_gives_exactly_the_one_step_targets(pursuit_env, algo):
    env = pursuit_env(batch_size=4, episode_limit=6)
    module = QLearner(env.info, MIXERS[algo], **q_hparams(td_lambda=0.0))
    batch = end_early(EpisodeRunner(env).run(module.policy, test_mode=False).batch, [2, None, 5, 1])
    with torch.no_grad():
        online = module.controller.unroll(batch)
        targets, reference = module.td_targets(batch, online), one_step_targets(module, batch, online)
    real = batch.mask.unsqueeze(-1).expand_as(targets)
    assert torch.equal(targets[real], reference[real])  # bit for bit where the loss reads them


@pytest.mark.parametrize("algo", ["iql", "qmix"])
def test_td_lambda_targets_are_pymarl2s(pursuit_env, algo):
    """On episodes that terminate or run to the longest length (SMAC's), liir's λ-returns are pymarl2's targets."""
    env = pursuit_env(batch_size=4, episode_limit=6)
    module = QLearner(env.info, MIXERS[algo], **q_hparams(gamma=0.9, td_lambda=0.6))
    batch = end_early(EpisodeRunner(env).run(module.policy, test_mode=False).batch, [2, None, 5, 1])
    with torch.no_grad():
        online = module.controller.unroll(batch)
        targets = module.td_targets(batch, online)
        values = bootstrap_values(module, batch, online)
    expected = pymarl2_td_lambda_targets(batch.reward, batch.terminated, batch.mask, values, 0.9, 0.6)
    real = batch.mask.unsqueeze(-1).expand_as(targets)
    assert torch.allclose(targets[real], expected[real], atol=1e-6)


def test_td_lambda_targets_by_hand():
    """One terminated 3-step episode and one cut by the time limit after 2, γ = 0.5, λ = 0.6, bootstrap values V."""
    rewards = torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 0.0]])
    values = torch.tensor([[0.0, 10.0, 20.0, 99.0], [0.0, 4.0, 8.0, 99.0]]).unsqueeze(-1)  # slot 3 of row 1: padding
    terminated = torch.tensor([[False, False, True], [False, False, False]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    g = lambda_returns(rewards, values, terminated, mask, 0.5, 0.6).squeeze(-1)
    g2 = 3.0  # terminal: no bootstrap
    g1 = 2.0 + 0.5 * (0.4 * 20.0 + 0.6 * g2)  # 2 + 0.5 * (8 + 1.8) = 6.9
    g0 = 1.0 + 0.5 * (0.4 * 10.0 + 0.6 * g1)  # 1 + 0.5 * (4 + 4.14) = 5.07
    h1 = 1.0 + 0.5 * 8.0  # the last real step bootstraps from the final state alone: 5
    h0 = 1.0 + 0.5 * (0.4 * 4.0 + 0.6 * h1)  # 1 + 0.5 * (1.6 + 3) = 3.3
    assert g[0].tolist() == pytest.approx([g0, g1, g2]) and g[1, :2].tolist() == pytest.approx([h0, h1])


# --- updates and the target schedule ---


class RecordTargetUpdates(Callback):
    def __init__(self) -> None:
        self.updates: list[int] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if module.last_target_update_episode not in (0, *self.updates):
            self.updates.append(module.last_target_update_episode)
            online, target = module.controller.state_dict(), module.target_controller.state_dict()
            assert all(torch.equal(online[k], target[k]) for k in online)


def fit_replay(module, env, t_max: int, batch_size: int = 4, updates_per_rollout: int = 1, callbacks=()):
    """Fit from a small replay buffer; returns the DataModule and the last step's outputs."""
    datamodule = OffPolicyDataModule(
        env,
        module.policy,
        buffer_size=16,
        batch_size=batch_size,
        updates_per_rollout=updates_per_rollout,
        save_replay_buffer=False,
    )
    return datamodule, fit(module, env, t_max, datamodule, callbacks)


def test_each_rollout_is_followed_by_updates_per_rollout_steps_on_fresh_samples(pursuit_env):
    env = pursuit_env(batch_size=8, episode_limit=3)
    module = QLearner(env.info, MIXERS["qmix"], **q_hparams())
    datamodule = OffPolicyDataModule(
        env, module.policy, buffer_size=16, batch_size=4, updates_per_rollout=3, save_replay_buffer=False
    )
    storage = datamodule.buffer.storage
    with (
        patch.object(storage, "index", wraps=storage.index) as draws,
        patch.object(module, "learn", wraps=module.learn) as learn,
        patch.object(module, "train_on", wraps=module.train_on) as train_on,
    ):
        fit(module, env, 60, datamodule)
    rollouts = [call.args[0] for call in learn.call_args_list]
    assert len(rollouts) >= 2 and train_on.call_count == draws.call_count == 3 * len(rollouts)
    assert all(call.args[0].batch_size == 4 for call in train_on.call_args_list)
    params = module.learned_parameters()
    assert module.optimizers().optimizer.state[params[0]]["step"] == 3 * len(rollouts)  # optimiser steps
    for k in range(len(rollouts)):  # each update of a round draws its own episodes
        picked = [sorted(call.args[0].tolist()) for call in draws.call_args_list[3 * k : 3 * k + 3]]
        assert all(a != b for a, b in combinations(picked, 2))
    # the clock counts collected episodes once, whatever the number of updates
    assert module.t_env == sum(r.env_steps for r in rollouts) and module.episodes == 8 * len(rollouts)


def test_adam_is_built_on_request_with_torchs_betas(pursuit_env):
    env = pursuit_env()
    rmsprop = QLearner(env.info, MIXERS["vdn"], **q_hparams()).configure_optimizers()
    adam = QLearner(env.info, MIXERS["qmix"], **q_hparams(optimizer="adam", lr=1e-3, optim_eps=1e-8))
    optimizer = adam.configure_optimizers()
    assert isinstance(rmsprop, torch.optim.RMSprop) and type(optimizer) is torch.optim.Adam
    group = optimizer.param_groups[0]
    assert (group["lr"], group["eps"], group["betas"]) == (1e-3, 1e-8, (0.9, 0.999))
    assert {id(p) for p in group["params"]} == {id(p) for p in adam.learned_parameters()}
    assert all(isinstance(p, nn.Parameter) for p in group["params"])


def test_target_networks_are_hard_updated_every_200_episodes(pursuit_env):
    env = pursuit_env(batch_size=10, episode_limit=2)
    module = QLearner(env.info, MIXERS["qmix"], **q_hparams())
    recorder = RecordTargetUpdates()
    fit_replay(module, env, t_max=2 * 10 * 45, callbacks=[recorder])
    assert module.episodes == 450
    assert recorder.updates == [200, 400]
    online, target = module.mixer.state_dict(), module.target_mixer.state_dict()
    assert not all(torch.equal(online[k], target[k]) for k in online)  # 50 episodes of updates since


@pytest.mark.parametrize("algo", ["iql", "vdn", "qmix"])
def test_updates_start_once_the_buffer_holds_a_batch_and_train_agent_and_mixer(pursuit_env, algo):
    env = pursuit_env(batch_size=2, episode_limit=3)
    module = QLearner(env.info, MIXERS[algo], **q_hparams())
    before = {k: v.clone() for k, v in module.state_dict().items()}
    datamodule, outputs = fit_replay(module, env, t_max=1, batch_size=5)
    assert module.episodes == 6 and module.t_env == 18 and len(datamodule.buffer) == 6  # 3 rollouts, 1 update
    assert outputs["rollout"].batch.batch_size == 6
    changed = {k.split(".")[0] for k, v in module.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == ({"controller", "mixer"} if algo == "qmix" else {"controller"})  # VDN's sum has no weights
    assert {"loss", "td_error_abs", "q_taken_mean", "target_mean", "grad_norm", "epsilon"} == set(outputs["metrics"])
    assert any(k.startswith("target_controller.") for k in module.state_dict())
    assert any(k.startswith("target_mixer.") for k in module.state_dict()) == (algo == "qmix")


# --- configuration ---


@pytest.mark.parametrize("algo, mixer", [("iql", None), ("vdn", VDNMixer), ("qmix", QMixer)])
def test_configs_carry_pymarls_settings(pursuit_env, algo, mixer):
    cfg = compose_cfg(f"algo={algo}")
    validate(cfg)
    assert cfg.batch_size_run == 1
    assert (cfg.algo.datamodule.buffer_size, cfg.algo.datamodule.batch_size) == (5000, 32)
    assert (cfg.algo.target_update_interval, cfg.algo.lr, cfg.algo.gamma) == (200, 0.0005, 0.99)
    env = pursuit_env()
    module = make_module(cfg, env)
    datamodule = make_datamodule(cfg, env, module.policy)
    assert (module.mixer is None) if mixer is None else isinstance(module.mixer, mixer)
    assert isinstance(datamodule, OffPolicyDataModule) and datamodule.buffer.capacity == 5000
    if algo == "qmix":
        assert module.mixer.embed_dim == 32 and module.mixer.hyper_w1[0].out_features == 64


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["algo.datamodule.buffer_size=16"],
            "algo.datamodule.buffer_size=16 is not allowed: it must be at least algo.datamodule.batch_size=32",
        ),
        (["algo.datamodule.buffer_size=40", "batch_size_run=64"], "at least batch_size_run=64"),
        (["algo.datamodule.batch_size=0"], "algo.datamodule.batch_size=0 is not allowed"),
        (["algo.target_update_interval=0"], "algo.target_update_interval=0 is not allowed"),
        (["algo.datamodule.updates_per_rollout=0"], "algo.datamodule.updates_per_rollout=0 is not allowed"),
        (["algo.td_lambda=1.5"], "algo.td_lambda=1.5 is not allowed: it must lie in"),
        (["algo.mixer.hypernet_layers=3"], "algo.mixer.hypernet_layers=3 is not allowed; use one of 1, 2"),
    ],
)
def test_bad_replay_and_mixer_settings_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(compose_cfg("algo=qmix", *overrides))


# --- the Hydra entry point ---

SMALL_REPLAY = ["algo.datamodule.batch_size=4", "algo.datamodule.buffer_size=16", "algo.target_update_interval=8"]


def load_ckpt(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


@pytest.mark.parametrize("algo", ["qmix"])  # IQL and VDN: the in-process update test and the replay resume below
def test_short_pursuit_run_and_resume(tmp_path, algo):
    train_in_process(tmp_path / "first", f"algo={algo}", *SMALL_REPLAY)
    ckpt = load_ckpt(tmp_path / "first")
    assert ckpt["liir_module"]["t_env"] >= 320 and ckpt["liir_module"]["extra"]["last_target_update_episode"] > 0
    assert any(k.startswith("target_controller.") for k in ckpt["state_dict"])
    assert any(k.startswith("target_mixer.") for k in ckpt["state_dict"]) == (algo == "qmix")
    assert "replay_buffer" not in ckpt["OffPolicyDataModule"]  # saving the buffer is off by default
    rows = read_csv(tmp_path / "first" / "metrics.csv")
    assert {"loss", "td_error_abs", "q_taken_mean", "target_mean", "grad_norm", "epsilon"} <= set(rows[0])

    ckpt_path = tmp_path / "first" / "checkpoints" / "last.ckpt"
    train_in_process(tmp_path / "resumed", f"algo={algo}", *SMALL_REPLAY, "t_max=480", f"ckpt_path={ckpt_path}")
    steps = [float(r["env_steps"]) for r in read_csv(tmp_path / "resumed" / "metrics.csv")]
    assert min(steps) > 320 and max(steps) >= 480


@pytest.mark.parametrize("updates", [1, 2])
def test_resume_with_the_saved_replay_buffer_continues_exactly(tmp_path, updates):
    run = [
        "algo=vdn",
        *SMALL_REPLAY,
        "algo.datamodule.save_replay_buffer=true",
        f"algo.datamodule.updates_per_rollout={updates}",
    ]
    train_in_process(tmp_path / "straight", *run, "t_max=400")
    train_in_process(tmp_path / "first", *run, "t_max=160")
    saved = load_ckpt(tmp_path / "first")["OffPolicyDataModule"]["replay_buffer"]
    assert saved["size"] == 16 and saved["episodes"]["obs"].shape == (16, 11, 2, 2)
    ckpt_path = tmp_path / "first" / "checkpoints" / "last.ckpt"
    train_in_process(tmp_path / "resumed", *run, "t_max=400", f"ckpt_path={ckpt_path}")
    straight, again = load_ckpt(tmp_path / "straight"), load_ckpt(tmp_path / "resumed")
    assert again["liir_module"]["t_env"] == straight["liir_module"]["t_env"] == 400
    assert all(torch.equal(straight["state_dict"][k], again["state_dict"][k]) for k in straight["state_dict"])
    buffers = [c["OffPolicyDataModule"]["replay_buffer"] for c in (straight, again)]
    assert all(torch.equal(buffers[0]["episodes"][k], buffers[1]["episodes"][k]) for k in buffers[0]["episodes"])


def test_pymarl2_qmix_trains(tmp_path):
    """pymarl2's settings end to end on pursuit (the buffer fills with 128 episodes first), two updates a rollout."""
    run = ["experiment=pymarl2_qmix", "batch_size_run=8", "t_max=1600", "algo.datamodule.updates_per_rollout=2"]
    train_in_process(tmp_path, *run)
    ckpt = load_ckpt(tmp_path)
    assert ckpt["liir_module"]["t_env"] >= 1600 and ckpt["liir_module"]["episodes"] >= 160
    assert ckpt["hyper_parameters"]["optimizer"] == "adam" and ckpt["hyper_parameters"]["td_lambda"] == 0.6
    (adam,) = ckpt["optimizer_states"]
    steps = {int(state["step"]) for state in adam["state"].values()}
    assert "exp_avg_sq" in adam["state"][0] and steps == {2 * (ckpt["liir_module"]["episodes"] // 8 - 15)}
    rows = [r for r in read_csv(tmp_path / "metrics.csv") if r["loss"]]
    assert rows and all(float(r["epsilon"]) > 0.9 for r in rows)  # ε anneals over 100k steps


def test_tiny_smac_run_resumes_with_its_replay_buffer(tmp_path):
    smac = [
        "env=smac_3m",
        "env.env_args.sim.compile=false",
        "algo=qmix",
        *SMALL_REPLAY,
        "algo.datamodule.save_replay_buffer=true",
        "batch_size_run=2",
        "test_interval=200",
        "log_interval=100",
        "save_model_interval=200",
        "test_nepisode=2",
    ]
    train_in_process(tmp_path / "first", *smac, "t_max=200")
    before = load_ckpt(tmp_path / "first")
    saved = before["OffPolicyDataModule"]["replay_buffer"]
    assert saved["size"] == before["liir_module"]["episodes"] and saved["episodes"]["obs"].shape[1:] == (61, 3, 30)
    ckpt_path = tmp_path / "first" / "checkpoints" / "last.ckpt"
    train_in_process(tmp_path / "resumed", *smac, "t_max=400", f"ckpt_path={ckpt_path}")
    after = load_ckpt(tmp_path / "resumed")
    new_episodes = after["liir_module"]["episodes"] - before["liir_module"]["episodes"]
    assert after["OffPolicyDataModule"]["replay_buffer"]["size"] == min(16, saved["size"] + new_episodes)
    assert any(r["test_battle_won_mean"] for r in read_csv(tmp_path / "resumed" / "metrics.csv"))
