"""Drive an HTTP endpoint with ``wrk`` (Debian's package), one request body per request, from files.

Why wrk: on a two-core machine a Python client spends about as much CPU per request as the server
it measures, so a second server worker has no core to run on. wrk is C: a few microseconds of CPU
per request, and the servers get the cores. Each wrk thread reads its own file of request bodies
(one per line) and sends each body once, in order; a body used twice would be a refused replay
(a spent hash), which the run counts and reports.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = """
local files_prefix = "%(prefix)s"
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local bodies = {}
local next_body = 1
function init(args)
  for line in io.lines(files_prefix .. tid .. ".txt") do bodies[#bodies + 1] = line end
end
function request()
  local body = bodies[next_body]
  next_body = next_body + 1
  if next_body > #bodies then next_body = 1 end
  return wrk.format("POST", nil, nil, body)
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class WrkRun:
    """What wrk measured."""

    requests: int
    rate: float
    """Requests per second."""
    p50_ms: float
    p99_ms: float
    refused: int
    """Responses that were not 2xx/3xx."""
    seconds: float


def _latency(text: str, label: str) -> float:
    match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk printed no {label}% latency:\n{text}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run(
    url: str,
    bodies: Sequence[Sequence[bytes]],
    *,
    connections: int,
    seconds: float,
    headers: dict[str, str] | None = None,
) -> WrkRun:
    """POST the bodies to ``url`` with one wrk thread per entry of ``bodies`` and ``connections`` in all."""
    with tempfile.TemporaryDirectory(prefix="esign-wrk-") as tmp:
        prefix = str(Path(tmp) / "bodies-")
        for n, thread_bodies in enumerate(bodies):
            Path(f"{prefix}{n}.txt").write_bytes(b"\n".join(thread_bodies) + b"\n")
        script = Path(tmp) / "bodies.lua"
        script.write_text(_SCRIPT % {"prefix": prefix})
        cmd = [
            "wrk",
            "-t",
            str(len(bodies)),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
        ]
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            cmd += ["-H", f"{name}: {value}"]
        done = subprocess.run([*cmd, url], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        out = done.stdout
    total = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s)", out, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    if total is None or rate is None:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    refused = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return WrkRun(
        requests=int(total.group(1)),
        rate=float(rate.group(1)),
        p50_ms=_latency(out, "50"),
        p99_ms=_latency(out, "99"),
        refused=int(refused.group(1)) if refused else 0,
        seconds=float(total.group(2)) * _UNITS[total.group(3)] / 1000,
    )
