"""Silent-fault drills: a peer that stops answering without refusing anything, under load.

SIGSTOP freezes a process: its kernel still accepts connections and acknowledges packets, but
nothing answers, so no error ever arrives (a hung database, a paused VM, a stuck node). Only
deadlines the services enforce themselves end such a wait.

1. PostgreSQL frozen (the postmaster and every backend; both services' databases live on it)
   while users register and orders come in: requests fail as 503 within the deadline, threads,
   fds and database connections stay bounded, readiness answers within its probe's timeout and
   goes false, and after the thaw both services serve again by themselves.
2. user-service frozen the same way under order load: orders fail as 503 within the lookup
   deadline, the breaker opens (fast 503s), order-service's threads stay bounded, and orders
   succeed again by themselves after the thaw.

Each request carries a unique product id (orders) or email (users) and an Idempotency-Key, so
afterwards every 201 is looked for in the database: acknowledged vs stored, none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench._runtime import proc_usage
from bench.report import Verdict, table
from bench.stack import ORDER_CLIENT_SETTINGS, PASSWORD, SERVICE_SETTINGS, Stack, order_body

FREEZE_SECONDS = 12.0  # below the liveness probes' patience, far above every deadline
AFTER_SECONDS = 12.0  # load keeps coming after the thaw, to see the recovery
ORDER_WORKERS = 8
USER_WORKERS = 8
READY_EVERY = 0.5  # seconds between readiness probes, as a kubelet would send them
PACE = 0.05  # seconds each load worker waits between requests: steady load, not a flood
PROBE_TIMEOUT = 3.0  # the charts' readiness timeoutSeconds
CLIENT_TIMEOUT = 30.0  # the drill's own patience: far beyond any bound it checks

DB_POOL = int(SERVICE_SETTINGS["DB_POOL_SIZE"]) + int(SERVICE_SETTINGS["DB_MAX_OVERFLOW"])
# The longest a request may wait on a silent database: a pooled connection (pool timeout), its
# liveness ping (response timeout) and a new connection (connect timeout); +1 s for the box.
DB_BOUND = sum(
    float(SERVICE_SETTINGS[k])
    for k in ("DB_POOL_TIMEOUT", "DB_RESPONSE_TIMEOUT", "DB_CONNECT_TIMEOUT")
)
LOOKUP_DEADLINE = float(ORDER_CLIENT_SETTINGS["USER_SERVICE_DEADLINE"])
BREAKER_RESET = float(ORDER_CLIENT_SETTINGS["BREAKER_RESET_TIMEOUT"])
FAST_FAIL_MS = 50.0


# --- freezing processes -----------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
    return found


@contextlib.contextmanager
def frozen(pids: Callable[[], list[int]]) -> Iterator[list[int]]:
    """SIGSTOP the processes (the first one, a parent that forks the others, first), SIGCONT
    them all when the block ends, whatever happens in it."""
    stopped: list[int] = []
    try:
        for pid in pids():
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        for pid in pids():  # children forked between the listing and the parent's stop
            if pid not in stopped:
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        yield stopped
    finally:
        for pid in reversed(stopped):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def postgres_pids(stack: Stack) -> list[int]:
    """The postmaster (from its pid file) and its children: every process of the server."""
    postmaster = stack.pg.pid
    assert postmaster is not None
    return [postmaster, *children_of(postmaster)]


# --- load and what it saw ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    stream: str  # "orders", "users", "ready <service>"
    started: float  # seconds since the drill began
    seconds: float
    status: int  # 0: no HTTP answer (transport error or the drill's own timeout)
    tag: str = ""  # product id or email: how the request is found in the database

    @property
    def ended(self) -> float:
        return self.started + self.seconds


@dataclass
class Run:
    t0: float = field(default_factory=time.monotonic)
    answers: list[Answer] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def timed(
        self, stream: str, tag: str, request: Awaitable[httpx.Response]
    ) -> httpx.Response | None:
        started = self.now()
        try:
            response = await request
        except (httpx.TransportError, httpx.TimeoutException):
            self.answers.append(Answer(stream, started, self.now() - started, 0, tag))
            return None
        self.answers.append(
            Answer(stream, started, self.now() - started, response.status_code, tag)
        )
        return response


async def order_load(
    run: Run, client: httpx.AsyncClient, url: str, auth: dict[str, str], tag: str
) -> None:
    """Orders as one buyer (``auth``: their bearer header)."""

    async def worker(n: int) -> None:
        i = 0
        while not run.stop.is_set():
            sku = f"{tag}-{n}-{i}"
            i += 1
            await run.timed("orders", sku, client.post(
                f"{url}/orders", json=order_body(sku),
                headers={"Idempotency-Key": f"{sku}-key", **auth},
            ))  # fmt: skip
            await asyncio.sleep(PACE)

    await asyncio.gather(*(worker(n) for n in range(ORDER_WORKERS)))


async def user_load(run: Run, client: httpx.AsyncClient, url: str, tag: str) -> None:
    async def worker(n: int) -> None:
        i = 0
        while not run.stop.is_set():
            email = f"{tag}-{n}-{i}@example.com"
            i += 1
            await run.timed("users", email, client.post(
                f"{url}/users", json={"name": "Drill", "email": email, "password": PASSWORD}
            ))  # fmt: skip
            await asyncio.sleep(PACE)

    await asyncio.gather(*(worker(n) for n in range(USER_WORKERS)))


async def readiness(run: Run, client: httpx.AsyncClient, name: str, url: str) -> None:
    while not run.stop.is_set():
        started = time.monotonic()
        await run.timed(f"ready {name}", "", client.get(f"{url}/health/ready"))
        await asyncio.sleep(max(0.0, READY_EVERY - (time.monotonic() - started)))


@dataclass
class Usage:
    """Threads and fds of the services' processes: before the fault, at the peak, after."""

    pids: dict[str, int]
    before: dict[str, dict[str, int]] = field(default_factory=dict)
    peak: dict[str, dict[str, int]] = field(default_factory=dict)
    after: dict[str, dict[str, int]] = field(default_factory=dict)

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {name: proc_usage(pid) for name, pid in self.pids.items()}

    async def sample(self, run: Run) -> None:
        self.before = self.peak = self.snapshot()
        while not run.stop.is_set():
            now = self.snapshot()
            self.peak = {
                name: {k: max(self.peak[name][k], now[name][k]) for k in now[name]} for name in now
            }
            await asyncio.sleep(0.1)

    def row(self, name: str) -> str:
        b, p, a = self.before[name], self.peak[name], self.after[name]
        return (
            f"{b['threads']}/{b['fds']} -> {p['threads']}/{p['fds']} -> {a['threads']}/{a['fds']}"
        )

    def bounded(self, name: str) -> bool:
        b, a = self.before[name], self.after[name]
        return a["threads"] <= b["threads"] + 45 and a["fds"] <= b["fds"] + 2 * DB_POOL + 5


@dataclass(frozen=True)
class StreamFigures:
    """What one stream of requests saw around a fault in [frozen_at, thawed_at]."""

    requests: int
    first_503: float | None  # seconds from the freeze to the first 503 answer
    worst: float  # longest answer of a request that overlapped the fault
    statuses: dict[int, int]
    recovery: float | None  # seconds from the thaw to the first success started after it
    open_p50_ms: float | None = None  # 503s after the first few: the breaker's fast answers

    def line(self) -> list[str]:
        return [
            str(self.requests),
            _s(self.first_503),
            f"{self.worst:.2f} s",
            _s(self.recovery),
            ", ".join(f"{k or 'none'}: {v}" for k, v in sorted(self.statuses.items())),
        ]


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def figures(answers: list[Answer], frozen_at: float, thawed_at: float) -> StreamFigures:
    during = [a for a in answers if a.ended >= frozen_at and a.started <= thawed_at]
    errors = sorted(a.ended for a in during if a.status == 503)
    successes = [a.ended for a in answers if a.started >= thawed_at and 200 <= a.status < 300]
    statuses: dict[int, int] = {}
    for a in answers:
        statuses[a.status] = statuses.get(a.status, 0) + 1
    late_503s = sorted(a.seconds * 1000 for a in during if a.status == 503)[5:]
    return StreamFigures(
        requests=len(answers),
        first_503=errors[0] - frozen_at if errors else None,
        worst=max((a.seconds for a in during), default=0.0),
        statuses=statuses,
        recovery=min(successes) - thawed_at if successes else None,
        open_p50_ms=late_503s[len(late_503s) // 2] if late_503s else None,
    )


def stored_counts(url: str, query: str, tags: list[str]) -> dict[str, int]:
    """How many rows the database holds for each tag (product id or email)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(query), {"tags": tags})
            return {str(tag): int(count) for tag, count in rows}
    finally:
        engine.dispose()


def acknowledged_vs_stored(
    answers: list[Answer], url: str, query: str
) -> tuple[int, int, int, int]:
    """(acknowledged, of them stored, stored twice or more, stored without a 201)."""
    acked = {a.tag for a in answers if a.status == 201}
    sent = sorted({a.tag for a in answers})
    stored = stored_counts(url, query, sent)
    return (
        len(acked),
        sum(1 for tag in acked if stored.get(tag, 0) >= 1),
        sum(1 for count in stored.values() if count > 1),
        sum(1 for tag in stored if tag not in acked),
    )


ORDERS_BY_SKU = (
    "SELECT product_id, count(*) FROM order_items WHERE product_id = ANY(:tags) GROUP BY 1"
)
USERS_BY_EMAIL = "SELECT email, count(*) FROM users WHERE email = ANY(:tags) GROUP BY 1"
CONNECTIONS = (
    "SELECT application_name, count(*) FROM pg_stat_activity "
    "WHERE application_name IN ('user-service', 'order-service') GROUP BY 1"
)


def connections(stack: Stack) -> dict[str, int]:
    engine = create_engine(stack.pg.admin_url)
    try:
        with engine.connect() as conn:
            return {str(name): int(n) for name, n in conn.execute(text(CONNECTIONS))}
    finally:
        engine.dispose()


async def wait_until_ready(client: httpx.AsyncClient, urls: list[str], within: float) -> None:
    deadline = time.monotonic() + within
    for url in urls:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/health/ready", timeout=2)).status_code == 200:
                    break
            await asyncio.sleep(0.2)


# --- the drills ----------------------------------------------------------------------------------


async def drill_frozen_postgres(
    stack: Stack, auth: dict[str, str]
) -> tuple[list[Verdict], dict[str, Any]]:
    tag = f"fpg{uuid.uuid4().hex[:6]}"
    run = Run()
    usage = Usage({s: stack.children[s].pid for s in ("user-service", "order-service")})
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT, limits=limits) as client:
        tasks = [
            asyncio.create_task(order_load(run, client, stack.order_url, auth, tag)),
            asyncio.create_task(user_load(run, client, stack.user_url, tag)),
            asyncio.create_task(readiness(run, client, "user-service", stack.user_url)),
            asyncio.create_task(readiness(run, client, "order-service", stack.order_url)),
            asyncio.create_task(usage.sample(run)),
        ]
        await asyncio.sleep(3)  # steady load first
        with frozen(lambda: postgres_pids(stack)):
            frozen_at = run.now()
            await asyncio.sleep(FREEZE_SECONDS)
        thawed_at = run.now()
        await asyncio.sleep(AFTER_SECONDS)
        run.stop.set()
        await asyncio.gather(*tasks)
        await wait_until_ready(client, [stack.user_url, stack.order_url], 10)
        await asyncio.sleep(2)  # let the pools drop what they no longer need
    usage.after = usage.snapshot()
    conns = connections(stack)

    by_stream = {
        s: [a for a in run.answers if a.stream == s] for s in {a.stream for a in run.answers}
    }
    f = {s: figures(answers, frozen_at, thawed_at) for s, answers in by_stream.items()}
    orders = acknowledged_vs_stored(by_stream["orders"], stack.orders_db, ORDERS_BY_SKU)
    users = acknowledged_vs_stored(by_stream["users"], stack.users_db, USERS_BY_EMAIL)
    ready_false = {
        name: any(a.status == 503 for a in by_stream[f"ready {name}"]
                  if frozen_at <= a.started <= thawed_at)
        for name in ("user-service", "order-service")
    }  # fmt: skip
    print(table(
        ["stream", "requests", "first 503 after freeze", "worst latency", "recovery after thaw",
         "statuses"],
        [[name, *fig.line()] for name, fig in sorted(f.items())],
    ))  # fmt: skip
    data = {
        "freeze_seconds": FREEZE_SECONDS,
        "streams": {name: fig.__dict__ for name, fig in f.items()},
        "usage": {"before": usage.before, "peak": usage.peak, "after": usage.after},
        "connections_after": conns,
        "orders_acked_stored_dup_unacked": orders,
        "users_acked_stored_dup_unacked": users,
    }
    verdicts = []
    for stream, name in (("orders", "order-service"), ("users", "user-service")):
        fig = f[stream]
        verdicts += [
            Verdict(f"frozen PG: {name} first 503 after freeze", _s(fig.first_503),
                    f"<= {DB_BOUND + 1:.1f} s",
                    fig.first_503 is not None and fig.first_503 <= DB_BOUND + 1),
            Verdict(f"frozen PG: {name} worst latency", f"{fig.worst:.2f} s",
                    f"<= {DB_BOUND + 1:.1f} s", fig.worst <= DB_BOUND + 1),
            Verdict(f"frozen PG: {name} recovers, no restart", _s(fig.recovery),
                    "<= 10 s after thaw", fig.recovery is not None and fig.recovery <= 10
                    and stack.children[name].alive()),
        ]  # fmt: skip
    for name in ("user-service", "order-service"):
        ready = f[f"ready {name}"]
        verdicts.append(Verdict(
            f"frozen PG: {name} readiness false, answered in time",
            f"false: {ready_false[name]}, worst {ready.worst:.2f} s",
            f"true, < {PROBE_TIMEOUT:.0f} s", ready_false[name] and ready.worst < PROBE_TIMEOUT,
        ))  # fmt: skip
        verdicts.append(Verdict(
            f"frozen PG: {name} threads/fds before -> peak -> after",
            usage.row(name), "after <= before + pools", usage.bounded(name),
        ))  # fmt: skip
    verdicts.append(Verdict(
        "frozen PG: DB connections after (user/order)",
        f"{conns.get('user-service', 0)} / {conns.get('order-service', 0)}",
        f"<= {DB_POOL} each", all(n <= DB_POOL for n in conns.values()),
    ))  # fmt: skip
    for what, (acked, stored, twice, unacked) in (("orders", orders), ("users", users)):
        verdicts.append(Verdict(
            f"frozen PG: {what} acknowledged / stored / twice",
            f"{acked} / {stored} / {twice} (+{unacked} stored without a 201)",
            "stored = acknowledged, twice = 0", stored == acked and twice == 0,
        ))  # fmt: skip
    return verdicts, data


async def drill_frozen_user_service(
    stack: Stack, auth: dict[str, str]
) -> tuple[list[Verdict], dict[str, Any]]:
    tag = f"fus{uuid.uuid4().hex[:6]}"
    run = Run()
    usage = Usage({"order-service": stack.children["order-service"].pid})
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT, limits=limits) as client:
        tasks = [
            asyncio.create_task(order_load(run, client, stack.order_url, auth, tag)),
            asyncio.create_task(readiness(run, client, "order-service", stack.order_url)),
            asyncio.create_task(usage.sample(run)),
        ]
        await asyncio.sleep(3)
        with frozen(lambda: [stack.children["user-service"].pid]):
            frozen_at = run.now()
            await asyncio.sleep(FREEZE_SECONDS)
        thawed_at = run.now()
        await asyncio.sleep(AFTER_SECONDS)
        run.stop.set()
        await asyncio.gather(*tasks)
        await asyncio.sleep(2)
    usage.after = usage.snapshot()

    orders_answers = [a for a in run.answers if a.stream == "orders"]
    ready_answers = [a for a in run.answers if a.stream == "ready order-service"]
    fig = figures(orders_answers, frozen_at, thawed_at)
    ready = figures(ready_answers, frozen_at, thawed_at)
    acked, stored, twice, unacked = acknowledged_vs_stored(
        orders_answers, stack.orders_db, ORDERS_BY_SKU
    )
    print(table(
        ["stream", "requests", "first 503 after freeze", "worst latency", "recovery after thaw",
         "statuses"],
        [["orders", *fig.line()], ["ready order-service", *ready.line()]],
    ))  # fmt: skip
    data = {
        "freeze_seconds": FREEZE_SECONDS,
        "orders": fig.__dict__,
        "readiness": ready.__dict__,
        "usage": {"before": usage.before, "peak": usage.peak, "after": usage.after},
        "orders_acked_stored_dup_unacked": [acked, stored, twice, unacked],
    }
    open_ms = fig.open_p50_ms
    verdicts = [
        Verdict("frozen user-service: first 503 after freeze", _s(fig.first_503),
                f"<= {LOOKUP_DEADLINE + 1:.1f} s",
                fig.first_503 is not None and fig.first_503 <= LOOKUP_DEADLINE + 1),
        Verdict("frozen user-service: worst order latency", f"{fig.worst:.2f} s",
                f"<= {LOOKUP_DEADLINE + 1:.1f} s", fig.worst <= LOOKUP_DEADLINE + 1),
        Verdict("frozen user-service: breaker open, 503 p50",
                "none" if open_ms is None else f"{open_ms:.1f} ms",
                f"<= {FAST_FAIL_MS:.0f} ms", open_ms is not None and open_ms <= FAST_FAIL_MS),
        Verdict("frozen user-service: order-service ready throughout",
                f"{ready.statuses}", "only 200", set(ready.statuses) == {200}),
        Verdict("frozen user-service: threads/fds before -> peak -> after",
                usage.row("order-service"), "after <= before + pools",
                usage.bounded("order-service")),
        Verdict("frozen user-service: recovers, no restart", _s(fig.recovery),
                f"<= {BREAKER_RESET + 5:.0f} s after thaw",
                fig.recovery is not None and fig.recovery <= BREAKER_RESET + 5
                and stack.children["order-service"].alive()),
        Verdict("frozen user-service: orders acknowledged / stored / twice",
                f"{acked} / {stored} / {twice} (+{unacked} stored without a 201)",
                "stored = acknowledged, twice = 0", stored == acked and twice == 0),
    ]  # fmt: skip
    return verdicts, data
