"""`make contracts`: JSON Schema for every event and an AsyncAPI document of the bus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from contracts import subjects
from contracts.registry import EVENT_TYPES

ROOT = Path(__file__).resolve().parent.parent / "contracts" / "schema"
ROLES = ("analyst", "retriever", "reporter")


def event_schemas() -> dict[str, dict[str, Any]]:
    """Subject -> JSON Schema of the event published on it."""
    return {cls.SUBJECT: cls.model_json_schema(mode="serialization") for cls in EVENT_TYPES}


def asyncapi_document() -> dict[str, Any]:
    broker = NatsBroker()
    for cls in EVENT_TYPES:
        targets = [subjects.task_lane(r) for r in ROLES] if cls.SUBJECT == subjects.TASK_DISPATCHED else [cls.SUBJECT]
        for subject in targets:
            broker.publisher(
                subject, schema=cls, title=f"{subject}:{cls.__name__}", description=cls.__doc__ or cls.__name__
            )
    spec = AsyncAPI(
        broker, title="Quarry event bus", version="1.0.0", description="Versioned events on NATS JetStream."
    )
    document: dict[str, Any] = json.loads(spec.to_specification().to_json())
    return document


def write(root: Path = ROOT) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for subject, schema in sorted(event_schemas().items()):
        path = root / f"{subject}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    path = root / "asyncapi.json"
    path.write_text(json.dumps(asyncapi_document(), indent=2, sort_keys=True) + "\n")
    written.append(path)
    return written


if __name__ == "__main__":
    for p in write():
        print(p.relative_to(ROOT.parent.parent))
