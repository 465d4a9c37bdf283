"""Publish-to-receipt latency of live alerts for N websocket subscribers (issue: one Redis subscription
per API process, fanned out in-process).

Starts PostgreSQL-backed `kilowatch serve` in production mode (a scratch database, its own Redis DB),
opens N graphql-transport-ws connections subscribed to `alertRaised`, then, acting as a worker (a
separate connection to Redis and PostgreSQL), raises alerts and publishes them one at a time, the next
once every client has the previous one. Latency runs from just before the publish to the moment a
client has parsed the message.

The clients run in processes of their own (`bench/fanout_clients.py`), each parsing a message in the
socket's callback, so that they keep up with the server: with the server's send instants recorded
beside the receipts, the last of 1,000 clients had its message 0.1 ms after the server's last send
(with the test suite's asyncio client, ~20 ms after: that was the client's queueing, not the server).
Once the clients are that cheap, spreading them barely matters on this two-core machine (p99 at 1,000
clients 73-82 ms with one process, 76-77 with two, 73-87 with four, in alternating runs); the default
is one, so the server and the clients each have a core.

    python bench/fanout.py [--clients 1 100 1000] [--events 20] [--client-processes 1]
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
from app.db.engine import transaction  # noqa: E402
from app.db.migrate import upgrade_to_head  # noqa: E402
from app.enums import AlertType, ModelType, Severity  # noqa: E402
from app.runtime.resources import Resources, open_resources  # noqa: E402
from app.services.alerting import alerts  # noqa: E402
from app.services.fleet import machines  # noqa: E402
from app.services.snapshots import snapshot  # noqa: E402
from tests.support import scratch_postgres_database  # noqa: E402

SUBSCRIPTION = "subscription($m: UUID) { alertRaised(machineId: $m) { id } }"
CLIENT_SHARD = Path(__file__).resolve().parent / "fanout_clients.py"
#: Pause between two events, so one event's tail never overlaps the next.
EVENT_GAP_S = 0.2
#: Interval of warm-up alerts while the server still registers subscriptions.
WARM_UP_S = 0.5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def publish(resources: Resources, machine_id: uuid.UUID, number: int) -> tuple[str, float]:
    """Store an alert as a worker does, then publish it: (its id, the monotonic instant just before publishing)."""
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
    started = time.monotonic()
    await resources.events.publish(ALERTS_CHANNEL, snapshot(raised.alert))
    return str(raised.alert.id), started


class Shard:
    """A client process and its JSON-lines conversation."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, url: str, clients: int, variables: dict[str, str]) -> Shard:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(CLIENT_SHARD),
            url,
            str(clients),
            SUBSCRIPTION,
            json.dumps(variables),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**26,  # the final receipts line is long
        )
        return cls(process)

    async def read(self, key: str) -> object:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout=120)
        if not line:
            raise RuntimeError(f"client shard exited ({await self.process.wait()}) before sending {key!r}")
        return json.loads(line)[key]

    async def expect(self, alert_id: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{alert_id}\n".encode())
        await self.process.stdin.drain()

    async def finish(self) -> dict[str, list[float]]:
        await self.expect("")
        receipts = await self.read("receipts")
        assert isinstance(receipts, dict)
        await self.process.wait()
        return receipts

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


async def measure(
    url: str, resources: Resources, machine_id: uuid.UUID, clients: int, events: int, processes: int
) -> list[float]:
    counts = [clients // processes + (1 if index < clients % processes else 0) for index in range(processes)]
    variables = {"m": str(machine_id)}
    shards = [await Shard.start(url, count, variables) for count in counts if count]
    try:
        # Warm-up alerts until every client has one: only then is every subscription live on the server.
        ready = asyncio.gather(*(shard.read("ready") for shard in shards))
        number = 0
        while not ready.done():
            await publish(resources, machine_id, number := number - 1)
            await asyncio.wait([ready], timeout=WARM_UP_S)
        await ready
        await asyncio.sleep(WARM_UP_S)
        published: dict[str, float] = {}
        for number in range(events):
            alert_id, started = await publish(resources, machine_id, number)
            published[alert_id] = started
            for shard in shards:
                await shard.expect(alert_id)
            for shard in shards:
                assert await shard.read("received") == alert_id
            await asyncio.sleep(EVENT_GAP_S)
        latencies = []
        for shard in shards:
            for alert_id, receipts in (await shard.finish()).items():
                if alert_id in published:  # not a warm-up alert
                    latencies += [received - published[alert_id] for received in receipts]
        assert len(latencies) == clients * events, (len(latencies), clients * events)
        return latencies
    finally:
        for shard in shards:
            shard.kill()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--client-processes", type=int, default=1, help="processes the clients are spread over")
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
                print(f"{'clients':>8}{'procs':>7}{'events':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
                for clients in arguments.clients:
                    processes = max(1, min(arguments.client_processes, clients))
                    latencies = await measure(
                        f"ws://127.0.0.1:{port}/graphql", resources, machine_id, clients, arguments.events, processes
                    )
                    ordered = sorted(latencies)
                    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
                    print(
                        f"{clients:>8}{processes:>7}{arguments.events:>8}{statistics.median(ordered) * 1000:>10.1f}"
                        f"{p99 * 1000:>10.1f}{ordered[-1] * 1000:>10.1f}",
                        flush=True,
                    )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
