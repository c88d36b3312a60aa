"""The CI workflows, checked offline: GitHub's workflow schema (check-jsonschema's bundled copy)
and the rules that make the pipeline a gate (what deploys, after what, with which rights)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
CI = REPO / ".github" / "workflows" / "ci.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")
# Any attempt to reach the network goes to a closed local port and fails.
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


def check_jsonschema(*files: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "check-jsonschema"
    found = str(exe) if exe.exists() else shutil.which("check-jsonschema")
    if found is None:
        pytest.fail("check-jsonschema not found: run 'make install' (requirements-dev.txt)")
    env = {k: v for k, v in os.environ.items() if k.lower() not in {"no_proxy", "all_proxy"}}
    env |= OFFLINE | {k.lower(): v for k, v in OFFLINE.items()}
    return subprocess.run(
        [found, "--builtin-schema", "vendor.github-workflows", *map(str, files)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


def jobs() -> dict[str, Any]:
    workflow = yaml.safe_load(CI.read_text())
    found: dict[str, Any] = workflow["jobs"]
    return found


def needs_of(job: dict[str, Any]) -> set[str]:
    needs = job.get("needs", [])
    return {needs} if isinstance(needs, str) else set(needs)


def test_workflows_are_valid_against_github_schema_without_network() -> None:
    assert WORKFLOWS, "no workflow in .github/workflows"

    result = check_jsonschema(*WORKFLOWS)

    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_job_without_runs_on(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps:\n      - run: echo hi\n")

    result = check_jsonschema(broken)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "broken.yml" in result.stdout + result.stderr


def test_deploy_runs_only_on_push_to_main_after_verification_and_e2e() -> None:
    deploy = jobs()["deploy"]

    assert {"provider-verification", "e2e"} <= needs_of(deploy)
    condition = deploy["if"].replace(" ", "")
    assert "github.ref=='refs/heads/main'" in condition
    assert "github.event_name=='push'" in condition
    assert "&&" in condition
    assert "||" not in condition


def test_deploy_checks_can_i_deploy_before_rolling_out_and_records_after() -> None:
    steps = [step.get("run", "") for step in jobs()["deploy"]["steps"]]
    commands = "\n".join(steps)

    assert "can-i-deploy ENV=production" in commands
    assert commands.index("can-i-deploy") < commands.index("skaffold deploy")
    assert commands.index("skaffold deploy") < commands.index("record-deployment")


def test_deploy_ships_the_images_e2e_tested_and_never_rebuilds() -> None:
    e2e = "\n".join(step.get("run", "") for step in jobs()["e2e"]["steps"])
    deploy_steps = jobs()["deploy"]["steps"]
    deploy = "\n".join(step.get("run", "") for step in deploy_steps)

    assert "docker save" in e2e
    assert "build.json" in e2e
    assert "docker load" in deploy
    assert "docker push" in deploy
    assert "docker build" not in deploy
    assert "skaffold build" not in deploy
    assert "--build-artifacts" in deploy
    assert "$GITHUB_SHA" in deploy
    downloads = [s for s in deploy_steps if "download-artifact" in s.get("uses", "")]
    assert [d["with"]["name"] for d in downloads] == ["tested-images"]


def test_ci_and_the_workflow_run_the_same_e2e_on_kind() -> None:
    steps = jobs()["e2e"]["steps"]
    assert "make e2e" in [step.get("run", "").strip() for step in steps]
    # the cluster is the script's (created and deleted by make e2e), never the action's
    kind_actions = [s for s in steps if s.get("uses", "").startswith("helm/kind-action@")]
    assert [s["with"].get("install_only") for s in kind_actions] == [True]
    ci_run = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make e2e ", ci_run, re.MULTILINE), ".ci/run must run make e2e"
    assert "k8s-sandbox/k8s-sandbox" not in ci_run
    script = (REPO / "scripts" / "e2e-kind.sh").read_text()
    assert "scripts/e2e-cluster.sh" in script
    assert "scripts/dev_loop_test.py" in script
    assert "helm upgrade" not in script


def test_kind_runs_the_newest_kubernetes_the_charts_are_rendered_for() -> None:
    script = (REPO / "scripts" / "e2e-kind.sh").read_text()
    node = re.search(r"kindest/node:v(\d+\.\d+)\.", script)
    conftest = (REPO / "tests" / "packaging" / "conftest.py").read_text()
    newest = re.search(r'^KUBE_NEW = "(\d+\.\d+)\.', conftest, re.MULTILINE)
    assert node, "no kindest/node:vX.Y.Z in scripts/e2e-kind.sh"
    assert newest, "no KUBE_NEW in tests/packaging/conftest.py"
    assert node.group(1) == newest.group(1)


def test_pact_version_of_a_pull_request_is_its_head_commit() -> None:
    env = yaml.safe_load(CI.read_text())["env"]
    assert env["GIT_SHA"].replace(" ", "") == (
        "${{github.event.pull_request.head.sha||github.sha}}"
    )


def test_provider_verification_runs_on_the_consumers_pacts() -> None:
    verification = jobs()["provider-verification"]

    assert "consumer-contracts" in needs_of(verification)
    downloads = [s for s in verification["steps"] if "download-artifact" in s.get("uses", "")]
    assert downloads
    assert downloads[0]["with"]["name"] == "pacts"


def test_every_needed_job_exists() -> None:
    all_jobs = jobs()
    for name, job in all_jobs.items():
        assert needs_of(job) <= set(all_jobs), f"{name} needs a job that does not exist"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_an_exact_version(workflow: Path) -> None:
    data = yaml.safe_load(workflow.read_text())
    uses = [
        step["uses"]
        for job in data["jobs"].values()
        for step in job.get("steps", [])
        if "uses" in step
    ]
    unpinned = [u for u in uses if not PINNED.match(u)]
    assert not unpinned, f"pin these to vX.Y.Z or a commit sha: {unpinned}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_token_is_read_only_except_where_a_job_needs_more(workflow: Path) -> None:
    data = yaml.safe_load(workflow.read_text())
    assert data["permissions"] == {"contents": "read"}
    writers = {
        name: job["permissions"]
        for name, job in data["jobs"].items()
        if "write" in (job.get("permissions") or {}).values()
    }
    assert set(writers) <= {"deploy"}, f"only the deploy job may write: {writers}"
    assert data.get("concurrency", {}).get("group"), "a concurrency group cancels stale runs"


@pytest.mark.parametrize("script", sorted((REPO / "scripts").glob("e2e-*.sh")), ids=str)
def test_e2e_script_is_valid_bash(script: Path) -> None:
    result = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    assert os.access(script, os.X_OK), f"{script.name} is not executable"
