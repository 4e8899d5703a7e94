"""Statistics across seeds for ``liir.report``: the median and the interquartile mean (IQM, rliable's robust
aggregate), each with a percentile confidence interval from a stratified bootstrap.

The bootstrap is ``scipy.stats.bootstrap``: given several samples it resamples each one separately, which is
rliable's stratified bootstrap when each sample holds one task's runs (rliable's own ``get_interval_estimates``
needs the ``arch`` package, which does not import alongside pandas 3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

Statistic = Callable[..., np.ndarray]


def iqm(scores: np.ndarray, axis: int = 0) -> np.ndarray:
    """The mean of the middle half of ``scores`` along ``axis`` (rliable's ``aggregate_iqm``): robust to one
    outlying seed, yet it uses more runs than the median."""
    return stats.trim_mean(scores, proportiontocut=0.25, axis=axis)


def median(scores: np.ndarray, axis: int = 0) -> np.ndarray:
    return np.median(scores, axis=axis)


STATISTICS: dict[str, Statistic] = {"median": median, "iqm": iqm}


@dataclass(frozen=True)
class Estimate:
    """A statistic and its confidence interval; arrays shaped like one run's scores (a number, or a curve)."""

    point: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class Bootstrap:
    """The resampling behind every interval of a report; its fixed ``seed`` makes a report reproducible."""

    reps: int
    seed: int
    confidence: float

    def estimate(self, strata: list[np.ndarray]) -> dict[str, Estimate]:
        """The median and the IQM over the runs of all ``strata`` together (axis 0 of each holds its runs; further
        axes, such as the steps of a curve, are estimated point by point), with percentile intervals from one set
        of resamples. Each resample redraws every stratum's runs with replacement, separately, so each task keeps
        its number of runs. A stratum with a single run cannot be resampled: the intervals are then NaN."""
        points = all_statistics(*strata, axis=0)
        if min(len(stratum) for stratum in strata) < 2:
            lows = highs = np.full_like(points, np.nan, dtype=float)
        else:
            lows, highs = self.interval(tuple(strata), all_statistics)
        return {name: Estimate(points[i], lows[i], highs[i]) for i, name in enumerate(STATISTICS)}

    def improvement(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> Estimate:
        """``probability_of_improvement`` over the (X, Y) score pairs, one pair per map, with its percentile
        interval: each resample redraws every map's X seeds and Y seeds separately (rliable's stratified
        bootstrap for two algorithms). NaN interval when a sample holds a single run."""
        samples = tuple(sample for pair in pairs for sample in pair)
        point = probability_of_improvement(*samples, axis=0)
        if min(len(sample) for sample in samples) < 2:
            return Estimate(point, np.full_like(point, np.nan), np.full_like(point, np.nan))
        return Estimate(point, *self.interval(samples, probability_of_improvement))

    def interval(self, samples: tuple[np.ndarray, ...], statistic: Statistic) -> tuple[np.ndarray, np.ndarray]:
        """The percentile interval of ``statistic`` (vectorised, runs along axis 0) when every sample is redrawn
        with replacement, separately: scipy's bootstrap of several samples is the stratified one."""
        interval = stats.bootstrap(
            samples,
            statistic,
            n_resamples=self.reps,
            confidence_level=self.confidence,
            method="percentile",
            vectorized=True,
            axis=0,
            rng=np.random.default_rng(self.seed),
        ).confidence_interval
        return np.asarray(interval.low), np.asarray(interval.high)


def all_statistics(*samples: np.ndarray, axis: int) -> np.ndarray:
    """Every statistic of ``STATISTICS`` (stacked in its order) over several samples taken together: what the
    stratified bootstrap resamples separately."""
    scores = np.concatenate(samples, axis=axis)
    return np.stack([statistic(scores, axis=axis) for statistic in STATISTICS.values()])


def probability_of_improvement(*samples: np.ndarray, axis: int) -> np.ndarray:
    """P(X > Y) for samples X1, Y1, X2, Y2, ... (one pair per map), averaged over the maps: per map, the share of
    (X seed, Y seed) pairs in which X scores higher, a tie counting one half (the Mann-Whitney U statistic over
    n·m; rliable's ``probability_of_improvement``, Agarwal et al. 2021). 0.5: neither is better."""
    per_map = []
    for x, y in zip(samples[0::2], samples[1::2], strict=True):
        x, y = np.moveaxis(x, axis, -1)[..., :, None], np.moveaxis(y, axis, -1)[..., None, :]
        per_map.append(((x > y) + 0.5 * (x == y)).mean(axis=(-2, -1)))
    return np.mean(per_map, axis=0)


def on_grid(steps: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """A run's test results at the ``grid`` steps, by linear interpolation between the tests around each point.

    Tests come every ``test_interval`` env steps or a little later (env steps advance in whole episodes), so no
    two seeds test at the same steps; the grid is the common x-axis. Grid points before the first test (which is
    played after the first batch of episodes) take its value; the grid must not extend past the last test.
    """
    return np.interp(grid, steps, values)


def first_crossing(steps: np.ndarray, values: np.ndarray, threshold: float) -> float:
    """The env step of the first test at or above ``threshold``; ``inf`` when none reached it."""
    reached = np.flatnonzero(values >= threshold)
    return float(steps[reached[0]]) if len(reached) else np.inf
