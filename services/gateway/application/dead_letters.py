"""Dead letters for operators: list with service and reason, inspect, redrive, discard.

A letter is the failed message's bytes on `deadletter.v1.<service>`, with the reason, the
original subject and stream sequence in its headers (quarry_runtime.delivery). Listing walks
the dead-letter stream backwards, one stream message get each (it allows no direct get), at
most `SCAN_BUDGET` letters a page: dead letters are few, and an operator pages on.

A redrive publishes the same bytes to the original subject under the message id
`redrive-<letter seq>`: a second redrive of one letter inside JetStream's duplicate window is
dropped by JetStream, and after it the consumers' own idempotency (each records the event ids
it applied) makes it a no-op; the original id would not do, JetStream would drop the redrive
itself as the first copy's duplicate. Every consumer of the subject sees a redriven event again,
so only those that did not apply it act. Discarding marks the letter, never deletes it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

from contracts import subjects
from services.gateway.adapters.dead_letter_actions import DISCARDED, REDRIVEN, Handled
from services.gateway.adapters.jetstream_messages import JetStreamMessages, StoredMessage
from services.gateway.adapters.jetstream_state import JetStreamState
from services.gateway.domain.event_query import envelope_view
from services.gateway.errors import BadRequest, NotFound
from services.gateway.readmodels.store import GatewayStore

SCAN_BUDGET: Final = 500
READS_AT_ONCE: Final = 32
OPEN: Final = "open"
STATES: Final = (OPEN, REDRIVEN, DISCARDED, "all")
REDRIVE_ID: Final = "redrive-{seq}"


@dataclass(frozen=True)
class LetterFilter:
    service: str | None = None
    subject: str | None = None  # the original subject
    reason: str | None = None  # contained in the reason, case-insensitive
    state: str = OPEN

    def matches(self, message: StoredMessage, handled: Handled | None) -> bool:
        state = handled.state if handled else OPEN
        if self.state != "all" and state != self.state:
            return False
        if self.service and service_of(message) != self.service:
            return False
        if self.subject and message.headers.get("Quarry-Subject") != self.subject:
            return False
        return not self.reason or self.reason.lower() in message.headers.get("Quarry-Reason", "").lower()


def service_of(message: StoredMessage) -> str:
    return message.subject.removeprefix(subjects.deadletter(""))


def letter_view(message: StoredMessage, handled: Handled | None, *, with_payload: bool) -> dict[str, Any]:
    headers = message.headers
    original_seq = headers.get("Quarry-Stream-Seq", "")
    return {
        "seq": message.seq,
        "service": service_of(message),
        "reason": headers.get("Quarry-Reason", ""),
        "subject": headers.get("Quarry-Subject"),
        "original_seq": int(original_seq) if original_seq.isdigit() and int(original_seq) > 0 else None,
        "dead_at": message.at,
        "state": handled.state if handled else OPEN,
        "handled_by": handled.by if handled else None,
        "handled_at": handled.at if handled else None,
        "redrives": handled.redrives if handled else 0,
        "event": envelope_view(message.data, {}, with_payload=with_payload),
    }


async def _span(state: JetStreamState) -> tuple[int, int]:
    for info in await state.streams():
        if info.config.name == subjects.DEADLETTER_STREAM:
            return info.state.first_seq, info.state.last_seq
    return 0, 0


async def _read(messages: JetStreamMessages, seqs: list[int]) -> list[StoredMessage]:
    found = await asyncio.gather(*(messages.stored(subjects.DEADLETTER_STREAM, seq) for seq in seqs))
    return [m for m in found if m is not None]


async def page(
    store: GatewayStore,
    state: JetStreamState,
    messages: JetStreamMessages,
    wanted: LetterFilter,
    *,
    before: int | None,
    limit: int,
    with_payload: bool,
) -> dict[str, Any]:
    """Letters matching `wanted`, newest first, older than `before`."""
    first, last = await _span(state)
    top = last if before is None else min(before - 1, last)
    shown: list[dict[str, Any]] = []
    scanned = 0
    while top >= max(first, 1) and len(shown) < limit and scanned < SCAN_BUDGET:
        seqs = list(range(top, max(first, 1, top - READS_AT_ONCE + 1) - 1, -1))
        scanned += len(seqs)
        letters = await _read(messages, seqs)
        handled = await asyncio.to_thread(store.dead_letters.of, [m.seq for m in letters])
        for message in letters:
            if len(shown) < limit and wanted.matches(message, handled.get(message.seq)):
                shown.append(letter_view(message, handled.get(message.seq), with_payload=with_payload))
        top = seqs[-1] - 1
    more = shown[-1]["seq"] if len(shown) == limit else (top + 1 if top >= max(first, 1) else None)
    return {"letters": shown, "next_before": more if more and more > max(first, 1) else None, "scanned": scanned}


async def inspect(store: GatewayStore, messages: JetStreamMessages, seq: int, *, with_payload: bool) -> dict[str, Any]:
    message = await _letter(messages, seq)
    handled = (await asyncio.to_thread(store.dead_letters.of, [seq])).get(seq)
    return letter_view(message, handled, with_payload=with_payload)


async def _letter(messages: JetStreamMessages, seq: int) -> StoredMessage:
    message = await messages.stored(subjects.DEADLETTER_STREAM, seq)
    if message is None:
        raise NotFound(f"no dead letter at sequence {seq}")
    return message


async def redrive(store: GatewayStore, messages: JetStreamMessages, seq: int, actor: str) -> dict[str, Any]:
    """Publish the letter to its original subject again; `stored` is False when JetStream dropped
    it as a redrive it already has."""
    message = await _letter(messages, seq)
    subject = message.headers.get("Quarry-Subject")
    if not subject:
        raise BadRequest(f"dead letter {seq} does not say which subject it came from")
    headers = {"Nats-Msg-Id": REDRIVE_ID.format(seq=seq), "Quarry-Redrive-Of": str(seq)}
    stored = await messages.publish(subject, message.data, headers, subjects.STREAM)
    await asyncio.to_thread(store.dead_letters.mark, seq, REDRIVEN, actor)
    return {"seq": seq, "subject": subject, "stored": stored}


async def discard(store: GatewayStore, messages: JetStreamMessages, seq: int, actor: str) -> dict[str, Any]:
    """Mark the letter discarded: it is no longer listed as open."""
    await _letter(messages, seq)
    await asyncio.to_thread(store.dead_letters.mark, seq, DISCARDED, actor)
    return {"seq": seq, "state": DISCARDED}


async def matching_seqs(
    store: GatewayStore, state: JetStreamState, messages: JetStreamMessages, wanted: LetterFilter, limit: int
) -> list[int]:
    """The sequences of up to `limit` letters matching `wanted`, oldest first (a bulk action's order)."""
    found = await page(store, state, messages, wanted, before=None, limit=limit, with_payload=False)
    return sorted(letter["seq"] for letter in found["letters"])
