"""wrk's output is parsed and the issue's targets are judged from it."""

from __future__ import annotations

from bench.profile import component, summarize
from bench.report import LoadResult, judge_bench, parse_wrk

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
