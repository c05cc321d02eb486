"""The SSRF guard's connections to real servers: the Host header and the server name (SNI) stay
the name's, a connection verified for one name serves no other, and pools close safely."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from quarry_security.egress import BlockedAddress, GuardedTransport, PerNamePools, system_resolver
from tests.fakes.bombs import Chunked
from tests.support.certs import builder, common_name, write_key, write_pem
from tests.support.resolvers import PUBLIC, Rebinding, Recorder

# --- a real TLS server: the Host header and the server name (SNI) stay the name's -----------------


@contextlib.asynccontextmanager
async def listening(
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]], context: ssl.SSLContext
) -> AsyncIterator[int]:
    """A TLS server on a free loopback port, running `serve` per connection; yields the port."""
    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class TlsServer:
    port: int
    ca: Path
    server_names: list[str | None] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


def _server_context(name: str) -> tuple[ssl.SSLContext, Path]:
    """A TLS server context with a fresh self-signed certificate for `name`, and the certificate's file."""
    cert, key = _certificate(Path(tempfile.mkdtemp(prefix="quarry-tls-")), name)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert


async def loopback(host: str, port: int) -> list[str]:
    """A resolver that answers every name with the loopback address."""
    return ["127.0.0.1"]


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = common_name(name)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        builder(
            subject, subject, key.public_key(), (now - datetime.timedelta(minutes=5), now + datetime.timedelta(hours=1))
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    write_pem(cert_path, cert)
    write_key(key_path, key)
    return cert_path, key_path


@pytest.fixture
async def tls_server() -> AsyncIterator[TlsServer]:
    context, cert = _server_context("models.example")
    state = TlsServer(port=0, ca=cert)

    def remember_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        state.server_names.append(name)

    context.sni_callback = remember_sni

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        for line in head.split("\r\n")[1:]:
            if line.lower().startswith("host:"):
                state.hosts.append(line.split(":", 1)[1].strip())
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    async with listening(serve, context) as state.port:
        yield state


async def test_tls_keeps_the_host_header_and_the_server_name(tls_server: TlsServer) -> None:
    verify = ssl.create_default_context(cafile=str(tls_server.ca))
    inner = httpx.AsyncHTTPTransport(verify=verify)
    guarded = GuardedTransport(inner, allow_private=True, resolver=loopback)
    async with httpx.AsyncClient(transport=guarded) as client:
        # The certificate names models.example only: it verifies because the name, not the
        # address, is what the TLS handshake checks.
        response = await client.get(f"https://models.example:{tls_server.port}/v1/models")
    assert response.status_code == 200 and response.text == "ok"
    assert tls_server.server_names == ["models.example"]
    assert tls_server.hosts == [f"models.example:{tls_server.port}"]


async def test_an_ipv6_answer_is_connected_to_in_brackets_with_the_name_kept() -> None:
    recorder = Recorder()
    guarded = GuardedTransport(recorder.transport(), resolver=Rebinding([["2606:4700::1111"]]))
    async with httpx.AsyncClient(transport=guarded) as client:
        await client.get("https://v6.example:8443/x?y=1")
    (sent,) = recorder.seen
    assert str(sent.url) == "https://[2606:4700::1111]:8443/x?y=1"
    assert sent.headers["host"] == "v6.example:8443" and sent.extensions["sni_hostname"] == "v6.example"


async def test_an_international_name_is_resolved_and_named_in_its_ascii_form() -> None:
    resolver, recorder = Rebinding([[PUBLIC]]), Recorder()
    async with httpx.AsyncClient(transport=GuardedTransport(recorder.transport(), resolver=resolver)) as client:
        await client.get("https://münchen.example/")
    assert resolver.asked == ["xn--mnchen-3ya.example"]
    (sent,) = recorder.seen
    assert sent.extensions["sni_hostname"] == "xn--mnchen-3ya.example"
    assert sent.headers["host"] == "xn--mnchen-3ya.example"


# --- one address, several names: a TLS connection verified for one name serves no other ---------


@dataclass
class KeepAliveServer:
    port: int
    ca: Path
    connections: int = 0
    hosts: list[str] = field(default_factory=list)


@pytest.fixture
async def keep_alive_server() -> AsyncIterator[KeepAliveServer]:
    """A TLS server for models.example only, that keeps each connection open for more requests."""
    context, cert = _server_context("models.example")
    state = KeepAliveServer(port=0, ca=cert)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            while head := (await reader.readuntil(b"\r\n\r\n")).decode():
                state.hosts += [
                    line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("host:")
                ]
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async with listening(serve, context) as state.port:
        yield state


async def test_a_connection_verified_for_one_name_is_not_reused_for_another_at_the_same_address(
    keep_alive_server: KeepAliveServer,
) -> None:
    verify = ssl.create_default_context(cafile=str(keep_alive_server.ca))
    guarded = GuardedTransport(PerNamePools(verify=verify), allow_private=True, resolver=loopback)
    port = keep_alive_server.port
    async with httpx.AsyncClient(transport=guarded) as client:
        assert (await client.get(f"https://models.example:{port}/a")).text == "ok"
        assert (await client.get(f"https://models.example:{port}/b")).text == "ok"  # its own connection, kept
        # The certificate does not name other.example: its request needs its own handshake, which fails.
        with pytest.raises(httpx.ConnectError, match="certificate"):
            await client.get(f"https://other.example:{port}/c")
    assert keep_alive_server.hosts == [f"models.example:{port}"] * 2
    assert keep_alive_server.connections == 1  # models.example's two requests shared one connection


async def test_a_pool_is_kept_while_its_answer_is_read_and_closed_once_idle(keep_alive_server: KeepAliveServer) -> None:
    now = [0.0]
    pools = PerNamePools(verify=ssl.create_default_context(cafile=str(keep_alive_server.ca)), clock=lambda: now[0])
    url = f"https://models.example:{keep_alive_server.port}/"
    async with httpx.AsyncClient(transport=GuardedTransport(pools, allow_private=True, resolver=loopback)) as client:
        async with client.stream("GET", url) as streaming:
            now[0] = 60.0
            assert (await client.get(url + "other")).text == "ok"  # the same name's pool, still in use
            assert pools.names == 1 and await streaming.aread() == b"ok"
        now[0] = 120.0
        with pytest.raises(httpx.ConnectError):
            await client.get(f"https://other.example:{keep_alive_server.port}/")
        assert pools.names == 1  # models.example's pool was idle: closed; other.example's is new
    assert keep_alive_server.connections == 2


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "fe80::1", "::ffff:169.254.169.254"]
)
async def test_allow_private_still_never_reaches_the_cloud_metadata_service(address: str) -> None:
    # Private addresses are allowed for an on-premises model server or an intranet, never the
    # metadata service, which hands this machine's cloud credentials to whoever asks.
    recorder = Recorder()
    guarded = GuardedTransport(recorder.transport(), allow_private=True, resolver=Rebinding([[address]]))
    async with httpx.AsyncClient(transport=guarded) as client:
        with pytest.raises(BlockedAddress, match=r"metadata|link-local"):
            await client.get("http://metadata.example/latest/meta-data/")
    assert recorder.seen == []


async def test_a_lookup_does_not_queue_behind_the_services_worker_threads() -> None:
    # Services run extraction and index searches with asyncio.to_thread; a lookup that shared that
    # pool would wait behind them, and a name whose DNS never answers would hold one of its threads.
    release = threading.Event()
    busy = [asyncio.ensure_future(asyncio.to_thread(release.wait)) for _ in range(64)]
    await asyncio.sleep(0)  # every one of them has asked for a thread
    try:
        async with asyncio.timeout(5):
            assert "127.0.0.1" in await system_resolver("localhost", 80)
    finally:
        release.set()
        await asyncio.gather(*busy)


async def test_proxy_variables_in_the_environment_do_not_take_requests_past_the_pin(
    keep_alive_server: KeepAliveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpx honours HTTP(S)_PROXY / ALL_PROXY only for a client without a transport of its own: a
    # proxy would resolve the name again, out of our sight.
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    pools = PerNamePools(verify=ssl.create_default_context(cafile=str(keep_alive_server.ca)))
    async with httpx.AsyncClient(transport=GuardedTransport(pools, allow_private=True, resolver=loopback)) as client:
        assert (await client.get(f"https://models.example:{keep_alive_server.port}/")).text == "ok"


@dataclass
class SlowToClose(httpx.AsyncBaseTransport):
    """A pool that answers 200 and takes until `gate` opens to close; used after closing, it fails."""

    gate: asyncio.Event
    closed: bool = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.closed:
            raise httpx.ConnectError("this pool is closed", request=request)
        return httpx.Response(200, stream=Chunked(b"ok"))  # streamed, as a real pool's answer is

    async def aclose(self) -> None:
        self.closed = True
        await self.gate.wait()


async def test_a_request_never_takes_a_pool_that_is_being_closed() -> None:
    gate, now = asyncio.Event(), [0.0]
    pools = PerNamePools(clock=lambda: now[0], make=lambda context: SlowToClose(gate))
    guarded = GuardedTransport(pools, resolver=Rebinding([[PUBLIC]]))
    async with httpx.AsyncClient(transport=guarded) as client:
        for name in ("a", "b"):
            await client.get(f"https://{name}.example/")
        now[0] = 60.0  # both idle: the next request closes them, and a.example's close is slow
        first = asyncio.ensure_future(client.get("https://c.example/"))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(client.get("https://b.example/"))  # meanwhile
        await asyncio.sleep(0.01)
        gate.set()
        assert [(await first).text, (await second).text] == ["ok", "ok"]
        assert pools.names == 2  # c.example's pool and b.example's new one
