"""Request context, the outermost layer of the app (pure ASGI: no per-request task or copy).

For each HTTP request it: takes the caller's ``X-Request-ID`` or makes one, exposes it to
logs and handlers, refuses a declared body over the limit with 413 before reading it,
answers an unexpected exception with a bare 500 problem, returns ``X-Request-ID`` on every
response, writes one JSON access-log line and records the request's metrics (by route template).
Every response also says ``X-Content-Type-Options: nosniff`` and, unless its route chose its own
caching, ``Cache-Control: no-store``: these APIs answer with identities and tokens.
``HEAD`` is routed as ``GET`` (RFC 9110 requires both; FastAPI's GET routes take GET only); the
server, which still sees HEAD, sends no body.
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_kit.log import request_id_var
from service_kit.metrics import UNMATCHED, observe_request
from service_kit.problems import http_problem, internal_problem

REQUEST_ID_HEADER = "X-Request-ID"
MAX_BODY_SIZE = 64 * 1024  # every request body of these services is a small JSON document
_MAX_REQUEST_ID = 128
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")

logger = logging.getLogger(__name__)


def accept_request_id(value: str | None) -> str:
    """The caller's id if it is 1-128 visible ASCII characters, else a new UUID4 hex."""
    if value and len(value) <= _MAX_REQUEST_ID and all(33 <= ord(c) <= 126 for c in value):
        return value
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """``access_logger`` names the access log (``<package>.access``): lines say who wrote them."""

    def __init__(self, app: ASGIApp, *, max_body_size: int, access_logger: str) -> None:
        self.app = app
        self.max_body_size = max_body_size
        self.access_logger = logging.getLogger(access_logger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # a copy for the app: uvicorn keeps the original scope, so it drops a HEAD's body
        inner = {**scope, "method": "GET"} if scope["method"] == "HEAD" else scope
        headers = Headers(scope=scope)
        request_id = accept_request_id(headers.get(REQUEST_ID_HEADER))
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
                raw = message["headers"]  # the list MutableHeaders made; names are lowercase
                for name, _ in raw:  # one pass, no decoding: this runs on every response
                    if name == b"cache-control":
                        break
                else:
                    raw.append(_NO_STORE)
                raw.append(_NOSNIFF)
            await send(message)

        try:
            if _declared_length(headers) > self.max_body_size:
                response = http_problem(413, instance=scope["path"], request_id=request_id)
                await response(scope, receive, send_with_id)
            else:
                await self.app(inner, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error")
            if not response_started:
                response = internal_problem(instance=scope["path"], request_id=request_id)
                await response(scope, receive, send_with_id)
            status = 500
        finally:
            elapsed = time.perf_counter() - started
            # The router leaves the matched route in the scope: its template bounds the label.
            route = getattr(inner.get("route"), "path_format", UNMATCHED)
            observe_request(scope["method"], route, status, elapsed)
            self.access_logger.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "client": (scope.get("client") or ("-",))[0],
                },
            )
            request_id_var.reset(token)


def _declared_length(headers: Headers) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        return 0
