"""Always-valid confidence sequences: intervals that hold at every look at once. Pure.

A rollout looks at its metrics again and again; a fixed-sample interval looked at after every
run would exclude the truth sooner or later by chance alone. A confidence sequence (CS) covers
the true value at all times simultaneously with probability at least 1 - alpha (Ville's
inequality on a nonnegative supermartingale), so a decision taken at any look, however many,
keeps its error rate.

- `mean_sequence`: the mean of observations in [0, 1], by the predictable plug-in empirical
  Bernstein CS of Waudby-Smith & Ramdas ("Estimating means of bounded random variables by
  betting", JRSS-B 2024, Theorem 2). Variance-adaptive, so a rare error rate gets a narrow
  interval. Used for error, completion, citation support and (scaled by its ceiling) cost.
- `quantile_sequence`: a quantile of any continuous distribution, from order statistics: the
  count of observations below the true p-quantile is a Binomial(t, p) walk, bounded at all t by
  beta-binomial mixtures (`mixtures`; Howard & Ramdas, Bernoulli 2022). Used for p95 duration.
- `ratio_walk_exceeds`: a sequential test that a Bernoulli(p) stream is fair, on Robbins'
  two-sided normal-mixture boundary (Howard et al., "Time-uniform, nonparametric, nonasymptotic
  confidence sequences", Ann. Statist. 2021) with the Kearns-Saul sub-Gaussian variance of a
  Bernoulli(p): the sample-ratio-mismatch check.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from services.orchestrator.rollouts.mixtures import CountBounds

# Plug-in bets are capped below 1 (the paper's c = 1/2 or 3/4): a bet of 1 could lose everything.
_MAX_BET = 0.75
# The normal-mixture boundary is tightest around this many observations; it is valid at all.
_TUNED_FOR = 500


@dataclass(frozen=True)
class Bounds:
    """An interval of a metric at one look: None where it is not bounded yet."""

    estimate: float | None
    lower: float | None
    upper: float | None
    observations: int


class MeanSequence:
    """The running intersection of the PrPl-EB CS of the mean of observations in [0, 1]."""

    def __init__(self, alpha: float) -> None:
        self._log_term = math.log(2 / alpha)
        self._sum_x = self._sum_sq = 0.0  # the plug-in mean and variance (priors 1/2 and 1/4)
        self._mean_before, self._var_before = 0.5, 0.25
        self._sum_bet = self._sum_bet_x = self._sum_penalty = 0.0
        self._lower, self._upper, self._t = 0.0, 1.0, 0

    def add(self, x: float) -> None:
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"an observation of a bounded mean is in [0, 1], not {x}")
        self._t += 1
        t = self._t
        bet = min(math.sqrt(2 * self._log_term / (self._var_before * t * math.log(1 + t))), _MAX_BET)
        # v_i psi_E(lambda_i): the variance the bet pays for, measured against the prediction.
        self._sum_penalty += (x - self._mean_before) ** 2 * (-math.log(1 - bet) - bet)
        self._sum_bet += bet
        self._sum_bet_x += bet * x
        centre = self._sum_bet_x / self._sum_bet
        half = (self._log_term + self._sum_penalty) / self._sum_bet
        self._lower, self._upper = max(self._lower, centre - half), min(self._upper, centre + half)
        self._sum_x += x
        self._mean_before = (0.5 + self._sum_x) / (t + 1)
        self._sum_sq += (x - self._mean_before) ** 2
        self._var_before = (0.25 + self._sum_sq) / (t + 1)

    def bounds(self, scale: float = 1.0) -> Bounds:
        """The interval, in units of `scale` (the observations were divided by it)."""
        if self._t == 0:
            return Bounds(None, 0.0, scale, 0)
        # Bounds of a CS only cross when its assumption (one constant mean) is false; keep them ordered.
        lower = min(self._lower, self._upper)
        return Bounds(self._sum_x / self._t * scale, lower * scale, self._upper * scale, self._t)


def mean_sequence(values: Iterable[float], alpha: float) -> Bounds:
    """The CS of the mean of `values` (each in [0, 1]) after all of them."""
    sequence = MeanSequence(alpha)
    for x in values:
        sequence.add(x)
    return sequence.bounds()


def kearns_saul_variance(p: float) -> float:
    """The least variance proxy under which a centred Bernoulli(p) is sub-Gaussian (both tails)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be strictly between 0 and 1, not {p}")
    if abs(p - 0.5) < 1e-9:
        return 0.25
    return (1 - 2 * p) / (2 * math.log((1 - p) / p))


@lru_cache(maxsize=64)
def _mixing(variance_at_tuning: float, alpha: float) -> float:
    """The mixture's precision rho that makes the boundary narrowest at the tuning time."""
    candidates = (variance_at_tuning * 10 ** (k / 50) for k in range(-150, 51))
    return min(candidates, key=lambda rho: _boundary_at(variance_at_tuning, rho, alpha))


def _boundary_at(intrinsic_time: float, rho: float, alpha: float) -> float:
    v = intrinsic_time + rho
    return math.sqrt(v * math.log(v / (rho * alpha * alpha)))


def normal_mixture_boundary(t: int, p: float, alpha: float) -> float:
    """b(t): with probability >= 1 - alpha, |S_t - t p| <= b(t) for every t at once, where S_t
    counts successes of a Bernoulli(p) stream (Robbins' two-sided normal mixture)."""
    variance = kearns_saul_variance(p)
    rho = _mixing(variance * _TUNED_FOR, alpha)
    return _boundary_at(variance * t, rho, alpha)


class QuantileSequence:
    """A CS of the p-quantile of a continuous distribution, intersected over every look.

    The count of observations at or below the true quantile is a Binomial(t, p) walk; while it
    stays strictly between the beta-binomial bounds low and high (`mixtures.CountBounds`), at
    least low + 1 observations are at or below the quantile (so the order statistic of that rank
    is a lower bound) and fewer than high are (so the one of rank high is an upper bound).
    """

    def __init__(self, p: float, alpha: float) -> None:
        self._p = p
        self._counts = CountBounds(p, alpha)
        self._ordered: list[float] = []
        self._lower: float | None = None
        self._upper: float | None = None

    def add(self, x: float) -> None:
        bisect.insort(self._ordered, x)
        self._counts.add_trial()
        t, low, high = len(self._ordered), self._counts.low, self._counts.high
        if low >= 0:
            found = self._ordered[low]
            self._lower = found if self._lower is None else max(self._lower, found)
        if high <= t:
            found = self._ordered[high - 1]
            self._upper = found if self._upper is None else min(self._upper, found)

    def bounds(self) -> Bounds:
        if not self._ordered:
            return Bounds(None, None, None, 0)
        lower = self._lower if self._lower is None or self._upper is None else min(self._lower, self._upper)
        return Bounds(_empirical_quantile(self._ordered, self._p), lower, self._upper, len(self._ordered))


def quantile_sequence(values: Iterable[float], p: float, alpha: float) -> Bounds:
    """The CS of the p-quantile of `values` after all of them."""
    sequence = QuantileSequence(p, alpha)
    for x in values:
        sequence.add(x)
    return sequence.bounds()


def _empirical_quantile(ordered: Sequence[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


@dataclass(frozen=True)
class RatioCheck:
    """Where a Bernoulli(p) stream's count stands against its time-uniform boundary."""

    successes: int
    trials: int
    allowed_deviation: float
    exceeded: bool


def ratio_walk_exceeds(outcomes: Iterable[bool], p: float, alpha: float) -> RatioCheck:
    """A sequential test that the outcomes are Bernoulli(p): it rejects, with false-alarm chance
    at most alpha over all looks, once |successes - t p| crosses the boundary at any prefix."""
    successes = trials = 0
    exceeded = False
    for outcome in outcomes:
        trials += 1
        successes += outcome
        exceeded = exceeded or abs(successes - trials * p) > normal_mixture_boundary(trials, p, alpha)
    bound = normal_mixture_boundary(trials, p, alpha) if trials else 0.0
    return RatioCheck(successes, trials, bound, exceeded)
