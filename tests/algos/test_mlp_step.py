"""The hand-written ``seq`` critic step against the autograd loop it replaces (kept here, not in the package)."""

import copy

import pytest
import torch
from torch import nn

from liir.algos.base import NonFiniteLossError, rmsprop
from liir.algos.critic_fitting import CriticFitter, CriticOptimiser, mlp_forward
from liir.nn.critics import MLPCritic
from liir.nn.liir_critic import LIIRCritic
from liir.ops import masked_mean

B, T, V, IN, A = 3, 7, 2, 9, 4


def autograd_seq_fit(critic: MLPCritic, optimizer, inputs, targets, mask, clip, actions) -> torch.Tensor:
    """pymarl's seq critic as the package ran it before: autograd, ``clip_grad_norm_``, ``optimizer.step()``."""
    outputs = []
    for t in reversed(range(T)):
        if not bool(mask[:, t].any()):
            continue
        out = critic(inputs[:, t])
        value = out.squeeze(-1) if actions is None else out.gather(-1, actions[:, t].unsqueeze(-1)).squeeze(-1)
        loss = masked_mean((value - targets[:, t]) ** 2, mask[:, t].unsqueeze(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(critic.parameters(), clip)
        optimizer.step()
        outputs.append(out.detach())
    return torch.stack(outputs[::-1], dim=1)


def raise_non_finite(value: torch.Tensor, what: str) -> None:
    if not bool(torch.isfinite(value)):
        raise NonFiniteLossError(f"{what} is {float(value)}")


def make_problem(heads: int, clip: float):
    critic = MLPCritic(IN, 16, heads)
    inputs = torch.randn(B, T + 1, V, IN)  # T+1 slots, as the critics' inputs over stored episodes
    targets = 5 * torch.randn(B, T, V)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 4:], mask[1, 2:], mask[:, 6] = False, False, False  # ragged episodes and a step without any
    optimizer = rmsprop(critic.parameters(), 0.01, 0.99, 1e-5)
    fitter = CriticFitter(critic, copy.deepcopy(critic), critic.layers(), "seq", target_update_interval=100)
    return critic, fitter, CriticOptimiser(optimizer, clip, lambda loss: 0.0, raise_non_finite), (inputs, targets, mask)


@pytest.mark.parametrize("heads", [1, A], ids=["value", "q_at_taken_action"])
@pytest.mark.parametrize("clip", [0.5, 1e6], ids=["clipped", "unclipped"])
def test_seq_fit_matches_the_autograd_loop(heads, clip):
    critic, fitter, optimiser, (inputs, targets, mask) = make_problem(heads, clip)
    actions = torch.randint(0, A, (B, T + 1, V)) if heads == A else None
    reference = copy.deepcopy(critic)
    ref_optimizer = rmsprop(reference.parameters(), 0.01, 0.99, 1e-5)
    for _ in range(2):  # the second fit starts from RMSprop state the first one wrote back
        outputs, _ = fitter.fit(inputs, targets, mask, optimiser, actions)
        ref_outputs = autograd_seq_fit(reference, ref_optimizer, inputs, targets, mask, clip, actions)
    active = mask.any(0)
    outputs = outputs[:, active] if heads == A else outputs[:, active].unsqueeze(-1)
    real = mask[:, active, None, None]  # only running episodes' rows are regressed; padded slots read 0
    torch.testing.assert_close(outputs * real, ref_outputs * real, rtol=1e-6, atol=1e-6)
    assert not outputs[~real.expand_as(outputs)].any()
    for p, q in zip(critic.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-6)
        state, ref_state = optimiser.optimizer.state[p], ref_optimizer.state[q]
        torch.testing.assert_close(state["square_avg"], ref_state["square_avg"], rtol=1e-5, atol=1e-9)
        assert float(state["step"]) == float(ref_state["step"]) == 2 * int(active.sum())


def test_non_finite_target_stops_before_the_update_and_leaves_the_critic_whole():
    critic, fitter, optimiser, (inputs, targets, mask) = make_problem(1, 10.0)
    targets[0, 1, 0] = float("nan")  # step 1 comes after steps 5, 4, 3, 2 (backwards in time; 6 has no real row)
    with pytest.raises(NonFiniteLossError, match="critic loss is nan"):
        fitter.fit(inputs, targets, mask, optimiser)
    assert fitter.critic_training_steps == 4
    assert all(bool(torch.isfinite(p).all()) for p in critic.parameters())
    assert float(optimiser.optimizer.state[critic.layers()[0].weight]["step"]) == 4


def test_infinite_gradient_of_a_finite_loss_stops_before_the_update():
    critic, fitter, optimiser, (inputs, targets, mask) = make_problem(1, 10.0)
    first = critic.layers()[0].weight
    with torch.no_grad():
        first[:, 0] = 0.0  # the huge feature adds 0 to the forward (finite loss) but overflows its weight gradient
    inputs[..., 0] = 3e38
    before = [p.detach().clone() for p in critic.parameters()]
    with pytest.raises(NonFiniteLossError, match="critic gradient norm is inf"):
        fitter.fit(inputs, 1e4 * targets, mask, optimiser)
    assert fitter.critic_training_steps == 0
    for p, q in zip(critic.parameters(), before, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_only_plain_rmsprop_over_the_critic_layers_is_accepted():
    critic, fitter, optimiser, (inputs, targets, mask) = make_problem(1, 10.0)
    momentum = torch.optim.RMSprop(critic.parameters(), lr=0.01, momentum=0.9)
    with pytest.raises(ValueError, match="plain RMSprop"):
        fitter.fit(inputs, targets, mask, CriticOptimiser(momentum, 10.0, optimiser.apply, raise_non_finite))
    extra = torch.optim.RMSprop([*critic.parameters(), nn.Parameter(torch.zeros(1))], lr=0.01)
    with pytest.raises(ValueError, match="plain RMSprop"):
        fitter.fit(inputs, targets, mask, CriticOptimiser(extra, 10.0, optimiser.apply, raise_non_finite))


def test_the_fitted_layers_are_the_critics_own_forward_paths():
    x = torch.randn(5, V, IN)
    critic = MLPCritic(IN, 16, A)
    torch.testing.assert_close(mlp_forward(critic.layers(), x), critic(x), rtol=0, atol=0)
    liir_critic = LIIRCritic(IN, V, A, hidden_dim=16)
    proxy = liir_critic.proxy_values(liir_critic.features(x))
    torch.testing.assert_close(mlp_forward(liir_critic.proxy_layers(), x).squeeze(-1), proxy, rtol=0, atol=0)


def test_seq_fit_keeps_the_parameters_precision_under_bf16_autocast():
    """A mixed-precision trainer autocasts the learner; the small per-step updates stay in float32."""
    critic, fitter, optimiser, (inputs, targets, mask) = make_problem(1, 10.0)
    plain = copy.deepcopy(critic)
    plain_fitter = CriticFitter(plain, copy.deepcopy(plain), plain.layers(), "seq", target_update_interval=100)
    plain_optimiser = CriticOptimiser(rmsprop(plain.parameters(), 0.01, 0.99, 1e-5), 10.0, None, raise_non_finite)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs, _ = fitter.fit(inputs, targets.bfloat16(), mask, optimiser)
    plain_outputs, _ = plain_fitter.fit(inputs, targets.bfloat16().float(), mask, plain_optimiser)
    assert outputs.dtype == torch.float32
    torch.testing.assert_close(outputs, plain_outputs, rtol=0, atol=0)
    for p, q in zip(critic.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
