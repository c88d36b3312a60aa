"""The end-to-end suite's OTLP/HTTP receiver, fed by the SDK's own OTLP/HTTP exporter."""

from __future__ import annotations

import gzip

import httpx
import pytest
from e2e_support.otlp import OtlpReceiver, parse_listen
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

pytestmark = pytest.mark.unit


def _provider(receiver: OtlpReceiver, compression: Compression) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "svc-a"}))
    exporter = OTLPSpanExporter(
        endpoint=f"{receiver.endpoint}/v1/traces", compression=compression, timeout=5
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_receiver_decodes_what_the_sdk_exporter_sends(compression: Compression) -> None:
    with OtlpReceiver() as receiver:
        provider = _provider(receiver, compression)
        tracer = provider.get_tracer("test")
        with (
            tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent,
            tracer.start_as_current_span("child", attributes={"n": 3, "ok": True}),
        ):
            pass
        provider.shutdown()
        trace_id = format(parent.get_span_context().trace_id, "032x")

        spans = receiver.wait_for_trace(trace_id, lambda spans: len(spans) == 2, timeout=5)

    by_name = {span.name: span for span in spans}
    assert by_name["parent"].parent_span_id is None
    assert by_name["parent"].kind == "server"
    assert by_name["child"].parent_span_id == by_name["parent"].span_id
    assert by_name["child"].attributes == {"n": 3, "ok": True}
    assert {span.service for span in spans} == {"svc-a"}
    assert receiver.rejected == 0


def test_receiver_refuses_what_is_not_an_otlp_protobuf_export() -> None:
    with OtlpReceiver() as receiver:
        url = f"{receiver.endpoint}/v1/traces"
        as_json = httpx.post(url, json={"resourceSpans": []})
        garbage = httpx.post(
            url,
            content=gzip.compress(b"\xff\xff\xff"),
            headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
        )
        elsewhere = httpx.post(
            f"{receiver.endpoint}/v1/logs", headers={"Content-Type": "application/x-protobuf"}
        )

    assert (as_json.status_code, garbage.status_code, elsewhere.status_code) == (415, 400, 404)
    assert receiver.spans() == []


def test_wait_for_trace_names_the_spans_it_saw_when_it_times_out() -> None:
    with OtlpReceiver() as receiver, pytest.raises(TimeoutError, match=r"\(none\)"):
        receiver.wait_for_trace("0" * 32, lambda spans: bool(spans), timeout=0.1)


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("0.0.0.0:4318", ("0.0.0.0", 4318)),  # noqa: S104 (parsed, not bound)
        ("[::]:4318", ("::", 4318)),
        (":9", ("127.0.0.1", 9)),
    ],
)
def test_parse_listen_reads_host_and_port(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


def test_parse_listen_refuses_a_missing_port() -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen("localhost")


def test_get_answers_the_counts_and_keep_false_only_counts() -> None:
    with OtlpReceiver(keep=False) as receiver:
        provider = _provider(receiver, Compression.NoCompression)
        with provider.get_tracer("test").start_as_current_span("one"):
            pass
        provider.shutdown()
        stats = httpx.get(receiver.endpoint).json()

    assert stats == {"requests": 1, "spans": 1, "rejected": 0}
    assert receiver.spans() == []
