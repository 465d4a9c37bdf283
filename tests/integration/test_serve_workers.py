"""`kilowatch serve --workers N`: several API processes on one port, in production mode only."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.db.migrate import upgrade_to_head
from tests.faults import REPO, free_port, kilowatch_environment, kilowatch_process
from tests.support import data_of, scratch_postgres_database, scratch_redis

REGISTER = "mutation($n: String!) { registerMachine(name: $n) { id } }"
CALLS = 40
OK_MUTATIONS = re.compile(r'kilowatch_graphql_operations_total\{operation_type="mutation",outcome="ok"\} (\S+)')


def worker_processes(parent: int) -> list[int]:
    """The children of ``parent`` that serve requests (uvicorn spawns them with multiprocessing)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        if ppid == parent and b"multiprocessing.spawn" in command:
            found.append(int(entry.name))
    return found


@pytest.fixture
async def two_workers(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, int]]:
    async with scratch_postgres_database() as database_url, scratch_redis(database_url) as redis:
        await upgrade_to_head(database_url)
        port = free_port()
        with kilowatch_process(
            ["serve", "--port", str(port), "--workers", "2"],
            kilowatch_environment(database_url, redis),
            tmp_path / "serve.log",
        ) as process:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                for _ in range(300):
                    try:
                        if (await client.get("/readyz")).status_code == 200 and len(worker_processes(process.pid)) == 2:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                yield client, process.pid


async def test_two_processes_serve_one_port_one_database_and_one_metrics_view(
    two_workers: tuple[httpx.AsyncClient, int],
) -> None:
    client, pid = two_workers
    workers = worker_processes(pid)

    async def register(index: int) -> dict[str, object]:
        # A connection per call, so the kernel hands the calls to both processes.
        async with httpx.AsyncClient(base_url=client.base_url, timeout=30) as own:
            response = await own.post("/graphql", json={"query": REGISTER, "variables": {"n": f"press {index}"}})
            return response.json()

    results = await asyncio.gather(*(register(index) for index in range(CALLS)))
    listed = data_of((await client.post("/graphql", json={"query": "{ machines { name } }"})).json())
    scrapes = [(await client.get("/metrics")).text for _ in range(4)]

    assert len(workers) == 2
    assert all("errors" not in result for result in results), results
    assert len(listed["machines"]) == CALLS
    for scrape in scrapes:  # whichever process answers, it counts every process's operations
        mutations = OK_MUTATIONS.search(scrape)
        assert mutations is not None and float(mutations.group(1)) == CALLS, scrape


def test_embedded_mode_refuses_more_than_one_process(tmp_path: Path) -> None:
    environment = kilowatch_environment(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")

    refused = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(free_port()), "--workers", "2"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert refused.returncode == 2
    assert "--workers above 1 needs production mode" in " ".join(refused.stderr.split())
    assert not (tmp_path / "k.db").exists()  # refused before migrating anything
