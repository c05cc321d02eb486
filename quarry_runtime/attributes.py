"""A public model made from an object whose attributes already bear its field names. Pure.

Pydantic reads such an object itself (`model_validate(obj, from_attributes=True)`) but takes no
field from elsewhere; a view usually has one or two (a nested list, a parsed value) that it
builds, and copying the rest one by one says nothing but the names twice.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def from_attributes(model: type[M], source: object, **given: Any) -> M:
    """`model` with the fields `given`, and each other field `source` has an attribute of, read
    from it; a field it lacks keeps its default (a required one fails validation, as pydantic's
    own `from_attributes` does)."""
    taken = {name: getattr(source, name) for name in model.model_fields if name not in given and hasattr(source, name)}
    return model(**taken, **given)
