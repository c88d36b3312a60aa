"""``create_service_app`` with tracing on (spans in memory) and off, on a real PostgreSQL."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from service_kit.app import create_service_app
from service_kit.deps import SessionsDep
from service_kit.log import configure_logging
from service_kit.settings import ServiceSettings
from service_kit.tracing import Tracing, service_resource

pytestmark = pytest.mark.integration

router = APIRouter(prefix="/things")


@router.get("/{thing_id}")
def read(thing_id: int, sessions: SessionsDep) -> dict[str, int]:
    with sessions() as session:
        value = session.connection().exec_driver_sql("SELECT %(v)s::int", {"v": thing_id})
        return {"id": int(value.scalar_one())}


def test_a_request_is_one_server_span_with_its_sql_beneath_and_probes_start_no_trace(
    settings_class: type[ServiceSettings], create_database: Callable[[str], str]
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=service_resource("service-kit"))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = settings_class(database_url=create_database("service_kit_traced"))
    app = create_service_app(settings, routers=[router], tracing=Tracing(provider))
    with TestClient(app) as client:
        assert client.get("/health/ready").status_code == 200  # its SELECT 1 starts no trace
        assert client.get("/health/live").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert client.get("/things/5").json() == {"id": 5}

    server, *rest = sorted(
        exporter.get_finished_spans(), key=lambda s: s.kind is not SpanKind.SERVER
    )
    assert server.kind is SpanKind.SERVER
    assert server.name == "GET /things/{thing_id}"
    assert server.resource.attributes["service.name"] == "service-kit"
    (sql,) = rest
    assert sql.parent is not None
    assert sql.parent.span_id == server.context.span_id
    assert dict(sql.attributes or {})["db.system"] == "postgresql"


def test_the_access_log_line_names_the_trace_of_its_request(
    settings_class: type[ServiceSettings], create_database: Callable[[str], str]
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = settings_class(database_url=create_database("service_kit_logged"))
    app = create_service_app(settings, routers=[router], tracing=Tracing(provider))
    stream = io.StringIO()
    with TestClient(app) as client:
        configure_logging("INFO", stream=stream)  # after the app's own call: lines land here
        client.get("/things/1", headers={"X-Request-ID": "req-1"})

    (server,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (access,) = [line for line in lines if line["logger"].endswith(".access")]
    assert access["request_id"] == "req-1"
    assert access["trace_id"] == f"{server.context.trace_id:032x}"
    assert access["span_id"] == f"{server.context.span_id:016x}"


def test_without_tracing_the_app_records_no_span_and_logs_null_ids(
    settings_class: type[ServiceSettings], create_database: Callable[[str], str]
) -> None:
    settings = settings_class(database_url=create_database("service_kit_untraced"))
    app = create_service_app(settings, routers=[router], tracing=Tracing(None))
    stream = io.StringIO()
    with TestClient(app) as client:
        configure_logging("INFO", stream=stream)
        response = client.get("/things/1")
    assert "traceparent" not in response.headers
    (access,) = [json.loads(line) for line in stream.getvalue().splitlines() if ".access" in line]
    assert (access["trace_id"], access["span_id"]) == (None, None)
    assert app.state.tracing.enabled is False
