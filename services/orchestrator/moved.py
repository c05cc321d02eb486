"""Old topics of moved aggregates, so that stores written before the move still read.

A stored event names its class by topic (module path and qualified name), and a snapshot and an
aggregate's first event name the aggregate's class the same way; moving a class to another
module changes its topic, and resolving an old one would fail without this.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.utils import register_topic


def answer_to_old_topics(old_module: str, aggregate: type[Aggregate]) -> None:
    """Resolve the aggregate's topic and its events' topics under `old_module` to the classes now."""
    register_topic(f"{old_module}:{aggregate.__qualname__}", aggregate)
    for name, value in vars(aggregate).items():
        if isinstance(value, type) and issubclass(value, CanMutateAggregate) and name[:1].isupper():
            register_topic(f"{old_module}:{value.__qualname__}", value)
