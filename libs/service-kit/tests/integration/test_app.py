"""``create_service_app`` on a real PostgreSQL: the plumbing a service gets around its routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from service_kit.app import create_service_app
from service_kit.deps import SessionsDep
from service_kit.settings import ServiceSettings

pytestmark = pytest.mark.integration

router = APIRouter(prefix="/things")


@router.get("/count")
def count(sessions: SessionsDep) -> dict[str, int]:
    with sessions() as session:
        return {"one": int(session.connection().exec_driver_sql("SELECT 1").scalar_one())}


def test_the_app_serves_health_metrics_and_routes_with_request_ids_nosniff_and_no_store(
    settings_class: type[ServiceSettings], create_database: Callable[[str], str]
) -> None:
    settings = settings_class(database_url=create_database("service_kit_app"))
    with TestClient(create_service_app(settings, routers=[router])) as client:
        live = client.get("/health/live")
        ready = client.get("/health/ready", headers={"X-Request-ID": "ready-1"})
        counted = client.get("/things/count")
        missing = client.get("/nowhere")
        metrics = client.get("/metrics")
    assert live.json() == ready.json() == {"status": "ok"}
    assert ready.headers["x-request-id"] == "ready-1"
    assert counted.json() == {"one": 1}
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert 'route="/things/count"' in metrics.text
    assert 'route="/health/live"' in metrics.text  # probes are requests too
    for response in (live, counted, missing):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers.get_list("cache-control") == ["no-store"]


def test_a_trailing_slash_is_a_404_problem_never_a_redirect_to_the_caller_s_host(
    settings_class: type[ServiceSettings], create_database: Callable[[str], str]
) -> None:
    settings = settings_class(database_url=create_database("service_kit_slash"))
    with TestClient(create_service_app(settings, routers=[router])) as client:
        response = client.get(
            "/things/count/", headers={"Host": "evil.example"}, follow_redirects=False
        )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "location" not in response.headers
    assert "evil.example" not in response.text


def test_the_service_lifespan_runs_inside_the_kit_s_and_the_engine_is_disposed_after(
    settings_class: type[ServiceSettings], create_database: Callable[[str], str]
) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append(f"open with engine {app.state.engine is not None}")
        yield
        events.append("close")

    settings = settings_class(database_url=create_database("service_kit_lifespan"))
    app = create_service_app(settings, routers=[], lifespan=lifespan)
    with TestClient(app) as client:
        assert client.get("/health/ready").status_code == 200
        events.append("served")
    assert events == ["open with engine True", "served", "close"]
    assert app.state.engine.pool.checkedout() == 0


def test_readiness_is_503_when_the_database_does_not_answer(
    settings_class: type[ServiceSettings], unused_port_url: str
) -> None:
    settings = settings_class(database_url=unused_port_url, db_connect_timeout=1)
    with TestClient(create_service_app(settings, routers=[])) as client:
        response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["type"] == "/problems/database-unavailable"
    assert "password" not in response.text
