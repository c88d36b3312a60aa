"""``/metrics`` on the real app: request counts by route template, health probes included."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from service_kit.metrics import REGISTRY

pytestmark = pytest.mark.integration

PW = {"password": "correct horse battery staple"}


def _count(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def test_user_reads_are_counted_under_the_route_template_with_their_status(
    client: TestClient, mint: Callable[..., dict[str, str]]
) -> None:
    found, missing = (
        _count("GET", "/users/{user_id}", "200"),
        _count("GET", "/users/{user_id}", "404"),
    )
    created = client.post("/users", json={"name": "Ada", "email": "ada@example.com", **PW})
    assert client.get(f"/users/{created.json()['id']}", headers=mint()).status_code == 200
    assert client.get("/users/999", headers=mint()).status_code == 404
    assert _count("GET", "/users/{user_id}", "200") == found + 1
    assert _count("GET", "/users/{user_id}", "404") == missing + 1


def test_metrics_exposes_the_counters_in_prometheus_text_format(client: TestClient) -> None:
    client.get("/health/live")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'http_requests_total{method="GET",route="/health/live",status="200"}' in response.text
    assert "http_request_duration_seconds_bucket{" in response.text


def test_metrics_is_not_in_the_openapi_schema(client: TestClient) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]
