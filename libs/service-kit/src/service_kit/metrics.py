"""Prometheus metrics: what the request middleware records and what ``GET /metrics`` exposes.

prometheus-client writes the exposition format (text or OpenMetrics, by the scraper's
``Accept``). ``REGISTRY`` is the kit's own, not the library's global one: what a service adds
(``registry=REGISTRY``) is scraped, what some library registers globally is not. It is served as
is with one worker. With several,
``serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before uvicorn forks: each
worker writes its samples there and a scrape of any worker aggregates them all
(``MultiProcessCollector``; the ``process_*``/``python_*`` collectors are then absent).

Labels stay bounded: ``route`` is the route template (``/users/{user_id}``), or ``unmatched``
when no route matched (scanners add no series); ``method`` is a standard method or ``OTHER``.
Every request is counted, ``/metrics`` and the health probes included: each is one bounded
series under its own route, which dashboards filter out by ``route`` when they want to.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own variable
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from receiving an HTTP request to the end of its response.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)

# (method, route, status) -> the labelled children: labels() takes a lock and builds a tuple
# on every call, so each series is looked up once and then reached by one dict access.
_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    if method not in _METHODS:
        method = "OTHER"
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_REQUEST_DURATION.labels(method, route),
        )
    children[0].inc()
    children[1].observe(seconds)


@contextlib.contextmanager
def multiprocess_dir(prefix: str) -> Iterator[str]:
    """A fresh, empty directory for the workers' samples, exported while the workers run.

    Never reused: stale files of an earlier run would be added to the counts.
    """
    directory = tempfile.mkdtemp(prefix=f"{prefix}-metrics-")
    os.environ[MULTIPROC_DIR_ENV] = directory
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROC_DIR_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def _registry() -> CollectorRegistry:
    if MULTIPROC_DIR_ENV not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated upstream
    return registry


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """The Prometheus scrape target (a sync route: aggregating files runs in the threadpool)."""
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(_registry()), headers={"Content-Type": content_type})
