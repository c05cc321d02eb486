"""Passages a retriever could have found, cut from Python's own reference (pydoc topics)."""

from __future__ import annotations

from pydoc_data.topics import topics

from contracts.work import Passage


def chunks(topic: str, size: int = 1500, *, ranked: bool = False) -> list[Passage]:
    """A pydoc topic cut on paragraph boundaries into passages of about `size` characters;
    `ranked` scores earlier chunks higher, as a retriever ranking the topic's opening first would."""
    pieces: list[str] = []
    current = ""
    for para in topics[topic].split("\n\n"):
        if current and len(current) + len(para) > size:
            pieces.append(current)
            current = ""
        current = f"{current}\n\n{para}" if current else para
    if current:
        pieces.append(current)
    n = len(pieces)
    return [
        Passage(
            source_id=f"pydoc:{topic}",
            title=f"Python reference: {topic}",
            location=f"chunk {i}",
            text=t,
            **({"score": round(1.0 - i / n, 3)} if ranked else {}),
        )
        for i, t in enumerate(pieces)
    ]
