"""One order, one trace: both services in-process on the test PostgreSQL, spans in memory.

user-service is served by uvicorn on a free 127.0.0.1 port (order-service reaches it over real
HTTP, so the W3C ``traceparent`` crosses a socket), behind a layer that answers the first lookup
503 like an overloaded proxy would: the trace shows the retry. order-service is driven through
its ASGI app. Each app has its own tracer provider (its own ``service.name``) exporting to one
in-memory exporter, which is how the assertions see the whole trace.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import ASGIApp, Receive, Scope, Send

from devtools.serving import serve_in_thread
from order_service.config import Settings as OrderSettings
from order_service.config import UserServiceClientSettings
from order_service.main import create_app as create_order_app
from order_service.migrations import MIGRATIONS as ORDER_MIGRATIONS
from service_kit.tracing import Tracing, service_resource
from user_service.config import Settings as UserSettings
from user_service.main import create_app as create_user_app
from user_service.migrations import MIGRATIONS as USER_MIGRATIONS

pytestmark = pytest.mark.integration

ORDERS, USERS = "order-service", "user-service"


class FirstLookupUnavailable:
    """Answers the first ``GET /users/...`` with 503 before the app sees it, then passes all."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lookup = scope["type"] == "http" and scope["method"] == "GET"
        if lookup and scope["path"].startswith("/users/") and self.refused == 0:
            self.refused += 1
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


def tracing(service: str, exporter: InMemorySpanExporter) -> Tracing:
    provider = TracerProvider(resource=service_resource(service))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider)


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(scope="module")
def user_service_url(
    create_database: Callable[[str], str],
    exporter: InMemorySpanExporter,
    keys_dir: Path,
) -> Iterator[str]:
    settings = UserSettings(
        database_url=create_database("trace_users"),
        keys_dir=keys_dir,
        argon2_time_cost=1,
        argon2_memory_cost=8 * 1024,
    )
    USER_MIGRATIONS.upgrade_head(settings)
    app = FirstLookupUnavailable(create_user_app(settings, tracing=tracing(USERS, exporter)))
    with serve_in_thread(app, name=USERS) as url:
        yield url


@pytest.fixture(scope="module")
def orders(
    create_database: Callable[[str], str],
    exporter: InMemorySpanExporter,
    user_service_url: str,
) -> Iterator[TestClient]:
    settings = OrderSettings(
        database_url=create_database("trace_orders"),
        user_service=UserServiceClientSettings(
            url=user_service_url, backoff_initial=0.01, backoff_max=0.02
        ),
    )
    ORDER_MIGRATIONS.upgrade_head(settings)
    app = create_order_app(settings, tracing=tracing(ORDERS, exporter))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def order_trace(
    orders: TestClient, user_service_url: str, exporter: InMemorySpanExporter
) -> tuple[httpx.Response, list[ReadableSpan]]:
    """One user created and logged in (order-service then holds user-service's public keys),
    then the order whose trace the tests read."""
    password = "correct horse battery staple"
    httpx.post(
        f"{user_service_url}/users",
        json={"name": "Ada", "email": "ada@example.com", "password": password},
    ).raise_for_status()
    token = httpx.post(
        f"{user_service_url}/token", data={"username": "ada@example.com", "password": password}
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert orders.get("/orders", headers=bearer).status_code == 200  # fetches the JWKS
    exporter.clear()
    response = orders.post(
        "/orders",
        json={
            "currency": "EUR",
            "items": [{"product_id": "book-42", "quantity": 2, "unit_price": 1999}],
        },
        headers={"Idempotency-Key": "trace-order-1", **bearer},
    )
    deadline = time.monotonic() + 5  # user-service's server span ends after its response is sent
    while not any(_is_server(s, USERS) for s in exporter.get_finished_spans()):
        assert time.monotonic() < deadline, "user-service's server span never ended"
        time.sleep(0.02)
    return response, list(exporter.get_finished_spans())


def _service(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


def _is_server(span: ReadableSpan, service: str) -> bool:
    return span.kind is SpanKind.SERVER and _service(span) == service


def _attribute(span: ReadableSpan, key: str) -> object:
    return (span.attributes or {}).get(key)


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _one(spans: list[ReadableSpan], what: Callable[[ReadableSpan], bool]) -> ReadableSpan:
    found = [s for s in spans if what(s)]
    assert len(found) == 1, [f"{_service(s)}: {s.name}" for s in found]
    return found[0]


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return sorted(
        (s for s in spans if _parent_id(s) == parent.context.span_id), key=lambda s: s.start_time
    )


def test_the_order_is_created_while_traced(
    order_trace: tuple[httpx.Response, list[ReadableSpan]],
) -> None:
    response, _ = order_trace
    assert response.status_code == 201, response.text


def test_one_order_is_one_trace_with_both_services(
    order_trace: tuple[httpx.Response, list[ReadableSpan]],
) -> None:
    _, spans = order_trace
    assert {s.context.trace_id for s in spans} == {spans[0].context.trace_id}
    assert {_service(s) for s in spans} == {ORDERS, USERS}
    root = _one(spans, lambda s: s.parent is None)
    assert _is_server(root, ORDERS)
    assert root.name == "POST /orders"
    assert _attribute(root, "http.route") == "/orders"


def test_lookup_span_holds_one_client_span_per_attempt_and_the_breaker_decision(
    order_trace: tuple[httpx.Response, list[ReadableSpan]],
) -> None:
    _, spans = order_trace
    root = _one(spans, lambda s: s.parent is None)
    lookup = _one(spans, lambda s: s.name == "user-service lookup")
    assert _parent_id(lookup) == root.context.span_id
    assert _attribute(lookup, "user_service.breaker.decision") == "allow"
    assert _attribute(lookup, "user_service.attempts") == 2
    assert _attribute(lookup, "user_service.outcome") == "found"
    assert [e.name for e in lookup.events] == ["retry"]

    first, second = _children(spans, lookup)
    assert (first.kind, second.kind) == (SpanKind.CLIENT, SpanKind.CLIENT)
    assert first.status.status_code is StatusCode.ERROR  # the 503
    assert _children(spans, first) == []  # refused before user-service's app saw it
    (served,) = _children(spans, second)
    assert _is_server(served, USERS)
    assert _attribute(served, "http.route") == "/users/{user_id}"


def test_sql_of_both_services_sits_under_their_server_spans(
    order_trace: tuple[httpx.Response, list[ReadableSpan]],
) -> None:
    _, spans = order_trace
    by_id = {s.context.span_id: s for s in spans}

    def server_of(span: ReadableSpan) -> ReadableSpan | None:
        while span.kind is not SpanKind.SERVER:
            parent = _parent_id(span)
            if parent is None or parent not in by_id:
                return None
            span = by_id[parent]
        return span

    sql = [s for s in spans if _attribute(s, "db.statement")]
    statements = {(_service(s), str(_attribute(s, "db.statement")).split()[0]) for s in sql}
    assert {(USERS, "SELECT"), (ORDERS, "SELECT"), (ORDERS, "INSERT")} <= statements
    for statement in sql:
        server = server_of(statement)
        assert server is not None, statement.name
        assert _service(server) == _service(statement), statement.name

    store = _one(spans, lambda s: s.name == "store order")
    inserts = [s for s in sql if str(_attribute(s, "db.statement")).startswith("INSERT")]
    assert inserts
    assert all(_parent_id(s) == store.context.span_id for s in inserts)
