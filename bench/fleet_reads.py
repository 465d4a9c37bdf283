"""The dashboard's reads under load, for ``bench/fleet.py``: wrk with a Lua script of real request bodies.

The GraphQL documents are the dashboard's own, read from its page modules (``bench.soak``'s
``dashboard_operations``), so the load is what browsers send. Each request body is drawn at random
from a pool built once: an operation by the weights below, a random series of the fleet as its
variables. wrk (a C load generator, far lighter than a Python client on a 2-core machine) keeps the
connections alive and measures latency; the Lua script counts every non-200 answer and every answer
carrying GraphQL ``errors`` as an error.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The read mix of an energy manager going through the dashboard: the fleet page, a model's page and its
#: trend and drift tabs, the alerts page and the A/B page.
READ_WEIGHTS = {"Fleet": 30, "ModelPage": 25, "Trend": 15, "DriftReports": 10, "Alerts": 10, "AbTests": 10}
#: Distinct request bodies the script draws from.
POOL_SIZE = 2_000
#: Pause after a run: requests wrk abandoned when its time was up are still being answered.
SETTLE_S = 5.0
VARIABLE = re.compile(r"\$(\w+)\s*:\s*([\w\[\]!]+)(\s*=)?")

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local bodies = dofile("%(bodies)s")
local threads = {}
local requests = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("seed", #threads)
end

function init(args)
  errors = 0
  math.randomseed(seed * 7919)
  for i, body in ipairs(bodies) do requests[i] = wrk.format(nil, "/graphql", nil, body) end
end

function request()
  return requests[math.random(#requests)]
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
    if errors == 1 then example = status .. " " .. string.gsub(string.sub(body, 1, 300), "%%s+", " ") end
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("errors")
    local seen = thread:get("example")
    if seen then io.write("EXAMPLE " .. seen .. "\\n") end
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%.0f, "duration_us": %%.0f, "p50_us": %%.0f, "p99_us": %%.0f, "max_us": %%.0f, '
    .. '"errors": %%.0f, "socket_errors": %%.0f}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    failed, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class LoadResult:
    label: str
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    #: The first error answer (status and the start of its body), to say what the errors were.
    example: str = ""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def variables_for(name: str, document: str, machine_id: str, model_type: str) -> dict[str, Any]:
    """The variables the page sends, for the variables ``document`` declares; an unknown required one stops the run."""
    known: dict[str, Any] = {
        "machineId": machine_id,
        "modelType": model_type,
        "days": 90,
        "limit": 200 if name == "Alerts" else 20,
        "status": ["OPEN", "ACKNOWLEDGED"],
    }
    header = document.split("{", 1)[0]
    chosen = {}
    for variable, kind, default in VARIABLE.findall(header):
        if variable in known:
            chosen[variable] = known[variable]
        elif kind.endswith("!") and not default:
            raise SystemExit(f"the dashboard's {name} now requires ${variable}; teach bench/fleet_reads.py its value")
    return chosen


def request_pool(
    operations: dict[str, str], series: list[tuple[str, str]], weights: dict[str, int], seed: int = 0
) -> list[str]:
    """``POOL_SIZE`` JSON bodies: operations drawn by ``weights``, each on a random series of the fleet."""
    missing = [name for name in weights if name not in operations]
    if missing:
        raise SystemExit(f"the dashboard has no operation {', '.join(missing)} any more")
    chooser = random.Random(seed)
    names = chooser.choices(list(weights), weights=list(weights.values()), k=POOL_SIZE)
    bodies = []
    for name in names:
        machine_id, model_type = chooser.choice(series)
        variables = variables_for(name, operations[name], machine_id, model_type)
        bodies.append(json.dumps({"query": operations[name], "variables": variables}))
    return bodies


def lua_table(bodies: list[str]) -> str:
    """A Lua chunk returning the bodies as long-bracket strings (no escaping needed)."""
    assert not any("]====]" in body for body in bodies)
    return "return {\n" + ",\n".join(f"[====[{body}]====]" for body in bodies) + "\n}\n"


def run_wrk(
    base: str, token: str, bodies: list[str], label: str, connections: int, seconds: float, threads: int = 2
) -> LoadResult:
    """``connections`` keep-alive connections for ``seconds``; latency percentiles as wrk measures them."""
    with tempfile.TemporaryDirectory(prefix="kilowatch-fleet-wrk-") as directory:
        pool = Path(directory) / "bodies.lua"
        pool.write_text(lua_table(bodies))
        script = Path(directory) / "dashboard.lua"
        script.write_text(LUA % {"token": token, "bodies": pool})
        command = [
            "wrk",
            f"-t{min(threads, connections)}",
            f"-c{connections}",
            f"-d{seconds:.0f}s",
            "--timeout",
            "60s",
            "-s",
            str(script),
            f"{base}/graphql",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    found = json.loads(lines[-1].removeprefix("RESULT "))
    time.sleep(SETTLE_S)
    return LoadResult(
        label=label,
        connections=connections,
        requests=int(found["requests"]),
        seconds=found["duration_us"] / 1e6,
        p50_ms=found["p50_us"] / 1000,
        p99_ms=found["p99_us"] / 1000,
        max_ms=found["max_us"] / 1000,
        errors=int(found["errors"]) + int(found["socket_errors"]),
        example=next(
            (line.removeprefix("EXAMPLE ") for line in done.stdout.splitlines() if line.startswith("EXAMPLE ")), ""
        ),
    )
