"""uvicorn's httptools protocol with the two bounds it lacks: request-head size and time.

uvicorn's httptools protocol feeds whatever arrives to the parser, which keeps the URL and the
header being read in memory without limit, and it arms no timer before a first response: a
caller could hold a connection, and megabytes with it, by never finishing a request's headers.
``BoundedHttpToolsProtocol`` (``serve`` passes it as uvicorn's ``http``) adds:

- size: while a request line and headers are being read, it feeds the parser at most the bytes
  left under ``max_header_bytes`` (counted per read, so a pipelined request that shares a read
  with the previous one's end is charged from the start of that read); one byte more and it
  answers ``431`` and closes. Nothing past the limit is ever buffered.
- time: from the moment a connection opens or bytes of a new request arrive, the headers must
  be complete within ``header_timeout`` seconds, else ``408`` and the connection closes. An idle
  keep-alive connection keeps uvicorn's own (shorter) keep-alive timeout.

Everything else (keep-alive, pipelining, 400 on a malformed request, upgrades) is uvicorn's.
h11, uvicorn's fallback when httptools is missing, is never chosen: this class imports httptools
and ``serve`` names it explicitly.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Build it with ``functools.partial(BoundedHttpToolsProtocol, max_header_bytes=...,
    header_timeout=...)``: uvicorn calls the protocol class with its own arguments only."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_header_bytes: int,
        header_timeout: float,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_header_bytes = max_header_bytes
        self.header_timeout = header_timeout
        self.in_head = True  # the next bytes belong to a request line or headers
        self.head_bytes = 0  # bytes of the current head fed so far
        self.head_restarted = False  # a message ended inside the piece being fed
        self.head_began = False  # a message began inside the piece being fed
        self.header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        while data and self.parser is not None and not self.transport.is_closing():
            room = self.max_header_bytes - self.head_bytes
            if self.in_head and room <= 0:
                self._refuse(431, "Request header fields too large.")
                return
            # At most the limit at a time, in a body too: a head may start right after it.
            size = room if self.in_head else self.max_header_bytes
            piece, data = data[:size], data[size:]
            continued = self.in_head
            self.head_restarted = self.head_began = False
            super().data_received(piece)
            if not self.in_head:
                continue
            if continued and not self.head_restarted:
                self.head_bytes += len(piece)
            elif self.head_began:  # a head began inside this piece: charge all of it
                self.head_bytes = len(piece)
            if self.head_bytes:
                self._arm_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_began = True

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_bytes = 0
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.in_head = True
        self.head_bytes = 0
        self.head_restarted = True
        self.head_began = False

    def _arm_header_timer(self) -> None:
        if self.header_timer is None and self.header_timeout > 0:
            self.header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _cancel_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timed_out(self) -> None:
        self.header_timer = None
        if self.transport.is_closing() or not self.in_head:
            return
        if self._responding():
            self._arm_header_timer()  # a request is being answered: the clock restarts after it
            return
        self._refuse(408, "The request headers did not arrive in time.")

    def _responding(self) -> bool:
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with a short text and close; mid-response, only close."""
        self._cancel_header_timer()
        if self.transport.is_closing():
            return
        if self._responding():
            # Another request's response is under way: a status line now would corrupt it.
            self.transport.close()
            return
        body = message.encode("ascii")
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"x-content-type-options: nosniff\r\ncache-control: no-store\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(head))
        self.transport.close()
        self.logger.info("request refused", extra={"status": status, "client": self.client})
