"""`kilowatch serve` itself: the embedded quickstart hands out one administrator token; auth off stays local."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.faults import free_port, kilowatch_environment, kilowatch_process, wait_until_up

DASHBOARD_LINE = re.compile(r"Dashboard: (http://127\.0\.0\.1:\d+/#token=(kw_[A-Za-z0-9_-]+))")


def _environment(database_url: str, **settings: str) -> dict[str, str]:
    """Access control on, as shipped, unless ``settings`` says otherwise."""
    return kilowatch_environment(database_url, {"KILOWATCH_AUTH": "on", "KILOWATCH_LOG_LEVEL": "WARNING", **settings})


@contextmanager
def serving(database_url: str, log: Path, **settings: str) -> Iterator[tuple[str, str]]:
    """A running server: (base URL, everything it printed up to being healthy)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with kilowatch_process(["serve", "--port", str(port)], _environment(database_url, **settings), log) as process:
        wait_until_up(process, f"{base_url}/healthz", log)
        yield base_url, log.read_text()


def _machines(base_url: str, token: str | None) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{base_url}/graphql", json={"query": "{ machines { id } }"}, headers=headers, timeout=5).json()


def test_the_first_embedded_start_prints_an_admin_token_and_later_starts_print_nothing_secret(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'quickstart.db'}"

    with serving(database_url, tmp_path / "first.log") as (first_url, printed):
        base_url = first_url
        match = DASHBOARD_LINE.search(printed)
        assert match, printed
        dashboard_url, token = match.groups()
        assert dashboard_url == f"{base_url}/#token={token}"
        assert _machines(base_url, token) == {"data": {"machines": []}}
        assert _machines(base_url, None)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    with serving(database_url, tmp_path / "second.log") as (second_url, printed_again):
        assert "kw_" not in printed_again and "token=" not in printed_again
        assert _machines(second_url, token) == {"data": {"machines": []}}
    for url, start in ((first_url, printed), (second_url, printed_again)):  # where to go, how to get a token
        lines = " ".join(start.split())
        assert f"Dashboard: {url}/ GraphiQL: {url}/graphql" in lines, start
        assert 'kilowatch token create --name "your name" --role viewer' in lines, start


def test_commands_log_migrations_they_run_and_no_alembic_chatter(tmp_path: Path) -> None:
    environment = _environment(f"sqlite+aiosqlite:///{tmp_path / 'quiet.db'}", KILOWATCH_LOG_LEVEL="INFO")

    def migrate() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"], env=environment, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stderr

    first, second = migrate(), migrate()

    assert "Running upgrade  -> 0001" in first
    assert "alembic" not in second, second  # nothing to migrate: nothing from Alembic
    assert "Context impl" not in first + second and "Will assume" not in first + second


def test_auth_off_refuses_anything_but_a_loopback_address(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'local.db'}"

    refused = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=_environment(database_url, KILOWATCH_AUTH="off"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert refused.returncode == 2
    assert "KILOWATCH_AUTH=off is for local development only" in refused.stderr
    assert not (tmp_path / "local.db").exists()  # refused before touching anything


def test_the_access_log_redacts_a_token_sent_in_a_query_string(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'logged.db'}"
    secret = "kw_" + "s" * 43

    with serving(database_url, tmp_path / "access.log", KILOWATCH_LOG_LEVEL="INFO", KILOWATCH_AUTH="off"):
        pass  # the first start creates the database
    with serving(database_url, tmp_path / "access.log", KILOWATCH_LOG_LEVEL="INFO", KILOWATCH_AUTH="off") as (
        base_url,
        _,
    ):
        assert httpx.get(f"{base_url}/?token={secret}", timeout=5).status_code == 200
        assert httpx.get(f"{base_url}/graphql?query={{__typename}}&api_key={secret}", timeout=5).status_code == 200
        time.sleep(0.2)  # the access line is written after the response
        logged = (tmp_path / "access.log").read_text()

    assert secret not in logged
    assert '"GET /?token=[redacted] HTTP/1.1" 200' in logged
    assert "api_key=[redacted]" in logged
