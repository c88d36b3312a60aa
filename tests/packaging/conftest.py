"""Packaging test fixtures: helm and kubectl located once, every chart variant rendered once.

Each render is a list of Kubernetes objects (dicts). Variants are rendered for both ends of the
range the charts claim (their kubeVersion): the oldest, and the version CI's kind cluster runs.
Everything here fails loudly when a tool is missing; nothing skips.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HELM_DIR = REPO / "helm"
SKAFFOLD_YAML = REPO / "skaffold.yaml"
SERVICE_CHARTS = ("user-service", "order-service")
ALL_CHARTS = ("postgresql", *SERVICE_CHARTS, "shop")
# helm/ itself is the umbrella chart `shop` (so one folder holds every chart skaffold watches);
# the others are its sub-folders, wired together by the committed symlinks in their charts/.
CHART_DIRS = {chart: HELM_DIR / chart for chart in ALL_CHARTS} | {"shop": HELM_DIR}

# The ends of the charts' kubeVersion range (">=1.25.0-0"): the oldest is proven here only, offline
# (rendered for it, validated against its schemas); the newest also runs, on kind, in CI.
KUBE_OLD = "1.25.0"
KUBE_NEW = "1.35.4"

# kubernetes-validate's schemas: the oldest it ships (our oldest), and the newest it ships.
SCHEMA_OLD = "1.25.0"
SCHEMA_NEW = "1.37.0"

TEST_RELEASE = "shop"
TEST_TAG = "0123456789ab"
IMAGE_ID = "cbd76aaa2a80e7eff00fb44cfc01a0cf54e3ec3233eb5a413d3a049986ed75b3"
# `helm template` has no cluster to keep a generated database password in, so the charts refuse
# to invent one there (helm/README.md): helm_template gives each bundled PostgreSQL one, first,
# so a test's own values (an existingSecret, another password) still win.
TEST_DB_PASSWORD = "render-only-password"
# The service charts' databases have two roles: the owner's password and the app role's.
_ROLE_PASSWORDS = (
    f"postgresql.auth.password={TEST_DB_PASSWORD}",
    f"postgresql.auth.appPassword={TEST_DB_PASSWORD}-app",
)
DB_PASSWORDS: dict[str, tuple[str, ...]] = {
    "postgresql": (f"auth.password={TEST_DB_PASSWORD}",),
    "user-service": _ROLE_PASSWORDS,
    "order-service": _ROLE_PASSWORDS,
    "shop": tuple(f"{service}.{value}" for service in SERVICE_CHARTS for value in _ROLE_PASSWORDS),
}


@dataclass(frozen=True)
class Variant:
    """One way to install the system: a chart and its --set values."""

    chart: str
    sets: tuple[str, ...] = ()


# Every chart's defaults, and the umbrella with the alternatives users switch on.
VARIANTS: dict[str, Variant] = {
    "postgresql-default": Variant("postgresql"),
    "user-service-default": Variant("user-service", (f"image.tag={TEST_TAG}",)),
    "order-service-default": Variant(
        "order-service",
        (f"image.tag={TEST_TAG}", "userService.url=http://users.example.svc:80"),
    ),
    "shop-default": Variant("shop", (f"global.imageTag={TEST_TAG}",)),
    "shop-existing-database-secrets": Variant(
        "shop",
        (
            f"global.imageTag={TEST_TAG}",
            "user-service.postgresql.auth.existingSecret=user-db-password",
            "order-service.postgresql.auth.existingSecret=order-db-password",
            "order-service.postgresql.auth.existingSecretPasswordKey=secret",
        ),
    ),
    "shop-external-database": Variant(
        "shop",
        (
            f"global.imageTag={TEST_TAG}",
            "user-service.postgresql.enabled=false",
            "user-service.database.existingSecret=user-db",
            "order-service.postgresql.enabled=false",
            "order-service.database.url=postgresql://orders:s3cret@db.example.com:5432/orders",
        ),
    ),
    "shop-autoscaling": Variant(
        "shop",
        (
            f"global.imageTag={TEST_TAG}",
            "user-service.autoscaling.enabled=true",
            "order-service.autoscaling.enabled=true",
            "order-service.autoscaling.targetMemoryUtilizationPercentage=80",
        ),
    ),
    "shop-network-policies": Variant(
        "shop",
        tuple(
            [f"global.imageTag={TEST_TAG}"]
            + [f"{s}.networkPolicy.enabled=true" for s in SERVICE_CHARTS]
            + [f"{s}.postgresql.networkPolicy.enabled=true" for s in SERVICE_CHARTS]
        ),
    ),
    # What skaffold deploys after a local build that is not pushed: <image>:<64-hex image id>.
    "shop-image-id-tags": Variant(
        "shop",
        tuple(
            f"{prefix}.image.tag={IMAGE_ID}"
            for prefix in (*SERVICE_CHARTS, *(f"{s}.postgresql" for s in SERVICE_CHARTS))
        ),
    ),
    # the knobs the least-privilege rules depend on: another database port, metrics scraped,
    # signing keys from a Secret of one's own
    "shop-secured-options": Variant(
        "shop",
        (
            f"global.imageTag={TEST_TAG}",
            "user-service.postgresql.service.port=6543",
            "user-service.serviceMonitor.enabled=true",
            "user-service.signingKeys.existingSecret=my-signing-keys",
        ),
    ),
    "shop-observability": Variant(
        "shop",
        (
            f"global.imageTag={TEST_TAG}",
            "global.tracing.otlpEndpoint=http://otel-collector.observability:4318",
            "order-service.tracing.sampler=parentbased_always_on",
            "user-service.tracing.resourceAttributes.deployment\\.environment\\.name=prod eu",
            "grafanaDashboard.enabled=true",
            "user-service.networkPolicy.enabled=true",
            "order-service.networkPolicy.enabled=true",
            "order-service.networkPolicy.tracingEgress[0].namespaceSelector.matchLabels.name=obs",
        ),
    ),
    "shop-pdb": Variant(
        "shop",
        (
            f"global.imageTag={TEST_TAG}",
            "user-service.replicaCount=2",
            "user-service.podDisruptionBudget.enabled=true",
            "order-service.replicaCount=2",
            "order-service.podDisruptionBudget.enabled=true",
            "order-service.podDisruptionBudget.minAvailable=1",
        ),
    ),
}
KUBE_VERSIONS = (KUBE_OLD, KUBE_NEW)
# What `skaffold render` prints for a profile (tags from the git sha, no build, no cluster): the
# objects skaffold would apply. The dev profile is left out on purpose: its pods have a writable
# root filesystem for file sync, which the hardening policy refuses.
SKAFFOLD_RENDERS = {"skaffold-render": (), "skaffold-render-e2e": ("--profile", "e2e")}
# (rendered for, validated against): each end against its own schemas, the newest also against
# the newest schemas kubernetes-validate has (what the next upgrade will serve).
VALIDATIONS = ((KUBE_NEW, KUBE_NEW), (KUBE_NEW, SCHEMA_NEW), (KUBE_OLD, SCHEMA_OLD))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests ask for ``render_key`` or ``validation_case``; VARIANTS above is the only list."""
    if "render_key" in metafunc.fixturenames:
        keys = [f"{variant}@{kube}" for variant in VARIANTS for kube in KUBE_VERSIONS]
        skaffold = [pytest.param(k, marks=pytest.mark.skaffold) for k in SKAFFOLD_RENDERS]
        metafunc.parametrize("render_key", [*keys, "kustomize-dev", "tests-e2e-k8s", *skaffold])
    if "validation_case" in metafunc.fixturenames:
        cases = [(variant, kube, schema) for kube, schema in VALIDATIONS for variant in VARIANTS]
        metafunc.parametrize("validation_case", cases, ids=["-".join(c) for c in cases])


def _find_tool(name: str, hint: str) -> str:
    local = REPO / ".tools" / "bin" / name
    found = shutil.which(name) or (str(local) if local.exists() else None)
    if found is None:
        pytest.fail(f"{name} not found on PATH nor in {local.parent}: {hint}", pytrace=False)
    return found


@pytest.fixture(scope="session")
def helm() -> str:
    return _find_tool(
        "helm", "install it with `../shared/tools/get-helm .tools/bin` (or `make tools`)"
    )


@pytest.fixture(scope="session")
def kubectl() -> str:
    return _find_tool("kubectl", "kubectl >= 1.21 (it has kustomize built in) is needed")


def run(cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    if check and result.returncode != 0:
        pytest.fail(
            f"`{' '.join(cmd)}` failed ({result.returncode}):\n{result.stderr}", pytrace=False
        )
    return result


@pytest.fixture(scope="session")
def chart_dir() -> Callable[[str], Path]:
    """The folder of a chart by name. Nothing is vendored: each charts/ holds symlinks to the
    subcharts' folders, so a render always uses the working tree's templates."""
    return CHART_DIRS.__getitem__


Template = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def helm_template(helm: str, chart_dir: Callable[[str], Path]) -> Template:
    """`helm template` of a chart for a Kubernetes version; returns the completed process."""

    def template(
        chart: str,
        sets: tuple[str, ...] = (),
        kube: str = KUBE_NEW,
        extra: tuple[str, ...] = (),
        *,
        db_passwords: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [helm, "template", TEST_RELEASE, str(chart_dir(chart))]
        cmd += ["--namespace", "shop-test", "--kube-version", kube]
        for value in (*DB_PASSWORDS[chart], *sets) if db_passwords else sets:
            cmd += ["--set", value]
        return run([*cmd, *extra], check=False)

    return template


def load_objects(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="session")
def rendered(helm_template: Template) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every variant for every Kubernetes version, rendered once: {(variant, kube): objects}."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for name, variant in VARIANTS.items():
        for kube in KUBE_VERSIONS:
            result = helm_template(variant.chart, variant.sets, kube)
            if result.returncode != 0:
                pytest.fail(
                    f"helm template {name} ({kube}) failed:\n{result.stderr}", pytrace=False
                )
            out[(name, kube)] = load_objects(result.stdout)
    return out


@pytest.fixture(scope="session")
def kustomize_objects(kubectl: str) -> list[dict[str, Any]]:
    result = run([kubectl, "kustomize", str(REPO / "k8s" / "overlays" / "dev")])
    return load_objects(result.stdout)


def kube_errors(obj: dict[str, Any], version: str) -> list[str]:
    """kubernetes-validate --strict of one object; a kind without a schema is an error too."""
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(map(str, exc.path)) or "(root)"
        return [f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}"]
    return []


@pytest.fixture(scope="session")
def kube_validate() -> Callable[[dict[str, Any], str], list[str]]:
    return kube_errors


Objects = list[dict[str, Any]]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload or a bare Pod; None for other kinds."""
    if obj["kind"] == "Pod":
        return dict(obj["spec"])
    if obj["kind"] in {"Deployment", "StatefulSet", "Job", "DaemonSet"}:
        return dict(obj["spec"]["template"]["spec"])
    return None


@pytest.fixture(scope="session")
def e2e_manifests() -> Objects:
    """The end-to-end Job skaffold's verify stage creates, and its ServiceAccount and Role."""
    folder = REPO / "tests-e2e" / "k8s"
    return [obj for path in sorted(folder.glob("*.yaml")) for obj in load_objects(path.read_text())]


@pytest.fixture(scope="session")
def every_render(
    rendered: dict[tuple[str, str], Objects], kustomize_objects: Objects, e2e_manifests: Objects
) -> dict[str, Objects]:
    """Every rendered object set the policies apply to: each Helm variant and version, kustomize,
    the end-to-end Job and its RBAC. (skaffold's renders: ``skaffold_renders``.)"""
    out = {f"{variant}@{kube}": objs for (variant, kube), objs in rendered.items()}
    out["kustomize-dev"] = kustomize_objects
    out["tests-e2e-k8s"] = e2e_manifests
    return out


@pytest.fixture(scope="session")
def skaffold() -> str:
    return _find_tool(
        "skaffold", "`make skaffold-tool` (skaffold v2.19.0), or `make test-skaffold`"
    )


@pytest.fixture(scope="session")
def skaffold_renders(skaffold: str) -> dict[str, Objects]:
    """`skaffold render --digest-source=tag --offline=true` of each profile in SKAFFOLD_RENDERS.

    Offline, nothing can keep a generated database password (see DB_PASSWORDS), and skaffold's
    --set does not reach a deploy.helm release's render; so the render reads skaffold.yaml with
    those two values added to every release, from a copy beside it (paths stay relative)."""
    config = yaml.safe_load(SKAFFOLD_YAML.read_text())
    passwords = dict(value.split("=", 1) for value in DB_PASSWORDS["shop"])
    for section in [config, *config["profiles"]]:
        for release in section.get("deploy", {}).get("helm", {}).get("releases", []):
            release["setValues"] = {**release.get("setValues", {}), **passwords}
    copy = REPO / ".skaffold-render-test.yaml"
    copy.write_text(yaml.safe_dump(config, sort_keys=False))
    out = {}
    try:
        for key, args in SKAFFOLD_RENDERS.items():
            cmd = [
                skaffold, "render", "--filename", str(copy), *args, "--digest-source=tag",
                "--offline=true", "--namespace", "shop-test", "--update-check=false",
                "--interactive=false",
            ]  # fmt: skip
            result = subprocess.run(
                cmd, cwd=REPO, capture_output=True, text=True, check=False, timeout=300
            )
            if result.returncode != 0:
                pytest.fail(f"`{' '.join(cmd)}` failed:\n{result.stderr}", pytrace=False)
            out[key] = load_objects(result.stdout)
            if "e2e" in args:
                # what `skaffold verify -p e2e` creates from jobManifestPath (render omits it)
                out[key] += load_objects((REPO / "tests-e2e" / "k8s" / "job.yaml").read_text())
    finally:
        copy.unlink()
    return out


@pytest.fixture(scope="session")
def pod_spec_of() -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    return pod_spec
