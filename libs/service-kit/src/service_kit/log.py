"""JSON logging: one line per record on stdout, each with the current request id and trace.

The request middleware sets ``request_id_var``; a filter copies it onto every record, so
lines from the app, SQLAlchemy and uvicorn all carry it, with the W3C ``trace_id`` and
``span_id`` of the current span (null when tracing is off or outside a request): a log line
leads to its trace, and a trace to its log lines. The request id stays the one users see.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import TextIO

from opentelemetry.trace import get_current_span
from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


class _RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        span = get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        else:
            record.trace_id = record.span_id = None
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI copy of the message
        return True


class _ServiceHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so reconfiguring replaces only it."""


def configure_logging(level: str, *, stream: TextIO | None = None) -> None:
    """Route the root logger (and uvicorn's) to one JSON handler; safe to call again."""
    handler = _ServiceHandler(stream or sys.stdout)
    handler.addFilter(_RequestContextFilter())
    handler.setFormatter(
        JsonFormatter(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # ISO-8601 UTC
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _ServiceHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # The middleware writes the access log (with duration and request id); uvicorn's is off.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every outgoing request at INFO; a client logs its retries and failures itself,
    # and a line per call to another service would double the log volume of every request.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
