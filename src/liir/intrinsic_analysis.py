"""The paper's Figure 2: do learned intrinsic rewards separate good actions from bad ones?

Environments that label actions (the pursuit game's ``action_labels_all`` extra, (B, T, N, A)) let
``liir.evaluate`` compare r_in of every available action of every agent at every step of the test
episodes: histograms of the good and the bad actions' r_in, their means and the AUC. Figures 4 and 5 follow
r_in of the taken actions along single episodes (``taken_intrinsic_rewards``, drawn by ``battle_figures``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from liir.algos.base import NonFiniteLossError
from liir.data.runner import Rollout
from liir.envs.pursuit import BAD, GOOD

LABELS_KEY = "action_labels_all"


def has_action_labels(rollouts: list[Rollout]) -> bool:
    return all(LABELS_KEY in rollout.batch.extras for rollout in rollouts)


def labelled_intrinsic_rewards(module, rollouts: list[Rollout]) -> tuple[torch.Tensor, torch.Tensor]:
    """r_in of the good and of the bad (state, agent, action) entries over all real steps of ``rollouts``."""
    good, bad = [], []
    for rollout in rollouts:
        batch = rollout.batch.truncated()
        r_in = module.intrinsic_rewards(batch).cpu()
        labels = batch.extras[LABELS_KEY].cpu()
        valid = (batch.mask[:, :, None, None] & batch.avail_actions[:, :-1]).cpu()
        good.append(r_in[valid & (labels == GOOD)])
        bad.append(r_in[valid & (labels == BAD)])
    return torch.cat(good), torch.cat(bad)


def taken_intrinsic_rewards(module, rollouts: list[Rollout]) -> list[torch.Tensor]:
    """r_in (L, N) of the actions each agent took, one tensor per episode of ``rollouts``, in their order."""
    out = []
    for rollout in rollouts:
        batch = rollout.batch.truncated()
        r_in = module.intrinsic_rewards(batch).gather(-1, batch.actions[:, :-1].unsqueeze(-1)).squeeze(-1).cpu()
        out.extend(r_in[b, :length] for b, length in enumerate(batch.lengths.tolist()))
    return out


def auc_good_vs_bad(good: torch.Tensor, bad: torch.Tensor) -> float:
    """P(r_in of a random good action > r_in of a random bad one), ties counting half (Mann–Whitney U)."""
    if good.numel() == 0 or bad.numel() == 0:
        raise ValueError(f"AUC needs good and bad actions; got {good.numel()} good and {bad.numel()} bad")
    if not bool(torch.isfinite(good).all() and torch.isfinite(bad).all()):
        raise NonFiniteLossError("intrinsic rewards hold NaN or inf: no AUC can be computed from them")
    values = torch.cat([good, bad]).double()
    _, inverse, counts = torch.unique(values, sorted=True, return_inverse=True, return_counts=True)
    first_rank = torch.cumsum(counts, 0) - counts + 1  # 1-based rank of each distinct value's first copy
    mean_rank = first_rank.double() + (counts.double() - 1) / 2  # ties share their average rank
    good_rank_sum = mean_rank[inverse[: good.numel()]].sum()
    n_good, n_bad = good.numel(), bad.numel()
    return float((good_rank_sum - n_good * (n_good + 1) / 2) / (n_good * n_bad))


def plot_intrinsic_histograms(good: torch.Tensor, bad: torch.Tensor, path: Path, title: str) -> None:
    """Overlaid density histograms of r_in for good and bad actions, written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    low = float(torch.cat([good, bad]).min())
    high = float(torch.cat([good, bad]).max())
    bins = torch.linspace(low, high if high > low else low + 1e-6, 41).tolist()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(good.numpy(), bins=bins, density=True, alpha=0.6, color="tab:green", label=f"good ({good.numel()})")
    ax.hist(bad.numpy(), bins=bins, density=True, alpha=0.6, color="tab:red", label=f"bad ({bad.numel()})")
    ax.set_xlabel("learned intrinsic reward r_in")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def intrinsic_reward_report(module, rollouts: list[Rollout], figure_path: Path, title: str) -> dict[str, float]:
    """Write the histogram figure and return ``r_in_mean_good``, ``r_in_mean_bad``, ``r_in_auc_good_vs_bad``."""
    good, bad = labelled_intrinsic_rewards(module, rollouts)
    auc = auc_good_vs_bad(good, bad)
    plot_intrinsic_histograms(good, bad, figure_path, f"{title} (AUC {auc:.3f})")
    return {
        "r_in_mean_good": float(good.mean()),
        "r_in_mean_bad": float(bad.mean()),
        "r_in_auc_good_vs_bad": auc,
        "r_in_n_good": float(good.numel()),
        "r_in_n_bad": float(bad.numel()),
    }
