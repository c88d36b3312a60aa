"""values.schema.json and the charts' own checks refuse broken values with a clear message."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

import pytest

pytestmark = pytest.mark.packaging

Template = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize(
    ("chart", "sets", "message"),
    [
        ("user-service", ("replicaCount=two",), r"replicaCount: Invalid type. Expected: integer"),
        ("shop", ("user-service.replicaCount=two",), r"replicaCount: Invalid type"),
        (
            "order-service",
            ("config.logLevel=LOUD",),
            r"config.logLevel: config.logLevel must be one of",
        ),
        ("user-service", ("image.repository=null",), r"image: repository is required"),
        ("user-service", ("resources.limits=null",), r"resources: limits is required"),
        ("user-service", ("replicas=3",), r"Additional property replicas is not allowed"),
        ("user-service", ("image.tag=latest",), r"image.tag: Must not validate the schema"),
        ("postgresql", ("auth.username=bad-name",), r"auth.username: Does not match pattern"),
        ("shop", ("global.imageTag=latest",), r"global.imageTag"),
        ("user-service", ("http.maxHeaderBytes=100",), r"http.maxHeaderBytes: Must be greater"),
        ("order-service", ("http.headerTimeout=0",), r"http.headerTimeout: Must be greater"),
        ("order-service", ("http.trustedProxies=*",), r"http.trustedProxies: Does not match"),
        (
            "order-service",
            ("migrations.waitForDatabaseSeconds=7200",),
            r"waitForDatabaseSeconds: Must be less than or equal to 3600",
        ),
        ("order-service", ("limits.clientRate=5",), r"Additional property limits is not allowed"),
        ("user-service", ("userService.url=x",), r"Additional property userService is not allowed"),
    ],
)
def test_broken_values_fail_with_the_offending_key(
    helm_template: Template, chart: str, sets: tuple[str, ...], message: str
) -> None:
    base = ("image.tag=abc123",) if chart in {"user-service", "order-service"} else ()
    result = helm_template(chart, (*base, *sets))
    assert result.returncode != 0
    assert re.search(message, result.stderr), result.stderr


def test_grace_period_shorter_than_the_shutdown_is_refused(helm_template: Template) -> None:
    result = helm_template("user-service", ("image.tag=abc123", "terminationGracePeriodSeconds=20"))
    assert result.returncode != 0
    assert "terminationGracePeriodSeconds (20) must be larger than" in result.stderr


def test_service_without_any_database_is_refused(helm_template: Template) -> None:
    result = helm_template("user-service", ("image.tag=abc123", "postgresql.enabled=false"))
    assert result.returncode != 0
    assert "no database: set database.existingSecret, database.url" in result.stderr
