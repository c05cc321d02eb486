"""A tenant's bucket is a documented hash that never drifts, and the split matches each stage."""

from __future__ import annotations

import random
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.orchestrator.rollouts.assignment import BUCKETS, Audience, assign, bucket, candidate_buckets

# Golden vectors: bucket(salt, tenant) = first 8 bytes of SHA-256("<salt>.<tenant>"), big-endian,
# modulo 10,000. Any change of the function moves tenants between versions mid-rollout: these
# numbers must never change.
GOLDEN = [
    ("r1", "tenant-a", 5197),
    ("r1", "tenant-b", 1461),
    ("0190a000-0000-7000-8000-000000000001", "acme", 5723),
    ("salt", "", 9042),
]
STAGES = (1, 5, 25, 50, 75, 100)


@pytest.mark.parametrize(("salt", "tenant_id", "expected"), GOLDEN)
def test_the_bucket_of_a_tenant_is_the_documented_hash(salt: str, tenant_id: str, expected: int) -> None:
    assert bucket(salt, tenant_id) == expected


def test_the_first_golden_vector_is_the_digest_read_by_hand() -> None:
    # sha256(b"r1.tenant-a") starts 2d874d2b65a1de5d (hashlib.sha256(b"r1.tenant-a").hexdigest()[:16]).
    assert int("2d874d2b65a1de5d", 16) % BUCKETS == bucket("r1", "tenant-a")


def tenant_ids(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


@pytest.mark.parametrize("percent", STAGES)
def test_the_observed_split_over_ten_thousand_tenants_is_within_two_points_of_the_stage(percent: int) -> None:
    tenants = tenant_ids(10_000, seed=percent)
    on_candidate = sum(assign("rollout-7", t, "pro", percent, Audience()).arm == "candidate" for t in tenants)
    assert abs(on_candidate / len(tenants) * 100 - percent) <= 2.0


def test_raising_the_stage_only_adds_tenants() -> None:
    tenants = tenant_ids(10_000, seed=42)
    previous: set[str] = set()
    for percent in (0, *STAGES):
        now = {t for t in tenants if assign("rollout-7", t, "free", percent, Audience()).arm == "candidate"}
        assert previous <= now, f"a tenant left the candidate when the stage rose to {percent}%"
        previous = now
    assert previous == set(tenants)


def test_the_candidate_owns_the_lowest_buckets() -> None:
    assert [candidate_buckets(p) for p in (0, 5, 25, 100)] == [0, 500, 2500, 10_000]
    with pytest.raises(ValueError):
        candidate_buckets(101)


def test_a_tenant_keeps_its_version_throughout_a_stage_and_a_new_salt_draws_again() -> None:
    tenants = tenant_ids(2000, seed=3)
    first = [assign("rollout-7", t, "pro", 50, Audience()) for t in tenants]
    assert first == [assign("rollout-7", t, "pro", 50, Audience()) for t in tenants]
    redrawn = [assign("rollout-7.1", t, "pro", 50, Audience()) for t in tenants]
    moved = sum(a.arm != b.arm for a, b in zip(first, redrawn, strict=True))
    assert 0.4 < moved / len(tenants) < 0.6  # an independent draw: about half change arm


def test_enterprise_tenants_are_out_by_default_and_pins_win_over_everything() -> None:
    audience = Audience(pinned={"beta-tester": "candidate", "cautious": "stable"}, excluded_tenants={"bank"})
    assert assign("r", "big-co", "enterprise", 100, Audience()).arm == "stable"
    assert assign("r", "big-co", "enterprise", 100, Audience()).basis == "excluded"
    assert assign("r", "bank", "pro", 100, audience).arm == "stable"
    assert assign("r", "beta-tester", "enterprise", 0, audience).arm == "candidate"
    assert assign("r", "beta-tester", "enterprise", 0, audience).basis == "pinned"
    assert assign("r", "cautious", "pro", 100, audience).arm == "stable"
    assert assign("r", "anyone", "enterprise", 100, Audience(excluded_tiers=())).arm == "candidate"


@given(salt=st.text(max_size=40), tenant_id=st.text(max_size=60), low=st.integers(0, 100), high=st.integers(0, 100))
def test_for_any_salt_and_tenant_a_higher_stage_keeps_every_candidate(
    salt: str, tenant_id: str, low: int, high: int
) -> None:
    low, high = min(low, high), max(low, high)
    assert 0 <= bucket(salt, tenant_id) < BUCKETS
    if assign(salt, tenant_id, "pro", low, Audience()).arm == "candidate":
        assert assign(salt, tenant_id, "pro", high, Audience()).arm == "candidate"
