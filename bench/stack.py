"""Bring up what a run measures: PostgreSQL, both services (migrated), the baseline, the proxy.

Every setting that changes the figures is spelled out here and recorded in the results JSON,
so a figure always comes with the configuration that produced it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field

import httpx

from bench._runtime import (
    BIN,
    REPO,
    BenchError,
    ManagedProcess,
    Processes,
    clean_env,
    free_port,
    wait_ready,
)
from devtools.pgtemp import LocalPostgres

# One worker per service: on Kubernetes we scale with pods, and a 2-core machine that also runs
# wrk and PostgreSQL has no spare core for a second worker. Pool 5 + overflow 5 = up to 10
# connections per worker; the baseline's psycopg2 pool has the same shape.
SERVICE_SETTINGS: dict[str, str] = {
    "WORKERS": "1",
    "DB_POOL_SIZE": "5",
    "DB_MAX_OVERFLOW": "5",
    "DB_POOL_TIMEOUT": "2",
    "DB_CONNECT_TIMEOUT": "2",
    "DB_RESPONSE_TIMEOUT": "2.5",
    "DB_STATEMENT_TIMEOUT": "2",
    "LOG_LEVEL": "INFO",
}
# order-service's client to user-service: the design.md defaults, explicit.
ORDER_CLIENT_SETTINGS: dict[str, str] = {
    "USER_SERVICE_CONNECT_TIMEOUT": "0.5",
    "USER_SERVICE_READ_TIMEOUT": "2",
    "USER_SERVICE_MAX_ATTEMPTS": "4",
    "USER_SERVICE_DEADLINE": "4",
    "USER_SERVICE_BACKOFF_INITIAL": "0.1",
    "USER_SERVICE_BACKOFF_MAX": "1",
    "USER_SERVICE_MAX_CONNECTIONS": "10",
    "USER_SERVICE_MAX_KEEPALIVE": "10",
    "BREAKER_FAILURE_THRESHOLD": "5",
    "BREAKER_RESET_TIMEOUT": "5",
}
# uvicorn options `serve` uses (design.md); the baseline is started with the same ones.
UVICORN_OPTIONS: list[str] = [
    "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--no-server-header",
]  # fmt: skip
USERS_TABLE = os.environ.get("BENCH_USERS_TABLE", "users")
# Tracing on, for the overhead comparison: every request sampled, exported over OTLP/HTTP with
# the SDK's default batch processor to tests-e2e's receiver (a collector stand-in, own process).
TRACING_SETTINGS: dict[str, str] = {"OTEL_TRACES_SAMPLER": "always_on"}
TRACED = " (traced)"
RECEIVER = REPO / "tests-e2e" / "e2e_support" / "otlp.py"


@dataclass
class Stack:
    pg: LocalPostgres
    procs: Processes
    users_db: str = ""
    orders_db: str = ""
    user_url: str = ""
    order_url: str = ""
    baseline_url: str = ""
    proxy_url: str = ""
    proxy_admin_url: str = ""
    children: dict[str, ManagedProcess] = field(default_factory=dict)
    user_port: int = 0
    overrides: dict[str, str] = field(default_factory=dict)  # --set KEY=VALUE, for experiments
    receiver_url: str = ""
    traced_user_url: str = ""
    traced_order_url: str = ""

    def settings(self) -> dict[str, object]:
        return {
            "service": SERVICE_SETTINGS,
            "order_client": ORDER_CLIENT_SETTINGS,
            "uvicorn": UVICORN_OPTIONS,
            "postgres": "15, fsync=off, synchronous_commit=off, shared_buffers=128MB",
            "overrides": self.overrides,
            "tracing_on": TRACING_SETTINGS | {"OTEL_EXPORTER_OTLP_ENDPOINT": "<receiver>"},
        }

    def migrate(self) -> None:
        self.users_db = self.pg.create_database("users_bench")
        self.orders_db = self.pg.create_database("orders_bench")
        for service, prefix, url in (
            ("user-service", "USER_SERVICE_", self.users_db),
            ("order-service", "ORDER_SERVICE_", self.orders_db),
        ):
            proc = self.procs.start(
                f"{service}-migrate",
                [str(BIN / service), "migrate"],
                clean_env({f"{prefix}DATABASE_URL": url}),
            )
            if proc.popen.wait(120) != 0:
                raise BenchError(f"{service} migrate failed:\n{proc.log_tail()}")
            self.procs.stop(proc)

    def start_user_service(self, port: int | None = None) -> None:
        self.user_port = port or self.user_port or free_port()
        self.user_url = self._serve("user-service", "USER_SERVICE_", self.user_port, {})

    def _serve(self, name: str, prefix: str, port: int, extra: dict[str, str]) -> str:
        """``<service> serve`` as ``name`` (``user-service``, ``order-service (traced)``)."""
        service = name.split()[0]
        env = {f"{prefix}{k}": v for k, v in SERVICE_SETTINGS.items()}
        env |= {
            f"{prefix}DATABASE_URL": self.users_db if service == "user-service" else self.orders_db,
            f"{prefix}HOST": "127.0.0.1",
            f"{prefix}PORT": str(port),
        }
        proc = self.procs.start(
            name, [str(BIN / service), "serve"], clean_env(env | extra | self.overrides)
        )
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/health/ready", proc)
        self.children[name] = proc
        return url

    def stop_user_service(self) -> None:
        self.procs.stop(self.children.pop("user-service"))

    def start_proxy(self) -> None:
        port, admin = free_port(), free_port()
        proc = self.procs.start(
            "fault-proxy",
            [sys.executable, "-m", "bench.fault_proxy", "--port", str(port),
             "--admin-port", str(admin), "--upstream", self.user_url],
            clean_env({}),
        )  # fmt: skip
        self.proxy_url = f"http://127.0.0.1:{port}"
        self.proxy_admin_url = f"http://127.0.0.1:{admin}"
        wait_ready(f"{self.proxy_admin_url}/faults", proc)
        self.children["fault-proxy"] = proc

    def start_order_service(self, user_service_url: str) -> None:
        self.order_url = self._serve(
            "order-service", "ORDER_SERVICE_", free_port(), self._order_env(user_service_url)
        )

    @staticmethod
    def _order_env(user_service_url: str) -> dict[str, str]:
        env = {f"ORDER_SERVICE_{k}": v for k, v in ORDER_CLIENT_SETTINGS.items()}
        return env | {"ORDER_SERVICE_USER_SERVICE_URL": user_service_url}

    def start_receiver(self) -> None:
        """The OTLP/HTTP receiver the traced services export to (it only counts spans)."""
        port = free_port()
        proc = self.procs.start(
            "otlp-receiver",
            [sys.executable, str(RECEIVER), "--listen", f"127.0.0.1:{port}", "--quiet"],
            clean_env({}),
        )
        self.receiver_url = f"http://127.0.0.1:{port}"
        wait_ready(self.receiver_url, proc)
        self.children["otlp-receiver"] = proc

    def spans_received(self) -> int:
        return int(httpx.get(self.receiver_url, timeout=5).json()["spans"])

    def start_traced_services(self) -> None:
        """A second pair, same databases, exporting every trace to the receiver: ``user-service
        (traced)`` and ``order-service (traced)``, the latter calling the former."""
        if not self.receiver_url:
            self.start_receiver()
        telemetry = TRACING_SETTINGS | {"OTEL_EXPORTER_OTLP_ENDPOINT": self.receiver_url}
        self.traced_user_url = self._serve(
            f"user-service{TRACED}", "USER_SERVICE_", free_port(), telemetry
        )
        if "order-service" in self.children:
            order_env = telemetry | self._order_env(self.traced_user_url)
            self.traced_order_url = self._serve(
                f"order-service{TRACED}", "ORDER_SERVICE_", free_port(), order_env
            )

    def start_baseline(self) -> None:
        port = free_port()
        proc = self.procs.start(
            "baseline",
            [sys.executable, "-m", "uvicorn", "bench.baseline_app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1", *UVICORN_OPTIONS],
            clean_env({
                "BASELINE_DATABASE_URL": self.users_db,
                "BASELINE_POOL_SIZE": SERVICE_SETTINGS["DB_POOL_SIZE"],
                "BASELINE_MAX_OVERFLOW": SERVICE_SETTINGS["DB_MAX_OVERFLOW"],
                "BASELINE_TABLE": USERS_TABLE,
            }),
        )  # fmt: skip
        self.baseline_url = f"http://127.0.0.1:{port}"
        wait_ready(f"{self.baseline_url}/health/ready", proc)
        self.children["baseline"] = proc


def order_body(user_id: int, sku: str = "sku-1") -> dict[str, object]:
    return {
        "user_id": user_id,
        "currency": "EUR",
        "items": [{"product_id": sku, "quantity": 2, "unit_price": 1250}],
    }


async def _post_all(url: str, bodies: list[dict[str, object]], concurrency: int = 16) -> list[int]:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def post(body: dict[str, object]) -> int:
            async with limit:
                response = await client.post(body.pop("_path"), json=body)  # type: ignore[arg-type]
                if response.status_code != 201:
                    raise BenchError(f"seeding got {response.status_code}: {response.text[:300]}")
                return int(response.json()["id"])

        return list(await asyncio.gather(*(post(b) for b in bodies)))


def seed_users(url: str, count: int, tag: str) -> list[int]:
    bodies: list[dict[str, object]] = [
        {"_path": "/users", "name": f"Seed {i}", "email": f"seed-{tag}-{i}@example.com"}
        for i in range(count)
    ]
    return sorted(asyncio.run(_post_all(url, bodies)))


def seed_orders(url: str, user_ids: list[int], count: int) -> list[int]:
    bodies = [
        {"_path": "/orders", **order_body(user_ids[i % len(user_ids)], f"sku-{i}")}
        for i in range(count)
    ]
    return sorted(asyncio.run(_post_all(url, bodies)))
