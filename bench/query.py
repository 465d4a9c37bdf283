"""Requests/s of a simple GraphQL query beside a plain Starlette JSON route, in the same server.

Starts `kilowatch serve` (uvloop + httptools, Strawberry's ParserCache and ValidationCache on) on an
embedded SQLite database with a few machines, then drives it with wrk (Debian package `wrk`) from a
separate process, so client and server do not share an interpreter.

    python bench/query.py [--duration 10] [--connections 32] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
QUERY_BODY = '{"query": "{ machines { id name } }"}'
LUA = """wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(directory: Path, port: int) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "KILOWATCH_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'bench.db'}",
        "KILOWATCH_LOG_LEVEL": "WARNING",
        "KILOWATCH_AUTH": "off",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=environment,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(base: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


def seed(base: str, machines: int) -> None:
    for index in range(machines):
        response = httpx.post(
            f"{base}/graphql", json={"query": f'mutation {{ registerMachine(name: "m{index}") {{ id }} }}'}
        )
        response.raise_for_status()


def run_wrk(url: str, duration: int, connections: int, threads: int, script: Path | None) -> tuple[float, str]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", output)
    return rate, p99.group(1) if p99 else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--machines", type=int, default=5)
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as directory:
        server = start_server(Path(directory), port)
        try:
            wait_ready(base)
            seed(base, arguments.machines)
            script = Path(directory) / "graphql.lua"
            script.write_text(LUA % QUERY_BODY)
            run_wrk(f"{base}/healthz", 2, arguments.connections, arguments.threads, None)  # warm-up
            plain, plain_p99 = run_wrk(
                f"{base}/healthz", arguments.duration, arguments.connections, arguments.threads, None
            )
            graphql, graphql_p99 = run_wrk(
                f"{base}/graphql", arguments.duration, arguments.connections, arguments.threads, script
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{arguments.connections} connections, {arguments.duration} s each, {arguments.machines} machines")
    print(f"{'route':<44}{'requests/s':>12}{'p99':>10}")
    print(f"{'GET /healthz (plain Starlette JSON)':<44}{plain:>12,.0f}{plain_p99:>10}")
    print(f"{'POST /graphql { machines { id name } }':<44}{graphql:>12,.0f}{graphql_p99:>10}")
    print(f"GraphQL / plain: {graphql / plain:.0%}")


if __name__ == "__main__":
    main()
