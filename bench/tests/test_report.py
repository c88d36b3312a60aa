"""wrk's output is parsed and the issue's targets are judged from it."""

from __future__ import annotations

from bench.profile import component, summarize
from bench.report import LoadResult, combine, judge_bench, parse_wrk, tracing_rows

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


def test_judge_bench_passes_when_ratios_meet_targets_and_no_errors() -> None:
    verdicts = judge_bench({
        "baseline GET /users/{id}": _result("b", 1000),
        "user GET /users/{id}": _result("u", 700),
        "order POST /orders": _result("o", 280),
    })  # fmt: skip
    assert [v.passed for v in verdicts] == [True, True, True]


def test_judge_bench_fails_a_slow_user_read_and_any_errors() -> None:
    verdicts = judge_bench({
        "baseline GET /users/{id}": _result("b", 1000),
        "user GET /users/{id}": _result("u", 690, errors=1),
    })  # fmt: skip
    assert {v.name: v.passed for v in verdicts} == {
        "user reads vs baseline": False,
        "no errors": False,
    }


def test_profile_summary_splits_time_by_component_and_leaf() -> None:
    collapsed = (
        "run (/x/site-packages/uvicorn/main.py);get (/w/user-service/src/user_service/api.py);"
        "execute (/x/site-packages/sqlalchemy/engine/base.py) 3\n"
        "run (/x/site-packages/uvicorn/main.py);dumps (/usr/lib/python3.11/json/__init__.py) 1\n"
    )
    summary = summarize(collapsed)
    assert summary["samples"] == 4
    assert dict(summary["components_inclusive_pct"]) == {
        "uvicorn": 100.0, "user_service": 75.0, "sqlalchemy": 75.0, "stdlib:json": 25.0
    }  # fmt: skip
    assert component("/usr/lib/python3.11/threading.py") == "stdlib:threading"


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
