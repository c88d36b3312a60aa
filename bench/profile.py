"""Where a server's CPU time goes during a bench run, from py-spy samples.

py-spy attaches to running PIDs (no code change, ``--nonblocking`` so it barely slows them),
writes collapsed stacks, and ``summarize`` folds them three ways: by component (the package a
frame's file belongs to, counted once per sample: inclusive), by leaf function (self time), and
by layer (``LAYERS``: each sample goes to the innermost frame of a known layer, so a
``json.dumps`` under the access log counts as the log, the C call of a statement as the driver).
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._runtime import require_tool

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<path>[^()]*)\)$")


@dataclass
class Sampler:
    procs: list[subprocess.Popen[bytes]]
    outputs: list[Path]
    labels: list[str]


def start(servers: dict[str, int], seconds: int, stem: Path) -> Sampler:
    """Sample each ``{name: pid}`` for ``seconds`` in the background."""
    py_spy = require_tool("py-spy", "Install the dev tools (requirements-dev.txt).")
    procs, outputs = [], []
    for pid in servers.values():
        out = stem.with_name(f"{stem.name}-{pid}.txt")
        procs.append(
            subprocess.Popen(
                [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100",
                 "--format", "raw", "--full-filenames", "--nolineno",
                 "--nonblocking", "--subprocesses", "--gil", "--output", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        outputs.append(out)
    return Sampler(procs, outputs, [f"{name} (pid {pid})" for name, pid in servers.items()])


def finish(sampler: Sampler) -> dict[str, Any]:
    summaries: dict[str, Any] = {}
    for proc, out, label in zip(sampler.procs, sampler.outputs, sampler.labels, strict=True):
        proc.wait(60)
        summaries[label] = summarize(out.read_text() if out.exists() else "")
    return summaries


def component(path: str) -> str:
    """The package a file belongs to: site-packages' top folder, our src/ packages, stdlib."""
    if "site-packages/" in path:
        top = path.split("site-packages/", 1)[1].split("/", 1)[0]
        return top.removesuffix(".py")
    if match := re.search(r"/src/(\w+)/", path):
        return match.group(1)
    if "/bench/" in path:
        return "bench"
    if match := re.search(r"/python3\.\d+/(?:(\w+)/|(\w+)\.py)", path):
        return "stdlib:" + (match.group(1) or match.group(2))
    if "/bin/" in path:
        return "entry point"
    return path.rsplit("/", 1)[-1] or "?"


# (layer, what a frame's "function (path)" text contains), from the request's point of view. The
# driver is matched by function: SQLAlchemy's do_* methods are where psycopg2's C code runs.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("database driver (psycopg2, wait callback)", (
        "DefaultDialect.do_execute", "DefaultDialect.do_commit", "DefaultDialect.do_rollback",
        "do_ping", "/psycopg2/", "wait_with_deadlines", "DefaultDialect.do_executemany",
    )),
    ("SQL toolkit and ORM (SQLAlchemy, SQLModel)", ("/sqlalchemy/", "<sqlalchemy generated",
                                                    "/sqlmodel/")),
    ("token verification (PyJWT, cryptography)", ("/jwt/", "/cryptography/",
                                                  "service_kit/tokens.py")),
    ("HTTP client (httpx, httpcore, h11)", ("/httpx/", "/httpcore/", "/h11/")),
    ("access log (logging, JSON)", ("/logging/", "/pythonjsonlogger/")),
    ("request middleware (request id, metrics, body limit)", (
        "service_kit/middleware.py", "service_kit/metrics.py", "/prometheus_client/",
        "/starlette/middleware/", "/fastapi/middleware/", "fastapi/_body_limit.py",
        "/fastapi/telemetry/",
    )),
    ("routing, validation, serialisation (FastAPI, Starlette, pydantic)", (
        "/fastapi/", "/starlette/", "/pydantic/", "/pydantic_core/",
    )),
    ("thread pool (anyio, threading, queue)", ("/anyio/", "/threading.py", "/queue.py",
                                               "/concurrent/")),
    ("ASGI server and event loop (uvicorn, asyncio)", ("/uvicorn/", "/asyncio/", "/uvloop/",
                                                       "/httptools/")),
    ("service code", ("/src/user_service/", "/src/order_service/", "/src/service_kit/",
                      "/peer_app.py", "/baseline_app.py")),
]  # fmt: skip


def layer_of(frames: list[str]) -> str:
    """The layer of the innermost frame (the last) that belongs to one."""
    for frame in reversed(frames):
        for layer, marks in LAYERS:
            if any(mark in frame for mark in marks):
                return layer
    return "other"


def summarize(collapsed: str, top: int = 12) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        layers[layer_of(stack.split(";"))] += count
        frames = [_FRAME.match(f) for f in stack.split(";")]
        comps = {component(m.group("path")) for m in frames if m}
        for comp in comps:
            inclusive[comp] += count
        if frames and (leaf := frames[-1]):
            path = leaf.group("path")
            leaves[f"{leaf.group('func')} ({component(path)}:{Path(path).name})"] += count

    def share(counter: Counter[str]) -> list[list[object]]:
        return (
            [[k, round(100 * v / total, 1)] for k, v in counter.most_common(top)] if total else []
        )

    return {
        "samples": total,
        "components_inclusive_pct": share(inclusive),
        "leaf_self_pct": share(leaves),
        "layers_pct": share(layers),
    }


def render(summaries: dict[str, Any]) -> str:
    lines: list[str] = []
    for proc, summary in summaries.items():
        lines.append(
            f"{proc}: {summary['samples']} samples (samples holding the GIL: Python CPU time)"
        )
        lines.append("  inclusive by component: " + ", ".join(
            f"{name} {pct}%" for name, pct in summary["components_inclusive_pct"]
        ))  # fmt: skip
        lines.append("  by layer (innermost known frame): " + ", ".join(
            f"{name} {pct}%" for name, pct in summary.get("layers_pct", [])
        ))  # fmt: skip
        lines.append("  self time, top functions:")
        lines += [f"    {pct:5.1f}%  {name}" for name, pct in summary["leaf_self_pct"]]
    return "\n".join(lines)
