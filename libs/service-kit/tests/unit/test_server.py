"""The bounded httptools protocol against a fake transport: head size and head time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from service_kit.server import BoundedHttpToolsProtocol

pytestmark = pytest.mark.unit

LIMIT = 1024
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def connect(
    loop: asyncio.AbstractEventLoop, *, header_timeout: float = 10.0
) -> tuple[BoundedHttpToolsProtocol, FakeTransport]:
    config = Config(app=app, log_config=None, proxy_headers=False, lifespan="off")
    protocol = BoundedHttpToolsProtocol(
        config,
        ServerState(),
        {},
        loop,
        max_header_bytes=LIMIT,
        header_timeout=header_timeout,
    )
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


def run_tasks(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(asyncio.sleep(0.01))


def status_lines(transport: FakeTransport) -> list[bytes]:
    return [line for line in bytes(transport.written).split(b"\r\n") if line.startswith(b"HTTP/")]


def test_a_request_under_the_limit_is_served(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport = connect(loop)
    protocol.data_received(GET)
    run_tasks(loop)
    assert status_lines(transport) == [b"HTTP/1.1 204 No Content"]
    assert not transport.closed


def test_a_head_over_the_limit_is_answered_431_and_closed(
    loop: asyncio.AbstractEventLoop,
) -> None:
    protocol, transport = connect(loop)
    protocol.data_received(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 2 * LIMIT + b"\r\n\r\n")
    assert status_lines(transport) == [b"HTTP/1.1 431 Request Header Fields Too Large"]
    assert b"connection: close" in transport.written
    assert transport.closed


def test_a_head_over_the_limit_in_small_reads_is_answered_431(
    loop: asyncio.AbstractEventLoop,
) -> None:
    protocol, transport = connect(loop)
    protocol.data_received(b"GET / HTTP/1.1\r\nX-Big: ")
    while not transport.closed:
        protocol.data_received(b"a" * 100)
    assert status_lines(transport) == [b"HTTP/1.1 431 Request Header Fields Too Large"]


def test_the_parser_never_holds_more_than_the_limit(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport = connect(loop)
    fed: list[int] = []
    feed = protocol.parser.feed_data
    protocol.parser = type(  # a recording parser: what reaches httptools, read by read
        "Recorder", (), {"feed_data": lambda _, data: (fed.append(len(data)), feed(data))}
    )()
    protocol.data_received(b"GET /" + b"a" * 5 * 1024 * 1024)
    assert sum(fed) <= LIMIT
    assert transport.closed


def test_a_head_of_exactly_the_limit_is_served(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport = connect(loop)
    padding = LIMIT - len(GET) - len(b"X-Pad: \r\n")
    protocol.data_received(GET[:-2] + b"X-Pad: " + b"a" * padding + b"\r\n\r\n")
    run_tasks(loop)
    assert status_lines(transport) == [b"HTTP/1.1 204 No Content"]


def test_pipelined_requests_are_each_served(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport = connect(loop)
    protocol.data_received(GET * 3)
    for _ in range(3):
        run_tasks(loop)
    assert status_lines(transport) == [b"HTTP/1.1 204 No Content"] * 3


def test_keep_alive_requests_each_get_their_own_budget(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport = connect(loop)
    padded = GET[:-2] + b"X-Pad: " + b"a" * (LIMIT - 100) + b"\r\n\r\n"
    for _ in range(5):
        protocol.data_received(padded)
        run_tasks(loop)
    assert status_lines(transport) == [b"HTTP/1.1 204 No Content"] * 5


def test_a_body_is_not_counted_as_head(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport = connect(loop)
    body = b"x" * 4 * LIMIT
    protocol.data_received(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    run_tasks(loop)
    assert status_lines(transport) == [b"HTTP/1.1 204 No Content"]


def test_a_request_pipelined_after_a_body_is_served(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport = connect(loop)
    body = b"x" * 3 * LIMIT
    post = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    protocol.data_received(post + GET)
    for _ in range(2):
        run_tasks(loop)
    assert status_lines(transport) == [b"HTTP/1.1 204 No Content"] * 2


def test_a_malformed_request_is_still_a_400(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport = connect(loop)
    protocol.data_received(b"NOT HTTP AT ALL\r\n\r\n")
    assert status_lines(transport) == [b"HTTP/1.1 400 Bad Request"]


def test_unfinished_headers_are_answered_408_after_the_timeout(
    loop: asyncio.AbstractEventLoop,
) -> None:
    protocol, transport = connect(loop, header_timeout=0.05)
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n")
    loop.run_until_complete(asyncio.sleep(0.1))
    assert status_lines(transport) == [b"HTTP/1.1 408 Request Timeout"]
    assert transport.closed


def test_a_connection_that_sends_nothing_is_closed_after_the_timeout(
    loop: asyncio.AbstractEventLoop,
) -> None:
    _, transport = connect(loop, header_timeout=0.05)
    loop.run_until_complete(asyncio.sleep(0.1))
    assert transport.closed


def test_a_trickled_head_does_not_reset_the_timeout(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport = connect(loop, header_timeout=0.1)
    protocol.data_received(b"GET / HTTP/1.1\r\n")
    for _ in range(10):
        if transport.closed:
            break
        protocol.data_received(b"X: y\r\n")
        loop.run_until_complete(asyncio.sleep(0.03))
    assert status_lines(transport) == [b"HTTP/1.1 408 Request Timeout"]


def test_a_completed_head_disarms_the_timeout(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport = connect(loop, header_timeout=0.05)
    protocol.data_received(GET)
    loop.run_until_complete(asyncio.sleep(0.1))
    assert status_lines(transport) == [b"HTTP/1.1 204 No Content"]
    assert not transport.closed  # left to uvicorn's keep-alive timeout (5 s)


def test_the_next_request_on_a_kept_alive_connection_has_the_timeout(
    loop: asyncio.AbstractEventLoop,
) -> None:
    protocol, transport = connect(loop, header_timeout=0.05)
    protocol.data_received(GET)
    run_tasks(loop)
    protocol.data_received(b"GET / HTTP/1.1\r\n")
    loop.run_until_complete(asyncio.sleep(0.1))
    assert status_lines(transport) == [b"HTTP/1.1 204 No Content", b"HTTP/1.1 408 Request Timeout"]
