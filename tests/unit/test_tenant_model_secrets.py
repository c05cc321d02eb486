"""Sealing a tenant's model API key: it opens only with the same secrets key, for the same tenant and
endpoint URL;
the settings refuse a placeholder secrets key in production."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError

from quarry_runtime.tenant_models import (
    DEV_SECRETS_KEY,
    LegacySecret,
    SecretBox,
    SecretError,
    StoredEndpoint,
    key_context,
    kv_key,
    tenant_of_key,
)
from services.analyst.bootstrap import AnalystSettings
from services.gateway.settings import GatewaySettings

KEY = "sk-live-0123456789abcdefWXYZ"
SECRETS = "a-real-secrets-key-of-at-least-32-bytes!"
URL = "https://models.example/v1"
A = key_context("tenant-a", URL)


def test_a_sealed_key_opens_to_the_same_text_and_each_seal_differs() -> None:
    box = SecretBox(SECRETS)
    first, second = box.seal(KEY, context=A), box.seal(KEY, context=A)
    assert first != second  # a fresh nonce each time
    assert box.open(first, context=A) == KEY
    assert SecretBox(SECRETS).open(second, context=A) == KEY  # another process, same secret


def test_another_secrets_key_or_tenant_or_a_changed_byte_does_not_open() -> None:
    sealed = SecretBox(SECRETS).seal(KEY, context=A)
    with pytest.raises(SecretError):
        SecretBox(DEV_SECRETS_KEY).open(sealed, context=A)
    with pytest.raises(SecretError):
        SecretBox(SECRETS).open(sealed, context=("tenant-b", URL))  # moved to another tenant's entry
    with pytest.raises(SecretError):
        SecretBox(SECRETS).open(sealed, context=("tenant-a", "https://attacker.example/v1"))  # moved to another URL
    # One bit of the ciphertext flipped after the "v2." prefix (a base64 character near the end
    # may carry only padding bits, so changing a character there was not always a change).
    prefix, body = sealed[:3], base64.urlsafe_b64decode(sealed[3:])
    flipped = prefix + base64.urlsafe_b64encode(body[:20] + bytes([body[20] ^ 1]) + body[21:]).decode()
    with pytest.raises(SecretError):
        SecretBox(SECRETS).open(flipped, context=A)
    with pytest.raises(SecretError):
        SecretBox(SECRETS).open(KEY, context=A)  # plain text is not a sealed value


def test_the_parts_of_the_context_cannot_be_shifted_into_each_other() -> None:
    sealed = SecretBox(SECRETS).seal(KEY, context=("tenant-a", "https://x.example|b"))
    with pytest.raises(SecretError):
        SecretBox(SECRETS).open(sealed, context=("tenant-a|https://x.example", "b"))


def test_a_key_sealed_for_its_tenant_only_is_refused_with_how_to_fix_it() -> None:
    nonce = b"\x00" * 12
    legacy = "v1." + base64.urlsafe_b64encode(nonce + _v1_aead().encrypt(nonce, KEY.encode(), b"tenant-a")).decode()
    with pytest.raises(LegacySecret, match="reseal-model-keys"):
        SecretBox(SECRETS).open(legacy, context=A)
    assert SecretBox(SECRETS).open_legacy(legacy, tenant_id="tenant-a") == KEY
    with pytest.raises(SecretError):
        SecretBox(SECRETS).open_legacy(legacy, tenant_id="tenant-b")


def _v1_aead() -> AESGCM:
    """The cipher of a v1 seal, as the gateway before URL binding derived it."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"quarry tenant secrets v1")
    return AESGCM(hkdf.derive(SECRETS.encode()))


def test_the_stored_form_holds_no_plain_text_of_the_key() -> None:
    sealed = SecretBox(SECRETS).seal(KEY, context=A)
    raw = StoredEndpoint("https://models.example/v1", "m", sealed, 1.0, "u").to_json()
    assert KEY.encode() not in raw and KEY[:12].encode() not in raw
    assert StoredEndpoint.from_json(raw).sealed_key == sealed


def test_tenant_ids_become_valid_bucket_keys() -> None:
    assert kv_key("0193a7e2-5f1c-7d2e-8b4a-1c2d3e4f5a6b") == "0193a7e2-5f1c-7d2e-8b4a-1c2d3e4f5a6b"
    odd = kv_key("acme corp/eu")
    assert odd.startswith("h.") and " " not in odd and "/" not in odd
    assert kv_key("acme corp/eu") != kv_key("acme corp/us")
    for tenant in ("0193a7e2-5f1c-7d2e-8b4a-1c2d3e4f5a6b", "acme corp/eu"):
        assert tenant_of_key(kv_key(tenant)) == tenant


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
