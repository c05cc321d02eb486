"""The policy service's errors under one base."""

from __future__ import annotations


class PolicyServiceError(Exception):
    """Base of every error the policy service raises on its own account."""
