"""``serve`` as deployed: a real uvicorn process on a free port, spoken to over raw sockets.

The app answers with the client address it sees, so the proxy-header setting shows too.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.ports import free_port

pytestmark = pytest.mark.integration

HEADER_TIMEOUT = 1.0
APP = textwrap.dedent(
    """
    from typing import ClassVar
    from pydantic_settings import SettingsConfigDict
    from service_kit.cli import serve
    from service_kit.settings import ServiceSettings

    class Settings(ServiceSettings):
        service_name: ClassVar[str] = "service-kit"
        model_config = SettingsConfigDict(env_prefix="PROBE_")

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = scope["client"][0].encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def create_app():
        return app

    if __name__ == "__main__":
        serve(Settings(database_url="postgresql://localhost/probe"), "probe_app:create_app")
    """
)
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


def _start(tmp_path: Path, **env: str) -> Iterator[Server]:
    (tmp_path / "probe_app.py").write_text(APP)
    port = free_port()
    environ = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "PROBE_PORT": str(port),
        "PROBE_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "PROBE_LOG_LEVEL": "WARNING",
        **env,
    }
    process = subprocess.Popen([sys.executable, str(tmp_path / "probe_app.py")], env=environ)
    server = Server(process, port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server.connect().close()
                break
            except OSError:
                assert process.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _start(tmp_path_factory.mktemp("server"))


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _responses(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` responses read off a kept-alive connection (each has a content-length)."""
    buffer, responses = b"", []
    while len(responses) < count:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        buffer += chunk
        while b"\r\n\r\n" in buffer:
            head, rest = buffer.split(b"\r\n\r\n", 1)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(rest) < length:
                break
            responses.append(head.split(b"\r\n")[0] + b" " + rest[:length])
            buffer = rest[length:]
    return responses


def _send_ignoring_reset(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)  # the server may answer and close before reading it all


def test_a_20_kib_header_is_answered_431_and_the_connection_closed(server: Server) -> None:
    with server.connect() as sock:
        big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20480 + b"\r\n\r\n"
        _send_ignoring_reset(sock, big)
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"connection: close" in answer


def test_a_5_mb_header_is_answered_431_without_growing_memory(server: Server) -> None:
    before = server.rss_kib()
    for _ in range(3):
        with server.connect() as sock:
            _send_ignoring_reset(
                sock, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5 * 1024 * 1024
            )
            assert _read_all(sock).startswith(b"HTTP/1.1 431 ")
    assert server.rss_kib() - before < 2048


def test_unfinished_headers_are_answered_408_within_the_timeout(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        answer = _read_all(sock)
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert HEADER_TIMEOUT * 0.9 <= elapsed < HEADER_TIMEOUT + 1.5


def test_a_silent_connection_is_closed_within_the_timeout(server: Server) -> None:
    with server.connect() as sock:
        started = time.monotonic()
        _read_all(sock)
        assert time.monotonic() - started < HEADER_TIMEOUT + 1.5


def test_kept_alive_requests_are_served_in_turn(server: Server) -> None:
    with server.connect() as sock:
        for _ in range(5):
            sock.sendall(GET)
            assert _responses(sock, 1) == [b"HTTP/1.1 200 OK 127.0.0.1"]


def test_pipelined_requests_are_all_served(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(GET * 5)
        assert _responses(sock, 5) == [b"HTTP/1.1 200 OK 127.0.0.1"] * 5


def test_an_upgrade_request_is_served_as_plain_http(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        assert _responses(sock, 1) == [b"HTTP/1.1 200 OK 127.0.0.1"]


def test_x_forwarded_for_is_ignored_when_no_proxy_is_trusted(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n")
        assert _responses(sock, 1) == [b"HTTP/1.1 200 OK 127.0.0.1"]


def test_x_forwarded_for_names_the_client_when_the_peer_is_a_trusted_proxy(
    tmp_path: Path,
) -> None:
    for server in _start(tmp_path, PROBE_TRUSTED_PROXIES="127.0.0.0/8"):
        with server.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n")
            assert _responses(sock, 1) == [b"HTTP/1.1 200 OK 203.0.113.9"]
