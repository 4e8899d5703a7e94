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
        nb_ok = padded_ok[1 + dx : 1 + dx + n, 1 + dy : 1 + dy + n]
        corner = padded_ok[1 + dx : 1 + dx + n, 1 : 1 + n] & padded_ok[1 : 1 + n, 1 + dy : 1 + dy + n]
        steps.append((dx, dy, math.hypot(dx, dy), ok & nb_ok & corner))
    while True:
        padded = torch.nn.functional.pad(d, (1, 1, 1, 1), value=_INF)
        new = d
        for dx, dy, cost, valid in steps:
            via = padded[:, 1 + dx : 1 + dx + n, 1 + dy : 1 + dy + n] + cost
            new = torch.minimum(new, torch.where(valid, via, _INF))
        if torch.equal(new, d):
            return d.view(n * n, n * n)
        d = new


class FlowField:
    """Steering toward a destination along shortest paths of one terrain, on one device."""

    def __init__(self, terrain_name: str, device: torch.device) -> None:
        dist = _distances(terrain_name)
        self.dist = torch.where(torch.isinf(dist), 1e6, dist).to(device).flatten()  # index goal * C + cell
        self.off_x = torch.tensor([dx for dx, _ in _OFFSETS], device=device).view(-1, 1, 1)
        self.off_y = torch.tensor([dy for _, dy in _OFFSETS], device=device).view(-1, 1, 1)
        self.costs = torch.tensor([math.hypot(dx, dy) for dx, dy in _OFFSETS], device=device).view(-1, 1, 1)

    @staticmethod
    def _cell(v: torch.Tensor) -> torch.Tensor:
        return v.floor().long().clamp(0, MAP_SIZE - 1)

    def steer(
        self, x: torch.Tensor, y: torch.Tensor, dest_x: torch.Tensor, dest_y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Point to head for (any shape): the destination when the straight way is free, else the best next
        cell's centre."""
        cx, cy, gx, gy = self._cell(x), self._cell(y), self._cell(dest_x), self._cell(dest_y)
        g_base = (gx * MAP_SIZE + gy) * (MAP_SIZE * MAP_SIZE)
        here = self.dist[g_base + cx * MAP_SIZE + cy]
        ax, ay = (gx - cx).abs().float(), (gy - cy).abs().float()
        octile = torch.maximum(ax, ay) + (math.sqrt(2) - 1) * torch.minimum(ax, ay)
        nx = (cx.unsqueeze(0) + self.off_x).clamp(0, MAP_SIZE - 1)  # (8, ...)
        ny = (cy.unsqueeze(0) + self.off_y).clamp(0, MAP_SIZE - 1)
        via = self.dist[g_base.unsqueeze(0) + nx * MAP_SIZE + ny] + self.costs
        best = via.argmin(0, keepdim=True)
        detour = (here > octile + 0.5) & (here < 1e5)
        return (
            torch.where(detour, nx.gather(0, best).squeeze(0).float() + 0.5, dest_x),
            torch.where(detour, ny.gather(0, best).squeeze(0).float() + 0.5, dest_y),
        )
