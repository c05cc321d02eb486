"""Which version of a component a tenant's run uses: a documented hash that never drifts. Pure.

    bucket(salt, tenant_id) = int.from_bytes(sha256(f"{salt}.{tenant_id}".encode()).digest()[:8], "big") % 10_000

The candidate owns buckets [0, w) where w = stage percent * 100, so raising the stage only adds
tenants (a tenant on the candidate at 5% is on it at 25%), and the same tenant gets the same
version throughout a stage. The salt is the rollout's (its id unless re-randomised by an
explicit event), so two rollouts do not put the same tenants first. Pins and exclusions are
decided before the bucket: a pinned tenant gets its arm at every stage, an excluded one (by id,
or by plan tier: enterprise by default) stays on the stable version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

BUCKETS = 10_000
Arm = Literal["candidate", "stable"]
Basis = Literal["pinned", "excluded", "bucket"]


def bucket(salt: str, tenant_id: str) -> int:
    """The tenant's bucket in [0, 10,000): see the module docstring (golden vectors in the tests)."""
    digest = hashlib.sha256(f"{salt}.{tenant_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def candidate_buckets(percent: int) -> int:
    """w: the candidate owns buckets [0, w) at `percent`."""
    if not 0 <= percent <= 100:
        raise ValueError(f"a stage is a percentage, not {percent}")
    return percent * BUCKETS // 100


@dataclass(frozen=True)
class Audience:
    """Who takes part (contracts.rollouts.Audience, as plain values)."""

    pinned: Mapping[str, Arm] = field(default_factory=dict)
    excluded_tenants: Collection[str] = frozenset()
    excluded_tiers: Collection[str] = frozenset({"enterprise"})


@dataclass(frozen=True)
class Assignment:
    """The arm a tenant's run takes, and why: a run records this at admission."""

    arm: Arm
    basis: Basis
    bucket: int


def assign(salt: str, tenant_id: str, tier: str, percent: int, audience: Audience) -> Assignment:
    """The arm of `tenant_id` (on plan `tier`) while the candidate is at `percent`."""
    slot = bucket(salt, tenant_id)
    pinned = audience.pinned.get(tenant_id)
    if pinned is not None:
        return Assignment(pinned, "pinned", slot)
    if tenant_id in audience.excluded_tenants or tier in audience.excluded_tiers:
        return Assignment("stable", "excluded", slot)
    return Assignment("candidate" if slot < candidate_buckets(percent) else "stable", "bucket", slot)


@dataclass(frozen=True)
class Assigner:
    """One rollout's assignment as admission asks it, built once per change of the rollout (its
    stage, salt or end) so that a run's admission pays for a hash and a few lookups, no more."""

    candidate: str
    stable: str
    salt: str
    percent: int
    audience: Audience
    settled: Arm | None = None  # a rollout that is over: every tenant on this arm, pins included
    shadow_rate: float | None = None  # shadowing: the share of runs whose tasks the candidate copies

    def assign(self, tenant_id: str, tier: str) -> Assignment:
        if self.settled is not None:
            return Assignment(self.settled, "bucket", bucket(self.salt, tenant_id))
        return assign(self.salt, tenant_id, tier, self.percent, self.audience)

    def version(self, tenant_id: str, tier: str) -> str:
        return self.candidate if self.assign(tenant_id, tier).arm == "candidate" else self.stable
