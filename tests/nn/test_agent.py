import torch

from liir.nn.agent import RNNAgent, cat_steps
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


def test_unroll_of_ragged_sequences_steps_only_their_real_slots():
    """With ``steps`` the running rows are computed as without it; padded slots are 0."""
    torch.manual_seed(0)
    agent = RNNAgent(7, 4, 16).double()
    inputs = torch.randn(4, 9, 3, 7, dtype=torch.float64)
    steps = torch.tensor([5, 9, 1, 5])  # unsorted, with ties
    real = (torch.arange(9) < steps.unsqueeze(1))[..., None, None]
    full, ragged = agent.unroll(inputs), agent.unroll(inputs, steps)
    assert torch.allclose(ragged * real, full * real, rtol=0, atol=1e-12)
    assert not ragged[~real.expand_as(ragged)].any()
    grads = [torch.autograd.grad((out * real).sum(), list(agent.parameters())) for out in (full, ragged)]
    for g_full, g_ragged in zip(*grads, strict=True):
        assert torch.allclose(g_ragged, g_full, rtol=1e-10, atol=1e-12)


def test_concatenated_steps_differentiate_twice_like_torch_cat():
    """The unroll's concatenation keeps first and second derivatives (LIIR's η step takes both)."""
    steps = [torch.randn(r, 2, dtype=torch.float64, requires_grad=True) for r in (3, 3, 2, 1)]
    assert torch.equal(cat_steps(steps), torch.cat(steps))
    assert torch.autograd.gradgradcheck(lambda *xs: cat_steps(list(xs)).pow(3), steps)


def test_mlp_critic_shapes():
    critic = MLPCritic(10, 32)
    assert critic(torch.randn(2, 6, 3, 10)).shape == (2, 6, 3, 1)
