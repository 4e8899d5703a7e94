"""Path planning on a map's pathing grid: all-pairs shortest paths between cells, steering around walls.

SC2 paths ground units around obstacles; heading straight for the destination gets them stuck at the
corners of corridor, so_many_baneling and 2c_vs_64zg. ``FlowField`` precomputes the shortest 8-connected
path length between every pair of the 32 x 32 cells once per terrain; during a game loop a unit whose
straight line is blocked steers to the neighbouring cell that is closest to its destination.
"""

from __future__ import annotations

import math
from functools import cache

import torch

from liir.envs.smac.terrain import MAP_SIZE, terrain

_OFFSETS = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)]
_INF = float("inf")


@cache
def _distances(terrain_name: str) -> torch.Tensor:
    """(C, C) shortest path lengths [goal cell, cell] over pathable cells (C = 32 x 32, index x*32 + y)."""
    ok = torch.from_numpy(terrain(terrain_name).pathable)
    n = MAP_SIZE
    d = torch.full((n * n, n, n), _INF)
    goals = torch.arange(n * n)
    d[goals, goals // n, goals % n] = torch.where(ok.flatten(), 0.0, _INF)
    padded_ok = torch.nn.functional.pad(ok, (1, 1, 1, 1), value=False)
    steps = []
    for dx, dy in _OFFSETS:
        nb_ok = padded_ok[1 + dx:1 + dx + n, 1 + dy:1 + dy + n]
        corner = padded_ok[1 + dx:1 + dx + n, 1:1 + n] & padded_ok[1:1 + n, 1 + dy:1 + dy + n]
        steps.append((dx, dy, math.hypot(dx, dy), ok & nb_ok & corner))
    while True:
        padded = torch.nn.functional.pad(d, (1, 1, 1, 1), value=_INF)
        new = d
        for dx, dy, cost, valid in steps:
            via = padded[:, 1 + dx:1 + dx + n, 1 + dy:1 + dy + n] + cost
            new = torch.minimum(new, torch.where(valid, via, _INF))
        if torch.equal(new, d):
            return d.view(n * n, n * n)
        d = new


class FlowField:
    """Steering toward a destination along shortest paths of one terrain, on one device."""

    def __init__(self, terrain_name: str, device: torch.device) -> None:
        dist = _distances(terrain_name)
        self.dist = torch.where(torch.isinf(dist), 1e6, dist).to(device)
        self.offsets = torch.tensor(_OFFSETS, dtype=torch.long, device=device)
        self.costs = torch.tensor([math.hypot(dx, dy) for dx, dy in _OFFSETS], device=device)

    @staticmethod
    def _cell(pos: torch.Tensor) -> torch.Tensor:
        return pos.floor().long().clamp(0, MAP_SIZE - 1)

    def steer(self, pos: torch.Tensor, dest: torch.Tensor) -> torch.Tensor:
        """(B, U, 2) point to head for: ``dest`` when the straight way is free, else the best next cell's centre."""
        c, g = self._cell(pos), self._cell(dest)
        g_flat = (g[..., 0] * MAP_SIZE + g[..., 1]).unsqueeze(-1)  # (B, U, 1)
        here = self.dist.view(-1)[g_flat.squeeze(-1) * MAP_SIZE * MAP_SIZE + c[..., 0] * MAP_SIZE + c[..., 1]]
        delta = (g - c).abs().float()
        octile = delta.max(-1).values + (math.sqrt(2) - 1) * delta.min(-1).values
        nb = (c.unsqueeze(-2) + self.offsets).clamp(0, MAP_SIZE - 1)  # (B, U, 8, 2)
        nb_flat = nb[..., 0] * MAP_SIZE + nb[..., 1]
        via = self.dist.view(-1)[g_flat * MAP_SIZE * MAP_SIZE + nb_flat] + self.costs
        best = via.argmin(-1, keepdim=True)
        waypoint = nb.gather(-2, best.unsqueeze(-1).expand(*best.shape, 2)).squeeze(-2).float() + 0.5
        detour = (here > octile + 0.5) & (here < 1e5)
        return torch.where(detour.unsqueeze(-1), waypoint, dest)
