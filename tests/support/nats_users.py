"""A nats-server with every service's own user (quarry_security.natsauth), and clients of it
that record the permission violations the server reports."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from nats.aio.client import Client

from contracts import consumers, subjects
from contracts.run import RunCompleted
from devtools import natsserver
from quarry_runtime.bus import Bus, Subscription
from quarry_security import natsauth
from tests.support.certs import builder, common_name, write_key, write_pem


@dataclass(frozen=True)
class Server:
    url: str  # no credentials in it
    passwords: dict[str, str]
    admin: tuple[str, str]  # a user without limits, to look at what the services did


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("nats-identity")
    passwords = natsauth.StackCredentials(root / "credentials").ensure()
    admin = ("quarry-test", passwords.pop(natsauth.OPERATOR))
    config = natsauth.write_server_config(root / "nats.conf", passwords, admin=admin)
    proc, url = natsserver.start(root / "store", config_file=config)
    yield Server(url, passwords, admin)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


class Violations:
    """The permission errors the server reports to one connection (asynchronously)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def record(self, error: Exception) -> None:
        self.seen.append(str(error))

    async def wait_for(self, subject: str, timeout_s: float = 5.0) -> str:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            for text in self.seen:
                if "permissions violation" in text.lower() and subject.lower() in text.lower():
                    return text
            await asyncio.sleep(0.05)
        raise AssertionError(f"no permissions violation for {subject}; saw {self.seen}")


async def connect_as(server: Server, service: str, errors: Violations) -> Client:
    return await nats.connect(
        server.url,
        user=service,
        password=server.passwords[service],
        inbox_prefix=f"_INBOX_{service}",
        error_cb=errors.record,
        allow_reconnect=False,
    )


# Billing's own consumer of completed runs: a service's user runs only the consumers it has.
BILLING_COMPLETED = consumers.durable("billing", subjects.RUN_COMPLETED)


@pytest.fixture
async def streams(server: Server) -> AsyncIterator[None]:
    # The streams exist as every service's start makes them.
    bus = Bus(server.url, "policy", credentials=("policy", server.passwords["policy"]))
    await bus.start()
    yield
    await bus.stop()


async def stored(nc: Client, subject: str) -> int:
    info = await nc.jetstream().stream_info(subjects.STREAM, subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


async def billing_has_its_consumer(server: Server) -> None:
    """Billing's consumer of completed runs exists, as a running billing leaves it."""
    billing = Bus(server.url, "billing", credentials=("billing", server.passwords["billing"]))

    async def ignore(ev: RunCompleted) -> None:
        return None

    billing.subscribe(Subscription(subjects.RUN_COMPLETED, BILLING_COMPLETED, ignore))
    await billing.start()
    await billing.stop()


def write_tls(directory: Path) -> Path:
    """A CA, and a certificate it signed for localhost (the server's); returns the CA file."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = common_name("quarry-test-ca")
    valid = (now - timedelta(minutes=1), now + timedelta(days=1))
    ca = (
        builder(ca_name, ca_name, ca_key.public_key(), valid)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        builder(common_name("localhost"), ca_name, key.public_key(), valid)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    write_pem(directory / "ca.crt", ca)
    write_pem(directory / "tls.crt", cert)
    write_key(directory / "tls.key", key)
    return directory / "ca.crt"
