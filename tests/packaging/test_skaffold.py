"""skaffold.yaml: valid against the published v4beta13 schema (shared/tools/validate-skaffold),
and wired to the charts: image values that exist, port forwards to the rendered Services."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]
SKAFFOLD = REPO / "skaffold.yaml"
SERVICES = ("user-service", "order-service")


@pytest.fixture(scope="module")
def validate_skaffold() -> Path:
    shared = Path(os.environ.get("SHARED_DIR", REPO.parent / "shared"))
    tool = shared / "tools" / "validate-skaffold"
    if not os.access(tool, os.X_OK):
        pytest.fail(
            f"{tool} not found: set SHARED_DIR to the shared/ folder that holds "
            "tools/validate-skaffold and schemas/skaffold-v4beta13.json",
            pytrace=False,
        )
    return tool


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return dict(yaml.safe_load(SKAFFOLD.read_text()))


def test_skaffold_yaml_validates_against_the_v4beta13_schema(validate_skaffold: Path) -> None:
    result = subprocess.run(
        [str(validate_skaffold), str(SKAFFOLD)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_validator_rejects_a_broken_skaffold_yaml(validate_skaffold: Path, tmp_path: Path) -> None:
    broken = tmp_path / "skaffold.yaml"
    broken.write_text(SKAFFOLD.read_text().replace("localPort: 8001", "localPort: eight"))
    result = subprocess.run(
        [str(validate_skaffold), str(broken)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "localPort" in result.stdout


def artifacts(build: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["image"]: a for a in build["artifacts"]}


def test_each_image_is_built_from_the_root_with_its_own_dockerfile_on_a_chosen_base(
    config: dict[str, Any],
) -> None:
    """The root context holds libs/, which every service image installs."""
    for build in [config["build"], *(p["build"] for p in config["profiles"])]:
        for name, artifact in artifacts(build).items():
            assert artifact["context"] == "."
            assert artifact["docker"]["dockerfile"] == f"{name}/Dockerfile"
            assert (REPO / name / "Dockerfile").is_file()
            assert "BASE_IMAGE" in artifact["docker"]["buildArgs"]


def test_built_images_are_set_on_each_chart_image_values(config: dict[str, Any]) -> None:
    release = config["deploy"]["helm"]["releases"][0]
    assert release["chartPath"] == "helm/shop"
    templates = release["setValueTemplates"]
    for service in SERVICES:
        var = service.replace("-", "_")
        assert templates[f"{service}.image.repository"] == f"{{{{ .IMAGE_REPO_{var} }}}}"
        assert templates[f"{service}.image.tag"] == f"{{{{ .IMAGE_TAG_{var} }}}}"
        values = yaml.safe_load((REPO / "helm" / service / "values.yaml").read_text())
        assert {"repository", "tag"} <= set(values["image"])


def test_dev_profile_builds_the_dev_target_and_syncs_the_service_and_kit_sources(
    config: dict[str, Any],
) -> None:
    """Each rule lands where the dev image's editable installs are (see the Dockerfiles)."""
    dev = next(p for p in config["profiles"] if p["name"] == "dev")
    for name, artifact in artifacts(dev["build"]).items():
        assert artifact["docker"]["target"] == "dev"
        assert artifact["sync"]["manual"] == [
            {"src": f"{name}/src/**/*.py", "dest": "/app/src", "strip": f"{name}/src/"},
            {
                "src": "libs/service-kit/src/**/*.py",
                "dest": "/app/libs/service-kit/src",
                "strip": "libs/service-kit/src/",
            },
        ]
        dockerfile = (REPO / name / "Dockerfile").read_text()
        assert f"COPY {name}/src ./src" in dockerfile
        assert "COPY libs/service-kit/src ./libs/service-kit/src" in dockerfile
    release = dev["deploy"]["helm"]["releases"][0]
    assert (
        release["setValueTemplates"] == config["deploy"]["helm"]["releases"][0]["setValueTemplates"]
    )


def test_e2e_profile_never_pushes(config: dict[str, Any]) -> None:
    e2e = next(p for p in config["profiles"] if p["name"] == "e2e")
    assert e2e["build"]["local"]["push"] is False
    assert set(artifacts(e2e["build"])) == set(SERVICES)


def test_port_forwards_reach_both_rendered_services(
    config: dict[str, Any], rendered: dict[tuple[str, str], list[dict[str, Any]]]
) -> None:
    services = {
        o["metadata"]["name"]: o
        for o in rendered[("shop-default", "1.34.0")]
        if o["kind"] == "Service"
    }
    forwards = {f["localPort"]: f for f in config["portForward"]}
    assert set(forwards) == {8001, 8002}
    for port, service in zip((8001, 8002), SERVICES, strict=True):
        forward = forwards[port]
        assert forward["address"] == "127.0.0.1"
        target = services[forward["resourceName"]]
        assert target["metadata"]["labels"]["app.kubernetes.io/name"] == service
        assert forward["port"] in [p["port"] for p in target["spec"]["ports"]]


def test_helm_dependency_hook_is_executable(config: dict[str, Any]) -> None:
    command = config["deploy"]["helm"]["hooks"]["before"][0]["host"]["command"]
    assert os.access(REPO / command[0], os.X_OK)
