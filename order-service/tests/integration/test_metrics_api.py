"""``/metrics`` on the real app: order routes by template, and the user-service lookups."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service_kit.metrics import REGISTRY

pytestmark = pytest.mark.integration


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_order_reads_are_counted_under_the_route_template(client: TestClient) -> None:
    before = _count("http_requests_total", method="GET", route="/orders/{order_id}", status="404")
    assert client.get("/orders/12345").status_code == 404
    after = _count("http_requests_total", method="GET", route="/orders/{order_id}", status="404")
    assert after == before + 1


def test_metrics_exposes_the_user_service_lookup_and_breaker_metrics(client: TestClient) -> None:
    """The kit's request metrics and format are the kit's tests; these are order-service's."""
    body = client.get("/metrics").text
    assert 'user_service_lookups_total{outcome="circuit_open"}' in body
    assert "# TYPE user_service_breaker_state gauge" in body
