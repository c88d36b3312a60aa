"""The plumbing both services carry stays identical, but for the service's name.

Each service is its own deployable unit and Docker build context, so the small plumbing
(middleware, engine, CLI, JSON logs, alembic environment) is mirrored rather than shared through
a library whose releases would couple the two. This test is what keeps the mirror honest: a fix
made in one service and forgotten in the other fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {
    "user": ROOT / "user-service" / "src" / "user_service",
    "order": ROOT / "order-service" / "src" / "order_service",
}
# cli.py is not mirrored: user-service has identity commands (generate-key, grant-admin).
MIRRORED = ["middleware.py", "metrics.py", "db.py", "log.py", "migrations/env.py"]
# Lines that differ by design; each is named so a reader sees why.
ALLOWED_DIFFERENCES = [
    re.compile(r"^_ADVISORY_LOCK_ID = "),  # each service's migration lock has its own key
    re.compile(r"^\s*#"),  # comments may explain a service-specific line
    re.compile(r'logging\.getLogger\("httpx"\)'),  # only order-service makes HTTP calls
]

pytestmark = pytest.mark.unit


def _normalised(service: str, relative: str) -> list[str]:
    text = (SERVICES[service] / relative).read_text()
    for old, new in (
        (f"{service}_service", "SERVICE"),
        (f"{service}-service", "SERVICE"),
        (f"{service.upper()}_SERVICE", "SERVICE"),
    ):
        text = text.replace(old, new)
    return [
        line
        for line in text.splitlines()
        if not any(pattern.search(line) for pattern in ALLOWED_DIFFERENCES)
    ]


@pytest.mark.parametrize("relative", MIRRORED)
def test_mirrored_module_is_the_same_in_both_services(relative: str) -> None:
    user, order = _normalised("user", relative), _normalised("order", relative)
    assert user == order, (
        f"{relative} differs between user-service and order-service beyond the service name; "
        "apply the change to both (or list the difference in ALLOWED_DIFFERENCES with a reason)"
    )
