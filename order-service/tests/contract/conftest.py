"""Fixtures of order-service's consumer contract tests (Pact, specification V4).

Each test declares the interactions it expects from user-service on a fresh ``Pact`` and drives
the real ``UserServiceClient`` against Pact's mock server; on teardown the interactions are merged
into one pact file in a per-session directory. The last test of the module compares that file
with the committed ``pacts/<consumer>-<provider>.json`` as contracts (``contract_of``: the Pact
library's version stamp is not part of the contract), or, when ``PACT_OUTPUT_DIR`` is set
(``make pact``), writes it there.

The pacticipant names come from ``pacts/contracts.toml`` (the one place they are written): this
service is the consumer named like its directory, and the provider is the one the manifest pairs
it with.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pact import Pact

SERVICE = Path(__file__).resolve().parents[2].name


@dataclass(frozen=True)
class Contract:
    consumer: str
    provider: str

    @property
    def filename(self) -> str:
        return f"{self.consumer}-{self.provider}.json"


@dataclass
class PactRun:
    """Where this session's pact is written, and which consumer tests wrote to it."""

    contract: Contract
    directory: Path
    written: set[str]

    @property
    def path(self) -> Path:
        return self.directory / self.contract.filename


@pytest.fixture(scope="session")
def contract(pytestconfig: pytest.Config) -> Contract:
    manifest = pytestconfig.rootpath / "pacts" / "contracts.toml"
    entries = tomllib.loads(manifest.read_text())["contract"]
    mine = [Contract(e["consumer"], e["provider"]) for e in entries if e["consumer"] == SERVICE]
    if len(mine) != 1:
        pytest.fail(f"{manifest} must pair consumer {SERVICE!r} with exactly one provider")
    return mine[0]


@pytest.fixture(scope="session")
def pact_run(contract: Contract, tmp_path_factory: pytest.TempPathFactory) -> PactRun:
    return PactRun(contract, tmp_path_factory.mktemp("pacts"), set())


@pytest.fixture
def pact(pact_run: PactRun, request: pytest.FixtureRequest) -> Iterator[Pact]:
    """A fresh V4 Pact; its interactions are merged into the session's pact file afterwards."""
    pact = Pact(pact_run.contract.consumer, pact_run.contract.provider).with_specification("V4")
    yield pact
    pact.write_file(pact_run.directory)
    pact_run.written.add(request.node.nodeid)


@pytest.fixture
def produced_pact(pact_run: PactRun, request: pytest.FixtureRequest) -> Path:
    """The session's pact file, once every consumer test of the requesting module has written it.

    A partial run (``-k``, a failing test) would otherwise look like a stale pact.
    """
    module = request.node.parent
    assert isinstance(module, pytest.Module)
    module_tests = {
        item.nodeid
        for item in module.collect()
        if isinstance(item, pytest.Function) and "pact" in item.fixturenames
    }
    if not_written := sorted(module_tests - pact_run.written):
        pytest.fail(
            f"these consumer tests did not write their interactions: {not_written}; "
            "the pact is only complete when the whole module runs and passes",
            pytrace=False,
        )
    return pact_run.path


@pytest.fixture
def committed_pact(contract: Contract, pytestconfig: pytest.Config) -> Path:
    return pytestconfig.rootpath / "pacts" / contract.filename


# The parts of a pact file's ``metadata`` that belong to the contract; the rest (``pactRust``:
# the versions of the Pact library that wrote the file) is a stamp of the tool, not of the
# contract, and moves with every pact-python upgrade.
CONTRACT_METADATA = ("pactSpecification",)


def contract_of(pact_text: str) -> dict[str, Any]:
    """A pact file as a contract: parsed (key order and formatting do not matter), interactions
    sorted by description, and only the metadata that is part of the contract."""
    pact: dict[str, Any] = json.loads(pact_text) if pact_text.strip() else {}
    metadata = pact.get("metadata", {})
    pact["metadata"] = {key: metadata[key] for key in CONTRACT_METADATA if key in metadata}
    pact["interactions"] = sorted(
        pact.get("interactions", []), key=lambda i: json.dumps(i, sort_keys=True)
    )
    return pact


ContractOf = Callable[[str], dict[str, Any]]


@pytest.fixture
def as_contract() -> ContractOf:
    """``contract_of``, for the test modules (conftest modules are not importable)."""
    return contract_of
