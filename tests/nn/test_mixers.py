import pytest
import torch

from liir.nn.mixers import QMixer, VDNMixer


def make_qmixer(layers: int = 2) -> QMixer:
    return QMixer(n_agents=4, state_dim=7, mixing_embed_dim=32, hypernet_layers=layers, hypernet_embed=64)


@pytest.mark.parametrize("layers", [1, 2])
def test_qmix_is_monotone_in_every_agent_q(layers):
    mixer = make_qmixer(layers)
    for p in mixer.parameters():  # weights of both signs, larger than the default initialisation
        torch.nn.init.normal_(p, std=1.0)
    agent_qs = (torch.randn(64, 5, 4) * 10).requires_grad_(True)
    q_tot = mixer(agent_qs, torch.randn(64, 5, 7))
    assert q_tot.shape == (64, 5, 1)
    (grad,) = torch.autograd.grad(q_tot.sum(), agent_qs)
    assert bool((grad >= 0).all())
    assert bool((grad > 0).any())


def test_qmix_hypernetworks_follow_the_smac_v1_setting():
    mixer = make_qmixer()
    linears = [m for m in mixer.hyper_w1.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(7, 64), (64, 4 * 32)]
    assert mixer.hyper_w_final[-1].out_features == 32 and mixer.hyper_b1.out_features == 32
    assert [m.out_features for m in mixer.v if isinstance(m, torch.nn.Linear)] == [32, 1]


def test_qmix_state_bias_shifts_q_tot():
    mixer = make_qmixer()
    with torch.no_grad():
        mixer.v[-1].bias += 3.0
    qs, state = torch.randn(2, 4), torch.randn(2, 7)
    before = make_qmixer()
    before.load_state_dict(mixer.state_dict())
    with torch.no_grad():
        before.v[-1].bias -= 3.0
    assert torch.allclose(mixer(qs, state) - before(qs, state), torch.full((2, 1), 3.0))


def test_unsupported_hypernet_layers_names_the_allowed_values():
    with pytest.raises(ValueError, match=r"hypernet_layers=3 is not supported; use one of \(1, 2\)"):
        make_qmixer(3)


def test_vdn_sums_agent_qs():
    qs = torch.tensor([[[1.0, 2.0, -0.5]], [[0.0, 0.0, 4.0]]])
    assert torch.equal(VDNMixer(n_agents=3, state_dim=5)(qs, torch.randn(2, 1, 5)), torch.tensor([[[2.5]], [[4.0]]]))
