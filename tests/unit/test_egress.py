"""The SSRF guard: one lookup per request, every address checked, the request sent to the checked one."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from quarry_security.egress import BlockedAddress, GuardedTransport, Unresolvable, address_problem, non_public
from tests.support.resolvers import PUBLIC, Rebinding, Recorder


async def test_a_name_that_rebinds_inward_after_the_check_is_never_connected_to() -> None:
    resolver = Rebinding([[PUBLIC], ["127.0.0.1"]])
    recorder = Recorder()
    guarded = GuardedTransport(recorder.transport(), resolver=resolver)
    async with httpx.AsyncClient(transport=guarded) as client:
        first = await client.get("http://rebind.example/page")
        assert first.status_code == 200
        with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1"):
            await client.get("http://rebind.example/page")
    assert resolver.asked == ["rebind.example", "rebind.example"]  # one lookup per request, no second one
    (sent,) = recorder.seen  # the second request reached nothing
    assert sent.url.host == PUBLIC and sent.url.path == "/page"
    assert sent.headers["host"] == "rebind.example"


async def test_one_inner_address_among_public_ones_refuses_the_name() -> None:
    recorder = Recorder()
    guarded = GuardedTransport(recorder.transport(), resolver=Rebinding([[PUBLIC, "10.0.0.7"]]))
    async with httpx.AsyncClient(transport=guarded) as client:
        with pytest.raises(BlockedAddress, match=r"10\.0\.0\.7"):
            await client.get("https://mixed.example/")
    assert recorder.seen == []


async def test_a_name_that_does_not_resolve_is_refused_not_passed_on() -> None:
    async def failing(host: str, port: int) -> list[str]:
        raise OSError(-2, "Name or service not known")

    recorder = Recorder()
    async with httpx.AsyncClient(transport=GuardedTransport(recorder.transport(), resolver=failing)) as client:
        with pytest.raises(Unresolvable, match="does not resolve"):
            await client.get("http://nowhere.example/")
    assert recorder.seen == []
    assert await non_public("http://nowhere.example/", resolver=failing) is not None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "169.254.169.254",
        "10.1.2.3",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata service
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "fec0::1",  # site-local: deprecated, still routed inside some networks
        "fe80::1%eth0",  # link-local with a scope
    ],
)
def test_inner_addresses_are_judged_by_the_ipv4_inside_them(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", [PUBLIC, "2606:4700::1111", "64:ff9b::5db8:d822", "2002:5db8:d822::1"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


async def test_nat64_and_6to4_answers_are_refused() -> None:
    for inward in ("64:ff9b::7f00:1", "2002:7f00:1::"):
        recorder = Recorder()
        guarded = GuardedTransport(recorder.transport(), resolver=Rebinding([[inward]]))
        async with httpx.AsyncClient(transport=guarded) as client:
            with pytest.raises(BlockedAddress, match=r"127\.0\.0\.1"):
                await client.get("http://v6.example/")
        assert recorder.seen == []


async def test_allow_private_reaches_a_local_server_by_the_checked_address() -> None:
    recorder = Recorder()
    guarded = GuardedTransport(recorder.transport(), allow_private=True, resolver=Rebinding([["127.0.0.1"]]))
    async with httpx.AsyncClient(transport=guarded) as client:
        assert (await client.post("http://models.internal:8080/v1/x", json={"a": 1})).status_code == 200
    (sent,) = recorder.seen
    assert sent.url.host == "127.0.0.1" and sent.url.port == 8080
    assert sent.headers["host"] == "models.internal:8080"
    assert sent.content == b'{"a":1}'
