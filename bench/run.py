"""Benchmarks and fault drills: ``python -m bench.run bench`` / ``python -m bench.run faults``.

bench: PostgreSQL + both services + the floor (Starlette + psycopg2) + the peer (the same read and
an order insert written as full-stack-fastapi-template writes them) on 127.0.0.1, seeded through
the APIs, then for each endpoint a warm-up (discarded) and a fixed-duration wrk run at fixed
concurrency. Prints a table (floor, peer, services), each server's RSS after the run and the
targets, writes bench/results/<timestamp>.json and latest.json. User reads and order creation
also run interleaved (A/B rounds, so a neighbour's load falls on both alike) against a second pair
of services: tracing on, or with ``--before REV`` that revision's code (a change's CPU cost).

faults: see bench/drills.py.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from bench._runtime import (
    REPO,
    BenchError,
    Processes,
    cpu_seconds,
    local_postgres,
    machine_info,
    require_tool,
    rss_mb,
    sigterm_as_interrupt,
    worker_pids,
)
from bench.report import (
    FLOOR,
    PEER_ORDER,
    PEER_READ,
    LoadResult,
    before_rows,
    before_table,
    bench_table,
    combine,
    judge_bench,
    parse_wrk,
    rss_table,
    tracing_rows,
    tracing_table,
    verdict_table,
    write_results,
)
from bench.stack import BEFORE, PASSWORD, TRACED, Stack, seed_orders, seed_users, write_load_files
from devtools.postgres import PostgresError

AB_SCENARIOS = ("user GET /users/{id}", "order POST /orders")
EXPORT_DELAY = 6.0  # s: the SDK batch processor exports at least every 5 s
WRK_DIR = REPO / "bench" / "wrk"


@dataclass(frozen=True)
class Scenario:
    name: str
    target: str  # which server: floor, peer-users, peer-orders, user-service, order-service
    script: str
    args: list[str]


def selected(args: argparse.Namespace, name: str) -> bool:
    return not args.only or any(word in name for word in args.only)


def span(ids: list[int]) -> list[str]:
    """wrk script arguments for a random id in the seeded range."""
    return [str(ids[0]), str(ids[-1])]


def run_wrk(
    url: str, scenario: Scenario, *, seconds: int, connections: int, threads: int
) -> LoadResult:
    wrk = require_tool("wrk", "Install it: apt-get install -y wrk (Debian package).")
    argv = [
        wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "5s",
        "-s", str(WRK_DIR / scenario.script), url, "--", *scenario.args,
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if out.returncode != 0:
        raise BenchError(f"wrk failed ({out.returncode}): {out.stderr}\n{out.stdout}")
    return parse_wrk(scenario.name, out.stdout)


def warm_up(url: str, scenario: Scenario, args: argparse.Namespace) -> None:
    """Discarded load first; a POST script's first argument is the run tag: keep emails unique."""
    if args.warmup:
        warm = [f"w{a}" if a.endswith(args.tag) else a for a in scenario.args]
        run_wrk(
            url,
            Scenario(scenario.name, "", scenario.script, warm),
            seconds=args.warmup,
            connections=args.connections,
            threads=args.threads,
        )


def servers_of(stack: Stack, scenario: Scenario) -> dict[str, int]:
    """The processes a scenario's requests run in: an order costs a user-service call too."""
    servers = {scenario.target: stack.children[scenario.target].pid}
    if scenario.name.startswith("order POST /orders"):
        user_service = scenario.target.replace("order-service", "user-service")
        servers[user_service] = stack.children[user_service].pid
    return servers


def measure(
    stack: Stack,
    scenario: Scenario,
    url: str,
    args: argparse.Namespace,
    results: dict[str, LoadResult],
) -> None:
    """Warm up (discarded), then one measured wrk run and the servers' CPU time during it."""
    warm_up(url, scenario, args)
    servers = servers_of(stack, scenario)
    print(f"==> {scenario.name}: {args.duration} s at {args.connections} connections", flush=True)
    cpu_before = sum(cpu_seconds(pid) for pid in servers.values())
    result = run_wrk(
        url, scenario, seconds=args.duration, connections=args.connections, threads=args.threads
    )
    cpu = sum(cpu_seconds(pid) for pid in servers.values()) - cpu_before
    results[scenario.name] = replace(
        result, cpu_ms_per_request=1000 * cpu / result.requests if result.requests else 0
    )


def settled_span_count(stack: Stack, timeout: float = 60.0) -> int:
    """The receiver's span count once no batch has arrived for EXPORT_DELAY seconds."""
    count, since, deadline = stack.spans_received(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() - since < EXPORT_DELAY and time.monotonic() < deadline:
        time.sleep(0.5)
        if (now := stack.spans_received()) != count:
            count, since = now, time.monotonic()
    return count


def measure_interleaved(
    stack: Stack,
    pair: tuple[tuple[Scenario, str], tuple[Scenario, str]],
    args: argparse.Namespace,
    results: dict[str, LoadResult],
    spans: dict[str, int] | None,
) -> None:
    """A/B: both warmed up, then ``--rounds`` times a run of each of duration/rounds, so a
    neighbour's load falls on both alike. CPU and requests are summed per side; latency
    percentiles are the mean of the rounds'. ``spans`` (tracing on): what the receiver got
    during the second side's runs."""
    for scenario, url in pair:
        warm_up(url, scenario, args)
    if spans is not None:
        spans_before = settled_span_count(stack)  # the warm-up's last batches in first
    runs: dict[str, list[LoadResult]] = {scenario.name: [] for scenario, _ in pair}
    cpu: dict[str, float] = dict.fromkeys(runs, 0.0)
    rounds = args.rounds
    seconds = max(1, args.duration // rounds)
    for round_ in range(rounds):
        for scenario, url in pair if round_ % 2 == 0 else pair[::-1]:  # ABBA
            print(f"==> {scenario.name}: {seconds} s (round {round_ + 1}/{rounds})", flush=True)
            servers = servers_of(stack, scenario)
            # each round a tag of its own: a POST script's keys and e-mails must be new
            args_of_round = [f"{a}r{round_}" if a.endswith(args.tag) else a for a in scenario.args]
            before = sum(cpu_seconds(pid) for pid in servers.values())
            runs[scenario.name].append(
                run_wrk(
                    url,
                    replace(scenario, args=args_of_round),
                    seconds=seconds,
                    connections=args.connections,
                    threads=args.threads,
                )
            )
            cpu[scenario.name] += sum(cpu_seconds(pid) for pid in servers.values()) - before
    if spans is not None:
        spans[pair[1][0].name] = settled_span_count(stack) - spans_before
    for name, parts in runs.items():
        results[name] = combine(name, parts, cpu[name])


def bench(args: argparse.Namespace) -> int:
    require_tool("wrk", "Install it: apt-get install -y wrk (Debian package).")
    tag = args.tag = uuid.uuid4().hex[:8]
    spans: dict[str, int] = {}
    started = datetime.now(UTC)
    machine_before = machine_info()
    results: dict[str, LoadResult] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-run-"))
    with local_postgres() as pg, Processes(workdir) as procs:
        stack = Stack(pg=pg, procs=procs, overrides=dict(kv.split("=", 1) for kv in args.set))
        print(f"==> PostgreSQL (pid {pg.pid}); migrating; logs in {workdir}", flush=True)
        stack.migrate()
        with_orders = selected(args, "order POST /orders") or selected(args, "order GET /orders")
        stack.start_user_service()
        if with_orders:
            stack.start_order_service(stack.user_url)
        stack.start_baseline()
        if selected(args, PEER_READ) or selected(args, PEER_ORDER):
            stack.start_peer()
        print(f"==> seeding {args.users} users (registered, logged in) and orders", flush=True)
        users = seed_users(stack.user_url, args.users, tag)
        orders = seed_orders(stack.order_url, users, args.users) if with_orders else []
        if users != list(range(users[0], users[-1] + 1)):
            raise BenchError("seeded user ids are not contiguous; random ids would hit 404s")
        admin = stack.admin_token()  # reads any user: the GET /users/{id} load
        tokens_file, owned_file = write_load_files(workdir, users, orders)
        emails_file = workdir / "emails"
        emails_file.write_text("".join(f"seed-{tag}-{i}@example.com\n" for i in range(len(users))))
        by_user = ["/users/", *span(users)]
        # The floor, the peer, then the services: the table reads in that order. The peer's read
        # is the admin's, like user-service's: the template then loads the caller and the user.
        scenarios = [
            Scenario(FLOOR, "floor", "get_by_id.lua", by_user),
            Scenario(PEER_READ, "peer-users", "get_by_id.lua", [*by_user, admin]),
            Scenario(PEER_ORDER, "peer-orders", "post_order.lua", [f"p{tag}", str(tokens_file)]),
            Scenario("user GET /users/{id}", "user-service", "get_by_id.lua", [*by_user, admin]),
            Scenario("user POST /users", "user-service", "post_user.lua", [tag]),
            Scenario("user POST /token", "user-service", "login.lua", [str(emails_file), PASSWORD]),
            Scenario(
                "order POST /orders", "order-service", "post_order.lua", [tag, str(tokens_file)]
            ),
            Scenario("order GET /orders/{id}", "order-service", "get_owned.lua", [str(owned_file)]),
        ]
        urls = {
            "floor": stack.baseline_url,
            "peer-users": stack.peer_users_url,
            "peer-orders": stack.peer_orders_url,
            "user-service": stack.user_url,
            "order-service": stack.order_url,
        }
        # User reads and order creation also run on a second pair of services, interleaved:
        # tracing on (every request sampled and exported), or --before's revision.
        ab = [s for s in scenarios if s.name in AB_SCENARIOS and selected(args, s.name)]
        second = BEFORE if args.before else TRACED
        if ab:
            print(f"==> a second pair of services: {args.before or 'tracing on'}", flush=True)
            if args.before:
                user_url, order_url = stack.start_revision(args.before)
            else:
                user_url, order_url = stack.start_traced_services()
            urls |= {f"user-service{second}": user_url, f"order-service{second}": order_url}
        for scenario in scenarios:
            if not selected(args, scenario.name):
                continue
            if scenario not in ab:
                measure(stack, scenario, urls[scenario.target], args, results)
                continue
            other = replace(  # a tag of its own: new Idempotency-Keys, not replays
                scenario,
                name=f"{scenario.name}{second}",
                target=f"{scenario.target}{second}",
                args=[f"t{a}" if a == tag else a for a in scenario.args],
            )
            pair = ((scenario, urls[scenario.target]), (other, urls[other.target]))
            measure_interleaved(stack, pair, args, results, None if args.before else spans)
        # After the load: what each worker holds once it has served every scenario.
        rss = {
            name: [round(rss_mb(worker), 1) for worker in worker_pids(pid)]
            for name, pid in stack.servers().items()
        }
    verdicts = judge_bench(results, rss)
    report = {
        "kind": "bench",
        "started": started.isoformat(),
        "machine": machine_before,
        "load_average_after": machine_info()["load_average"],
        "load": {
            "tool": "wrk 4.1",
            "seconds": args.duration,
            "warmup_seconds": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
        },
        "settings": stack.settings(),
        "results": [r.as_json() for r in results.values()],
        "rss_mb": rss,
        "before": args.before,
        "tracing_overhead": tracing_rows(results, spans),
        "before_vs_this_tree": before_rows(results),
        "targets": [v.as_json() for v in verdicts],
    }
    print()
    print(bench_table(results))
    print()
    print(rss_table(rss))
    if spans:
        print()
        print(tracing_table(results, spans))
    if args.before:
        print()
        print(before_table(results, args.before))
    print()
    print(verdict_table(verdicts))
    write_results(report, started)
    print(
        f"\nmachine: {machine_before['cpus']} CPUs, {machine_before['memory_gib']} GiB, "
        f"{machine_before['os']}, Python {machine_before['python']}; load average before "
        f"{machine_before['load_average']}, after {report['load_average_after']} "
        "(a shared machine: compare ratios, not absolute figures, across runs)"
    )
    if args.check and not all(v.passed for v in verdicts):
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="every endpoint against the floor and the peer")
    b.add_argument("--duration", type=int, default=10, help="seconds measured per endpoint")
    b.add_argument("--warmup", type=int, default=5, help="seconds of discarded load first")
    b.add_argument("--connections", type=int, default=32, help="wrk concurrency")
    b.add_argument("--threads", type=int, default=1, help="wrk threads (1 leaves CPU to servers)")
    b.add_argument("--users", type=int, default=200, help="users (and orders) seeded")
    b.add_argument("--only", nargs="*", help="run scenarios whose name contains a word")
    b.add_argument("--rounds", type=int, default=2, help="A/B rounds of the interleaved rows")
    b.add_argument("--before", metavar="REV", help="interleave with REV's code, not tracing on")
    b.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    f = sub.add_parser("faults", help="fault drills through a fault-injecting proxy")
    f.add_argument("--examples", type=int, default=300, help="schemathesis examples per operation")
    f.add_argument("--orders", type=int, default=400, help="orders sent in the 503 drill")
    f.add_argument("--only", nargs="*", help="run drills whose name contains a word")
    for p in (b, f):
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="VAR=VALUE",
            help="override a service setting, e.g. --set USER_SERVICE_LOG_LEVEL=WARNING",
        )
    args = parser.parse_args(argv)
    try:
        with sigterm_as_interrupt():
            if args.command == "bench":
                return bench(args)
            from bench.drills import run as run_drills

            return run_drills(args)
    except (BenchError, PostgresError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
