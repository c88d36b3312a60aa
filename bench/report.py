"""Pure functions of a run's numbers: parse wrk's output, judge the targets, draw the tables."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench._runtime import REPO

# The scenarios the targets and the ratio columns speak of (bench/run.py names them so).
FLOOR = "floor GET /users/{id}"  # Starlette + psycopg2: what the hardware allows
PEER_READ = "peer GET /users/{id}"  # the same read as full-stack-fastapi-template writes it
PEER_ORDER = "peer POST /orders"  # its create_item, on the orders tables
USER_READ = "user GET /users/{id}"
ORDER_CREATE = "order POST /orders"
# "vs peer": a row is put against the peer of its own kind, when the peer does that kind.
PEERS = {"GET /users/{id}": PEER_READ, "POST /orders": PEER_ORDER}
# Targets (issues 7 and 15), checked on every bench run, ratios taken within the run.
USER_READ_VS_FLOOR = 0.70
USER_READ_VS_PEER = 1.5
ORDER_CREATE_VS_USER_READ = 0.40
# (verdict, numerator row, denominator row, target, shown as "%" or "x")
RATIOS = (
    ("user reads vs floor", USER_READ, FLOOR, USER_READ_VS_FLOOR, "%"),
    ("user reads vs peer", USER_READ, PEER_READ, USER_READ_VS_PEER, "x"),
    ("order creation vs user reads", ORDER_CREATE, USER_READ, ORDER_CREATE_VS_USER_READ, "%"),
)
RSS_MB_MAX = 150.0
RSS_JUDGED = ("user-service", "order-service")  # the services' workers, tracing off


@dataclass(frozen=True)
class LoadResult:
    name: str
    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    cpu_ms_per_request: float = 0.0  # the servers' CPU time (all processes involved) / requests

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"rps": round(self.rps, 1), "errors": self.errors}


def combine(name: str, parts: list[LoadResult], cpu_seconds: float) -> LoadResult:
    """Several runs of one scenario as one: counts summed, percentiles the mean of the runs'."""
    requests = sum(p.requests for p in parts)

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    return LoadResult(
        name=name,
        requests=requests,
        seconds=sum(p.seconds for p in parts),
        non2xx=sum(p.non2xx for p in parts),
        socket_errors=sum(p.socket_errors for p in parts),
        p50_ms=mean([p.p50_ms for p in parts]),
        p95_ms=mean([p.p95_ms for p in parts]),
        p99_ms=mean([p.p99_ms for p in parts]),
        max_ms=max((p.max_ms for p in parts), default=0.0),
        cpu_ms_per_request=1000 * cpu_seconds / requests if requests else 0.0,
    )


def parse_wrk(name: str, stdout: str) -> LoadResult:
    """Read the ``WRK_JSON`` line that bench/wrk/report.lua prints from ``done()``."""
    for line in stdout.splitlines():
        if line.startswith("WRK_JSON "):
            data = json.loads(line.removeprefix("WRK_JSON "))
            latency = data["latency_us"]
            return LoadResult(
                name=name,
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                non2xx=data["non2xx"],
                socket_errors=sum(
                    data[key]
                    for key in ("connect_errors", "read_errors", "write_errors", "timeouts")
                ),
                p50_ms=latency["p50"] / 1000,
                p95_ms=latency["p95"] / 1000,
                p99_ms=latency["p99"] / 1000,
                max_ms=latency["max"] / 1000,
            )
    raise ValueError(f"no WRK_JSON line in wrk's output:\n{stdout[-2000:]}")


@dataclass(frozen=True)
class Verdict:
    name: str
    measured: str
    target: str
    passed: bool

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def judge_bench(
    results: dict[str, LoadResult], rss: dict[str, list[float]] | None = None
) -> list[Verdict]:
    """The issues' targets; a ratio is only judged when both of its endpoints were measured,
    the memory target only when the services' workers were (``rss``: MB per worker, by server)."""
    verdicts: list[Verdict] = []
    for name, numerator, denominator, target, unit in RATIOS:
        top, bottom = results.get(numerator), results.get(denominator)
        if top and bottom and bottom.rps:
            ratio = top.rps / bottom.rps
            shown, wanted = (
                (f"{ratio:.2f}x", f">= {target}x")
                if unit == "x"
                else (f"{ratio:.0%}", f">= {target:.0%}")
            )
            verdicts.append(Verdict(name, shown, wanted, ratio >= target))
    errors = {name: r.errors for name, r in results.items() if r.errors}
    verdicts.append(
        Verdict(
            "no errors",
            ", ".join(f"{n}: {e}" for n, e in errors.items()) or "0",
            "0",
            not errors,
        )
    )
    workers = {name: (rss or {}).get(name) for name in RSS_JUDGED}
    measured = {name: mbs for name, mbs in workers.items() if mbs}
    if measured:
        each = (f"{name} {', '.join(f'{mb:.1f}' for mb in mbs)}" for name, mbs in measured.items())
        verdicts.append(
            Verdict(
                "RSS per service worker",
                ", ".join(each) + " MB",
                f"<= {RSS_MB_MAX:g} MB",
                all(mb <= RSS_MB_MAX for mbs in measured.values() for mb in mbs),
            )
        )
    return verdicts


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (readable in a terminal, pasteable into docs/performance.md)."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join(
        [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]
    )


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}" if reference else ""


def peer_of(name: str) -> str | None:
    """The peer scenario of the same kind as ``name`` (a read of a user, an order insert)."""
    return next((peer for kind, peer in PEERS.items() if kind in name), None)


def bench_table(results: dict[str, LoadResult]) -> str:
    """Every row against the floor (req/s and CPU per request) and against its kind's peer."""
    floor = results.get(FLOOR)
    rows = []
    for name, r in results.items():
        peer = results.get(peer_of(name) or "")
        rows.append(
            [
                name,
                f"{r.rps:.0f}",
                f"{r.p50_ms:.1f}",
                f"{r.p95_ms:.1f}",
                f"{r.p99_ms:.1f}",
                str(r.errors),
                ratio(r.rps, floor.rps) if floor else "",
                ratio(r.rps, peer.rps) if peer else "",
                f"{r.cpu_ms_per_request:.2f}",
                f"{r.cpu_ms_per_request / floor.cpu_ms_per_request:.1f}"
                if floor and floor.cpu_ms_per_request
                else "",
            ]
        )
    headers = ["endpoint", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "vs floor", "vs peer",
               "CPU ms/req", "CPU vs floor"]  # fmt: skip
    return table(headers, rows)


def rss_table(rss: dict[str, list[float]]) -> str:
    """Resident memory of each server's worker process(es) after the run."""
    rows = [[name, ", ".join(f"{mb:.1f}" for mb in mbs)] for name, mbs in rss.items()]
    return table(["server", "RSS after the run, MB (per worker)"], rows)


def tracing_rows(
    results: dict[str, LoadResult], spans: dict[str, int], suffix: str = " (traced)"
) -> list[dict[str, Any]]:
    """Each traced scenario next to the same scenario untraced, from one run."""
    rows: list[dict[str, Any]] = []
    for traced_name, exported in spans.items():
        off, on = results.get(traced_name.removesuffix(suffix)), results.get(traced_name)
        if off is None or on is None:
            continue
        rows.append(
            {
                "endpoint": off.name,
                "cpu_ms_per_request_off": round(off.cpu_ms_per_request, 3),
                "cpu_ms_per_request_on": round(on.cpu_ms_per_request, 3),
                "cpu_increase": round(on.cpu_ms_per_request / off.cpu_ms_per_request - 1, 3)
                if off.cpu_ms_per_request
                else None,
                "rps_off": round(off.rps, 1),
                "rps_on": round(on.rps, 1),
                "p95_ms_off": off.p95_ms,
                "p95_ms_on": on.p95_ms,
                "spans_per_request": round(exported / on.requests, 2) if on.requests else 0,
            }
        )
    return rows


def tracing_table(results: dict[str, LoadResult], spans: dict[str, int]) -> str:
    """Tracing off vs on at 100% sampling: CPU per request of the servers, throughput, p95."""
    rows = [
        [
            r["endpoint"],
            f"{r['cpu_ms_per_request_off']:.2f}",
            f"{r['cpu_ms_per_request_on']:.2f}",
            f"{r['cpu_increase']:+.0%}" if r["cpu_increase"] is not None else "",
            f"{r['rps_off']:.0f}",
            f"{r['rps_on']:.0f}",
            f"{r['p95_ms_off']:.1f}",
            f"{r['p95_ms_on']:.1f}",
            f"{r['spans_per_request']:.1f}",
        ]
        for r in tracing_rows(results, spans)
    ]
    headers = ["tracing off vs on (100% sampled)", "CPU ms/req off", "CPU ms/req on", "CPU",
               "req/s off", "req/s on", "p95 ms off", "p95 ms on", "spans/req"]  # fmt: skip
    return table(headers, rows)


def before_rows(results: dict[str, LoadResult], suffix: str = " (before)") -> list[dict[str, Any]]:
    """Each scenario run on ``--before``'s revision next to the same scenario on this tree."""
    rows: list[dict[str, Any]] = []
    for name, before in results.items():
        after = results.get(name.removesuffix(suffix))
        if not name.endswith(suffix) or after is None:
            continue
        cpu_b, cpu_a = before.cpu_ms_per_request, after.cpu_ms_per_request
        rows.append({
            "endpoint": after.name,
            "cpu_ms_per_request_before": round(cpu_b, 3),
            "cpu_ms_per_request_after": round(cpu_a, 3),
            "cpu_change": round(cpu_a / cpu_b - 1, 3) if cpu_b else None,
            "rps_before": round(before.rps, 1),
            "rps_after": round(after.rps, 1),
            "errors": before.errors + after.errors,
        })  # fmt: skip
    return rows


def before_table(results: dict[str, LoadResult], revision: str) -> str:
    """``--before``: CPU per request of the servers and throughput, that revision vs this tree."""
    rows = [
        [r["endpoint"], f"{r['cpu_ms_per_request_before']:.2f}",
         f"{r['cpu_ms_per_request_after']:.2f}",
         f"{r['cpu_change']:+.1%}" if r["cpu_change"] is not None else "",
         f"{r['rps_before']:.0f}", f"{r['rps_after']:.0f}", str(r["errors"])]
        for r in before_rows(results)
    ]  # fmt: skip
    headers = [f"{revision} vs this tree", "CPU ms/req before", "CPU ms/req after", "CPU",
               "req/s before", "req/s after", "errors"]  # fmt: skip
    return table(headers, rows)


def verdict_table(verdicts: list[Verdict]) -> str:
    rows = [[v.name, v.measured, v.target, "PASS" if v.passed else "FAIL"] for v in verdicts]
    return table(["check", "measured", "target", "result"], rows)


RESULTS = REPO / "bench" / "results"


def write_results(report: dict[str, object], started: datetime) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    kind = report["kind"]
    path = RESULTS / f"{kind}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    text = json.dumps(report, indent=2) + "\n"
    path.write_text(text)
    (RESULTS / f"{kind}-latest.json").write_text(text)
    print(f"\nresults: {path.relative_to(REPO)} (and {kind}-latest.json)")
    return path
