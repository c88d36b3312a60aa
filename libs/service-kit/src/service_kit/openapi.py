"""What a route declares about the problems it may answer, for the OpenAPI schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service_kit.middleware import MAX_BODY_SIZE
from service_kit.problems import PROBLEM_CONTENT_TYPE

# What every service answers the same way; a service adds or overrides descriptions.
COMMON_PROBLEMS: Mapping[int, str] = {
    413: f"Body over {MAX_BODY_SIZE // 1024} KiB",
    422: "Invalid request",
    503: "Database unavailable",
}


def problem_responses(
    descriptions: Mapping[int, str], *statuses: int
) -> dict[int | str, dict[str, Any]]:
    """FastAPI's ``responses=`` for ``statuses``, each an ``application/problem+json`` body."""
    merged = {**COMMON_PROBLEMS, **descriptions}
    return {
        status: {"description": merged[status], "content": {PROBLEM_CONTENT_TYPE: {}}}
        for status in statuses
    }
