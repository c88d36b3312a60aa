"""wrk's output is parsed and the issue's targets are judged from it."""

from __future__ import annotations

from bench.report import (
    FLOOR,
    ORDER_CREATE,
    PEER_ORDER,
    PEER_READ,
    USER_READ,
    LoadResult,
    before_rows,
    bench_table,
    combine,
    judge_bench,
    parse_wrk,
    rss_table,
    tracing_rows,
)

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8001
  1 threads and 32 connections
WRK_JSON {"requests":12000,"duration_us":10000000,"bytes":1,"non2xx":3,"connect_errors":0,\
"read_errors":1,"write_errors":0,"timeouts":2,"latency_us":{"p50":2500,"p90":4000,\
"p95":5000,"p99":9000,"max":20000,"mean":2700.0}}
"""


def _result(name: str, rps: float, errors: int = 0) -> LoadResult:
    return LoadResult(name, int(rps * 10), 10.0, errors, 0, 1.0, 2.0, 3.0, 4.0)


def test_parse_wrk_reads_rate_latency_and_counts_non_2xx_and_socket_errors() -> None:
    result = parse_wrk("x", WRK_OUTPUT)
    assert result.rps == 1200
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (2.5, 5.0, 9.0)
    assert result.errors == 6


def _run(
    floor: float = 1000,
    peer: float = 400,
    user: float = 700,
    peer_order: float = 500,
    order: float = 280,
) -> dict[str, LoadResult]:
    return {
        FLOOR: _result(FLOOR, floor),
        PEER_READ: _result(PEER_READ, peer),
        PEER_ORDER: _result(PEER_ORDER, peer_order),
        USER_READ: _result(USER_READ, user),
        ORDER_CREATE: _result(ORDER_CREATE, order),
    }


RSS_OK = {"floor": [40.0], "user-service": [120.0], "order-service": [150.0]}


def test_judge_bench_passes_when_ratios_meet_targets_no_errors_and_small_workers() -> None:
    verdicts = judge_bench(_run(), RSS_OK)
    assert [(v.name, v.passed) for v in verdicts] == [
        ("user reads vs floor", True),
        ("user reads vs peer", True),
        ("order creation vs user reads", True),
        ("no errors", True),
        ("RSS per service worker", True),
    ]


def test_judge_bench_fails_a_slow_user_read_and_any_errors() -> None:
    verdicts = judge_bench({
        FLOOR: _result("b", 1000),
        USER_READ: _result("u", 690, errors=1),
    })  # fmt: skip
    assert {v.name: v.passed for v in verdicts} == {
        "user reads vs floor": False,
        "no errors": False,
    }


def test_judge_bench_fails_user_reads_under_one_and_a_half_times_the_peer() -> None:
    verdicts = {v.name: v for v in judge_bench(_run(peer=470, user=700))}
    assert not verdicts["user reads vs peer"].passed
    assert verdicts["user reads vs peer"].measured == "1.49x"
    assert verdicts["user reads vs peer"].target == ">= 1.5x"


def test_judge_bench_fails_a_service_worker_over_150_mb_and_names_it() -> None:
    rss = RSS_OK | {"order-service": [150.5], "peer-users": [400.0]}
    (verdict,) = [v for v in judge_bench(_run(), rss) if v.name == "RSS per service worker"]
    assert not verdict.passed
    assert verdict.measured == "user-service 120.0, order-service 150.5 MB"


def test_judge_bench_judges_each_worker_of_a_service_with_several() -> None:
    rss = {"user-service": [100.0, 151.0]}
    (verdict,) = [v for v in judge_bench(_run(), rss) if v.name == "RSS per service worker"]
    assert not verdict.passed


def test_bench_table_puts_each_row_against_the_floor_and_its_own_kind_of_peer() -> None:
    lines = bench_table(_run()).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:9] == ["endpoint", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors",
                          "vs floor", "vs peer", "CPU ms/req"]  # fmt: skip
    rows = {cells[0]: cells for cells in ([c.strip() for c in line.strip("|").split("|")]
                                          for line in lines[2:])}  # fmt: skip
    assert rows[USER_READ][6:8] == ["0.70", "1.75"]  # reads against the peer's read
    assert rows[ORDER_CREATE][6:8] == ["0.28", "0.56"]  # orders against the peer's order
    assert rows[PEER_READ][6:8] == ["0.40", "1.00"]
    assert rows[FLOOR][6:8] == ["1.00", "2.50"]


def test_bench_table_leaves_vs_peer_empty_without_a_peer_of_that_kind() -> None:
    results = {FLOOR: _result(FLOOR, 1000), "user POST /users": _result("p", 300)}
    row = bench_table(results).splitlines()[-1]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "user POST /users"
    assert cells[6:8] == ["0.30", ""]


def test_rss_table_lists_each_worker_of_each_server() -> None:
    text = rss_table({"floor": [41.24], "order-service": [96.0, 97.5]})
    assert "| floor" in text
    assert "41.2" in text
    assert "96.0, 97.5" in text


def test_combine_sums_counts_and_cpu_and_averages_percentiles() -> None:
    first = LoadResult("a", 100, 5.0, 1, 0, 10.0, 20.0, 30.0, 40.0)
    second = LoadResult("a", 300, 5.0, 0, 2, 20.0, 40.0, 50.0, 90.0)
    both = combine("a", [first, second], cpu_seconds=0.8)
    assert (both.requests, both.seconds, both.errors) == (400, 10.0, 3)
    assert (both.p50_ms, both.p95_ms, both.max_ms) == (15.0, 30.0, 90.0)
    assert both.cpu_ms_per_request == 2.0


def test_tracing_rows_put_each_traced_run_next_to_its_untraced_one() -> None:
    off = LoadResult("user GET /users/{id}", 1000, 10.0, 0, 0, 1, 2, 3, 4, cpu_ms_per_request=2.0)
    on = LoadResult("user GET /users/{id} (traced)", 800, 10.0, 0, 0, 1, 3, 4, 5, 2.5)
    (row,) = tracing_rows({off.name: off, on.name: on}, {on.name: 1600})
    assert row["cpu_increase"] == 0.25
    assert row["spans_per_request"] == 2.0
    assert (row["rps_off"], row["rps_on"]) == (100.0, 80.0)


def test_before_rows_put_each_scenario_of_the_older_revision_next_to_this_tree() -> None:
    after = LoadResult("order POST /orders", 1000, 10.0, 0, 0, 1, 2, 3, 4, cpu_ms_per_request=9.0)
    before = LoadResult("order POST /orders (before)", 800, 10.0, 1, 0, 1, 2, 3, 4, 10.0)
    alone = LoadResult("user POST /users", 10, 10.0, 0, 0, 1, 2, 3, 4, 50.0)
    rows = before_rows({r.name: r for r in (after, before, alone)})
    assert rows == [{
        "endpoint": "order POST /orders", "cpu_ms_per_request_before": 10.0,
        "cpu_ms_per_request_after": 9.0, "cpu_change": -0.1, "rps_before": 80.0,
        "rps_after": 100.0, "errors": 1,
    }]  # fmt: skip
