"""Splitting a whole number of credits across parts in proportion. Pure.

Billing scales a capped settlement's per-tool charges down with it, and the gateway's cost view
scales each step's share of a settlement the same way, so both split alike: a step's credits add
up to what billing charged.
"""

from __future__ import annotations


def apportion(parts: dict[str, int], total: int) -> dict[str, int]:
    """`parts` scaled to add up to `total` (largest remainders; ties to the earlier key), keeping every key."""
    whole = sum(parts.values())
    if whole <= 0:
        return dict.fromkeys(parts, 0)
    shares = {k: v * total // whole for k, v in parts.items()}
    rest = total - sum(shares.values())
    order = sorted(parts, key=lambda k: (parts[k] * total) % whole, reverse=True)
    for k in order[:rest]:
        shares[k] += 1
    return shares
