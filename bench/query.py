"""Requests/s of a simple GraphQL query beside a plain Starlette JSON route, in the same server.

Each setup starts a server, fills it with a few machines and drives it with wrk (Debian package `wrk`)
from a separate process, so client and server do not share an interpreter. `GET /healthz` never
authenticates; it is the same server's ceiling for a plain route. The setups:

- `kilowatch serve` (uvloop + httptools, Strawberry's ParserCache and ValidationCache on) on embedded
  SQLite and on PostgreSQL in a scratch database, authentication off and on (a bearer token on every
  request), one process;
- the same on PostgreSQL with Redis, authentication on, `--workers 2` (production mode);
- yardsticks, since this machine's speed drifts by a third within minutes: Strawberry's defaults
  (bench/strawberry_defaults.py) answering from a fixed list, and, right after Kilowatch on each
  database, reading the same rows with SQLAlchemy's defaults. `× list` divides each query rate by the
  fixed-list yardstick, `× same db` by the yardstick of its database.

    python bench/query.py [--duration 10] [--connections 32] [--threads 1] [--machines 5]
                          [--database sqlite postgres] [--auth off on] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.strawberry_defaults import FIXED as FIXED_MACHINES  # noqa: E402
from tests.support import ADMIN_DSN, scratch_postgres_database  # noqa: E402

QUERY = "{ machines { id name } }"
QUERY_BODY = json.dumps({"query": QUERY})
LUA = """wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
"""
REDIS_BENCH_DB = 14  # a Redis database of its own; the servers only publish and rate-limit there
AUTHORIZATION_LUA = 'wrk.headers["Authorization"] = "Bearer %s"\n'


@dataclass(frozen=True)
class Setup:
    label: str
    database: str
    auth: str
    workers: int = 1
    yardstick: bool = False


@dataclass(frozen=True)
class Row:
    setup: Setup
    route: str
    rate: float
    p99: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def kilowatch(environment: dict[str, str], *arguments: str) -> str:
    """Run a ``kilowatch`` subcommand; returns its standard output."""
    command = [sys.executable, "-m", "app.cli", *arguments]
    return subprocess.run(command, env=environment, cwd=REPO, check=True, capture_output=True, text=True).stdout


@contextmanager
def server(command: list[str], environment: dict[str, str], port: int) -> Iterator[str]:
    process = subprocess.Popen(command, env=environment, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


def seed(base: str, machines: int, headers: dict[str, str]) -> None:
    for index in range(machines):
        response = httpx.post(
            f"{base}/graphql",
            json={"query": f'mutation {{ registerMachine(name: "m{index}") {{ id }} }}'},
            headers=headers,
        )
        response.raise_for_status()
        assert "errors" not in response.json(), response.text


def check_query(base: str, headers: dict[str, str], machines: int) -> None:
    """The measured request must really answer with the machines, not with an error."""
    response = httpx.post(
        f"{base}/graphql", content=QUERY_BODY, headers={**headers, "content-type": "application/json"}
    )
    body = response.json()
    assert "errors" not in body and len(body["data"]["machines"]) == machines, response.text


def run_wrk(url: str, duration: int, connections: int, threads: int, script: Path | None) -> tuple[float, str]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} failed responses during the run")
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)  # the latency distribution, not a thread stat
    return rate, p99.group(1) if p99 else "?"


def drive(setup: Setup, base: str, script: Path, arguments: argparse.Namespace) -> list[Row]:
    """Warm both routes up, then measure the plain route and the GraphQL query one after the other."""
    duration, connections, threads = arguments.duration, arguments.connections, arguments.threads
    run_wrk(f"{base}/healthz", 2, connections, threads, None)
    run_wrk(f"{base}/graphql", 2, connections, threads, script)
    plain = run_wrk(f"{base}/healthz", duration, connections, threads, None)
    graphql = run_wrk(f"{base}/graphql", duration, connections, threads, script)
    return [Row(setup, "GET /healthz (plain Starlette JSON)", *plain), Row(setup, f"POST /graphql {QUERY}", *graphql)]


def measure_yardstick(
    label: str, database: str, database_url: str | None, arguments: argparse.Namespace, directory: Path
) -> list[Row]:
    """Strawberry's defaults on the database a Kilowatch setup has just filled, or on a fixed list."""
    port = free_port()
    script = directory / "graphql-defaults.lua"
    script.write_text(LUA % QUERY_BODY)
    command = [sys.executable, str(REPO / "bench" / "strawberry_defaults.py"), str(port)]
    with server([*command, *([database_url] if database_url else [])], dict(os.environ), port) as base:
        check_query(base, {}, arguments.machines if database_url else len(FIXED_MACHINES))
        return drive(Setup(label, database, "off", yardstick=True), base, script, arguments)


def measure(setup: Setup, database_url: str, arguments: argparse.Namespace, directory: Path) -> list[Row]:
    environment = {
        **os.environ,
        "KILOWATCH_DATABASE_URL": database_url,
        "KILOWATCH_LOG_LEVEL": "WARNING",
        "KILOWATCH_AUTH": setup.auth,
    }
    if setup.workers > 1:
        environment["KILOWATCH_REDIS_URL"] = f"redis://127.0.0.1:6379/{REDIS_BENCH_DB}"
    headers: dict[str, str] = {}
    lua = LUA % QUERY_BODY
    if setup.auth == "on":
        kilowatch(environment, "migrate")
        secret = kilowatch(environment, "token", "create", "--name", "bench", "--role", "operator").splitlines()[-1]
        headers = {"Authorization": f"Bearer {secret}"}
        lua += AUTHORIZATION_LUA % secret
    script = directory / f"graphql-{setup.database}-{setup.auth}-{setup.workers}.lua"
    script.write_text(lua)
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(setup.workers)]
    with server(command, environment, port) as base:
        seed(base, arguments.machines, headers)
        check_query(base, headers, arguments.machines)
        rows = drive(setup, base, script, arguments)
    if setup.auth == arguments.auth[0] and setup.workers == 1:
        rows += measure_yardstick(
            f"Strawberry defaults, {setup.database}", setup.database, database_url, arguments, directory
        )
    return rows


async def measure_postgres(setups: list[Setup], arguments: argparse.Namespace, directory: Path) -> list[Row]:
    rows = []
    for setup in setups:
        async with scratch_postgres_database() as database_url:
            rows += measure(setup, database_url, arguments, directory)
    return rows


def setups_of(arguments: argparse.Namespace) -> list[Setup]:
    chosen = []
    for database in arguments.database:
        for auth in arguments.auth:
            chosen.append(Setup(f"{database}, auth {auth}", database, auth))
    if "postgres" in arguments.database:
        chosen += [
            Setup(f"postgres+redis, auth on, {workers} processes", "postgres", "on", workers)
            for workers in arguments.workers
            if workers > 1
        ]
    return chosen


def report(rows: list[Row], arguments: argparse.Namespace) -> None:
    print(f"{arguments.connections} connections, {arguments.duration} s each, {arguments.machines} machines")
    if "postgres" in arguments.database:
        print(f"PostgreSQL at {ADMIN_DSN.rsplit('@', 1)[-1]}")
    yardsticks = {row.setup.database: row.rate for row in rows if row.setup.yardstick and row.route.startswith("POST")}
    fixed_list = yardsticks["none"]
    print(f"{'server':<40}{'route':<42}{'requests/s':>12}{'p99':>10}{'of plain':>10}{'× list':>8}{'× same db':>11}")
    plain_rate = 0.0
    for row in rows:
        plain_rate = row.rate if row.route.startswith("GET") else plain_rate
        share = f"{row.rate / plain_rate:.0%}"
        query = row.route.startswith("POST")
        same_db = yardsticks.get(row.setup.database)
        of_list = f"{row.rate / fixed_list:.2f}" if query else ""
        of_same_db = f"{row.rate / same_db:.2f}" if query and same_db and row.setup.database != "none" else ""
        print(
            f"{row.setup.label:<40}{row.route:<42}{row.rate:>12,.0f}{row.p99:>10}{share:>10}{of_list:>8}{of_same_db:>11}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--machines", type=int, default=5)
    parser.add_argument("--database", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("--auth", nargs="+", choices=["off", "on"], default=["off", "on"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2], help="process counts on postgres+redis")
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    setups = setups_of(arguments)
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        rows = measure_yardstick("Strawberry defaults, fixed list", "none", None, arguments, directory)
        for setup in setups:
            if setup.database == "sqlite":
                rows += measure(
                    setup, f"sqlite+aiosqlite:///{directory / f'bench-{setup.auth}.db'}", arguments, directory
                )
        rows += asyncio.run(
            measure_postgres([setup for setup in setups if setup.database == "postgres"], arguments, directory)
        )
    report(rows, arguments)


if __name__ == "__main__":
    main()
