"""The write and history paths beside MLflow's tracking server, measured side by side in one run.

Both servers run here on PostgreSQL, each in a scratch database of its own created and dropped by
this run: Kilowatch as ``kilowatch serve`` (one process, authentication on, every call carrying an
operator token), MLflow as ``mlflow server`` with its default workers and a PostgreSQL backend store.
One sequential client with a keep-alive connection (``http.client``, the lightest there is, so the
servers' costs dominate) drives both with the same kind of call:

- *write*: ``recordMetrics`` (one evaluation of a series: several metrics, one audit entry) against
  MLflow's ``log_metric`` (``POST /api/2.0/mlflow/runs/log-metric``, one value), calls/s, p50, p99;
- *history*: ``performanceTrend`` of a 10,000-evaluation series, bucketed on the server to 500 points,
  against MLflow's ``get_metric_history`` of a 10,000-point metric (``GET
  /api/2.0/mlflow/metrics/get-history``, which returns every point);
- *cost of a mutation*: a read (``machine(id)``), ``recordMetrics`` and ``acknowledgeAlert`` of an
  unknown id, latencies and the commits each costs (from ``pg_stat_database``).

Beside the writes it times a bare durable INSERT through the driver (autocommit, no server): no
durable write can beat it, so it bounds the ratio any server's write can reach on the host. The trend
is timed answered again (the process keeps what it computed while the series is unchanged) and
computed (a span not asked before).

Measured with ``--calls 1000 --reads 20`` on a 2-core host shared with other work (load average
13–24): ``recordMetrics`` 21.4 ms against ``log_metric`` 13.8 ms p50 (0.65×), the bare durable INSERT
3.2 ms (MLflow 4.2× slower than it: 10× on writes is out of reach there); the 10,000-point history
65 ms answered again and 248 ms computed, against ``get_metric_history`` 2.20 s (33.9× and 8.9×; 10.0×
computed in another run at load 17–21). docs/scaling.md has both runs and where the time goes.

MLflow pins its own graphql-core, so it lives in a virtualenv of its own under /tmp:

    python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow psycopg2-binary
    python bench/mlflow_compare.py [--mlflow /tmp/mlflow-venv/bin/mlflow] [--calls 2000] [--history 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.query import free_port, kilowatch, server  # noqa: E402
from tests.support import ADMIN_DSN, scratch_postgres_database  # noqa: E402

RECORD = "mutation($input: RecordMetricsInput!) { recordMetrics(input: $input) { id } }"  # the answer a logger reads
TREND = (
    "query($m: UUID!, $days: Int) { performanceTrend(machineId: $m, modelType: BASELINE, days: $days)"
    " { evaluatedAt sampleCount rSquared cvRmse nmbe driftScore } }"  # the dashboard's trend chart
)
READ = "query($m: UUID!) { machine(id: $m) { id name } }"
ACKNOWLEDGE = "mutation($id: UUID!) { acknowledgeAlert(id: $id) { id } }"
WARM_UP = 200  # calls on each side before anything is timed
MLFLOW_HINT = "python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow psycopg2-binary"


@dataclass(frozen=True)
class Timing:
    label: str
    seconds: list[float]

    @property
    def rate(self) -> float:
        return len(self.seconds) / sum(self.seconds)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Client:
    """One keep-alive HTTP/1.1 connection; every answer is checked, so an error is never timed as a success."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port)
        self.headers = {"Content-Type": "application/json", **(headers or {})}

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body) if body is not None else None
        try:
            self.connection.request(method, path, data, self.headers)
            response = self.connection.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            self.connection.close()  # the server closed an idle keep-alive connection: open a new one
            self.connection.request(method, path, data, self.headers)
            response = self.connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:300]!r}")
        return json.loads(payload)

    def graphql(self, query: str, variables: dict[str, Any], expect_error: str | None = None) -> Any:
        answer = self.call("POST", "/graphql", {"query": query, "variables": variables})
        codes = [error.get("extensions", {}).get("code") for error in answer.get("errors", [])]
        if codes != ([expect_error] if expect_error else []):
            raise RuntimeError(f"unexpected answer: {json.dumps(answer)[:300]}")
        return answer["data"]


def timed(label: str, count: int, call: Callable[[int], object]) -> Timing:
    seconds = []
    for index in range(count):
        started = time.perf_counter()
        call(index)
        seconds.append(time.perf_counter() - started)
    return Timing(label, seconds)


async def commits(database_url: str) -> int:
    name = database_url.rsplit("/", 1)[-1]
    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        # The statistics of this backend are a snapshot within its transaction; clear it for a fresh read.
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        value = await connection.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", name
        )
    finally:
        await connection.close()
    return int(value)


def transactions_per_call(database_url: str, count: int, call: Callable[[int], object]) -> float:
    """Transactions (commits and rollbacks) the database counted per call; statistics arrive within ~1 s."""
    before = asyncio.run(commits(database_url))
    for index in range(count):
        call(index)
    time.sleep(1.5)
    return (asyncio.run(commits(database_url)) - before) / count


def metrics_input(machine_id: str, index: int) -> dict[str, Any]:
    return {
        "machineId": machine_id,
        "modelType": "BASELINE",
        "sampleCount": 24,
        "rSquared": 0.9 - (index % 7) * 0.01,
        "cvRmse": 0.1 + (index % 5) * 0.01,
        "nmbe": 0.001 * (index % 3),
        "rmse": 1.0 + index % 4,
    }


def interleaved(count: int, block: int, *sides: tuple[str, Callable[[int], object]]) -> tuple[Timing, ...]:
    """All sides in alternating blocks, so a change in the host's load hits each alike."""
    seconds: list[list[float]] = [[] for _ in sides]
    for start in range(0, count, block):
        size = min(block, count - start)
        for (label, call), into in zip(sides, seconds, strict=True):
            into += timed(label, size, lambda index, first=start, call=call: call(first + index)).seconds
    return tuple(Timing(label, taken) for (label, _), taken in zip(sides, seconds, strict=True))


@contextmanager
def durable_insert(database_url: str) -> Iterator[Callable[[int], object]]:
    """One autocommitted single-row INSERT through the bare driver: the least any durable write costs here.

    Each waits for its commit to be flushed to disk (PostgreSQL's default ``synchronous_commit``), as
    both servers' writes do; no server, no GraphQL, no ORM around it.
    """
    loop = asyncio.new_event_loop()
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = loop.run_until_complete(asyncpg.connect(dsn))
    try:
        loop.run_until_complete(connection.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, v float8)"))
        yield lambda index: loop.run_until_complete(
            connection.execute("INSERT INTO bench_floor (v) VALUES ($1)", float(index))
        )
    finally:
        loop.run_until_complete(connection.close())
        loop.close()


@contextmanager
def kilowatch_server(database_url: str) -> Iterator[Client]:
    environment = {**os.environ, "KILOWATCH_DATABASE_URL": database_url, "KILOWATCH_LOG_LEVEL": "WARNING"}
    environment["KILOWATCH_AUTH"] = "on"
    kilowatch(environment, "migrate")
    secret = kilowatch(environment, "token", "create", "--name", "bench", "--role", "operator").splitlines()[-1]
    port = free_port()
    with server([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], environment, port):
        yield Client(port, {"Authorization": f"Bearer {secret}"})


def measure(kilowatch_url: str, mlflow_uri: str, arguments: argparse.Namespace, directory: Path) -> dict[str, Any]:
    with kilowatch_server(kilowatch_url) as client, mlflow_server(arguments.mlflow, mlflow_uri, directory) as port:
        machine_id = client.graphql('mutation { registerMachine(name: "bench press") { id } }', {})["registerMachine"][
            "id"
        ]
        record = lambda index: client.graphql(RECORD, {"input": metrics_input(machine_id, index)})  # noqa: E731
        mlflow = Client(port)
        experiment = mlflow.call("POST", "/api/2.0/mlflow/experiments/create", {"name": "bench"})["experiment_id"]
        run = mlflow.call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": experiment, "start_time": 0})
        run_id = run["run"]["info"]["run_id"]
        stamp = int(time.time() * 1000)

        def log(index: int) -> None:  # every point its own step and timestamp: MLflow keeps each
            body = {"run_id": run_id, "key": "cv_rmse", "value": 0.1 + (index % 5) * 0.01, "timestamp": stamp + index}
            mlflow.call("POST", "/api/2.0/mlflow/runs/log-metric", {**body, "step": index})

        timed("warm-up", WARM_UP, record)
        timed("warm-up", WARM_UP, log)
        with durable_insert(kilowatch_url) as floor:
            timed("warm-up", WARM_UP, floor)
            writes = interleaved(
                arguments.calls,
                100,
                ("Kilowatch recordMetrics", lambda index: record(WARM_UP + index)),
                ("MLflow log_metric", lambda index: log(WARM_UP + index)),
                ("durable INSERT, bare driver", floor),
            )
        for index in range(WARM_UP + arguments.calls, arguments.history):  # the rest of the 10k-point histories
            record(index)
        for start in range(WARM_UP + arguments.calls, arguments.history, 1000):  # log_batch's largest batches
            batch = [
                {"key": "cv_rmse", "value": 0.1, "timestamp": stamp + index, "step": index}
                for index in range(start, min(start + 1000, arguments.history))
            ]
            mlflow.call("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": run_id, "metrics": batch})
        path = f"/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=cv_rmse&max_results=25000"

        def history_call(_: int) -> None:
            metrics = mlflow.call("GET", path)["metrics"]
            assert len(metrics) == arguments.history, len(metrics)

        trend = lambda _: check_trend(client.graphql(TREND, {"m": machine_id, "days": 30}), arguments)  # noqa: E731

        def uncached_trend(index: int) -> None:  # a span never asked before: computed, not answered again
            check_trend(client.graphql(TREND, {"m": machine_id, "days": 1_000 + index}), arguments)

        timed("warm-up", 3, trend)
        timed("warm-up", 3, history_call)
        history = interleaved(
            arguments.reads,
            1,
            ("Kilowatch performanceTrend", trend),
            ("MLflow get_metric_history", history_call),
            ("Kilowatch performanceTrend, computed", uncached_trend),
        )
        read = lambda _: client.graphql(READ, {"m": machine_id})  # noqa: E731
        missing = str(uuid.uuid4())
        unknown = lambda _: client.graphql(ACKNOWLEDGE, {"id": missing}, "NOT_FOUND")  # noqa: E731
        costs = interleaved(arguments.calls, 100, ("read machine(id)", read), ("acknowledgeAlert, unknown id", unknown))
        per_call = {
            "read machine(id)": transactions_per_call(kilowatch_url, 200, read),
            "recordMetrics": transactions_per_call(kilowatch_url, 200, lambda index: record(arguments.history + index)),
            "acknowledgeAlert, unknown id": transactions_per_call(kilowatch_url, 200, unknown),
        }
        version = subprocess.run(
            [arguments.mlflow, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    return {
        "writes": writes,
        "history": history,
        "costs": (costs[0], writes[0], costs[1]),
        "per_call": per_call,
        "version": version,
    }


def check_trend(data: dict[str, Any], arguments: argparse.Namespace) -> None:
    points = data["performanceTrend"]
    assert len(points) == arguments.points, len(points)
    assert sum(point["sampleCount"] for point in points) == 24 * arguments.history


@contextmanager
def mlflow_server(executable: str, backend_uri: str, directory: Path) -> Iterator[int]:
    port = free_port()
    command = [
        executable,
        "server",
        "--backend-store-uri",
        backend_uri,
        "--default-artifact-root",
        str(directory / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = (directory / "mlflow.log").open("w")
    # Its own session: the server forks uvicorn workers and a job runner, all ended with it below.
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 600  # its workers import a lot; on a busy host that takes minutes
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(directory / 'mlflow.log').read_text()[-2000:]}")
            try:  # ready once the store answers (each worker sets its backend store up on start)
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/api/2.0/mlflow/experiments/search?max_results=1")
                if connection.getresponse().status == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("mlflow server did not become ready")
        yield port
    finally:
        end_group(process)


def end_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL to whatever is left of it after 30 s."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # workers that outlived their parent


async def scratch_databases(arguments: argparse.Namespace) -> dict[str, Any]:
    async with scratch_postgres_database() as kilowatch_url, scratch_postgres_database() as mlflow_url:
        with tempfile.TemporaryDirectory() as name:
            backend = mlflow_url.replace("postgresql+asyncpg://", "postgresql+psycopg2://", 1)
            return await asyncio.to_thread(measure, kilowatch_url, backend, arguments, Path(name))


def line(timing: Timing) -> str:
    return (
        f"{timing.label:<34}{timing.rate:>10,.0f}/s{timing.quantile(0.5) * 1000:>9.2f} ms"
        f"{timing.quantile(0.99) * 1000:>9.2f} ms"
    )


def report(results: dict[str, Any], arguments: argparse.Namespace) -> None:
    ours, theirs, floor = results["writes"]
    print(f"{results['version']}; PostgreSQL at {ADMIN_DSN.rsplit('@', 1)[-1]}; one sequential keep-alive client")
    print(f"{'':<34}{'calls':>12}{'p50':>12}{'p99':>12}")
    print(f"-- write, {arguments.calls} calls each, alternating blocks of 100")
    print(line(ours))
    print(line(theirs))
    print(line(floor))
    print(f"   ratio (calls/s): {ours.rate / theirs.rate:.2f}×")
    print(f"   bare durable INSERT against MLflow: {floor.rate / theirs.rate:.2f}× (the bound on any durable write)")
    ours, theirs, computed = results["history"]
    print(f"-- history of {arguments.history:,} points, {arguments.reads} calls each, alternating;")
    print(f"   ours bucketed to {arguments.points} points on the server, MLflow's every point;")
    print("   'computed': a span not asked before, so bucketed again rather than answered from the process's cache")
    print(line(ours))
    print(line(theirs))
    print(line(computed))
    median = theirs.quantile(0.5)
    print(f"   ratio (p50): {median / ours.quantile(0.5):.2f}×, computed {median / computed.quantile(0.5):.2f}×")
    print("-- cost of a call (Kilowatch)")
    for timing in results["costs"]:
        print(line(timing))
    for label, value in results["per_call"].items():
        print(f"   {label}: {value:.2f} transactions per call (pg_stat_database)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mlflow", default="/tmp/mlflow-venv/bin/mlflow", help="the mlflow executable of its venv")
    parser.add_argument("--calls", type=int, default=2000, help="measured write calls on each side")
    parser.add_argument("--history", type=int, default=10_000, help="points of the history read")
    parser.add_argument("--reads", type=int, default=30, help="measured history reads on each side")
    parser.add_argument("--points", type=int, default=500, help="the server's max_trend_points (its default)")
    arguments = parser.parse_args()
    if not Path(arguments.mlflow).exists():
        sys.exit(f"MLflow not found at {arguments.mlflow}: {MLFLOW_HINT}")
    report(asyncio.run(scratch_databases(arguments)), arguments)


if __name__ == "__main__":
    main()
