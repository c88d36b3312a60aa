"""Traces: OpenTelemetry configured the standard way, one tracer provider per app.

Where it sits: ``create_service_app`` builds a ``Tracing`` from the environment (or takes one a
test built) and hands its provider to the three instrumentations of a request's path, explicitly,
never through the SDK's process-wide global:

- FastAPI's native telemetry (FastAPI >= 0.142): the server span of each request, continuing the
  caller's W3C ``traceparent``; probes (``/health/*``) and scrapes (``/metrics``) are not traced;
- httpx (``opentelemetry-instrumentation-httpx``, per client): a client span per attempt, and the
  ``traceparent`` header that makes the callee's spans children of it;
- SQLAlchemy (``opentelemetry-instrumentation-sqlalchemy``'s ``EngineTracer``, per engine): a
  span per statement run inside a trace (the readiness probe's ``SELECT 1`` starts none). Its
  instrumentor declares ``sqlalchemy < 2.1`` and refuses 2.1 without ``skip_dep_check``, and it
  patches ``create_engine`` process-wide; the engine listeners it is built on work on 2.1 (the
  repository's trace tests assert the SQL spans).

A service adds its own spans with ``tracing.tracer(__name__)`` where they explain something.

Configuration is the OpenTelemetry environment, read by the SDK itself: ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` (over the service's name and version), ``OTEL_TRACES_SAMPLER`` /
``OTEL_TRACES_SAMPLER_ARG`` (default ``parentbased_always_on``), ``OTEL_EXPORTER_OTLP_*`` (OTLP over
HTTP, protobuf) and ``OTEL_BSP_*`` (the batch processor). Tracing is on only when an OTLP endpoint
is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``..._TRACES_ENDPOINT``), unless ``OTEL_SDK_DISABLED``
is true or ``OTEL_TRACES_EXPORTER`` is ``none``. Off, there is no provider: no instrumentation is
installed, FastAPI's telemetry is switched off, and the service's own spans come from the API's
no-op tracer, so tracing costs nothing measurable.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, Literal

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine

if TYPE_CHECKING:
    import httpx

UNTRACED_PATHS = ("/health/", "/metrics")


class TracingSettings(BaseSettings):
    """The OTEL_* variables that decide whether tracing is on (the SDK reads the others)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)  # no prefix: the spec's names

    otel_sdk_disabled: bool = False
    otel_traces_exporter: Literal["otlp", "none"] = "otlp"
    otel_exporter_otlp_endpoint: str = ""
    otel_exporter_otlp_traces_endpoint: str = ""

    @field_validator("otel_traces_exporter", mode="before")
    @classmethod
    def _lower_exporter(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("otel_exporter_otlp_endpoint", "otel_exporter_otlp_traces_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("an OTLP/HTTP endpoint is an http:// or https:// URL")
        return value

    @property
    def enabled(self) -> bool:
        endpoint = self.otel_exporter_otlp_endpoint or self.otel_exporter_otlp_traces_endpoint
        return bool(endpoint) and not self.otel_sdk_disabled and self.otel_traces_exporter == "otlp"


def service_resource(service_name: str) -> Resource:
    """``service.name``/``service.version`` of the distribution, under what the environment says."""
    defaults = Resource({"service.name": service_name, "service.version": version(service_name)})
    return Resource.create(defaults.merge(OTELResourceDetector().detect()).attributes)


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    path: str = scope.get("path", "")
    return path.startswith(UNTRACED_PATHS)


class _InTraceOnly:
    """The SQL spans' tracer: a statement outside any trace (a readiness probe, start-up) would
    be a trace of its own, one span long, every few seconds; it gets a no-op span instead.
    ``EngineTracer`` only calls ``start_span``."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(self, name: str, context: Context | None = None, **kwargs: Any) -> trace.Span:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return trace.INVALID_SPAN
        return self._tracer.start_span(name, context, **kwargs)


class Tracing:
    """The app's tracer provider, or ``None``: tracing off."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider
        self._noop = trace.NoOpTracer()
        self._tracers: dict[str, trace.Tracer] = {}  # get_tracer builds a new one on every call

    @classmethod
    def from_environment(
        cls, service_name: str, settings: TracingSettings | None = None
    ) -> Tracing:
        settings = settings or TracingSettings()
        if not settings.enabled:
            return cls(None)
        # The sampler comes from OTEL_TRACES_SAMPLER; the exporter reads its endpoint, headers,
        # timeout and compression from OTEL_EXPORTER_OTLP_*, the processor OTEL_BSP_*.
        provider = TracerProvider(resource=service_resource(service_name), shutdown_on_exit=False)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider)

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def tracer(self, name: str) -> trace.Tracer:
        if self.provider is None:
            return self._noop
        tracer = self._tracers.get(name)
        if tracer is None:
            tracer = self._tracers[name] = self.provider.get_tracer(name)
        return tracer

    def fastapi_telemetry(self) -> TelemetryConfig:
        """``FastAPI(telemetry=...)``: server spans only; metrics are Prometheus, logs stdout."""
        if self.provider is None:
            return {"tracing": False, "metrics": False, "logs": False, "auto_configure": False}
        return {
            "tracer_provider": self.provider,
            "tracing": True,
            "metrics": False,
            "logs": False,
            "operation_spans": False,  # dependency/endpoint/serialisation spans: noise here
            "auto_configure": False,  # the provider above is the whole configuration
            "exclude": _untraced,
        }

    def instrument_engine(self, engine: Engine) -> None:
        if self.provider is None:
            return
        tracer = _InTraceOnly(self.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy"))
        connections = NoOpMeterProvider().get_meter(__name__).create_up_down_counter("unused")
        EngineTracer(tracer, engine, connections)  # type: ignore[no-untyped-call]

    def instrument_client(self, client: httpx.AsyncClient) -> None:
        """Client spans and ``traceparent`` for calls to another service (httpx is imported
        here: only a service that makes such calls has it)."""
        if self.provider is None:
            return
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(
            client, tracer_provider=self.provider, meter_provider=NoOpMeterProvider()
        )

    def shutdown(self) -> None:
        """Export what is still queued, then stop (the app's lifespan calls it on the way out)."""
        if self.provider is not None:
            self.provider.shutdown()
