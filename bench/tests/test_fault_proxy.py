"""The fault proxy forwards, injects 503s and delay, and goes down like a stopped service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from bench.fault_proxy import FaultProxy, Faults


async def _upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A keep-alive HTTP/1.1 server that echoes the request line as the body."""
    while line := await reader.readline():
        length = 0
        while (header := await reader.readline()) not in (b"\r\n", b""):
            if header.lower().startswith(b"content-length:"):
                length = int(header.split(b":")[1])
        body = await reader.readexactly(length) + line.strip()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
    writer.close()


def _run(test: Callable[[FaultProxy, httpx.AsyncClient], Awaitable[None]]) -> None:
    async def main() -> None:
        upstream = await asyncio.start_server(_upstream, "127.0.0.1", 0)
        port = upstream.sockets[0].getsockname()[1]
        proxy = FaultProxy(f"http://127.0.0.1:{port}", seed=1)
        await proxy.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}") as client:
                await test(proxy, client)
        finally:
            await proxy.close()
            upstream.close()

    asyncio.run(main())


def test_proxy_forwards_requests_and_bodies_over_keep_alive() -> None:
    async def check(proxy: FaultProxy, client: httpx.AsyncClient) -> None:
        for _ in range(3):
            response = await client.post("/users", content=b"abc")
            assert response.status_code == 200
            assert response.content == b"abcPOST /users HTTP/1.1"
        assert proxy.stats["forwarded"] == 3

    _run(check)


def test_proxy_answers_503_for_the_configured_fraction() -> None:
    async def check(proxy: FaultProxy, client: httpx.AsyncClient) -> None:
        await proxy.set_faults(Faults(error_rate=0.2))
        statuses = [(await client.get("/users/1")).status_code for _ in range(500)]
        assert 0.14 < statuses.count(503) / 500 < 0.26
        assert set(statuses) == {200, 503}

    _run(check)


def test_proxy_delays_each_request_when_asked() -> None:
    async def check(proxy: FaultProxy, client: httpx.AsyncClient) -> None:
        await proxy.set_faults(Faults(delay=0.2))
        start = time.monotonic()
        assert (await client.get("/users/1")).status_code == 200
        assert time.monotonic() - start >= 0.2

    _run(check)


def test_proxy_refuses_connections_while_down_and_serves_again_when_up() -> None:
    async def check(proxy: FaultProxy, client: httpx.AsyncClient) -> None:
        assert (await client.get("/users/1")).status_code == 200
        await proxy.set_faults(Faults(down=True))
        with pytest.raises(httpx.RemoteProtocolError):  # the kept-alive connection was reset
            await client.get("/users/1")
        with pytest.raises(httpx.ConnectError):  # and new ones are refused
            await client.get("/users/1")
        await proxy.set_faults(Faults())
        assert (await client.get("/users/1")).status_code == 200

    _run(check)


def test_faults_refuse_an_error_rate_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        Faults(error_rate=1.5)
