"""A local server speaking the part of Stripe's API billing uses, and signed webhooks.

localstripe (PyPI) has no Checkout or billing-portal sessions, so this serves those two calls
the way Stripe does: form-encoded bodies with bracketed keys, `Authorization: Bearer sk_...`,
and `Idempotency-Key` (a repeated key answers the first response again, and the same key with
other parameters is a 400, as on Stripe). Webhooks are signed with Stripe's scheme
(`Stripe-Signature: t=<unix>,v1=<HMAC-SHA256(secret, "<t>.<body>")>`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.serving import serve_app

SECRET_KEY = "sk_test_quarry_fake"
WEBHOOK_SECRET = "whsec_quarry_test_secret"


def sign(payload: str, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """A `Stripe-Signature` header for `payload`, as Stripe computes it."""
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def event(event_id: str, kind: str, obj: dict[str, Any], created: int | None = None) -> str:
    """A webhook body: a Stripe event object around `obj`."""
    body = {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created or int(time.time()),
        "livemode": False,
        "type": kind,
        "data": {"object": obj},
    }
    return json.dumps(body)


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0][c]=v`) back into nested dicts (list indexes as keys)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


class FakeStripe:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None, dict[str, Any]]] = []  # (path, idempotency key, params)
        self.sessions: dict[str, dict[str, Any]] = {}
        self._replies: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.app = self._build()

    def created(self, path: str) -> list[dict[str, Any]]:
        """Objects actually created on `path` (idempotent replays excluded)."""
        return [params for p, _, params in self.requests if p == path]

    def _build(self) -> FastAPI:
        app = FastAPI()

        async def create(request: Request, path: str, make: Any) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {SECRET_KEY}":
                return _error(401, "invalid_request_error", "Invalid API Key provided")
            params = unflatten(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            key = request.headers.get("idempotency-key")
            with self._lock:
                if key and key in self._replies:
                    first_params, reply = self._replies[key]
                    if first_params != params:
                        return _error(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same parameters",
                        )
                    return JSONResponse(reply, headers={"Idempotent-Replayed": "true"})
                reply = make(params)
                self.requests.append((path, key, params))
                if key:
                    self._replies[key] = (params, reply)
            return JSONResponse(reply)

        @app.post("/v1/checkout/sessions")
        async def checkout(request: Request) -> JSONResponse:
            def make(params: dict[str, Any]) -> dict[str, Any]:
                if params.get("mode") not in ("payment", "subscription"):
                    raise ValueError("mode")
                sid = f"cs_test_{uuid.uuid4().hex[:24]}"
                session = {
                    "id": sid,
                    "object": "checkout.session",
                    "mode": params["mode"],
                    "url": f"https://checkout.stripe.com/c/pay/{sid}",
                    "status": "open",
                    "payment_status": "unpaid",
                    "client_reference_id": params.get("client_reference_id"),
                    "customer": params.get("customer"),
                    "metadata": params.get("metadata", {}),
                    "success_url": params.get("success_url"),
                    "cancel_url": params.get("cancel_url"),
                }
                self.sessions[sid] = session
                return session

            return await create(request, "/v1/checkout/sessions", make)

        @app.post("/v1/billing_portal/sessions")
        async def portal(request: Request) -> JSONResponse:
            def make(params: dict[str, Any]) -> dict[str, Any]:
                pid = f"bps_{uuid.uuid4().hex[:24]}"
                return {
                    "id": pid,
                    "object": "billing_portal.session",
                    "customer": params.get("customer"),
                    "return_url": params.get("return_url"),
                    "url": f"https://billing.stripe.com/p/session/{pid}",
                }

            return await create(request, "/v1/billing_portal/sessions", make)

        return app


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


@contextmanager
def serve(fake: FakeStripe) -> Iterator[str]:
    """Run the fake on a free loopback port; yields its base address (for `base_addresses["api"]`)."""
    with serve_app(fake.app, "fake-stripe") as url:
        yield url
