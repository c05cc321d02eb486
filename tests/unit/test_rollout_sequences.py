"""The confidence sequences cover the truth at every look at once, as often as they promise.

Each sequence keeps the running intersection of its intervals, so an interval that excluded the
truth at any look still excludes it at the end: checking the last interval checks every look.
Simulations are seeded and bounded; at the alpha used the observed miss rate is far below it.
"""

from __future__ import annotations

import math
import random

import pytest

from services.orchestrator.rollouts.sequences import (
    MeanSequence,
    QuantileSequence,
    kearns_saul_variance,
    mean_sequence,
    normal_mixture_boundary,
    quantile_sequence,
    ratio_walk_exceeds,
)

ALPHA = 0.1  # a loose alpha, so the simulations would see misses if the sequences were not valid
STREAMS = 300


@pytest.mark.parametrize("p", [0.02, 0.3, 0.9])
def test_the_mean_sequence_covers_a_rate_at_every_look(p: float) -> None:
    rng = random.Random(int(p * 1000))
    misses = 0
    for _ in range(STREAMS):
        sequence = MeanSequence(ALPHA)
        for _ in range(400):
            sequence.add(1.0 if rng.random() < p else 0.0)
        bounds = sequence.bounds()
        assert bounds.lower is not None and bounds.upper is not None
        misses += not bounds.lower <= p <= bounds.upper
    assert misses / STREAMS <= ALPHA


def test_a_fixed_sample_interval_looked_at_after_every_run_misses_far_more_often_than_its_alpha() -> None:
    """Why the sequences: the same streams, a 90% Wald interval checked at every look from the 10th."""
    rng = random.Random(300)
    z, p, misses = 1.6448536269514722, 0.3, 0
    for _ in range(STREAMS):
        hits = 0
        for t in range(1, 401):
            hits += rng.random() < p
            estimate = hits / t
            if t >= 10 and abs(estimate - p) > z * math.sqrt(max(estimate * (1 - estimate), 1e-9) / t):
                misses += 1
                break
    assert misses / STREAMS > 3 * ALPHA


def test_the_mean_sequence_narrows_and_adapts_to_a_small_variance() -> None:
    rng = random.Random(5)
    rare = [1.0 if rng.random() < 0.02 else 0.0 for _ in range(2000)]
    even = [1.0 if rng.random() < 0.5 else 0.0 for _ in range(2000)]
    narrow, wide = mean_sequence(rare, 0.01), mean_sequence(even, 0.01)
    assert narrow.upper is not None and narrow.lower is not None and wide.upper is not None and wide.lower is not None
    assert narrow.upper - narrow.lower < (wide.upper - wide.lower) / 2
    assert mean_sequence(rare[:200], 0.01).upper > narrow.upper  # type: ignore[operator]
    assert mean_sequence([], 0.01).lower == 0.0 and mean_sequence([], 0.01).upper == 1.0


def test_an_observation_outside_the_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        MeanSequence(0.05).add(1.5)


def test_the_quantile_sequence_covers_the_p95_at_every_look() -> None:
    rng = random.Random(11)
    true_p95 = math.exp(3.0 + 0.5 * 1.6448536269514722)  # of lognormal(3, 0.5)
    misses = bounded = 0
    for _ in range(STREAMS):
        sequence = QuantileSequence(0.95, ALPHA)
        for _ in range(1500):
            sequence.add(rng.lognormvariate(3.0, 0.5))
        bounds = sequence.bounds()
        assert bounds.lower is not None
        bounded += bounds.upper is not None
        misses += not (bounds.lower <= true_p95 and (bounds.upper is None or true_p95 <= bounds.upper))
    assert misses / STREAMS <= ALPHA
    assert bounded == STREAMS  # 1,500 observations are enough to bound a p95 above


def test_a_quantile_is_not_bounded_above_before_there_are_enough_observations() -> None:
    few = quantile_sequence([float(i) for i in range(50)], 0.95, 0.05)
    assert few.upper is None and few.estimate == 47.0
    assert quantile_sequence([], 0.95, 0.05).estimate is None


def test_the_boundary_uses_the_bernoulli_variance_and_grows_slower_than_time() -> None:
    assert kearns_saul_variance(0.5) == 0.25
    assert kearns_saul_variance(0.95) == pytest.approx(kearns_saul_variance(0.05))
    assert kearns_saul_variance(0.95) < 0.25
    assert normal_mixture_boundary(10_000, 0.5, 0.05) / 10_000 < normal_mixture_boundary(100, 0.5, 0.05) / 100
    with pytest.raises(ValueError):
        kearns_saul_variance(1.0)


def test_the_split_test_rarely_alarms_on_a_fair_split_and_catches_a_skewed_one() -> None:
    rng = random.Random(17)
    alarms = sum(
        ratio_walk_exceeds((rng.random() < 0.25 for _ in range(1000)), 0.25, ALPHA).exceeded for _ in range(STREAMS)
    )
    assert alarms / STREAMS <= ALPHA
    skewed = ratio_walk_exceeds((rng.random() < 0.15 for _ in range(1000)), 0.25, 0.001)
    assert skewed.exceeded and skewed.trials == 1000
