import pytest
import torch
from tests.fitting import fit

from liir.algos.actor_critic import COMA, CentralV, IndependentActorCritic
from liir.algos.base import NonFiniteLossError
from liir.ops import counterfactual_baseline


@pytest.mark.parametrize("mode, critic_steps", [("seq", 6), ("batch", 1)])
def test_one_update_counts_critic_steps_and_fires_target_updates(pursuit_env, ac_hparams, mode, critic_steps):
    env = pursuit_env(batch_size=2, episode_limit=6)
    module = CentralV(env.info, **{**ac_hparams, "critic_train_mode": mode})
    before = {k: v.clone() for k, v in module.state_dict().items()}
    fit(module, env)
    assert module.t_env == 12 and module.critic_fitter.critic_training_steps == critic_steps
    assert module.critic_fitter.last_target_update_step == (4 if mode == "seq" else 0)
    changed = {k.split(".")[0] for k, v in module.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == ({"controller", "critic", "target_critic"} if mode == "seq" else {"controller", "critic"})


def test_iac_critic_gives_one_value_per_agent(pursuit_env, ac_hparams):
    env = pursuit_env(batch_size=2, episode_limit=6)
    module = IndependentActorCritic(env.info, **ac_hparams)
    outputs = fit(module, env)
    assert module.critic(module.critic_inputs(outputs["rollout"].batch)).shape == (2, 7, 2, 1)
    assert outputs["metrics"]["epsilon"] == pytest.approx(0.5)


def test_non_finite_loss_stops_with_a_clear_error(pursuit_env, ac_hparams):
    module = CentralV(pursuit_env().info, **ac_hparams)
    params = list(module.critic.parameters())
    optimizer = torch.optim.SGD(params, lr=0.1)
    with pytest.raises(NonFiniteLossError, match="critic loss is nan at t_env=0"):
        module.optimise(optimizer, torch.tensor(float("nan")), params, 10.0, "critic")


def test_coma_baseline_is_the_policy_average_of_q_and_its_advantage_has_zero_mean_under_pi():
    q = torch.randn(5, 3, 4)
    probs = torch.softmax(torch.randn(5, 3, 4), -1)
    baseline = counterfactual_baseline(q, probs)
    for b in range(5):
        for i in range(3):
            expected = sum(float(probs[b, i, a]) * float(q[b, i, a]) for a in range(4))
            assert float(baseline[b, i]) == pytest.approx(expected, rel=1e-5)
    advantages = q - baseline.unsqueeze(-1)  # the advantage of every action of agent i
    torch.testing.assert_close((probs * advantages).sum(-1), torch.zeros(5, 3), atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", ["seq", "batch"])
def test_coma_critic_gives_q_per_action_and_trains_on_the_taken_ones(pursuit_env, ac_hparams, mode):
    env = pursuit_env(batch_size=2, episode_limit=6)
    module = COMA(env.info, **{**ac_hparams, "critic_train_mode": mode, "mask_before_softmax": False})
    outputs = fit(module, env)
    assert module.critic(module.critic_inputs(outputs["rollout"].batch)).shape == (2, 7, 2, 3)
    assert module.critic_fitter.critic_training_steps == (6 if mode == "seq" else 1)
    assert {"critic_loss", "pg_loss", "advantage_mean"} <= set(outputs["metrics"])
