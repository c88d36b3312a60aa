"""Tracing from the OTEL_* environment: on only with an OTLP endpoint; ids in every log line."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError

from service_kit.log import configure_logging
from service_kit.tracing import Tracing, TracingSettings, service_resource

pytestmark = pytest.mark.unit

OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
)


@pytest.fixture(autouse=True)
def otel_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without OTEL_* variables; tests set the ones they are about."""
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_tracing_is_off_without_an_otlp_endpoint() -> None:
    tracing = Tracing.from_environment("service-kit")
    assert not tracing.enabled
    assert tracing.fastapi_telemetry()["tracing"] is False
    with tracing.tracer("test").start_as_current_span("work") as span:
        assert not span.is_recording()
        assert not span.get_span_context().is_valid


@pytest.mark.parametrize(
    ("variables", "enabled"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "OTLP"}, True),
        ({"OTEL_SDK_DISABLED": "false"}, False),
    ],
)
def test_tracing_is_on_only_with_an_endpoint_and_not_disabled(
    otel_environment: pytest.MonkeyPatch, variables: dict[str, str], enabled: bool
) -> None:
    for name, value in variables.items():
        otel_environment.setenv(name, value)
    assert TracingSettings().enabled is enabled


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "http:// or https://"),
        ("OTEL_TRACES_EXPORTER", "zipkin", "otlp"),
    ],
)
def test_a_setting_the_kit_cannot_honour_is_refused_at_start(
    otel_environment: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    otel_environment.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        TracingSettings()


def test_service_resource_names_the_service_unless_the_environment_does(
    otel_environment: pytest.MonkeyPatch,
) -> None:
    default = service_resource("service-kit").attributes
    assert default["service.name"] == "service-kit"
    assert default["service.version"] == "0.1.0"

    otel_environment.setenv("OTEL_SERVICE_NAME", "orders-eu")
    otel_environment.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.version=abc123,k8s.pod.name=p-1")
    configured = service_resource("service-kit").attributes
    assert configured["service.name"] == "orders-eu"
    assert configured["service.version"] == "abc123"
    assert configured["k8s.pod.name"] == "p-1"


def test_from_environment_exports_over_otlp_with_the_sampler_of_the_environment(
    otel_environment: pytest.MonkeyPatch,
) -> None:
    otel_environment.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    otel_environment.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    otel_environment.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    tracing = Tracing.from_environment("service-kit")
    try:
        assert tracing.provider is not None
        assert "0.25" in tracing.provider.sampler.get_description()
        assert tracing.provider.resource.attributes["service.name"] == "service-kit"
    finally:
        tracing.shutdown()


def test_fastapi_telemetry_traces_requests_but_not_probes_or_scrapes() -> None:
    config = Tracing(TracerProvider()).fastapi_telemetry()
    exclude = config["exclude"]
    assert config["tracing"] is True
    assert config["metrics"] is False
    assert config["logs"] is False
    assert exclude is not None
    assert exclude({"path": "/health/live"})
    assert exclude({"path": "/metrics"})
    assert not exclude({"path": "/users/1"})


def test_every_log_line_carries_trace_and_span_ids_next_to_the_request_id() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    logger = logging.getLogger("service_kit.test")

    logger.info("outside")
    with provider.get_tracer("test").start_as_current_span("work") as span:
        logger.info("inside")

    outside, inside = (json.loads(line) for line in stream.getvalue().splitlines())
    context = span.get_span_context()
    assert (outside["trace_id"], outside["span_id"]) == (None, None)
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert "request_id" in inside
    assert trace.get_current_span() is trace.INVALID_SPAN
