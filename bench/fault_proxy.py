"""A fault-injecting HTTP/1.1 reverse proxy for the drills: order-service -> proxy -> user-service.

Faults, changed at run time through the admin port (``GET``/``PUT /faults``, JSON):

- ``error_rate``: the fraction of requests answered 503 by the proxy instead of being forwarded;
- ``delay``: seconds added before each request is handled (slow upstream);
- ``down``: the proxy stops listening and resets its open connections, so callers see exactly
  what a stopped service looks like (connection refused), and listens again when set back.

asyncio streams plus h11 (the HTTP/1.1 state machine httpx and uvicorn use) rather than an ASGI
app: an ASGI server cannot refuse connections, and ``down`` must. Keep-alive is honoured on
both sides, one upstream connection per client connection.

    python -m bench.fault_proxy --port 9001 --admin-port 9101 --upstream http://127.0.0.1:8001
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, fields
from urllib.parse import urlsplit

import h11

_READ = 65536


@dataclass
class Faults:
    error_rate: float = 0.0
    delay: float = 0.0
    down: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be within [0, 1]")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")


@dataclass
class _Message:
    request: h11.Request
    body: bytes


async def _read_message(reader: asyncio.StreamReader, conn: h11.Connection) -> _Message | None:
    """The next whole request (server side) from ``reader``; None when the peer is done."""
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(_READ))
        elif isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            return _Message(head, bytes(body))
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None


async def _send(writer: asyncio.StreamWriter, conn: h11.Connection, *events: h11.Event) -> None:
    for event in events:
        if data := conn.send(event):
            writer.write(data)
    await writer.drain()


def _json_response(status: int, payload: object) -> list[h11.Event]:
    body = json.dumps(payload).encode()
    media = b"application/problem+json" if status >= 400 else b"application/json"
    headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
    return [
        h11.Response(status_code=status, headers=headers),
        h11.Data(data=body),
        h11.EndOfMessage(),
    ]


def _problem(status: int, slug: str, title: str) -> list[h11.Event]:
    return _json_response(status, {"type": f"/problems/{slug}", "title": title, "status": status})


class _Upstream:
    """One keep-alive client connection to the upstream, reopened when it cannot be reused."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._conn = h11.Connection(h11.CLIENT)

    async def exchange(self, message: _Message) -> tuple[h11.Response, bytes]:
        if self._streams is None or self._conn.our_state is not h11.IDLE:
            await self.close()
            self._streams = await asyncio.open_connection(self.host, self.port)
            self._conn = h11.Connection(h11.CLIENT)
        reader, writer = self._streams
        req = message.request
        await _send(
            writer,
            self._conn,
            h11.Request(method=req.method, target=req.target, headers=req.headers),
            h11.Data(data=message.body),
            h11.EndOfMessage(),
        )
        head: h11.Response | None = None
        body = bytearray()
        while True:
            event = self._conn.next_event()
            if event is h11.NEED_DATA:
                self._conn.receive_data(await reader.read(_READ))
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
                    self._conn.start_next_cycle()
                return head, bytes(body)
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("upstream closed the connection mid-response")

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


class FaultProxy:
    def __init__(
        self, upstream: str, faults: Faults | None = None, seed: int | None = None
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.faults = faults or Faults()
        self.stats: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._admin: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self.host, self.port, self.admin_port = "127.0.0.1", 0, 0

    async def start(self, host: str = "127.0.0.1", port: int = 0, admin_port: int = 0) -> None:
        self.host = host
        self._admin = await asyncio.start_server(self._serve_admin, host, admin_port)
        self.admin_port = self._admin.sockets[0].getsockname()[1]
        self.port = port
        await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve_client, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def set_faults(self, faults: Faults) -> None:
        was_down, self.faults = self.faults.down, faults
        if faults.down and not was_down and self._server is not None:
            self._server.close()
            self._server = None
            for writer in list(self._clients):
                writer.transport.abort()  # a stopped service drops its connections
        elif was_down and not faults.down:
            await self._listen()

    async def close(self) -> None:
        for server in (self._server, self._admin):
            if server is not None:
                server.close()
        for writer in list(self._clients):
            writer.transport.abort()

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._clients.add(writer)
        conn = h11.Connection(h11.SERVER)
        upstream = _Upstream(self.upstream_host, self.upstream_port)
        try:
            while (message := await _read_message(reader, conn)) is not None:
                self.stats["requests"] += 1
                faults = self.faults
                if faults.delay:
                    await asyncio.sleep(faults.delay)
                if self._rng.random() < faults.error_rate:
                    self.stats["injected_503"] += 1
                    await _send(writer, conn, *_problem(503, "injected", "Injected fault"))
                else:
                    try:
                        head, body = await upstream.exchange(message)
                    except OSError:
                        self.stats["upstream_errors"] += 1
                        await upstream.close()
                        await _send(writer, conn, *_problem(502, "bad-gateway", "Bad gateway"))
                    else:
                        self.stats["forwarded"] += 1
                        headers = [(k, v) for k, v in head.headers if k.lower() != b"connection"]
                        response = h11.Response(status_code=head.status_code, headers=headers)
                        await _send(writer, conn, response, h11.Data(data=body), h11.EndOfMessage())
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except (OSError, h11.ProtocolError):
            pass  # the client went away or sent garbage: nothing to answer
        finally:
            self._clients.discard(writer)
            await upstream.close()
            writer.close()

    async def _serve_admin(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = h11.Connection(h11.SERVER)
        with contextlib.suppress(OSError, h11.ProtocolError):
            while (message := await _read_message(reader, conn)) is not None:
                status, payload = await self._admin_answer(message)
                await _send(writer, conn, *_json_response(status, payload))
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        writer.close()

    async def _admin_answer(self, message: _Message) -> tuple[int, object]:
        if message.request.target != b"/faults":
            return 404, {"status": 404, "title": "Not found"}
        if message.request.method == b"PUT":
            try:
                data = json.loads(message.body or b"{}")
                known = {f.name for f in fields(Faults)}
                await self.set_faults(Faults(**{k: v for k, v in data.items() if k in known}))
            except (ValueError, TypeError) as exc:
                return 400, {"status": 400, "title": "Bad faults", "detail": str(exc)}
        return 200, {"faults": asdict(self.faults), "stats": dict(self.stats)}


async def _main(args: argparse.Namespace) -> None:
    proxy = FaultProxy(args.upstream, Faults(error_rate=args.error_rate, delay=args.delay))
    await proxy.start("127.0.0.1", args.port, args.admin_port)
    print(
        f"fault proxy 127.0.0.1:{proxy.port} -> {args.upstream}; "
        f"admin 127.0.0.1:{proxy.admin_port}",
        flush=True,
    )
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:8001")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--admin-port", type=int, default=0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--delay", type=float, default=0.0)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
