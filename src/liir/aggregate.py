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
            interval = stats.bootstrap(
                tuple(strata),
                all_statistics,
                n_resamples=self.reps,
                confidence_level=self.confidence,
                method="percentile",
                vectorized=True,
                axis=0,
                rng=np.random.default_rng(self.seed),
            ).confidence_interval
            lows, highs = np.asarray(interval.low), np.asarray(interval.high)
        return {name: Estimate(points[i], lows[i], highs[i]) for i, name in enumerate(STATISTICS)}


def all_statistics(*samples: np.ndarray, axis: int) -> np.ndarray:
    """Every statistic of ``STATISTICS`` (stacked in its order) over several samples taken together: what the
    stratified bootstrap resamples separately."""
    scores = np.concatenate(samples, axis=axis)
    return np.stack([statistic(scores, axis=axis) for statistic in STATISTICS.values()])


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
