"""What an operator following one order sees: one trace across both services and both databases.

The test starts the trace itself (a W3C ``traceparent`` on ``POST /orders``, sampled), as a
traced client or gateway would; both services export over OTLP/HTTP to the run's receiver.
"""

from __future__ import annotations

import secrets

import pytest
from e2e_support.api import Shop, describe
from e2e_support.otlp import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.traces

ORDERS, USERS = "order-service", "user-service"


def by_id(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {span.span_id: span for span in spans}


def ancestors(span: ReceivedSpan, spans: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    chain: list[ReceivedSpan] = []
    while span.parent_span_id in spans:
        span = spans[span.parent_span_id]
        chain.append(span)
    return chain


def server(spans: list[ReceivedSpan], service: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.service == service and s.kind == "server"]


def sql(spans: list[ReceivedSpan], service: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.service == service and "db.system" in s.attributes]


def complete(spans: list[ReceivedSpan]) -> bool:
    """Both server spans and both services' SQL have arrived (batches come in any order)."""
    return all([server(spans, ORDERS), server(spans, USERS), sql(spans, ORDERS), sql(spans, USERS)])


def test_one_order_is_one_trace_across_both_services_and_their_databases(
    shop: Shop, otlp_receiver: OtlpReceiver
) -> None:
    user = shop.create_user()
    assert shop.orders_of(user["id"]) == []  # order-service now holds user-service's public keys
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)

    response = shop.post_order(
        shop.order_body(user["id"]),
        key=shop.new_key(),
        headers={"traceparent": f"00-{trace_id}-{caller_span}-01"},
    )
    assert response.status_code == 201, describe(response)

    spans = otlp_receiver.wait_for_trace(trace_id, complete, timeout=30)
    ids = by_id(spans)
    assert {s.service for s in spans} == {ORDERS, USERS}

    (order_server,) = server(spans, ORDERS)
    assert order_server.parent_span_id == caller_span, "the caller's traceparent was not continued"
    assert order_server.attributes["http.route"] == "/orders"

    (user_server,) = server(spans, USERS)
    assert user_server.attributes["http.route"] == "/users/{user_id}"
    client_call = ids[user_server.parent_span_id or ""]
    assert (client_call.service, client_call.kind) == (ORDERS, "client")
    assert order_server in ancestors(client_call, ids)

    for service, root, operation in (
        (USERS, user_server, "SELECT"),
        (ORDERS, order_server, "INSERT"),
    ):
        statements = sql(spans, service)
        assert any(s.attributes.get("db.statement", "").startswith(operation) for s in statements)
        for statement in statements:
            assert root in ancestors(statement, ids), f"{statement} is not under {root}"
    databases = {
        s.service: s.attributes.get("db.name") for s in sql(spans, ORDERS) + sql(spans, USERS)
    }
    assert databases[ORDERS] != databases[USERS], (
        "both services' SQL should reach their own database"
    )
