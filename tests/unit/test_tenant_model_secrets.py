"""Sealing a tenant's model API key: it opens only with the same secrets key and for the same tenant;
the settings refuse a placeholder secrets key in production."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from quarry_runtime.tenant_models import DEV_SECRETS_KEY, SecretBox, SecretError, StoredEndpoint, kv_key
from services.analyst.bootstrap import AnalystSettings
from services.gateway.settings import GatewaySettings

KEY = "sk-live-0123456789abcdefWXYZ"
SECRETS = "a-real-secrets-key-of-at-least-32-bytes!"


def test_a_sealed_key_opens_to_the_same_text_and_each_seal_differs() -> None:
    box = SecretBox(SECRETS)
    first, second = box.seal(KEY, context="tenant-a"), box.seal(KEY, context="tenant-a")
    assert first != second  # a fresh nonce each time
    assert box.open(first, context="tenant-a") == KEY
    assert SecretBox(SECRETS).open(second, context="tenant-a") == KEY  # another process, same secret


def test_another_secrets_key_or_tenant_or_a_changed_byte_does_not_open() -> None:
    sealed = SecretBox(SECRETS).seal(KEY, context="tenant-a")
    with pytest.raises(SecretError):
        SecretBox(DEV_SECRETS_KEY).open(sealed, context="tenant-a")
    with pytest.raises(SecretError):
        SecretBox(SECRETS).open(sealed, context="tenant-b")  # moved to another tenant's entry
    # One bit of the ciphertext flipped after the "v1." prefix (a base64 character near the end
    # may carry only padding bits, so changing a character there was not always a change).
    prefix, body = sealed[:3], base64.urlsafe_b64decode(sealed[3:])
    flipped = prefix + base64.urlsafe_b64encode(body[:20] + bytes([body[20] ^ 1]) + body[21:]).decode()
    with pytest.raises(SecretError):
        SecretBox(SECRETS).open(flipped, context="tenant-a")
    with pytest.raises(SecretError):
        SecretBox(SECRETS).open(KEY, context="tenant-a")  # plain text is not a sealed value


def test_the_stored_form_holds_no_plain_text_of_the_key() -> None:
    sealed = SecretBox(SECRETS).seal(KEY, context="tenant-a")
    raw = StoredEndpoint("https://models.example/v1", "m", sealed, 1.0, "u").to_json()
    assert KEY.encode() not in raw and KEY[:12].encode() not in raw
    assert StoredEndpoint.from_json(raw).sealed_key == sealed


def test_tenant_ids_become_valid_bucket_keys() -> None:
    assert kv_key("0193a7e2-5f1c-7d2e-8b4a-1c2d3e4f5a6b") == "0193a7e2-5f1c-7d2e-8b4a-1c2d3e4f5a6b"
    odd = kv_key("acme corp/eu")
    assert odd.startswith("h.") and " " not in odd and "/" not in odd
    assert kv_key("acme corp/eu") != kv_key("acme corp/us")


def test_production_refuses_the_development_secrets_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUARRY_SECRETS_KEY", raising=False)
    jwt = "a-real-jwt-secret-of-at-least-32-bytes!!"
    with pytest.raises(ValidationError, match="QUARRY_SECRETS_KEY"):
        GatewaySettings(environment="production", jwt_secret=jwt)
    assert GatewaySettings(environment="production", jwt_secret=jwt, secrets_key=SECRETS).secrets_key == SECRETS
    monkeypatch.setenv("QUARRY_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="QUARRY_SECRETS_KEY"):
        AnalystSettings()
    monkeypatch.setenv("QUARRY_SECRETS_KEY", SECRETS)
    assert AnalystSettings().secrets_key.get_secret_value() == SECRETS
