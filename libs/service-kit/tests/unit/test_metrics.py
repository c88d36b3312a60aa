"""Request metrics recorded by the middleware, and the ``/metrics`` exposition (in memory)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from service_kit.metrics import REGISTRY
from service_kit.metrics import router as metrics_router
from service_kit.middleware import RequestContextMiddleware

pytestmark = pytest.mark.unit


def _app() -> RequestContextMiddleware:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app.include_router(metrics_router)
    return RequestContextMiddleware(app, max_body_size=10, access_logger="example_service.access")


def _get(path: str, method: str = "GET", **kwargs: object) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def _count(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def _observations(method: str, route: str) -> float:
    labels = {"method": method, "route": route}
    return REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) or 0.0


def test_request_is_counted_under_its_route_template_not_its_raw_path() -> None:
    before = _count("GET", "/things/{thing_id}", "200")
    timed_before = _observations("GET", "/things/{thing_id}")
    assert _get("/things/7").status_code == 200
    assert _get("/things/8").status_code == 200
    assert _count("GET", "/things/{thing_id}", "200") == before + 2
    assert _observations("GET", "/things/{thing_id}") == timed_before + 2
    assert (
        REGISTRY.get_sample_value(
            "http_requests_total", {"method": "GET", "route": "/things/7", "status": "200"}
        )
        is None
    )


def test_status_label_is_the_status_sent_including_validation_errors() -> None:
    before = _count("GET", "/things/{thing_id}", "422")
    assert _get("/things/not-a-number").status_code == 422
    assert _count("GET", "/things/{thing_id}", "422") == before + 1


def test_unmatched_path_is_counted_as_unmatched_so_scanners_add_no_series() -> None:
    before = _count("GET", "unmatched", "404")
    assert _get("/wp-admin/secret.php").status_code == 404
    assert _count("GET", "unmatched", "404") == before + 1


def test_unknown_method_is_counted_as_other() -> None:
    before = _count("OTHER", "/things/{thing_id}", "405")
    assert _get("/things/1", method="BREW").status_code == 405
    assert _count("OTHER", "/things/{thing_id}", "405") == before + 1


def test_oversize_body_refused_by_the_middleware_is_counted_as_413() -> None:
    before = _count("POST", "unmatched", "413")
    assert _get("/things/1", method="POST", content=b"x" * 11).status_code == 413
    assert _count("POST", "unmatched", "413") == before + 1


def test_metrics_answers_prometheus_text_format_with_the_request_metrics() -> None:
    _get("/things/1")
    response = _get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    body = response.text
    assert "# TYPE http_requests_total counter" in body
    assert "# TYPE http_request_duration_seconds histogram" in body
    assert 'http_requests_total{method="GET",route="/things/{thing_id}",status="200"}' in body


def test_metrics_honours_an_openmetrics_accept_header() -> None:
    response = _get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_metrics_scrapes_are_counted_under_their_own_route() -> None:
    before = _count("GET", "/metrics", "200")
    _get("/metrics")
    assert _count("GET", "/metrics", "200") == before + 1


def test_metrics_is_not_in_the_openapi_schema() -> None:
    app = FastAPI()
    app.include_router(metrics_router)
    assert "/metrics" not in app.openapi()["paths"]
