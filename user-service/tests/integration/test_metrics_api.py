"""``/metrics`` on the real app: user reads are counted by route template and status (the
exposition itself is the kit's, tested there)."""

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
