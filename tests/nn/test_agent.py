import torch

from liir.nn.agent import RNNAgent
from liir.nn.critics import MLPCritic


def test_parameter_count_matches_pymarl_agent_on_3m():
    # liir-reference.md §1.3: 3m agent input 42, 9 actions, hidden 64 -> 28,297 parameters
    agent = RNNAgent(42, 9, 64)
    assert sum(p.numel() for p in agent.parameters()) == 28297


def test_unroll_equals_stepping_through_time():
    agent = RNNAgent(7, 4, 16)
    inputs = torch.randn(3, 5, 2, 7)
    unrolled = agent.unroll(inputs)
    assert unrolled.shape == (3, 5, 2, 4)
    h = agent.initial_hidden(3, 2)
    for t in range(5):
        out, h = agent.step(inputs[:, t], h)
        assert torch.allclose(out, unrolled[:, t], atol=1e-6)


def test_mlp_critic_shapes():
    critic = MLPCritic(10, 32)
    assert critic(torch.randn(2, 6, 3, 10)).shape == (2, 6, 3, 1)
