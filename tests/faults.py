"""Fault injection owned by the tests: a TCP proxy whose link can be cut and restored, and a private Redis.

Nothing here touches the shared PostgreSQL or Redis servers: an outage is the proxy refusing and dropping
connections in front of PostgreSQL, and a Redis restart is a ``redis-server`` of the test's own on a port of
its own, stopped and started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; ``cut()`` is the target going away, ``restore()`` it coming back.

    While cut, every open connection is dropped and new ones are accepted and closed at once, which is
    what a client sees from a server that restarts: resets, then refused handshakes.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.up = True

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if not self.up:
            client_writer.close()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.close()
            return
        self._links |= {client_writer, server_writer}
        try:
            await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))
        finally:
            for writer in (client_writer, server_writer):
                self._links.discard(writer)
                writer.close()

    def cut(self) -> None:
        self.up = False
        for writer in list(self._links):
            transport = writer.transport
            with contextlib.suppress(OSError):
                # close with a reset, as the kernel of a server that died does
                reset = struct.pack("ii", 1, 0)
                transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset)
            transport.abort()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65_536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()


@asynccontextmanager
async def proxied(database_url: str) -> AsyncIterator[tuple[str, TcpProxy]]:
    """``database_url`` rewritten to reach its server through a ``TcpProxy`` the caller can cut."""
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    try:
        yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    finally:
        await proxy.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A ``redis-server`` of the test's own (no persistence, like the compose service), restartable at will."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is needed for the Redis fault tests"
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self._directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def ready(self, timeout_s: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                assert asyncio.get_running_loop().time() < deadline, "redis-server did not start"
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None


def kilowatch_environment(database_url: str, settings: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a test's ``kilowatch`` process: embedded mode (no Redis), access control off, no
    retraining schedule, unless ``settings`` says otherwise (a ``KILOWATCH_REDIS_URL`` there: production mode).
    """
    environment = {
        **os.environ,
        "KILOWATCH_DATABASE_URL": database_url,
        "KILOWATCH_AUTH": "off",
        "KILOWATCH_RETRAIN_SCHEDULE": "off",
    }
    environment.pop("KILOWATCH_REDIS_URL", None)
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)  # ``serve --workers`` sets up its own
    return {**environment, **(settings or {})}


@contextmanager
def kilowatch_process(
    arguments: Sequence[str], environment: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``kilowatch <arguments>`` with ``environment``, its output appended to ``log``.

    A test may stop or kill the process itself; otherwise it is terminated on exit (killed after 30 s).
    """
    with log.open("ab") as output:  # the child keeps its own handle
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *arguments],
            cwd=REPO,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()


@contextmanager
def embedded_server(
    database_url: str, port: int, log: Path, environment: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``kilowatch serve`` in embedded mode on ``port`` (see ``kilowatch_environment`` for ``environment``)."""
    with kilowatch_process(
        ["serve", "--port", str(port)], kilowatch_environment(database_url, environment), log
    ) as served:
        yield served


async def until_ready(client: httpx.AsyncClient, timeout_s: float = 60.0, log: Path | None = None) -> None:
    """Poll ``/readyz`` through ``client`` until it answers 200; after ``timeout_s`` fail with the server's log."""
    for _ in range(int(timeout_s * 10)):
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    detail = f":\n{log.read_text()}" if log else ""
    raise AssertionError(f"the server did not become ready within {timeout_s:.0f} s{detail}")


def wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float = 60.0) -> None:
    """Poll ``url`` (``/healthz`` or ``/readyz``) until it answers 200; fail with the log if the process ends first."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, f"kilowatch exited with {process.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"{url} did not answer 200 within {timeout_s:.0f} s:\n{log.read_text()}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
