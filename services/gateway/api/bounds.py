"""Bounds of the numbers and texts the API takes: what the stores and contracts can hold, so an
oversized or odd input is a 4xx at the edge rather than an overflow or a failed validation deep
inside a route (a 500)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

MAX_OFFSET = 1_000_000
"""Rows a page may skip."""
MAX_SEQUENCE = 2**53 - 1
"""Positions in an event log or a ledger: exact as a JSON number and within a BIGINT."""
MAX_VERSION = 2**31 - 1
"""Template versions (an INTEGER column)."""
MAX_INTERVAL_S = 366 * 24 * 3600
"""The longest fixed interval a monitor may use."""

_SEQUENCE = re.compile(r"^[0-9]{1,16}$")

Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)]
"""A research question as the contracts take it: at least three characters once trimmed."""


def sequence(text: str | None) -> int | None:
    """`text` as an event position when it is one (ASCII digits, at most MAX_SEQUENCE), else None."""
    if text is None or not _SEQUENCE.match(text):
        return None
    value = int(text)
    return value if value <= MAX_SEQUENCE else None
