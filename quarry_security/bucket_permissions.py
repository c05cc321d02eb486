"""What reading and writing JetStream's buckets takes, as NATS permissions: the building blocks
of each service's user in quarry_security.natsauth, and the operational records every service
keeps beside the event stream (its instances' heartbeats; the gateway's consumer lag samples)."""

from __future__ import annotations

from contracts import subjects as s
from contracts.ops import HEARTBEATS_BUCKET


def kv(bucket: str) -> tuple[str, ...]:
    """Write a key-value bucket (and create it when missing)."""
    return (f"$KV.{bucket}.>", *kv_read(bucket))


def kv_read(bucket: str) -> tuple[str, ...]:
    """Read a key-value bucket: opening it creates it when missing, whoever comes first."""
    return (f"$JS.API.STREAM.CREATE.KV_{bucket}", *stream_read(f"KV_{bucket}"))


def objects(bucket: str) -> tuple[str, ...]:
    """Write and read an object store: a replaced or deleted object's chunks are purged."""
    stream = f"OBJ_{bucket}"
    return (
        f"$O.{bucket}.>",
        f"$JS.API.STREAM.CREATE.{stream}",
        f"$JS.API.STREAM.PURGE.{stream}",
        *stream_read(stream),
    )


def stream_read(stream: str) -> tuple[str, ...]:
    """Read a bucket's stream: get a message (a key's value, an object's description), and
    watch or list keys and read an object's chunks through an ephemeral ordered consumer, whose
    filter subject the API subject does not show; so never on the event stream."""
    return (
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.CONSUMER.CREATE.{stream}",
        # A key-value watcher reads its consumer's description (how many entries are pending).
        f"$JS.API.CONSUMER.INFO.{stream}.*",
    )


def heartbeats(service: str) -> tuple[str, ...]:
    """Write its own instances' heartbeats (quarry_runtime.heartbeat), and no other service's."""
    return (f"$KV.{HEARTBEATS_BUCKET}.{service}.>", *kv_read(HEARTBEATS_BUCKET))


# The gateway samples every durable consumer's lag (read as `OPS`) into a stream of its own,
# de-duplicated per consumer and time slot between its replicas, and reads it back for the console.
LAG_SAMPLES = (
    *s.LAG_SUBJECTS,
    f"$JS.API.STREAM.CREATE.{s.LAG_STREAM}",
    f"$JS.API.STREAM.INFO.{s.LAG_STREAM}",
    f"$JS.API.DIRECT.GET.{s.LAG_STREAM}",
    f"$JS.API.DIRECT.GET.{s.LAG_STREAM}.>",
)
