"""skaffold.yaml: valid against the published v4beta13 schema (shared/tools/validate-skaffold),
and wired to the charts: image values that exist, port forwards to the rendered Services."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
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
    broken.write_text(SKAFFOLD.read_text().replace("localPort: 18001", "localPort: eight"))
    result = subprocess.run(
        [str(validate_skaffold), str(broken)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "localPort" in result.stdout


def artifacts(build: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["image"]: a for a in build["artifacts"]}


def profile(config: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(next(p for p in config["profiles"] if p["name"] == name))


# Each image: (build context, Dockerfile in it). The services (one Dockerfile, SERVICE picks
# which) and the suite build from the repository root (the services install libs/; .dockerignore
# keeps the context to what the Dockerfiles copy), PostgreSQL from its own folder.
CONTEXTS = {
    "user-service": (".", "Dockerfile"),
    "order-service": (".", "Dockerfile"),
    "postgres-debian": ("images/postgres", "Dockerfile"),
    "tests-e2e": (".", "tests-e2e/Dockerfile"),
}


def test_every_image_is_built_from_its_context_on_a_chosen_base(config: dict[str, Any]) -> None:
    builds = [config["build"], *(p.get("build", {}) for p in config["profiles"])]
    for build in [b for b in builds if "artifacts" in b]:
        for name, artifact in artifacts(build).items():
            assert (artifact["context"], artifact["docker"]["dockerfile"]) == CONTEXTS[name]
            assert (REPO / artifact["context"] / artifact["docker"]["dockerfile"]).is_file()
            assert "BASE_IMAGE" in artifact["docker"]["buildArgs"]
            if name in SERVICES:  # the image named user-service holds user-service
                assert artifact["docker"]["buildArgs"]["SERVICE"] == name


def test_the_postgresql_image_is_an_artifact_so_an_empty_cluster_needs_no_pull(
    config: dict[str, Any],
) -> None:
    for build in [
        config["build"],
        profile(config, "dev")["build"],
        profile(config, "e2e")["build"],
    ]:
        assert "postgres-debian" in artifacts(build)


def test_built_images_are_set_on_each_chart_image_values(config: dict[str, Any]) -> None:
    release = config["deploy"]["helm"]["releases"][0]
    assert release["chartPath"] == "helm"
    templates = release["setValueTemplates"]
    for prefix, var in [
        ("user-service", "user_service"),
        ("order-service", "order_service"),
        ("user-service.postgresql", "postgres_debian"),
        ("order-service.postgresql", "postgres_debian"),
    ]:
        assert templates[f"{prefix}.image.repository"] == f"{{{{ .IMAGE_REPO_{var} }}}}"
        assert templates[f"{prefix}.image.tag"] == f"{{{{ .IMAGE_TAG_{var} }}}}"
    for service in SERVICES:
        var = service.replace("-", "_")
        assert templates[f"{service}.image.digest"] == f"{{{{ .IMAGE_DIGEST_{var} }}}}"
        values = yaml.safe_load((REPO / "helm" / service / "values.yaml").read_text())
        assert {"repository", "tag", "digest"} <= set(values["image"])


def test_dev_profile_builds_the_dev_target_and_syncs_the_service_and_kit_sources(
    config: dict[str, Any],
) -> None:
    """Each rule lands where the dev image's editable installs are (see the Dockerfile)."""
    dev = profile(config, "dev")
    assert dev["build"]["local"]["push"] is False
    for name in SERVICES:
        artifact = artifacts(dev["build"])[name]
        assert artifact["docker"]["target"] == "dev"
        assert artifact["sync"]["manual"] == [
            {"src": f"{name}/src/**/*.py", "dest": "/app/src", "strip": f"{name}/src/"},
            {
                "src": "libs/service-kit/src/**/*.py",
                "dest": "/app/libs/service-kit/src",
                "strip": "libs/service-kit/src/",
            },
        ]
        dockerfile = (REPO / "Dockerfile").read_text()
        assert "COPY ${SERVICE}/src ./src" in dockerfile
        assert "COPY libs/service-kit/src ./libs/service-kit/src" in dockerfile
    release = dev["deploy"]["helm"]["releases"][0]
    assert (
        release["setValueTemplates"] == config["deploy"]["helm"]["releases"][0]["setValueTemplates"]
    )


def test_charts_are_watched_and_nothing_rewrites_them_before_a_deploy(
    config: dict[str, Any],
) -> None:
    """skaffold watches every file under chartPath when skipBuildDependencies is true: helm/
    holds all five charts, and no hook or dependency build writes there (no redeploy loop)."""
    for deploy in [config["deploy"], *(profile(config, p)["deploy"] for p in ("dev", "e2e"))]:
        release = deploy["helm"]["releases"][0]
        assert release["chartPath"] == "helm"
        assert release["skipBuildDependencies"] is True
        assert "hooks" not in deploy["helm"]
    for chart in ("common", "postgresql", "user-service", "order-service"):
        assert (REPO / "helm" / chart / "Chart.yaml").is_file()


def test_subcharts_are_symlinks_to_the_chart_folders() -> None:
    links = {
        "helm/charts/user-service": "helm/user-service",
        "helm/charts/order-service": "helm/order-service",
        **{
            f"helm/{service}/charts/{dep}": f"helm/{dep}"
            for service in SERVICES
            for dep in ("common", "postgresql")
        },
    }
    for link, target in links.items():
        path = REPO / link
        assert path.is_symlink(), link
        assert path.resolve() == (REPO / target).resolve(), link
        assert not Path(os.readlink(path)).is_absolute(), link


def test_e2e_profile_never_pushes_and_verifies_with_the_suite_as_a_job(
    config: dict[str, Any],
) -> None:
    e2e = profile(config, "e2e")
    assert e2e["build"]["local"]["push"] is False
    assert set(artifacts(e2e["build"])) == set(CONTEXTS)
    assert e2e["manifests"]["rawYaml"] == [
        "tests-e2e/k8s/rbac.yaml",
        "tests-e2e/k8s/otlp-receiver-service.yaml",
    ]
    [release] = e2e["deploy"]["helm"]["releases"]
    # the release exports its traces to the suite's receiver (the Job's E2E_OTLP_LISTEN)
    assert release["setValues"]["global.tracing.otlpEndpoint"] == "http://tests-e2e-otlp:4318"
    # an enforcing CNI (kind's) must let the suite's pods in
    for service in SERVICES:
        assert "tests-e2e" in release["setValues"][f"{service}.networkPolicy.allowedClients"]
    [verify] = e2e["verify"]
    assert verify["container"]["image"] == "tests-e2e"
    mode = verify["executionMode"]["kubernetesCluster"]
    job = yaml.safe_load((REPO / mode["jobManifestPath"]).read_text())
    # skaffold keeps the Job's spec and swaps in the container of the same name
    assert [c["name"] for c in job["spec"]["template"]["spec"]["containers"]] == [
        verify["container"]["name"]
    ]
    assert job["metadata"]["labels"]  # skaffold adds its run-id label to this map
    assert "namespace" not in job["metadata"]  # skaffold's --namespace: the release's
    rbac = list(yaml.safe_load_all((REPO / "tests-e2e/k8s/rbac.yaml").read_text()))
    account = job["spec"]["template"]["spec"]["serviceAccountName"]
    assert {(o["kind"], o["metadata"]["name"]) for o in rbac} == {
        ("ServiceAccount", account),
        ("Role", account),
        ("RoleBinding", account),
    }
    assert verify["timeout"] > job["spec"]["activeDeadlineSeconds"]


def test_e2e_role_is_namespaced_and_never_grants_secrets_or_wildcards() -> None:
    rbac = list(yaml.safe_load_all((REPO / "tests-e2e/k8s/rbac.yaml").read_text()))
    assert not [o for o in rbac if o["kind"].startswith("Cluster")]
    [role] = [o for o in rbac if o["kind"] == "Role"]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        assert "secrets" not in rule["resources"]
        # the only writes beyond patching Deployments: deleting a pod, exec into one
        writes = {"create", "delete", "deletecollection", "update"} & set(rule["verbs"])
        assert not writes or (rule["resources"], writes) in [
            (["pods"], {"delete"}),
            (["pods/exec"], {"create"}),
        ]


def test_port_forwards_reach_both_rendered_services(
    config: dict[str, Any], rendered: dict[tuple[str, str], list[dict[str, Any]]]
) -> None:
    services = {
        o["metadata"]["name"]: o
        for o in rendered[("shop-default", "1.35.4")]
        if o["kind"] == "Service"
    }
    forwards = {f["localPort"]: f for f in config["portForward"]}
    assert set(forwards) == {18001, 18002}
    for port, service in zip((18001, 18002), SERVICES, strict=True):
        forward = forwards[port]
        assert forward["address"] == "127.0.0.1"
        target = services[forward["resourceName"]]
        assert target["metadata"]["labels"]["app.kubernetes.io/name"] == service
        assert forward["port"] in [p["port"] for p in target["spec"]["ports"]]


# --- skaffold itself (make test-skaffold; the policies run on its renders in test_policies) ---


@pytest.mark.skaffold
@pytest.mark.parametrize("schema", ["1.25.0", "1.37.0"])
def test_skaffold_render_is_valid_kubernetes(
    skaffold_renders: dict[str, list[dict[str, Any]]],
    kube_validate: Callable[[dict[str, Any], str], list[str]],
    schema: str,
) -> None:
    errors = [
        e for objs in skaffold_renders.values() for obj in objs for e in kube_validate(obj, schema)
    ]
    assert not errors, "\n".join(errors)


@pytest.mark.skaffold
def test_skaffold_render_e2e_is_the_release_with_the_built_images_and_the_suites_rbac(
    skaffold_renders: dict[str, list[dict[str, Any]]],
) -> None:
    objs = skaffold_renders["skaffold-render-e2e"]
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert {("Role", "tests-e2e"), ("Deployment", "shop-user-service")} <= kinds
    images = {
        c["image"].split(":")[0]
        for o in objs
        if o["kind"] in {"Deployment", "StatefulSet"}
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"user-service", "order-service", "postgres-debian"}


def effective_config(skaffold: str, *args: str) -> dict[str, Any]:
    """The configuration skaffold reads, profiles applied (`skaffold diagnose --yaml-only`)."""
    result = subprocess.run(
        [skaffold, "diagnose", "--yaml-only", "--update-check=false", *args],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


@pytest.mark.skaffold
def test_skaffold_reads_the_profiles_as_intended(skaffold: str) -> None:
    dev = effective_config(skaffold, "--profile", "dev")
    [release] = dev["deploy"]["helm"]["releases"]
    assert Path(release["chartPath"]) == REPO / "helm"
    assert release["skipBuildDependencies"] is True
    # skaffold hands setValues to helm --set as strings; helm reads "false" as a boolean
    assert release["setValues"]["user-service.securityContext.readOnlyRootFilesystem"] == "false"
    assert dev["build"]["local"]["push"] is False
    e2e = effective_config(skaffold, "--profile", "e2e")
    assert set(e2e["deploy"]) >= {"helm", "kubectl"}
    assert e2e["verify"][0]["executionMode"]["kubernetesCluster"]["jobManifestPath"]
    assert len(e2e["build"]["artifacts"]) == 4


@pytest.mark.skaffold
def test_skaffold_diagnose_lists_every_artifact(skaffold: str) -> None:
    result = subprocess.run(
        [skaffold, "diagnose", "--profile", "e2e", "--update-check=false"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert "Number of artifacts: 4" in result.stdout, result.stdout + result.stderr
    for image in CONTEXTS:
        assert f" - {image} -> {image}:" in result.stdout
    # skaffold diagnose (v2.19) sizes the first artifact's context without its buildArgs, so it
    # reads the Dockerfile with no SERVICE (which the services' build requires) and the default
    # base python:3.11-slim (from a registry). Builds, dev and render use the buildArgs.
    if result.returncode != 0:
        assert "computing the size of the Docker context" in result.stderr, result.stderr
