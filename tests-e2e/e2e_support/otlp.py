"""A tiny OTLP/HTTP trace receiver: what the services export to when a test checks their traces.

It answers ``POST /v1/traces`` as an OpenTelemetry Collector would (OTLP/HTTP, binary protobuf,
gzip or not), decodes each ``ExportTraceServiceRequest`` with ``opentelemetry-proto`` and keeps
the spans in memory, flattened with the ``service.name`` of their resource. Tests wait for the
spans of one trace with ``wait_for_trace``.

Where it listens: ``127.0.0.1`` and a free port by default (local processes, ``make bench``);
inside the end-to-end Job's pod, ``0.0.0.0`` on a fixed port behind a Service, so the services of
the release reach it (``--listen 0.0.0.0:4318``). ``python -m e2e_support.otlp`` runs it alone
(from tests-e2e/) and prints one JSON line per received span, or with ``--quiet`` only counts
them (``GET /`` answers the counts): ``make bench``'s stand-in for a collector.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
_MAX_BODY = 16 * 1024 * 1024
_KINDS = {
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}
_STATUSES = {
    Status.STATUS_CODE_UNSET: "unset",
    Status.STATUS_CODE_OK: "ok",
    Status.STATUS_CODE_ERROR: "error",
}


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as exported, ids in lower-case hex (W3C form), attributes as plain values."""

    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int
    status: str
    attributes: dict[str, Any] = field(default_factory=dict)
    scope: str = ""

    def __str__(self) -> str:
        parent = self.parent_span_id or "root"
        return f"{self.service}: {self.kind} {self.name!r} {self.span_id} <- {parent}"


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def _attributes(pairs: Iterator[KeyValue] | Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def decode(body: bytes) -> list[ReceivedSpan]:
    """The spans of one ``ExportTraceServiceRequest`` (raises ``DecodeError`` on garbage)."""
    request = ExportTraceServiceRequest.FromString(body)
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name", "unknown_service"))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        service=service,
                        name=span.name,
                        kind=_KINDS.get(span.kind, "unspecified"),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status=_STATUSES.get(span.status.code, "unset"),
                        attributes=_attributes(span.attributes),
                        scope=scope_spans.scope.name,
                    )
                )
    return spans


class OtlpReceiver:
    """Collects exported spans; ``with OtlpReceiver() as receiver: receiver.endpoint``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_span: Callable[[ReceivedSpan], None] | None = None,
        keep: bool = True,
    ) -> None:
        """``keep=False`` only counts spans (a long load test would fill the memory)."""
        self._spans: list[ReceivedSpan] = []
        self._count = 0
        self._keep = keep
        self._changed = threading.Condition()
        self._on_span = on_span
        self.requests = 0
        self.rejected = 0
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def endpoint(self) -> str:
        """The base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the exporter adds ``/v1/traces``)."""
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> OtlpReceiver:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="otlp-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def spans(self) -> list[ReceivedSpan]:
        with self._changed:
            return list(self._spans)

    def stats(self) -> dict[str, int]:
        with self._changed:
            return {"requests": self.requests, "spans": self._count, "rejected": self.rejected}

    def clear(self) -> None:
        with self._changed:
            self._spans.clear()

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in self.spans() if span.trace_id == trace_id]

    def wait_for(
        self, predicate: Callable[[list[ReceivedSpan]], bool], *, timeout: float = 15.0
    ) -> list[ReceivedSpan]:
        """All spans once ``predicate(spans)`` holds, else ``TimeoutError`` listing them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(list(self._spans)):
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n  ".join(str(s) for s in self._spans) or "(none)"
                    raise TimeoutError(f"spans received within {timeout:g}s:\n  {seen}")
                self._changed.wait(left)
            return list(self._spans)

    def wait_for_trace(
        self, trace_id: str, done: Callable[[list[ReceivedSpan]], bool], *, timeout: float = 15.0
    ) -> list[ReceivedSpan]:
        """The spans of one trace once ``done(those spans)`` holds."""
        spans = self.wait_for(
            lambda all_spans: done([s for s in all_spans if s.trace_id == trace_id]),
            timeout=timeout,
        )
        return [s for s in spans if s.trace_id == trace_id]

    def _receive(self, spans: list[ReceivedSpan]) -> None:
        with self._changed:
            self.requests += 1
            self._count += len(spans)
            if self._keep:
                self._spans.extend(spans)
            self._changed.notify_all()
        if self._on_span is not None:
            for span in spans:
                self._on_span(span)

    def _reject(self) -> None:
        with self._changed:
            self.rejected += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the exporter's session expects

            def do_GET(self) -> None:
                """``GET /``: what was received so far (requests, spans, rejected), as JSON."""
                body = json.dumps(receiver.stats()).encode()
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if 0 < length <= _MAX_BODY else b""
                if self.path.split("?")[0] != TRACES_PATH:
                    self._answer(HTTPStatus.NOT_FOUND)
                elif self.headers.get_content_type() != PROTOBUF:
                    self._answer(HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
                else:
                    self._export(body)

            def _export(self, body: bytes) -> None:
                try:
                    if self.headers.get("Content-Encoding", "").lower() == "gzip":
                        body = gzip.decompress(body)
                    spans = decode(body)
                except (DecodeError, OSError, EOFError):
                    self._answer(HTTPStatus.BAD_REQUEST)
                    return
                receiver._receive(spans)
                self._answer(HTTPStatus.OK, ExportTraceServiceResponse().SerializeToString())

            def _answer(self, status: HTTPStatus, body: bytes = b"") -> None:
                if status != HTTPStatus.OK:
                    receiver._reject()
                self.send_response(status)
                self.send_header("Content-Type", PROTOBUF)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: a test prints what it received when it fails."""

        return Handler


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::]:4318`` for IPv6) -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


@contextmanager
def serving(listen: str | None) -> Iterator[OtlpReceiver]:
    host, port = parse_listen(listen) if listen else ("127.0.0.1", 0)
    with OtlpReceiver(host, port) as receiver:
        yield receiver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:4318", help="HOST:PORT (%(default)s)")
    parser.add_argument(
        "--quiet", action="store_true", help="only count spans (GET / says how many)"
    )
    args = parser.parse_args(argv)

    def show(span: ReceivedSpan) -> None:
        print(json.dumps(asdict(span)), flush=True)

    host, port = parse_listen(args.listen)
    receiver = OtlpReceiver(host, port, on_span=None if args.quiet else show, keep=False)
    print(f"# otlp receiver on {receiver.endpoint}", file=sys.stderr, flush=True)
    try:
        receiver._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        receiver._server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
