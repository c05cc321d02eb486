"""The analyst's errors under one base."""

from __future__ import annotations


class AnalystError(Exception):
    """Base of every error the analyst raises on its own account."""
