"""Database faults in the cluster, under load: nothing acknowledged is lost, and no restart.

1. A service's PostgreSQL pod deleted (no grace period: killed, as on a lost node) while orders
   (or user registrations) come in. Every request answered 201 must be in the database, none
   twice; the requests that failed are retried with their Idempotency-Key (orders) or their
   email (users) until they succeed, and then every intended one is there exactly once. The
   service serves again without a restart of its pods.
2. order-service's PostgreSQL frozen (SIGSTOP of every PostgreSQL process through
   ``kubectl exec``: packets are acknowledged, nothing answers) while orders come in: orders fail
   within the database bounds, readiness answers in time, and orders succeed again after the
   thaw, with no restart and nothing acknowledged lost.

Each test prints its figures as a table (and writes it to the artifacts folder): time to the
first failure, worst latency, time to serve again, acknowledged vs stored.

The suite runs from a pod in the namespace (in-cluster credentials) or from a machine with a
kubeconfig; either way it needs, beyond reading pods: ``pods`` ``delete`` (test 1) and
``pods/exec`` ``create`` and ``get`` (test 2; websocket exec is a GET). Freezing needs PostgreSQL
not to be the container's PID 1 (a signal from inside a container to its PID 1 is dropped unless
PID 1 handles it, and SIGSTOP cannot be handled): images/postgres runs it under tini.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support.api import PASSWORD, ServiceClient, Shop
from e2e_support.cluster import Cluster

pytestmark = pytest.mark.cluster

ORDER_SERVICE = "order-service"
USER_SERVICE = "user-service"
WORKERS = 4
PACE = 0.05  # seconds each worker waits between requests
BEFORE = 3.0  # seconds of steady load before the fault
AFTER = 8.0  # seconds of load once the database is back
FREEZE = 15.0  # well below PostgreSQL's liveness patience (6 x 10 s)
# The longest a request may wait on a silent database: pool + response + connect timeouts
# (docs/design.md, "Bounded database"), plus the way through port-forward or Service.
DB_BOUND = 2.0 + 2.5 + 2.0 + 2.0
RECOVERY = 20.0  # seconds after the database is back for the service to serve again
SETTLE_BUDGET = 60.0
POSTGRES_READY_TIMEOUT = 180.0

# Every PostgreSQL process of the container: the postmaster (from its pid file) first, so it
# forks no new backend, then the others (comm "postgres"); prints pid:state of each.
_POSTGRES_PIDS = (
    'pm=$(head -n1 "$PGDATA/postmaster.pid"); pids=$pm; '
    'for d in /proc/[0-9]*; do p=${d#/proc/}; [ "$p" = "$pm" ] && continue; '
    '[ "$(cat "$d/comm" 2>/dev/null)" = postgres ] && pids="$pids $p"; done'
)
_STATES = (
    "sleep 0.3; for p in $pids; do printf '%s:%s ' \"$p\" \"$(cut -d' ' -f3 /proc/$p/stat)\"; done"
)
FREEZE_SCRIPT = f"{_POSTGRES_PIDS}; kill -STOP $pids; {_STATES}"
THAW_SCRIPT = f"{_POSTGRES_PIDS}; kill -CONT $pids; {_STATES}"


@dataclass(frozen=True)
class Answer:
    key: str
    started: float
    seconds: float
    status: int  # 0: no HTTP answer (transport error)
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def ended(self) -> float:
        return self.started + self.seconds


@dataclass
class Load:
    """Requests sent by a few threads until stopped; every answer recorded with its key."""

    send: Callable[[ServiceClient, str], httpx.Response]
    client: Callable[[], ServiceClient]
    t0: float = field(default_factory=time.monotonic)
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _worker(self, n: int) -> None:
        client = self.client()
        i = 0
        try:
            while not self.stop.is_set():
                key = f"{uuid.uuid4().hex[:8]}-{n}-{i}"
                i += 1
                started = self.now()
                try:
                    response = self.send(client, key)
                    status = response.status_code
                    body = response.json() if status == 201 else {}
                except httpx.TransportError:
                    status, body = 0, {}
                with self._lock:
                    self.answers.append(Answer(key, started, self.now() - started, status, body))
                time.sleep(PACE)
        finally:
            client.close()

    @contextmanager
    def running(self) -> Iterator[None]:
        threads = [threading.Thread(target=self._worker, args=(n,)) for n in range(WORKERS)]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=60)


@dataclass(frozen=True)
class Figures:
    """What the load saw around a fault that began at ``fault_at`` and ended at ``back_at``."""

    requests: int
    failed: int
    first_failure: float | None  # seconds from the fault to the first failed answer
    worst: float  # the longest answer of a request that overlapped the fault
    recovery: float | None  # seconds from ``back_at`` to the first 201 of a request sent after

    @classmethod
    def of(cls, answers: list[Answer], fault_at: float, back_at: float) -> Figures:
        during = [a for a in answers if a.ended >= fault_at and a.started <= back_at]
        failures = sorted(a.ended for a in answers if a.status != 201 and a.ended >= fault_at)
        after = [a.ended for a in answers if a.status == 201 and a.started >= back_at]
        return cls(
            requests=len(answers),
            failed=sum(a.status != 201 for a in answers),
            first_failure=failures[0] - fault_at if failures else None,
            worst=max((a.seconds for a in during), default=0.0),
            recovery=min(after) - back_at if after else None,
        )


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def report(name: str, rows: list[tuple[str, str]], artifacts: Path, capsys: Any) -> None:
    """Print the drill's figures (past pytest's capture) and keep them with the artifacts."""
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'figure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
    text = f"\n{name}\n" + "\n".join(lines) + "\n"
    with capsys.disabled():
        print(text)
    folder = artifacts / "drills"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name.replace(' ', '-')}.md").write_text(text)
    (folder / f"{name.replace(' ', '-')}.json").write_text(json.dumps(dict(rows), indent=2))


@dataclass(frozen=True)
class Kind:
    """What a drill loads: orders (with Idempotency-Keys) or user registrations (by email)."""

    service: str
    send: Callable[[Shop, int], Callable[[ServiceClient, str], httpx.Response]]

    def client(self, shop: Shop) -> Callable[[], ServiceClient]:
        target = shop.orders if self.service == ORDER_SERVICE else shop.users
        return lambda: ServiceClient(self.service, lambda: target.url, timeout=30.0)


def _order_sender(shop: Shop, user_id: int) -> Callable[[ServiceClient, str], httpx.Response]:
    def send(client: ServiceClient, key: str) -> httpx.Response:
        body = shop.order_body(user_id, product_id=f"drill-{key}")
        payload = {k: v for k, v in body.items() if k != "user_id"}  # the buyer is the token's
        headers = {"Idempotency-Key": f"drill-{key}", **shop.auth(user_id)}
        return client.post("/orders", json=payload, headers=headers)

    return send


def _user_sender(shop: Shop, user_id: int) -> Callable[[ServiceClient, str], httpx.Response]:
    def send(client: ServiceClient, key: str) -> httpx.Response:
        email = f"drill-{shop.run_id}-{key}@example.com"
        return client.post("/users", json={"name": "Drill", "email": email, "password": PASSWORD})

    return send


KINDS = {
    ORDER_SERVICE: Kind(ORDER_SERVICE, _order_sender),
    USER_SERVICE: Kind(USER_SERVICE, _user_sender),
}


def orders_stored(shop: Shop, user_id: int) -> dict[str, int]:
    """How many orders the database holds for each drill key (read through the API)."""
    counts: dict[str, int] = {}
    for order in shop.orders_of(user_id):
        key = order["items"][0]["product_id"].removeprefix("drill-")
        counts[key] = counts.get(key, 0) + 1
    return counts


def lost_and_twice(
    kind: Kind, shop: Shop, user_id: int, acked: list[Answer]
) -> tuple[list[str], list[str]]:
    """The acknowledged requests the database does not hold, and the keys it holds twice."""
    if kind.service == ORDER_SERVICE:
        stored = orders_stored(shop, user_id)
        return (
            sorted(a.key for a in acked if stored.get(a.key, 0) < 1),
            sorted(k for k, n in stored.items() if n > 1),
        )
    lost = []
    for answer in acked:  # each 201 names the user: log in, read it back; emails are unique
        token = shop.login(answer.body["email"])
        response = shop.users.get(
            f"/users/{answer.body['id']}", headers={"Authorization": f"Bearer {token}"}
        )
        if response.status_code != 200 or response.json()["email"] != answer.body["email"]:
            lost.append(answer.key)
    return sorted(lost), []


def settle(load: Load, kind: Kind, shop: Shop, user_id: int) -> int:
    """Retry every request that got no 201, with the same key, until it is stored: an order's
    201 (a replay, or the first store), a registration's 201 or 409 (it was stored). Returns
    how many were retried."""
    client = kind.client(shop)()
    send = kind.send(shop, user_id)
    acked = {a.key for a in load.answers if a.status == 201}
    pending = sorted({a.key for a in load.answers} - acked)
    deadline = time.monotonic() + SETTLE_BUDGET
    try:
        for key in pending:
            while True:
                try:
                    status = send(client, key).status_code
                except httpx.TransportError:
                    status = 0
                if status == 201 or (status == 409 and kind.service == USER_SERVICE):
                    break
                assert status in (0, 503), f"retry of {key} answered {status}"
                assert time.monotonic() < deadline, f"{key} not settled in {SETTLE_BUDGET:.0f}s"
                time.sleep(0.5)
    finally:
        client.close()
    return len(pending)


@pytest.fixture
def artifacts(pytestconfig: pytest.Config) -> Path:
    return Path(pytestconfig.getoption("artifacts"))


@pytest.mark.parametrize("service", [ORDER_SERVICE, USER_SERVICE])
def test_nothing_acknowledged_is_lost_when_the_database_pod_is_deleted_under_load(
    shop: Shop, cluster: Cluster, artifacts: Path, capsys: Any, service: str
) -> None:
    kind = KINDS[service]
    user = shop.create_user()
    service_pods = cluster.pod_identities(service)
    database = cluster.database_pod(service)
    load = Load(send=kind.send(shop, user["id"]), client=kind.client(shop))

    with load.running():
        time.sleep(BEFORE)
        deleted_at = load.now()
        cluster.delete_pod_now(database.metadata.name)
        cluster.wait_database_ready(
            service, replacing=database.metadata.uid, timeout=POSTGRES_READY_TIMEOUT
        )
        back_at = load.now()
        time.sleep(AFTER)

    figures = Figures.of(load.answers, deleted_at, back_at)
    acked = [a for a in load.answers if a.status == 201]
    lost, twice = lost_and_twice(kind, shop, user["id"], acked)
    retried = settle(load, kind, shop, user["id"])
    if kind.service == ORDER_SERVICE:  # after the retries: every intended order, exactly once
        stored = orders_stored(shop, user["id"])
        assert {a.key for a in load.answers} == {k for k, n in stored.items() if n == 1}, stored
    restarted = cluster.pod_identities(service) != service_pods
    report(f"database pod deleted - {service}", [
        ("requests under load", str(figures.requests)),
        ("failed (503 or no answer)", str(figures.failed)),
        ("PostgreSQL back (new pod Ready) after", f"{back_at - deleted_at:.2f} s"),
        ("first failure after the deletion", _s(figures.first_failure)),
        ("worst latency", f"{figures.worst:.2f} s"),
        ("first 201 after PostgreSQL is back", _s(figures.recovery)),
        ("acknowledged (201) / stored / twice",
         f"{len(acked)} / {len(acked) - len(lost)} / {len(twice)}"),
        ("failed, then retried with the same key and stored", str(retried)),
        (f"{service} restarted", str(restarted)),
    ], artifacts, capsys)  # fmt: skip

    assert not lost, f"acknowledged but not stored: {lost}"
    assert not twice, f"stored twice: {twice}"
    assert figures.recovery is not None, "no request succeeded after PostgreSQL came back"
    assert figures.recovery <= RECOVERY, figures
    assert not restarted, f"{service} was restarted"


def test_a_frozen_order_database_fails_orders_within_the_bounds_then_they_succeed_again(
    shop: Shop, cluster: Cluster, artifacts: Path, capsys: Any
) -> None:
    kind = KINDS[ORDER_SERVICE]
    user = shop.create_user()
    service_pods = cluster.pod_identities(ORDER_SERVICE)
    database = cluster.database_pod(ORDER_SERVICE).metadata.name
    load = Load(send=kind.send(shop, user["id"]), client=kind.client(shop))
    ready: list[Answer] = []

    def probe_readiness() -> None:
        client = kind.client(shop)()
        try:
            while not load.stop.is_set():
                started = load.now()
                try:
                    status = client.get("/health/ready").status_code
                except httpx.TransportError:
                    status = 0
                ready.append(Answer("ready", started, load.now() - started, status))
                time.sleep(0.5)
        finally:
            client.close()

    prober = threading.Thread(target=probe_readiness)
    with load.running():
        prober.start()
        time.sleep(BEFORE)
        frozen_at = load.now()
        states = cluster.exec(database, "postgresql", FREEZE_SCRIPT)
        try:
            frozen = [s.endswith(":T") for s in states.split()]
            assert frozen, f"no PostgreSQL process found to freeze: {states!r}"
            assert all(frozen), (
                f"PostgreSQL not frozen (pid:state): {states!r}; is PostgreSQL the container's "
                "PID 1? (images/postgres runs it under tini)"
            )
            time.sleep(FREEZE)
        finally:
            thawing_at = load.now()
            cluster.exec(database, "postgresql", THAW_SCRIPT)
        thawed_at = load.now()
        time.sleep(AFTER)
    prober.join(timeout=30)

    figures = Figures.of(load.answers, frozen_at, thawed_at)
    # readiness answers wholly inside the freeze, once the first checks have had time to fail
    during = [a for a in ready if frozen_at + 3 <= a.started and a.ended <= thawing_at]
    acked = [a for a in load.answers if a.status == 201]
    lost, twice = lost_and_twice(kind, shop, user["id"], acked)
    restarted = cluster.pod_identities(ORDER_SERVICE) != service_pods
    report("order database frozen", [
        ("requests under load", str(figures.requests)),
        ("PostgreSQL frozen for", f"{thawed_at - frozen_at:.2f} s"),
        ("failed (503 or no answer)", str(figures.failed)),
        ("first failure after the freeze", _s(figures.first_failure)),
        ("worst latency", f"{figures.worst:.2f} s"),
        ("readiness while frozen", ", ".join(sorted({str(a.status) for a in during}))),
        ("readiness worst answer", f"{max((a.seconds for a in ready), default=0):.2f} s"),
        ("first 201 after the thaw", _s(figures.recovery)),
        ("acknowledged (201) / stored / twice",
         f"{len(acked)} / {len(acked) - len(lost)} / {len(twice)}"),
        ("order-service restarted", str(restarted)),
    ], artifacts, capsys)  # fmt: skip

    assert figures.first_failure is not None, "no order failed while the database was frozen"
    assert figures.first_failure <= DB_BOUND, figures
    assert figures.worst <= DB_BOUND, figures
    assert during, "no readiness answer while frozen"
    assert all(a.status == 503 for a in during), during
    assert max(a.seconds for a in ready) < 3.0, "readiness outlived its probe's timeout"
    assert figures.recovery is not None, "no order succeeded after the thaw"
    assert figures.recovery <= RECOVERY, figures
    assert not lost, f"acknowledged but not stored: {lost}"
    assert not twice, f"stored twice: {twice}"
    assert not restarted, "order-service was restarted"
