"""Every bucket a service opens gets the deployment's replicas and byte limits."""

from __future__ import annotations

import pytest

from quarry_runtime.bus import Bus
from quarry_runtime.settings import MiB, RuntimeSettings


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> RuntimeSettings:
    monkeypatch.setenv("QUARRY_ENVIRONMENT", "development")
    monkeypatch.setenv("QUARRY_STREAM_REPLICAS", "3")
    monkeypatch.setenv("QUARRY_KV_MAX_BYTES", str(5 * MiB))
    monkeypatch.setenv("QUARRY_OBJECT_STORE_MAX_BYTES", str(7 * MiB))
    return RuntimeSettings()


def test_a_key_value_bucket_gets_the_replicas_and_limit_of_the_deployment(settings: RuntimeSettings) -> None:
    bucket = Bus.from_settings(settings, "svc").buckets.key_value("journal", ttl_s=60.0)
    assert (bucket.config.replicas, bucket.config.max_bytes) == (3, 5 * MiB)


def test_an_object_store_gets_the_replicas_and_limit_of_the_deployment(settings: RuntimeSettings) -> None:
    bucket = Bus.from_settings(settings, "svc").buckets.object_store("uploads")
    assert (bucket.config.replicas, bucket.config.max_bytes) == (3, 7 * MiB)


def test_a_bucket_may_ask_for_a_smaller_limit_but_not_fewer_replicas(settings: RuntimeSettings) -> None:
    bucket = Bus.from_settings(settings, "svc").buckets.key_value("marks", max_bytes=MiB)
    assert (bucket.config.replicas, bucket.config.max_bytes) == (3, MiB)
