"""Fault drills: order-service -> fault proxy -> user-service, on 127.0.0.1, judged against targets.

1. 20% 503s from user-service: order creation success rate (retries) and the latency it adds.
2. user-service stopped: 503 within the deadline, then fast while the breaker is open, and
   recovery on its own once user-service is back (time to recovery).
3. user-service slower than the read timeout: bounded latency, no thread/fd pile-up in
   order-service (/proc), nothing stored, and replays of the same keys store each order once.
4. A burst of identical idempotent requests: exactly one order.
5. user-service frozen (SIGSTOP: its kernel still accepts connections, nothing answers, no error
   ever arrives) under order load: only order-service's own deadline and breaker end the wait.
6. schemathesis against both OpenAPI schemas: no 5xx, no response that breaks the schema.

Each drill has one home. These are the faults of order-service's dependency on user-service and
of the request contract, injected where timing is exact (a proxy, a signal to a local process)
and run on every CI build. Faults that need Kubernetes (a database pod killed or frozen, a
rolling restart) live in tests-e2e, run against a cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench._runtime import (
    Processes,
    local_postgres,
    machine_info,
    proc_usage,
    require_tool,
)
from bench.report import Verdict, verdict_table, write_results
from bench.stack import ORDER_CLIENT_SETTINGS, Seeded, Stack, order_body, seed_users

DEADLINE = float(ORDER_CLIENT_SETTINGS["USER_SERVICE_DEADLINE"])
READ_TIMEOUT = float(ORDER_CLIENT_SETTINGS["USER_SERVICE_READ_TIMEOUT"])
BREAKER_THRESHOLD = int(ORDER_CLIENT_SETTINGS["BREAKER_FAILURE_THRESHOLD"])
BREAKER_RESET = float(ORDER_CLIENT_SETTINGS["BREAKER_RESET_TIMEOUT"])
MAX_ATTEMPTS = int(ORDER_CLIENT_SETTINGS["USER_SERVICE_MAX_ATTEMPTS"])
FAST_FAIL_MS = 50.0  # "a few milliseconds" while the breaker is open, with room for a busy box
UNAVAILABLE = "/problems/user-service-unavailable"
FREEZE_SECONDS = 12.0  # below the liveness probes' patience, far above every deadline


@dataclass(frozen=True)
class Outcome:
    status: int
    seconds: float
    body: dict[str, Any]
    headers: httpx.Headers


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Driver:
    def __init__(self, stack: Stack, users: Seeded, probe_user: int) -> None:
        self.stack = stack
        self.users = users  # their tokens: each order is placed by its buyer
        self.probe_user = probe_user  # used only to wait for the breaker to close
        self.client = httpx.AsyncClient(
            timeout=30, limits=httpx.Limits(max_connections=200, max_keepalive_connections=200)
        )

    async def order(self, user_id: int, key: str | None = None, sku: str = "sku-1") -> Outcome:
        headers = {**self.users.auth(user_id), **({"Idempotency-Key": key} if key else {})}
        start = time.monotonic()
        response = await self.client.post(
            f"{self.stack.order_url}/orders", json=order_body(sku), headers=headers
        )
        elapsed = time.monotonic() - start
        body = response.json() if response.content else {}
        return Outcome(response.status_code, elapsed, body, response.headers)

    async def orders_of(self, user_id: int) -> int:
        response = await self.client.get(
            f"{self.stack.order_url}/orders", params={"limit": 1}, headers=self.users.auth(user_id)
        )
        response.raise_for_status()
        return int(response.json()["total"])

    async def faults(self, **faults: float | bool) -> None:
        response = await self.client.put(f"{self.stack.proxy_admin_url}/faults", json=faults)
        response.raise_for_status()

    async def burst(self, n: int, concurrency: int, user_id: int, tag: str) -> list[Outcome]:
        limit = asyncio.Semaphore(concurrency)

        async def one(i: int) -> Outcome:
            async with limit:
                return await self.order(user_id, key=f"{tag}-{i}", sku=f"sku-{i}")

        return list(await asyncio.gather(*(one(i) for i in range(n))))

    async def wait_closed_breaker(self, user_id: int, within: float) -> float:
        """Send an order every 100 ms until one is created; seconds it took."""
        start = time.monotonic()
        while time.monotonic() - start < within:
            if (await self.order(user_id)).status == 201:
                return time.monotonic() - start
            await asyncio.sleep(0.1)
        return float("inf")


def selected(args: argparse.Namespace, name: str) -> bool:
    return not getattr(args, "only", None) or any(word in name for word in args.only)


def allowed_failures(n: int, p: float, alpha: float = 1e-4) -> int:
    """The most failures out of ``n`` that independent faults explain, but for a 1-in-1/alpha run.

    Each order fails only when all its attempts meet a fault (``p`` = error rate ** attempts), so
    the failures are Binomial(n, p): a fixed percentage as the target would make the drill flaky
    (with 400 orders and p = 0.2**4, three failures happen in about 3% of runs by chance alone).
    """
    tail, k = 1.0, 0
    while True:
        tail -= math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if tail < alpha:
            return k
        k += 1


def latency_ms(outcomes: list[Outcome]) -> tuple[float, float]:
    times = [o.seconds * 1000 for o in outcomes]
    return pct(times, 50), pct(times, 95)


async def drill_503(d: Driver, users: list[int], n: int) -> tuple[list[Verdict], dict[str, Any]]:
    healthy = await d.burst(n // 2, 8, users[0], f"h{uuid.uuid4().hex[:6]}")
    await d.faults(error_rate=0.2)
    faulty = await d.burst(n, 8, users[1], f"f{uuid.uuid4().hex[:6]}")
    await d.faults(error_rate=0.0)
    ok = sum(o.status == 201 for o in faulty)
    rate = ok / len(faulty)
    allowed = allowed_failures(len(faulty), 0.2**MAX_ATTEMPTS)
    h50, h95 = latency_ms(healthy)
    f50, f95 = latency_ms(faulty)
    statuses = sorted({o.status for o in faulty})
    data = {
        "orders": len(faulty),
        "created": ok,
        "statuses": statuses,
        "healthy_p50_ms": h50,
        "healthy_p95_ms": h95,
        "faulty_p50_ms": f50,
        "faulty_p95_ms": f95,
    }
    verdicts = [
        Verdict("20% 503s: orders created", f"{rate:.2%} ({ok}/{len(faulty)})",
                f"<= {allowed} failed (0.2^{MAX_ATTEMPTS} each)", len(faulty) - ok <= allowed),
        Verdict("20% 503s: added latency p50/p95", f"{f50 - h50:+.0f} / {f95 - h95:+.0f} ms",
                "reported", True),
    ]  # fmt: skip
    return verdicts, data


async def drill_stopped(d: Driver, user_id: int) -> tuple[list[Verdict], dict[str, Any]]:
    await d.faults(down=True)
    first = [await d.order(user_id) for _ in range(BREAKER_THRESHOLD)]
    open_ = [await d.order(user_id) for _ in range(20)]
    stored_while_down = await d.orders_of(user_id)
    await d.faults(down=False)
    recovery = await d.wait_closed_breaker(user_id, BREAKER_RESET + 10)
    first_max = max(o.seconds for o in first)
    open_ms = [o.seconds * 1000 for o in open_]
    all_503 = all(
        o.status == 503 and o.body.get("type") == UNAVAILABLE and "retry-after" in o.headers
        for o in first + open_
    )
    data = {
        "first_statuses": [o.status for o in first],
        "first_seconds": [round(o.seconds, 3) for o in first],
        "open_p50_ms": pct(open_ms, 50),
        "open_max_ms": max(open_ms),
        "recovery_seconds": recovery,
    }
    verdicts = [
        Verdict("stopped: 503 problem + Retry-After, nothing stored",
                f"{all_503}, {stored_while_down} stored", "True, 0 stored",
                all_503 and stored_while_down == 0),
        Verdict("stopped: first answers within deadline", f"max {first_max:.2f} s",
                f"<= {DEADLINE + 0.5:.1f} s", first_max <= DEADLINE + 0.5),
        Verdict("stopped: breaker open answers", f"p50 {pct(open_ms, 50):.1f} / max "
                f"{max(open_ms):.1f} ms", f"max <= {FAST_FAIL_MS:.0f} ms",
                max(open_ms) <= FAST_FAIL_MS),
        Verdict("stopped: recovers on its own", f"{recovery:.1f} s after restart",
                f"<= {BREAKER_RESET + 2:.0f} s", recovery <= BREAKER_RESET + 2),
    ]  # fmt: skip
    return verdicts, data


def bounded(before: dict[str, int], after: dict[str, int]) -> bool:
    """Threads and fds back to what they were, give or take what the pools may keep."""
    return after["fds"] <= before["fds"] + 25 and after["threads"] <= before["threads"] + 45


async def drill_slow(d: Driver, user_id: int, n: int = 80) -> tuple[list[Verdict], dict[str, Any]]:
    pid = d.stack.children["order-service"].pid
    before = proc_usage(pid)
    peak = dict(before)
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            now = proc_usage(pid)
            peak.update({k: max(peak[k], now[k]) for k in now})
            await asyncio.sleep(0.1)

    await d.faults(delay=READ_TIMEOUT + 1)
    tag = f"s{uuid.uuid4().hex[:6]}"
    sampler = asyncio.create_task(sample())
    slow = await d.burst(n, n, user_id, tag)
    done.set()
    await sampler
    stored_while_slow = await d.orders_of(user_id)
    await d.faults(delay=0.0)
    await d.wait_closed_breaker(d.probe_user, BREAKER_RESET + 10)
    await asyncio.sleep(2)  # let the pools drop what they no longer need
    after = proc_usage(pid)
    replays = await d.burst(n, 16, user_id, tag) + await d.burst(n, 16, user_id, tag)
    stored = await d.orders_of(user_id)
    max_s = max(o.seconds for o in slow)
    statuses = sorted({o.status for o in slow})
    replay_ok = all(o.status == 201 for o in replays)
    data = {"requests": n, "statuses": statuses, "max_seconds": max_s, "before": before,
            "peak": peak, "after": after, "stored_while_slow": stored_while_slow,
            "stored_after_two_replays": stored}  # fmt: skip
    pileup_ok = bounded(before, after)
    verdicts = [
        Verdict("slow: every order answered 503 in bounded time",
                f"{statuses}, max {max_s:.2f} s", f"[503], <= {DEADLINE + 1:.0f} s",
                statuses == [503] and max_s <= DEADLINE + 1),
        Verdict("slow: threads/fds before -> peak -> after",
                f"{before['threads']}/{before['fds']} -> {peak['threads']}/{peak['fds']} -> "
                f"{after['threads']}/{after['fds']}", "after <= before + pools", pileup_ok),
        Verdict("slow: stored while slow / after 2 replays", f"{stored_while_slow} / {stored}",
                f"0 / {n}", stored_while_slow == 0 and stored == n and replay_ok),
    ]  # fmt: skip
    return verdicts, data


async def drill_idempotent(
    d: Driver, user_id: int, n: int = 50
) -> tuple[list[Verdict], dict[str, Any]]:
    key = f"burst-{uuid.uuid4().hex}"
    outcomes = await asyncio.gather(*(d.order(user_id, key=key) for _ in range(n)))
    stored = await d.orders_of(user_id)
    ids = {o.body.get("id") for o in outcomes if o.status == 201}
    statuses = sorted({o.status for o in outcomes})
    data = {"requests": n, "statuses": statuses, "distinct_ids": len(ids), "stored": stored}
    passed = stored == 1 and len(ids) == 1 and statuses == [201]
    verdict = Verdict(f"idempotent burst of {n}: orders stored", f"{stored} ({statuses})",
                      "1 ([201])", passed)  # fmt: skip
    return [verdict], data


async def drill_frozen(d: Driver, user_id: int) -> tuple[list[Verdict], dict[str, Any]]:
    """user-service SIGSTOPped for FREEZE_SECONDS while 8 workers keep ordering (each order its
    own key and product), and readiness is probed as a kubelet would."""
    frozen_pid, pid = (d.stack.children[s].pid for s in ("user-service", "order-service"))
    tag, stop = f"z{uuid.uuid4().hex[:6]}", asyncio.Event()
    answers: list[tuple[float, Outcome]] = []  # (started, outcome)
    ready: list[int] = []
    before = proc_usage(pid)

    async def load(worker: int) -> None:
        for i in range(10**6):
            if stop.is_set():
                return
            started, key = time.monotonic(), f"{tag}-{worker}-{i}"
            try:
                answers.append((started, await d.order(user_id, key=key, sku=key)))
            except httpx.TransportError:
                answers.append(
                    (started, Outcome(0, time.monotonic() - started, {}, httpx.Headers()))
                )
            await asyncio.sleep(0.05)

    async def probe() -> None:
        while not stop.is_set():
            try:
                response = await d.client.get(f"{d.stack.order_url}/health/ready", timeout=3)
                ready.append(response.status_code)
            except httpx.TransportError:
                ready.append(0)
            await asyncio.sleep(0.5)

    tasks = [asyncio.create_task(load(n)) for n in range(8)] + [asyncio.create_task(probe())]
    await asyncio.sleep(3)  # steady load first
    os.kill(frozen_pid, signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        await asyncio.sleep(FREEZE_SECONDS)
    finally:
        os.kill(frozen_pid, signal.SIGCONT)
    thawed_at = time.monotonic()
    await asyncio.sleep(FREEZE_SECONDS)  # load goes on after the thaw: the recovery
    stop.set()
    await asyncio.gather(*tasks)
    await asyncio.sleep(2)  # let the pools drop what they no longer need
    after = proc_usage(pid)
    stored = await d.orders_of(user_id)

    during = [(t, o) for t, o in answers if t + o.seconds >= frozen_at and t <= thawed_at]
    failed = sorted(t + o.seconds - frozen_at for t, o in during if o.status == 503)
    first_503 = failed[0] if failed else math.inf
    worst = max((o.seconds for _, o in during), default=0.0)
    # once the first lookups hit the deadline the breaker is open: what the later 503s cost
    opened = frozen_at + first_503
    open_ms = pct([o.seconds * 1000 for t, o in during if o.status == 503 and t >= opened], 50)
    recovery = min((t - thawed_at for t, o in answers if t >= thawed_at and o.status == 201),
                   default=math.inf)  # fmt: skip
    acked = sum(o.status == 201 for _, o in answers)
    statuses = sorted({o.status for _, o in answers})
    data = {"freeze_seconds": FREEZE_SECONDS, "orders": len(answers), "statuses": statuses,
            "first_503_s": first_503, "worst_s": worst, "open_p50_ms": open_ms,
            "recovery_s": recovery, "ready": sorted(set(ready)), "before": before,
            "after": after, "acknowledged": acked, "stored": stored}  # fmt: skip
    verdicts = [
        Verdict("frozen user-service: first 503 / worst order", f"{first_503:.2f} / {worst:.2f} s",
                f"<= {DEADLINE + 1:.1f} s", first_503 <= DEADLINE + 1 and worst <= DEADLINE + 1),
        Verdict("frozen user-service: breaker open, 503 p50", f"{open_ms:.1f} ms",
                f"<= {FAST_FAIL_MS:.0f} ms", 0 < open_ms <= FAST_FAIL_MS),
        Verdict("frozen user-service: order-service ready throughout", f"{sorted(set(ready))}",
                "[200]", set(ready) == {200}),
        Verdict("frozen user-service: threads/fds before -> after",
                f"{before['threads']}/{before['fds']} -> {after['threads']}/{after['fds']}",
                "after <= before + pools", bounded(before, after)),
        Verdict("frozen user-service: recovers, no restart", f"{recovery:.2f} s after thaw",
                f"<= {BREAKER_RESET + 5:.0f} s",
                recovery <= BREAKER_RESET + 5 and d.stack.children["order-service"].alive()),
        Verdict("frozen user-service: orders acknowledged / stored", f"{acked} / {stored}",
                "equal", acked == stored),
    ]  # fmt: skip
    return verdicts, data


def drill_schemathesis(
    stack: Stack, examples: int, workdir: Path
) -> tuple[list[Verdict], dict[str, Any]]:
    st = require_tool("schemathesis", "Install the dev tools (requirements-dev.txt).")
    verdicts, data = [], {}
    for name, url in (("user-service", stack.user_url), ("order-service", stack.order_url)):
        start = time.monotonic()
        # One worker: with two, hypothesis' lambda descriptions (ast.parse in worker threads)
        # crash now and then on CPython 3.11 with "AST constructor recursion depth mismatch"
        # (python/cpython#106905), failing the drill with every case passed. One is faster here too.
        out = subprocess.run(
            [st, "run", f"{url}/openapi.json", "--checks",
             "not_a_server_error,response_schema_conformance,content_type_conformance",
             "--max-examples", str(examples), "--phases", "examples,coverage,fuzzing",
             "--workers", "1", "--seed", "7", "--no-color", "--request-timeout", "10",
             "--generation-database", "none", "--report", "junit",
             "--report-junit-path", str(workdir / f"schemathesis-{name}.xml")],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        elapsed = time.monotonic() - start
        summary = [line for line in out.stdout.splitlines() if line.strip()][-6:]
        cases = next((s.strip() for s in summary if "generated" in s), "")
        last = f"{cases}; " + (summary[-1].strip("= ") if summary else "")
        data[name] = {"exit_code": out.returncode, "seconds": round(elapsed, 1), "tail": summary}
        if out.returncode != 0:
            (workdir / f"schemathesis-{name}.txt").write_text(out.stdout + out.stderr)
        verdicts.append(Verdict(
            f"schemathesis {name}: no 5xx, schema-conformant",
            f"exit {out.returncode}, {last}",
            "exit 0", out.returncode == 0,
        ))  # fmt: skip
    return verdicts, data


async def _drills(
    stack: Stack, users: Seeded, args: argparse.Namespace
) -> tuple[list[Verdict], dict[str, Any]]:
    d = Driver(stack, users, probe_user=users[7])
    verdicts: list[Verdict] = []
    data: dict[str, Any] = {}
    drills: dict[str, Callable[[], Awaitable[tuple[list[Verdict], dict[str, Any]]]]] = {
        "503": lambda: drill_503(d, users, args.orders),
        "stopped": lambda: drill_stopped(d, users[2]),
        "slow": lambda: drill_slow(d, users[3]),
        "idempotent": lambda: drill_idempotent(d, users[4]),
        "frozen user-service": lambda: drill_frozen(d, users[5]),
    }
    try:
        for name, drill in drills.items():
            if selected(args, name):
                print(f"==> drill: {name}", flush=True)
                v, data[name] = await drill()
                verdicts += v
    finally:
        await d.faults(error_rate=0.0, delay=0.0, down=False)
        await d.client.aclose()
    return verdicts, data


def run(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    machine = machine_info()
    workdir = Path(tempfile.mkdtemp(prefix="faults-run-"))
    with local_postgres() as pg, Processes(workdir) as procs:
        stack = Stack(pg=pg, procs=procs, overrides=dict(kv.split("=", 1) for kv in args.set))
        print(f"==> PostgreSQL (pid {pg.pid}); migrating; logs in {workdir}", flush=True)
        stack.migrate()
        stack.start_user_service()
        stack.start_proxy()
        stack.start_order_service(stack.proxy_url)
        users = seed_users(stack.user_url, 8, uuid.uuid4().hex[:8])
        verdicts, data = asyncio.run(_drills(stack, users, args))
        if selected(args, "schemathesis"):
            print("==> drill: schemathesis", flush=True)
            v, data["schemathesis"] = drill_schemathesis(stack, args.examples, workdir)
            verdicts += v
    print()
    print(verdict_table(verdicts))
    report: dict[str, object] = {
        "kind": "faults",
        "started": started.isoformat(),
        "machine": machine,
        "settings": stack.settings(),
        "drills": data,
        "verdicts": [v.as_json() for v in verdicts],
        "logs": str(workdir),
    }
    write_results(report, started)
    failed = [v.name for v in verdicts if not v.passed]
    print(f"\n{len(verdicts) - len(failed)}/{len(verdicts)} drill checks passed; logs in {workdir}")
    return 1 if failed else 0
