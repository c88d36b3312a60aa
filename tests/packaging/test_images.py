"""The service images: built from the repository root (they install libs/service-kit) by every
path that builds them, from a context that ``.dockerignore`` keeps to what the Dockerfiles copy."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("user-service", "order-service")
# Every place outside skaffold.yaml (test_skaffold.py) that runs `docker build` for a service.
BUILDERS = ("Makefile", "scripts/e2e-cluster.sh", ".github/workflows/ci.yml")


def _ignore_rules() -> list[tuple[bool, str]]:
    """(excluded, pattern) per line of the root .dockerignore, in order."""
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((not negated, line.lstrip("!").rstrip("/")))
    return rules


def _excluded(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for excluded, pattern in _ignore_rules():
        glob = pattern.replace("**/", "*")  # enough for the patterns this file uses
        if any(fnmatch.fnmatchcase(p, glob) for p in prefixes):
            verdict = excluded
    return verdict


def _copy_sources(service: str) -> list[str]:
    dockerfile = (REPO / service / "Dockerfile").read_text()
    sources = []
    for match in re.finditer(r"^COPY (?!--from)(.+?) \S+$", dockerfile, re.MULTILINE):
        sources.extend(match.group(1).split())
    return sources


@pytest.mark.parametrize("service", SERVICES)
def test_every_file_a_dockerfile_copies_is_in_the_build_context(service: str) -> None:
    sources = _copy_sources(service)
    assert f"{service}/src" in sources
    assert "libs/service-kit/src" in sources
    for source in sources:
        assert (REPO / source).exists(), source
        tracked = list((REPO / source).rglob("*.py")) or [REPO / source]
        for path in tracked:
            relative = path.relative_to(REPO).as_posix()
            assert not _excluded(relative), f"{relative} is copied but .dockerignore drops it"


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "user-service/tests/conftest.py",
        "helm/shop/Chart.yaml",
        "libs/service-kit/tests/conftest.py",
        "user-service/src/user_service/__pycache__/x.pyc",
        "pacts/order-service-user-service.json",
        ".data/user-service.db",
    ],
)
def test_the_context_leaves_out_what_no_image_needs(path: str) -> None:
    assert _excluded(path)


@pytest.mark.parametrize("builder", BUILDERS)
def test_every_service_image_build_uses_the_root_context_and_its_own_dockerfile(
    builder: str,
) -> None:
    text = (REPO / builder).read_text().replace("\\\n", " ")  # join continued lines
    builds = [
        line
        for line in text.splitlines()
        if re.search(r"\bdocker\"? build ", line.lower()) and "images/postgres" not in line
    ]
    assert builds, f"{builder}: no docker build of a service found"
    for command in builds:
        assert re.search(r'-f "?\$?[a-z-]+(/Dockerfile)?"? "?[.$]', command), command
    if builder == "scripts/e2e-cluster.sh":  # its build() is given the Dockerfile and the context
        for service in SERVICES:
            assert f'build "{service}:$TAG" {service}/Dockerfile .' in text
    else:
        for command in builds:
            assert re.search(r'-f "?(\$service|[a-z]+-service)/Dockerfile"? \.$', command), command
