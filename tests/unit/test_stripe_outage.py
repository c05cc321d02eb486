"""Stripe unreachable is an outage the caller hears as one (503: try again), not a refusal (502)
and not a crash; a refusal from Stripe stays a refusal."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from contracts.billing import CheckoutRequest
from devtools.natsserver import free_port
from services.billing.errors import PaymentError
from services.billing.payments import LiveStripe
from services.billing.plans import PACKS

KEY = "sk_test_outage"


def checkout() -> CheckoutRequest:
    return CheckoutRequest(
        tenant_id="t1",
        kind="pack",
        item=next(iter(PACKS)),
        success_url="https://app.example/ok",
        cancel_url="https://app.example/cancel",
        request_id="r1",
    )


@pytest.fixture
def refusing_stripe() -> Iterator[str]:
    """Answers every request as Stripe answers a card it declines: 402 with an error body."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"error": {"type": "card_error", "message": "Your card was declined."}}).encode()
            self.send_response(402)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_stripe_nobody_answers_for_is_a_503() -> None:
    stripe = LiveStripe(KEY, None, api_base=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PaymentError, match="could not be reached") as caught:
        await stripe.checkout(checkout(), None)
    assert caught.value.status == 503


async def test_a_refusal_from_stripe_is_a_502_with_its_reason(refusing_stripe: str) -> None:
    stripe = LiveStripe(KEY, None, api_base=refusing_stripe)
    with pytest.raises(PaymentError, match="declined") as caught:
        await stripe.checkout(checkout(), None)
    assert caught.value.status == 502
