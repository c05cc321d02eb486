"""Bounded numbers for replies: every number in the public API document has both bounds, so a
client in any language (JavaScript's doubles included) knows what it may receive."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_SAFE_INTEGER = 2**53 - 1  # the largest integer a JSON reader with doubles keeps exact

Count = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER)]
Signed = Annotated[int, Field(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]
Milliseconds = Annotated[float, Field(ge=0, le=MAX_SAFE_INTEGER)]
