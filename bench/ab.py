"""Before/after, interleaved: ``python -m bench.ab --before main`` (``make bench-ab``).

The CPU cost of a change, measured the only way a shared machine allows: both versions up at
once, on one PostgreSQL (a database pair each), and the same wrk load sent to one then the other,
round after round (ABBA order, so a neighbour's burst or a warming cache falls on both alike).
Reported per scenario: the median over the rounds of CPU ms per request (every server process
the request runs in: an order costs its user-service lookup too) and of req/s, and the change.

A side is a git revision (``git archive`` into a temporary directory) or ``.`` (the working
tree, the default ``--after``); its services run from this checkout's ``.venv`` with
``PYTHONPATH`` set to that side's ``libs/service-kit/src``, ``user-service/src`` and
``order-service/src``, so both sides share the installed dependencies: compare revisions whose
dependencies agree (constraints.txt). Each side migrates its own databases with its own
migrations and signs its own tokens.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tarfile
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench._runtime import (
    REPO,
    BenchError,
    Processes,
    cpu_seconds,
    local_postgres,
    machine_info,
    sigterm_as_interrupt,
)
from bench.report import table
from bench.run import RESULTS, Scenario, run_wrk, span, write_results
from bench.stack import Seeded, Stack, seed_orders, seed_users, write_load_files
from devtools.postgres import Postgres, PostgresError

SOURCES = ("libs/service-kit/src", "user-service/src", "order-service/src")
SCENARIOS = ("user GET /users/{id}", "order POST /orders", "order GET /orders/{id}")


@dataclass
class Side:
    name: str  # "before" / "after"
    revision: str
    root: Path
    stack: Stack | None = None
    users: Seeded | None = None
    urls: dict[str, str] = field(default_factory=dict)
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)
    rps: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


def checkout(revision: str, into: Path) -> Path:
    """The source of ``revision`` (``.``: this working tree, uncommitted changes included)."""
    if revision == ".":
        return REPO
    archive = into / "src.tar"
    with archive.open("wb") as out:
        done = subprocess.run(
            ["git", "archive", "--format=tar", revision, *SOURCES],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.PIPE,
            check=False,
        )
    if done.returncode != 0:
        raise BenchError(f"git archive {revision}: {done.stderr.decode().strip()}")
    root = into / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    return root


def bring_up(
    side: Side, pg: Postgres, procs: Processes, users: int, overrides: dict[str, str]
) -> None:
    pythonpath = ":".join(str(side.root / s) for s in SOURCES)
    stack = Stack(
        pg=pg,
        procs=procs,
        overrides=overrides | {"PYTHONPATH": pythonpath},
        label=side.name,
    )
    stack.migrate()
    stack.start_user_service()
    stack.start_order_service(stack.user_url)
    tag = f"{side.name[0]}{uuid.uuid4().hex[:6]}"
    seeded = seed_users(stack.user_url, users, tag)
    orders = seed_orders(stack.order_url, seeded, users)
    admin = stack.admin_token()
    tokens, owned = write_load_files(procs.workdir, seeded, orders, suffix=f"-{side.name}")
    side.stack, side.users = stack, seeded
    side.urls = {"user-service": stack.user_url, "order-service": stack.order_url}
    side.scenarios = {
        "user GET /users/{id}": Scenario(
            "user GET /users/{id}",
            "user-service",
            "get_by_id.lua",
            ["/users/", *span(seeded), admin],
        ),
        "order POST /orders": Scenario(
            "order POST /orders", "order-service", "post_order.lua", [tag, str(tokens)]
        ),
        "order GET /orders/{id}": Scenario(
            "order GET /orders/{id}", "order-service", "get_owned.lua", [str(owned)]
        ),
    }


def pids_of(side: Side, scenario: Scenario) -> list[int]:
    assert side.stack is not None
    names = [scenario.target]
    if scenario.name == "order POST /orders":
        names.append("user-service")
    return [side.stack.children[n].pid for n in names]


def one_run(side: Side, name: str, seconds: int, connections: int, round_: int) -> None:
    scenario = side.scenarios[name]
    if name == "order POST /orders":  # new Idempotency-Keys each run
        scenario = Scenario(
            name,
            scenario.target,
            scenario.script,
            [f"{scenario.args[0]}r{round_}", *scenario.args[1:]],
        )
    pids = pids_of(side, scenario)
    before = sum(cpu_seconds(p) for p in pids)
    result = run_wrk(
        side.urls[scenario.target], scenario, seconds=seconds, connections=connections, threads=1
    )
    cpu = sum(cpu_seconds(p) for p in pids) - before
    if result.requests:
        side.cpu_ms.setdefault(name, []).append(1000 * cpu / result.requests)
        side.rps.setdefault(name, []).append(result.rps)
    side.errors[name] = side.errors.get(name, 0) + result.errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--before", default="main", help="git revision (default: main)")
    parser.add_argument("--after", default=".", help="git revision, or . (the working tree)")
    parser.add_argument("--rounds", type=int, default=6, help="runs of each side per scenario")
    parser.add_argument("--seconds", type=int, default=5, help="seconds per run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of discarded load first")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=100, help="users (and orders) seeded")
    parser.add_argument("--only", nargs="*", help="scenarios whose name contains a word")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="VAR=VALUE",
        help="a setting for both sides, e.g. USER_SERVICE_LOG_LEVEL=WARNING",
    )
    for label in ("before", "after"):
        parser.add_argument(
            f"--set-{label}",
            action="append",
            default=[],
            metavar="VAR=VALUE",
            help=f"a setting for the {label} side only (a settings experiment)",
        )
    args = parser.parse_args(argv)
    names = [n for n in SCENARIOS if not args.only or any(w in n for w in args.only)]
    overrides = dict(kv.split("=", 1) for kv in args.set)
    per_side = {
        label: overrides | dict(kv.split("=", 1) for kv in getattr(args, f"set_{label}"))
        for label in ("before", "after")
    }
    started = datetime.now(UTC)
    machine = machine_info()
    try:
        with sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
            sides = []
            for label, revision in (("before", args.before), ("after", args.after)):
                into = Path(tmp) / label
                into.mkdir()
                sides.append(Side(label, revision, checkout(revision, into)))
            workdir = Path(tempfile.mkdtemp(prefix="bench-ab-run-"))
            with local_postgres() as pg, Processes(workdir) as procs:
                print(f"==> PostgreSQL (pid {pg.pid}); logs in {workdir}", flush=True)
                for side in sides:
                    print(f"==> {side.name}: {side.revision} ({side.root})", flush=True)
                    bring_up(side, pg, procs, args.users, per_side[side.name])
                for name in names:
                    for side in sides:  # warm both: JIT-free Python still fills caches and pools
                        one_run(side, name, args.warmup, args.connections, -1)
                        side.cpu_ms.pop(name, None), side.rps.pop(name, None)
                        side.errors.pop(name, None)
                    for round_ in range(args.rounds):
                        order = sides if round_ % 2 == 0 else sides[::-1]  # ABBA
                        for side in order:
                            print(
                                f"==> {name}: {side.name}, round {round_ + 1}/{args.rounds}",
                                flush=True,
                            )
                            one_run(side, name, args.seconds, args.connections, round_)
    except (BenchError, PostgresError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        return 130
    before, after = sides
    rows, results = [], []
    for name in names:
        cb, ca = (statistics.median(s.cpu_ms.get(name, [0])) for s in sides)
        rb, ra = (statistics.median(s.rps.get(name, [0])) for s in sides)
        rows.append(
            [
                name,
                f"{cb:.2f}",
                f"{ca:.2f}",
                f"{ca / cb - 1:+.0%}" if cb else "",
                f"{rb:.0f}",
                f"{ra:.0f}",
                f"{before.errors.get(name, 0)}/{after.errors.get(name, 0)}",
            ]
        )
        results.append(
            {
                "scenario": name,
                "cpu_ms_per_request": {
                    "before": before.cpu_ms.get(name),
                    "after": after.cpu_ms.get(name),
                },
                "rps": {"before": before.rps.get(name), "after": after.rps.get(name)},
                "errors": {
                    "before": before.errors.get(name, 0),
                    "after": after.errors.get(name, 0),
                },
            }
        )
    print()
    print(
        f"before: {args.before}   after: {args.after}   ({args.rounds} rounds of {args.seconds} s, "
        f"{args.connections} connections, medians)"
    )
    print(
        table(
            [
                "scenario",
                "CPU ms/req before",
                "CPU ms/req after",
                "CPU",
                "req/s before",
                "req/s after",
                "errors before/after",
            ],
            rows,
        )
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_results(
        {
            "kind": "ab",
            "started": started.isoformat(),
            "machine": machine,
            "before": args.before,
            "after": args.after,
            "rounds": args.rounds,
            "seconds": args.seconds,
            "connections": args.connections,
            "overrides": per_side,
            "results": results,
        },
        started,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
