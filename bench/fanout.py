"""Publish-to-receipt latency of live alerts for N websocket subscribers (issue: one Redis subscription
per API process, fanned out in-process).

Starts PostgreSQL-backed `kilowatch serve` in production mode (a scratch database, its own Redis DB),
opens N graphql-transport-ws connections subscribed to `alertRaised`, then, acting as a worker (a
separate connection to Redis and PostgreSQL), raises alerts and publishes them. Latency is measured
from just before the publish to the moment each client has parsed the message.

    python bench/fanout.py [--clients 1 100 1000] [--events 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.config import Settings  # noqa: E402
from app.constants import ALERTS_CHANNEL  # noqa: E402
from app.db import transaction  # noqa: E402
from app.enums import AlertType, ModelType, Severity  # noqa: E402
from app.migrate import upgrade_to_head  # noqa: E402
from app.resources import Resources, open_resources  # noqa: E402
from app.services import alerts, machines  # noqa: E402
from app.services.snapshots import snapshot  # noqa: E402
from tests.support import scratch_postgres_database  # noqa: E402
from tests.websocket_client import GraphQLSocket  # noqa: E402

SUBSCRIPTION = "subscription($m: UUID) { alertRaised(machineId: $m) { id } }"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def publish(resources: Resources, machine_id: uuid.UUID, number: int) -> float:
    async with transaction(resources.sessions) as session:
        raised = await alerts.raise_alert(
            session,
            machine_id=machine_id,
            model_type=ModelType.BASELINE,
            alert_type=AlertType.DRIFT,
            severity=Severity.INFO,
            message=f"bench {number}",
        )
        # Resolve at once, so the next round raises a new alert instead of folding into this one.
        await alerts.resolve(session, raised.alert.id, "benchmark", "bench")
    started = time.perf_counter()
    await resources.events.publish(ALERTS_CHANNEL, snapshot(raised.alert))
    return started


async def receipt(client: GraphQLSocket, published: float) -> float:
    message = await client.receive()
    assert message["type"] == "next", json.dumps(message)[:300]
    return time.perf_counter() - published


async def measure(url: str, resources: Resources, machine_id: uuid.UUID, clients: int, events: int) -> list[float]:
    sockets = [GraphQLSocket(url) for _ in range(clients)]
    for start in range(0, clients, 100):
        await asyncio.gather(*(s.__aenter__() for s in sockets[start : start + 100]))
    try:
        await asyncio.gather(*(s.subscribe(SUBSCRIPTION, {"m": str(machine_id)}) for s in sockets))
        await asyncio.sleep(1.0)
        latencies: list[float] = []
        for number in range(events):
            started = await publish(resources, machine_id, number)

            latencies += await asyncio.wait_for(asyncio.gather(*(receipt(s, started) for s in sockets)), timeout=60)
            await asyncio.sleep(0.2)
        return latencies
    finally:
        await asyncio.gather(*(s.__aexit__(None, None, None) for s in sockets), return_exceptions=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--events", type=int, default=20)
    arguments = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    redis_url = f"redis://127.0.0.1:6379/{random.randrange(1, 16)}"
    async with scratch_postgres_database() as database_url:
        await upgrade_to_head(database_url)
        port = free_port()
        environment = {
            **os.environ,
            "KILOWATCH_DATABASE_URL": database_url,
            "KILOWATCH_REDIS_URL": redis_url,
            "KILOWATCH_AUTH": "off",
            "KILOWATCH_LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=REPO,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for _ in range(300):
                    try:
                        if (await client.get("/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
            async with open_resources(Settings(database_url=database_url, redis_url=redis_url)) as resources:
                async with transaction(resources.sessions) as session:
                    machine_id = (await machines.register(session, "fanout-bench")).id
                print(f"{'clients':>8}{'events':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
                for clients in arguments.clients:
                    latencies = await measure(
                        f"ws://127.0.0.1:{port}/graphql", resources, machine_id, clients, arguments.events
                    )
                    ordered = sorted(latencies)
                    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
                    print(
                        f"{clients:>8}{arguments.events:>8}{statistics.median(ordered) * 1000:>10.1f}"
                        f"{p99 * 1000:>10.1f}{ordered[-1] * 1000:>10.1f}"
                    )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
