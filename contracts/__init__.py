"""Quarry's wire contracts: the event envelope, every v1 event, and the subjects they travel on.

This package imports only pydantic and the standard library, so any service may depend on it.
"""

from contracts.envelope import Actor, Event, TraceContext
from contracts.registry import EVENT_TYPES, event_type_for_subject, parse_event

__all__ = ["EVENT_TYPES", "Actor", "Event", "TraceContext", "event_type_for_subject", "parse_event"]
