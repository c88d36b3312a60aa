"""The user-service client's spans: the lookup, its attempts and the breaker's decision, and a
``traceparent`` on every attempt naming that attempt's client span (httpx.MockTransport, spans
in memory)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from order_service.clients.user_service_client import UserServiceClient
from order_service.errors import CircuitOpenError, UserServiceUnavailableError
from service_kit.tracing import Tracing

pytestmark = [pytest.mark.unit, pytest.mark.anyio]

MakeClient = Callable[..., UserServiceClient]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> Tracing:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider)


def answers(
    *statuses: int,
) -> tuple[list[httpx.Request], Callable[[httpx.Request], httpx.Response]]:
    seen: list[httpx.Request] = []
    queue = list(statuses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        code = queue.pop(0) if len(queue) > 1 else queue[0]
        user = {"id": 7, "name": "Ada", "email": "ada@example.com"}
        return httpx.Response(code, json=user if code == 200 else {"status": code})

    return seen, handler


def lookups(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == "user-service lookup"]


def children(exporter: InMemorySpanExporter, parent: ReadableSpan) -> list[ReadableSpan]:
    return [
        s
        for s in exporter.get_finished_spans()
        if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


async def test_a_retried_lookup_is_one_span_with_a_client_span_and_traceparent_per_attempt(
    make_client: MakeClient, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    requests, handler = answers(503, 200)
    client = make_client(handler, tracing=tracing)

    assert (await client.get_user(7, token="t")) is not None

    (lookup,) = lookups(exporter)
    attributes = dict(lookup.attributes or {})
    assert attributes["user_service.breaker.decision"] == "allow"
    assert attributes["user_service.attempts"] == 2
    assert attributes["user_service.outcome"] == "found"
    (retry,) = lookup.events
    assert retry.name == "retry"
    assert dict(retry.attributes or {})["reason"] == "user-service answered 503"

    attempts = children(exporter, lookup)
    assert [a.kind for a in attempts] == [SpanKind.CLIENT, SpanKind.CLIENT]
    for request, attempt in zip(requests, attempts, strict=True):
        context = attempt.context
        flags = int(context.trace_flags)  # sampled (and random ids: W3C level 2)
        expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"
        assert request.headers["traceparent"] == expected


async def test_an_open_breaker_is_a_rejected_lookup_with_no_attempt(
    make_client: MakeClient, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    requests, handler = answers(500)
    client = make_client(handler, tracing=tracing, failure_threshold=1)
    with pytest.raises(UserServiceUnavailableError):
        await client.get_user(7, token="t")
    with pytest.raises(CircuitOpenError):
        await client.get_user(7, token="t")

    failed, rejected = lookups(exporter)
    assert dict(failed.attributes or {})["user_service.breaker.state_after"] == "open"
    assert failed.status.status_code is StatusCode.ERROR
    assert dict(rejected.attributes or {})["user_service.breaker.decision"] == "reject"
    assert dict(rejected.attributes or {})["user_service.outcome"] == "circuit_open"
    assert children(exporter, rejected) == []
    assert len(requests) == 1


async def test_without_tracing_the_client_sends_no_traceparent(make_client: MakeClient) -> None:
    requests, handler = answers(200)
    client = make_client(handler)
    await client.get_user(7, token="t")
    assert "traceparent" not in requests[0].headers
