"""The service images: one Dockerfile at the repository root (they install libs/service-kit), its
build argument SERVICE picking the service, built by one path (skaffold), from a context that
``.dockerignore`` keeps to what the Dockerfiles copy."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("user-service", "order-service")
# skaffold.yaml builds every image (test_skaffold.py); these must not build one by hand.
NOT_BUILDERS = (
    "Makefile",
    ".github/workflows/ci.yml",
    *(p.relative_to(REPO).as_posix() for p in sorted((REPO / "scripts").glob("*.sh"))),
)


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
    """What the root Dockerfile copies when built with SERVICE=<service>."""
    dockerfile = (REPO / "Dockerfile").read_text().replace("${SERVICE}", service)
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
        "helm/Chart.yaml",
        "tests-e2e/k8s/job.yaml",
        "libs/service-kit/tests/conftest.py",
        "user-service/src/user_service/__pycache__/x.pyc",
        "pacts/order-service-user-service.json",
        ".data/user-service.db",
    ],
)
def test_the_context_leaves_out_what_no_image_needs(path: str) -> None:
    assert _excluded(path)


@pytest.mark.parametrize("builder", NOT_BUILDERS)
def test_only_skaffold_builds_the_images(builder: str) -> None:
    """One build path: a second, hand-written `docker build` could drift from skaffold.yaml."""
    text = (REPO / builder).read_text().replace("\\\n", " ")  # join continued lines
    builds = [line for line in text.splitlines() if re.search(r"\bdocker\"? build\b", line)]
    assert not builds, f"{builder} builds an image by hand: {builds}"


def test_every_file_the_suites_dockerfile_copies_is_in_the_build_context() -> None:
    dockerfile = (REPO / "tests-e2e" / "Dockerfile").read_text()
    sources = [
        source
        for match in re.finditer(r"^COPY (?!--from)(.+?) \S+$", dockerfile, re.MULTILINE)
        for source in match.group(1).split()
    ]
    assert "constraints.txt" in sources
    for source in sources:
        paths = sorted(REPO.glob(source))
        assert paths, source
        for path in paths:
            files = list(path.rglob("*.py")) if path.is_dir() else [path]
            for file in files:
                relative = file.relative_to(REPO).as_posix()
                assert not _excluded(relative), f"{relative} is copied but .dockerignore drops it"
