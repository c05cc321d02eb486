"""The beta-binomial mixtures behind the p95 guard: the incomplete beta function they rest on is
right deep into its tails, the bounds kept one trial at a time are the ones a full search finds,
a true Binomial walk crosses them at most alpha of the time over every look, and a p95 is bounded
long before the normal-mixture boundary allowed."""

from __future__ import annotations

import math
import random

import pytest

from services.orchestrator.rollouts.mixtures import CountBounds, log_above, log_below, log_betainc
from services.orchestrator.rollouts.sequences import QuantileSequence, normal_mixture_boundary


def integrated(a: float, b: float, x: float, steps: int = 20_000) -> float:
    """I_x(a, b) by the midpoint rule: slow, independent of the continued fraction."""
    width = x / steps
    total: float = sum(((i + 0.5) * width) ** (a - 1) * (1 - (i + 0.5) * width) ** (b - 1) for i in range(steps))
    return total * width / math.exp(math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))


@pytest.mark.parametrize(("a", "b", "x"), [(3, 5, 0.3), (10, 2, 0.9), (50, 60, 0.4), (2, 30, 0.05), (8, 8, 0.5)])
def test_the_incomplete_beta_function_matches_its_integral(a: float, b: float, x: float) -> None:
    assert math.exp(log_betainc(a, b, x)) == pytest.approx(integrated(a, b, x), rel=1e-6)


def test_the_incomplete_beta_function_stays_finite_deep_in_its_tails() -> None:
    tiny = log_betainc(900, 100, 0.5)  # about 1e-160: an exp() of it would round to 0
    assert -400 < tiny < -300
    assert log_betainc(3, 4, 0.0) == -math.inf and log_betainc(3, 4, 1.0) == 0.0


def searched(t: int, p: float, alpha: float) -> tuple[int, int]:
    threshold = math.log(2 / alpha)
    high = next(s for s in range(t + 2) if s == t + 1 or log_above(t, s, p) >= threshold)
    low = max(s for s in range(-1, t + 1) if s == -1 or log_below(t, s, p) >= threshold)
    return low, high


def test_bounds_kept_one_trial_at_a_time_are_those_a_full_search_finds() -> None:
    for p, alpha in ((0.95, 0.005), (0.5, 0.05), (0.2, 0.01)):
        bounds = CountBounds(p, alpha)
        for t in range(1, 401):
            bounds.add_trial()
            if t % 40 == 0 or t < 5:
                assert (bounds.low, bounds.high) == searched(t, p, alpha), (p, alpha, t)


def test_a_true_binomial_walk_crosses_its_bounds_at_most_alpha_of_the_time_over_every_look() -> None:
    rng, alpha, p, streams = random.Random(3), 0.1, 0.95, 300
    crossed = 0
    for _ in range(streams):
        bounds, successes = CountBounds(p, alpha), 0
        for _ in range(1500):
            bounds.add_trial()
            successes += rng.random() < p
            if not bounds.low < successes < bounds.high:
                crossed += 1
                break
    assert crossed / streams <= alpha


def test_a_p95_is_bounded_above_after_158_observations_where_the_normal_mixture_needed_880() -> None:
    sequence = QuantileSequence(0.95, 0.005)
    for i in range(157):
        sequence.add(float(i))
    assert sequence.bounds().upper is None
    sequence.add(157.0)
    assert sequence.bounds().upper == 157.0
    first = next(t for t in range(1, 2000) if math.floor(t * 0.95 + normal_mixture_boundary(t, 0.95, 0.005)) + 1 <= t)
    assert first > 800


def test_a_probability_outside_the_open_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        CountBounds(1.0, 0.05)
