import torch

from liir.algos.controller import LinearSchedule, MultiAgentController, SoftmaxPolicy
from liir.data.datamodule import RolloutStream
from liir.data.runner import EpisodeRunner, summarise


def make_policy(env, epsilon=1.0):
    info = env.info
    controller = MultiAgentController(info.obs_shape, info.n_agents, info.n_actions, 8, True, True)
    return SoftmaxPolicy(controller, LinearSchedule(epsilon, epsilon, 1), mask_before_softmax=False)


def test_rollout_shapes_masks_and_stats(pursuit_env):
    env = pursuit_env(batch_size=3, episode_limit=4)
    rollout = EpisodeRunner(env).run(make_policy(env), test_mode=False)
    batch = rollout.batch
    assert batch.obs.shape == (3, 5, 2, 2) and batch.state.shape == (3, 5, 3)
    assert batch.avail_actions.shape == (3, 5, 2, 3) and batch.actions.shape == (3, 5, 2)
    assert batch.reward.shape == (3, 4) and batch.mask.all() and batch.filled.all()
    assert not batch.terminated.any()  # the pursuit time limit is not terminal
    assert batch.extras["action_label"].shape == (3, 4, 2)
    assert rollout.env_steps == 12
    assert rollout.stats["ep_length"].tolist() == [4, 4, 4]
    assert torch.allclose(rollout.stats["return"], batch.reward.sum(1))
    metrics = summarise([rollout.stats], "test_")
    assert metrics["test_ep_length_mean"] == 4.0 and metrics["test_n_episodes"] == 3.0


def test_stored_transitions_replay_the_environment(pursuit_env):
    env = pursuit_env(batch_size=2, episode_limit=5)
    batch = EpisodeRunner(env).run(make_policy(env), test_mode=False).batch
    values = (batch.obs[:, 0, :, 0] * 10).round().long()
    deltas = batch.actions[:, :-1] - 1
    for t in range(5):  # obs of slot t+1 = obs of slot t moved by the stored joint action
        values = values + deltas[:, t]
        assert torch.equal((batch.obs[:, t + 1, :, 0] * 10).round().long(), values)


def test_stream_plays_the_policy_as_it_is_at_each_request(pursuit_env):
    env = pursuit_env(batch_size=2)
    policy = make_policy(env)
    starts = []
    original_start = policy.start_episodes

    def counting_start(batch_size: int) -> None:
        starts.append(batch_size)
        original_start(batch_size)

    policy.start_episodes = counting_start
    stream = iter(RolloutStream(EpisodeRunner(env), policy))
    next(stream)
    assert starts == [2]  # nothing is collected ahead of the request
    with torch.no_grad():  # the learner updates the policy in place between requests
        for p in policy.controller.parameters():
            p.zero_()
    rollout = next(stream)
    assert starts == [2, 2]
    logits = policy.controller.unroll(rollout.batch)
    assert torch.equal(logits, torch.zeros_like(logits))  # the second rollout was played by the updated agent
