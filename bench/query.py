"""Requests/s of a simple GraphQL query beside a plain Starlette JSON route, in the same server.

For each database (embedded SQLite, and PostgreSQL in a scratch database) and each authentication
mode (off, and on with a bearer token on every request), starts `kilowatch serve` (uvloop +
httptools, Strawberry's ParserCache and ValidationCache on) with a few machines, then drives it with
wrk (Debian package `wrk`) from a separate process, so client and server do not share an interpreter.
`GET /healthz` never authenticates; it is the same process's ceiling for a plain route.

    python bench/query.py [--duration 10] [--connections 32] [--threads 1]
                          [--database sqlite postgres] [--auth off on]
"""

from __future__ import annotations

import argparse
import asyncio
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

from tests.support import ADMIN_DSN, scratch_postgres_database  # noqa: E402

QUERY_BODY = '{"query": "{ machines { id name } }"}'
LUA = """wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
"""
AUTHORIZATION_LUA = 'wrk.headers["Authorization"] = "Bearer %s"\n'


@dataclass(frozen=True)
class Row:
    database: str
    auth: str
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
def server(environment: dict[str, str]) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=environment,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_ready(base: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
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
    p99 = re.search(r"99%\s+(\S+)", output)
    return rate, p99.group(1) if p99 else "?"


def measure(database_url: str, database: str, auth: str, arguments: argparse.Namespace, directory: Path) -> list[Row]:
    environment = {
        **os.environ,
        "KILOWATCH_DATABASE_URL": database_url,
        "KILOWATCH_LOG_LEVEL": "WARNING",
        "KILOWATCH_AUTH": auth,
    }
    headers: dict[str, str] = {}
    lua = LUA % QUERY_BODY
    if auth == "on":
        kilowatch(environment, "migrate")
        secret = kilowatch(environment, "token", "create", "--name", "bench", "--role", "operator").splitlines()[-1]
        headers = {"Authorization": f"Bearer {secret}"}
        lua += AUTHORIZATION_LUA % secret
    script = directory / f"graphql-{database}-{auth}.lua"
    script.write_text(lua)
    duration, connections, threads = arguments.duration, arguments.connections, arguments.threads
    with server(environment) as base:
        seed(base, arguments.machines, headers)
        check_query(base, headers, arguments.machines)
        run_wrk(f"{base}/healthz", 2, connections, threads, None)  # warm-up
        run_wrk(f"{base}/graphql", 2, connections, threads, script)  # warm-up
        plain = run_wrk(f"{base}/healthz", duration, connections, threads, None)
        graphql = run_wrk(f"{base}/graphql", duration, connections, threads, script)
    return [
        Row(database, auth, "GET /healthz (plain Starlette JSON)", *plain),
        Row(database, auth, "POST /graphql { machines { id name } }", *graphql),
    ]


async def measure_postgres(arguments: argparse.Namespace, directory: Path) -> list[Row]:
    rows = []
    for auth in arguments.auth:
        async with scratch_postgres_database() as database_url:
            rows += measure(database_url, "postgres", auth, arguments, directory)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--machines", type=int, default=5)
    parser.add_argument("--database", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("--auth", nargs="+", choices=["off", "on"], default=["off", "on"])
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        for database in arguments.database:
            if database == "sqlite":
                for auth in arguments.auth:
                    rows += measure(
                        f"sqlite+aiosqlite:///{directory / f'bench-{auth}.db'}", database, auth, arguments, directory
                    )
            else:
                rows += asyncio.run(measure_postgres(arguments, directory))
    print(f"{arguments.connections} connections, {arguments.duration} s each, {arguments.machines} machines")
    if "postgres" in arguments.database:
        print(f"PostgreSQL at {ADMIN_DSN.rsplit('@', 1)[-1]}")
    print(f"{'database':<10}{'auth':<6}{'route':<42}{'requests/s':>12}{'p99':>10}{'of plain':>10}")
    plain_rate = 0.0
    for row in rows:
        plain_rate = row.rate if row.route.startswith("GET") else plain_rate
        share = f"{row.rate / plain_rate:.0%}" if plain_rate else ""
        print(f"{row.database:<10}{row.auth:<6}{row.route:<42}{row.rate:>12,.0f}{row.p99:>10}{share:>10}")


if __name__ == "__main__":
    main()
