"""What the gateway's read-model stores share: tables named with a prefix, made when the store is.

A prefix names a second set of tables, so `quarry replay` can rebuild beside the live ones.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence

from quarry_runtime.store import SqlDatabase


def checked_prefix(prefix: str) -> str:
    """The prefix, refused unless a plain identifier fragment: it goes into SQL identifiers."""
    if not re.fullmatch(r"([a-z][a-z0-9_]*)?", prefix):
        raise ValueError(f"invalid read-model prefix {prefix!r}")
    return prefix


class Prefixed:
    """A table name that starts with its store's prefix: `table = Prefixed("monitors")`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, store: Tables, owner: object = None) -> str:
        return f"{store.prefix}{self.name}"


class Tables(ABC):
    """A store over tables named `<prefix><name>`; `schema` makes them (IF NOT EXISTS) at construction."""

    def __init__(self, db: SqlDatabase, prefix: str = "") -> None:
        self.db = db
        self.prefix = checked_prefix(prefix)
        for statement in self.schema():
            db.execute(statement)

    @abstractmethod
    def schema(self) -> Sequence[str]:
        """The statements that make this store's tables and indexes."""
