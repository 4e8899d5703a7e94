import pytest
import torch

from liir.data.episode import EpisodeBatch
from liir.data.replay import EpisodeReplayBuffer
from liir.envs.base import EnvInfo

INFO = EnvInfo(
    n_agents=2, n_actions=3, obs_shape=4, state_shape=5, episode_limit=6, batch_size=2, device=torch.device("cpu")
)


def episodes(ids: list[int], lengths: list[int], max_steps: int = 6) -> EpisodeBatch:
    """Episodes whose every stored value is their id (and zero-padded after their length)."""
    b = len(ids)
    batch = EpisodeBatch.empty(b, max_steps, 2, 4, 5, 3, "cpu")
    for i, (ep_id, n) in enumerate(zip(ids, lengths, strict=True)):
        batch.obs[i, : n + 1] = ep_id
        batch.state[i, : n + 1] = ep_id
        batch.avail_actions[i, : n + 1] = True
        batch.actions[i, : n + 1] = ep_id % 3
        batch.filled[i, : n + 1] = True
        batch.reward[i, :n] = ep_id
        batch.mask[i, :n] = True
        batch.terminated[i, n - 1] = True
    batch.extras["label"] = batch.reward.long() * 10
    return batch


def ids_of(batch: EpisodeBatch) -> list[int]:
    return [int(x) for x in batch.obs[:, 0, 0, 0]]


def assert_whole_episodes(batch: EpisodeBatch, lengths: dict[int, int]) -> None:
    """Every sampled episode carries all of its own fields, its mask and filled flags, and zero padding."""
    for i, ep_id in enumerate(ids_of(batch)):
        n = lengths[ep_id]
        assert batch.mask[i].tolist() == [t < n for t in range(batch.max_steps)]
        assert batch.filled[i].tolist() == [t <= n for t in range(batch.max_steps + 1)]
        assert batch.terminated[i].nonzero().flatten().tolist() == [n - 1]
        assert bool((batch.obs[i, : n + 1] == ep_id).all()) and bool((batch.obs[i, n + 1 :] == 0).all())
        assert bool((batch.state[i, : n + 1] == ep_id).all()) and bool(batch.avail_actions[i, : n + 1].all())
        assert bool((batch.reward[i, :n] == ep_id).all()) and bool((batch.reward[i, n:] == 0).all())
        assert bool((batch.extras["label"][i, :n] == 10 * ep_id).all())
        assert bool((batch.actions[i, : n + 1] == ep_id % 3).all())


def test_samples_are_whole_episodes_truncated_to_the_longest():
    buffer = EpisodeReplayBuffer(INFO, capacity=8)
    lengths = {1: 2, 2: 6, 3: 3, 4: 1}
    buffer.insert(episodes([1, 2], [2, 6]))
    buffer.insert(episodes([3, 4], [3, 1], max_steps=3))  # a shorter batch is zero-padded to the limit
    assert len(buffer) == 4 and buffer.can_sample(4) and not buffer.can_sample(5)
    sample = buffer.sample(4)
    assert sorted(ids_of(sample)) == [1, 2, 3, 4]  # distinct episodes
    assert sample.max_steps == 6
    assert_whole_episodes(sample, lengths)
    for _ in range(20):
        small = buffer.sample(2)
        assert small.max_steps == max(lengths[i] for i in ids_of(small))
        assert_whole_episodes(small, lengths)


def test_ring_buffer_overwrites_the_oldest_episodes():
    buffer = EpisodeReplayBuffer(INFO, capacity=5)
    lengths = {i: 1 + i % 6 for i in range(1, 9)}
    for start in (1, 3, 5, 7):
        buffer.insert(episodes([start, start + 1], [lengths[start], lengths[start + 1]]))
    assert len(buffer) == 5 and buffer.pos == 3
    sample = buffer.sample(5)
    assert sorted(ids_of(sample)) == [4, 5, 6, 7, 8]
    assert_whole_episodes(sample, lengths)


def test_sampling_is_uniform_over_stored_episodes():
    buffer = EpisodeReplayBuffer(INFO, capacity=4)
    buffer.insert(episodes([1, 2], [1, 1]))
    buffer.insert(episodes([3, 4], [1, 1]))
    counts = torch.zeros(5)
    for _ in range(400):
        counts[ids_of(buffer.sample(1))] += 1
    assert counts[0] == 0 and bool((counts[1:] > 60).all())


def test_state_dict_round_trip_keeps_episodes_and_ring_position():
    buffer = EpisodeReplayBuffer(INFO, capacity=3)
    buffer.insert(episodes([1, 2], [2, 4]))
    state = buffer.state_dict()
    assert state["episodes"]["obs"].shape[0] == 2  # only the filled slots are saved
    restored = EpisodeReplayBuffer(INFO, capacity=3)
    restored.load_state_dict(state)
    assert (len(restored), restored.pos) == (2, 2)
    assert_whole_episodes(restored.sample(2), {1: 2, 2: 4})
    restored.insert(episodes([3, 4], [1, 1]))
    assert sorted(ids_of(restored.sample(3))) == [2, 3, 4]


def test_errors_name_the_bad_sizes():
    buffer = EpisodeReplayBuffer(INFO, capacity=2)
    with pytest.raises(ValueError, match="cannot sample 1 episodes from a replay buffer holding 0"):
        buffer.sample(1)
    with pytest.raises(ValueError, match="cannot insert 3 episodes into a replay buffer of 2 episodes"):
        buffer.insert(episodes([1, 2, 3], [1, 1, 1]))
    full = EpisodeReplayBuffer(INFO, capacity=3)
    full.insert(episodes([1, 2], [1, 1]))
    full.insert(episodes([3], [1]))
    with pytest.raises(ValueError, match="holds 3 episodes; buffer_size=2 is too small"):
        buffer.load_state_dict(full.state_dict())
