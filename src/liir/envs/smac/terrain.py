"""Pathing grids and terrain heights of the SMAC maps (32 x 32 cells, cell (x, y) = [x, x+1) x [y, y+1)).

The masks are the approximate ones extracted from the map files' cell flags (smac-interface.md §12 and
Appendix A). Legend of the row characters (``_layers``): ``#`` pathable (cliff level 64),
``H`` pathable high ground (level 128), ``r`` ramp, ``_`` pathable low ground enclosed by an unpathable
ring, ``.`` unpathable. Heights are ``cliff level / 255`` (an approximation of SMAC's terrain bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAP_SIZE = 32
_HEIGHT = {".": 0.0, "_": 0.0, "#": 64 / 255, "r": 96 / 255, "H": 128 / 255}


@dataclass(frozen=True)
class Terrain:
    """A map's pathing grid and terrain heights, both indexed ``[x, y]``."""

    pathable: np.ndarray  # (32, 32) bool
    height: np.ndarray  # (32, 32) float

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        """(x0, x1, y0, y1) when the pathable cells are exactly the rectangle [x0, x1) x [y0, y1), else None."""
        xs, ys = np.nonzero(self.pathable)
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        return (x0, x1, y0, y1) if int(self.pathable.sum()) == (x1 - x0) * (y1 - y0) else None


def _from_rows(rows: dict[int, str]) -> Terrain:
    """Build a terrain from row strings keyed by y; missing rows are unpathable."""
    pathable = np.zeros((MAP_SIZE, MAP_SIZE), dtype=bool)
    height = np.zeros((MAP_SIZE, MAP_SIZE), dtype=np.float32)
    for y, row in rows.items():
        assert len(row) == MAP_SIZE, (y, row)
        for x, ch in enumerate(row):
            pathable[x, y] = ch != "."
            height[x, y] = _HEIGHT[ch]
    return Terrain(pathable, height)


def _layers(spec: list[tuple[range | tuple[int, ...], list[tuple[int, int, str]], str]]) -> Terrain:
    """Rows given as (ys, [(x_lo, x_hi, char), ...], fill); rows not listed are unpathable."""
    rows: dict[int, str] = {}
    for ys, ranges, fill in spec:
        for y in ys:
            rows[y] = _span(ranges, fill)
    return _from_rows({y: rows.get(y, "." * MAP_SIZE) for y in range(MAP_SIZE)})


def _span(ranges: list[tuple[int, int, str]], fill: str = ".") -> str:
    """A row string of ``fill`` with ``ch`` on each half-open x range [lo, hi)."""
    row = [fill] * MAP_SIZE
    for lo, hi, ch in ranges:
        row[lo:hi] = ch * (hi - lo)
    return "".join(row)


def _band() -> Terrain:
    return _layers([(range(8, 24), [], "#")])


def _flat() -> Terrain:
    return _layers([(range(MAP_SIZE), [], "#")])


def _octagon() -> Terrain:
    return _layers(
        [
            (range(10, 22), [(6, 26, "#")], "."),
            ((8, 9, 22, 23), [(8, 24, "#")], "."),
            ((6, 7, 24, 25), [(10, 22, "#")], "."),
        ]
    )


def _plateau_6h() -> Terrain:
    return _layers(
        [
            ((*range(0, 6), *range(22, 32)), [], "_"),
            ((6, 7, 20, 21), [(0, 8, "_"), (22, 32, "_")], "."),
            ((8, 9, 18, 19), [(0, 6, "_"), (10, 20, "#"), (24, 32, "_")], "."),
            (range(10, 18), [(0, 6, "_"), (8, 22, "#"), (24, 32, "_")], "."),
        ]
    )


def _plateau_2s1sc() -> Terrain:
    return _layers(
        [
            ((*range(0, 6), *range(26, 32)), [], "_"),
            ((6, 7), [(0, 6, "_"), (22, 32, "_")], "."),
            (range(8, 20), [(0, 6, "_"), (8, 20, "#"), (22, 32, "_")], "."),
            ((20, 21), [(0, 6, "_"), (10, 18, "#"), (22, 32, "_")], "."),
            ((22, 23), [(0, 8, "_"), (12, 16, "#"), (20, 32, "_")], "."),
            ((24, 25), [(0, 10, "_"), (18, 32, "_")], "."),
        ]
    )


def _corridor() -> Terrain:
    return _layers(
        [
            (range(2, 12), [(2, 12, "#")], "."),
            ((12, 13), [(12, 14, "#")], "."),
            ((14, 15), [(14, 26, "#")], "."),
            ((16, 17), [(14, 28, "#")], "."),
            (range(18, 22), [(12, 30, "#")], "."),
            ((22, 23), [(14, 30, "#")], "."),
            ((24, 25), [(16, 30, "#")], "."),
            ((26, 27), [(18, 30, "#")], "."),
            ((28, 29), [(20, 30, "#")], "."),
        ]
    )


def _so_many_baneling() -> Terrain:
    return _layers(
        [
            ((0, 1), [(2, 8, "#")], "."),
            (range(2, 8), [(2, 12, "#")], "."),
            (range(8, 12), [(4, 16, "#")], "."),
            (range(12, 16), [(8, 20, "#")], "."),
            ((16, 17), [(10, 20, "#")], "."),
            (range(18, 22), [(14, 26, "#")], "."),
            ((22, 23), [(16, 30, "#")], "."),
            (range(24, 28), [(20, 30, "#")], "."),
            ((28, 29), [(22, 30, "#")], "."),
        ]
    )


def _ravine() -> Terrain:
    ramps = [(4, 7, "r"), (7, 25, "H"), (25, 28, "r")]
    return _layers(
        [
            ((18, 19), [(8, 24, "H")], "."),
            ((16, 17), [(2, 4, "#"), *ramps, (28, 30, "#")], "."),
            ((14, 15), [(0, 4, "#"), *ramps, (28, 32, "#")], "."),
            ((12, 13), [(0, 4, "#"), (28, 32, "#")], "."),
            ((10, 11), [], "#"),
            ((8, 9), [(2, 30, "#")], "."),
            ((6, 7), [(4, 28, "#")], "."),
        ]
    )


TERRAINS = {
    "band": _band,
    "flat": _flat,
    "octagon": _octagon,
    "plateau_6h": _plateau_6h,
    "plateau_2s1sc": _plateau_2s1sc,
    "corridor": _corridor,
    "so_many_baneling": _so_many_baneling,
    "ravine": _ravine,
}


def terrain(name: str) -> Terrain:
    """The named terrain (see ``TERRAINS``)."""
    return TERRAINS[name]()
