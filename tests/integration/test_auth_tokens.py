"""Tokens from the CLI and from GraphQL: shown once, stored as a hash, usable at their role, revocable."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from starlette.applications import Starlette

from app.config import Settings
from app.db.engine import transaction
from app.db.migrate import upgrade_to_head
from app.db.tables import ApiToken
from app.enums import Role
from app.http.authentication import LAST_USED_RESOLUTION, TOKEN_CACHE_S, Authenticator
from app.runtime.resources import Resources
from app.services.access import tokens
from app.services.access.principals import Principal
from tests.integration.apps import asgi_client, running
from tests.support import data_of, error_of, graphql

REGISTER = "mutation($n: String!) { registerMachine(name: $n) { id } }"
POLICY = 'mutation { setMonitoringPolicy(input: {machineId: "%s", modelType: BASELINE}) { maxCvRmse } }'


def kilowatch(database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "KILOWATCH_DATABASE_URL": database_url, "KILOWATCH_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments], env=environment, capture_output=True, text=True, timeout=120
    )


async def _as(app: Starlette, secret: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    async with asgi_client(app, {"Authorization": f"Bearer {secret}"}) as http:
        return await graphql(http, query, variables)


async def test_the_cli_creates_lists_and_revokes_tokens(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    await upgrade_to_head(database_url)

    created = kilowatch(database_url, "token", "create", "--name", "line 4 scada", "--role", "operator")
    secret = created.stdout.splitlines()[-1]
    async with running(Settings(database_url=database_url)) as app:
        registered = await _as(app, secret, REGISTER, {"n": "Line 4"})
        machine_id = data_of(registered)["registerMachine"]["id"]
        policy = await _as(app, secret, POLICY % machine_id)
        listing = kilowatch(database_url, "token", "list")
        token_id = next(line.split()[0] for line in listing.stdout.splitlines() if line.endswith("line 4 scada"))
        revoked = kilowatch(database_url, "token", "revoke", token_id)
        await asyncio.sleep(TOKEN_CACHE_S)  # revoked by another process: refused once the server's trust expires
        after = await _as(app, secret, "{ machines { id } }")

    assert created.returncode == 0, created.stderr
    assert secret.startswith("kw_") and secret not in created.stderr
    error_of(policy, "FORBIDDEN")
    assert listing.returncode == 0 and " operator " in listing.stdout and secret not in listing.stdout
    assert revoked.returncode == 0, revoked.stderr
    error_of(after, "UNAUTHENTICATED")


async def test_graphql_tokens_work_at_their_role_until_revoked(
    app: Starlette, client: httpx.AsyncClient, resources: Resources
) -> None:
    created = data_of(
        await graphql(
            client, 'mutation { createApiToken(name: "dashboard wall", role: VIEWER) { id name role token } }'
        )
    )["createApiToken"]
    secret = created["token"]

    readable = await _as(app, secret, "{ machines { id } }")
    writes = await _as(app, secret, REGISTER, {"n": "not allowed"})
    listed = data_of(await graphql(client, "{ apiTokens { id name role createdBy revokedAt lastUsedAt } }"))
    revoke = "mutation($id: UUID!) { revokeApiToken(id: $id) { id revokedAt } }"
    first = data_of(await graphql(client, revoke, {"id": created["id"]}))["revokeApiToken"]
    again = data_of(await graphql(client, revoke, {"id": created["id"]}))["revokeApiToken"]
    after = await _as(app, secret, "{ machines { id } }")

    assert (created["name"], created["role"]) == ("dashboard wall", "VIEWER") and secret.startswith("kw_")
    assert data_of(readable) == {"machines": []}
    error_of(writes, "FORBIDDEN")
    mine = next(token for token in listed["apiTokens"] if token["id"] == created["id"])
    assert mine["createdBy"] == "test-admin" and mine["revokedAt"] is None and mine["lastUsedAt"] is not None
    assert first["revokedAt"] is not None and again["revokedAt"] == first["revokedAt"]
    error_of(after, "UNAUTHENTICATED")
    async with resources.sessions() as session:
        row = await session.get(ApiToken, uuid.UUID(created["id"]))
    assert row is not None and row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr([getattr(row, column.key) for column in ApiToken.__table__.columns])


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "tab\tis fine but bell\x07 is not", "nul\x00"])
async def test_token_names_must_be_printable_and_bounded(client: httpx.AsyncClient, name: str) -> None:
    result = await graphql(
        client, "mutation($n: String!) { createApiToken(name: $n, role: VIEWER) { id } }", {"n": name}
    )

    assert error_of(result, "BAD_USER_INPUT")["extensions"]["field"] == "name"


async def test_last_use_is_recorded_at_most_once_a_minute(
    app: Starlette, client: httpx.AsyncClient, resources: Resources
) -> None:
    secret = data_of(await graphql(client, 'mutation { createApiToken(name: "poller", role: VIEWER) { token } }'))[
        "createApiToken"
    ]["token"]

    async def last_used() -> Any:
        async with resources.sessions() as session:
            return await session.scalar(sa.select(ApiToken.last_used_at).where(ApiToken.name == "poller"))

    never = await last_used()
    await _as(app, secret, "{ machines { id } }")
    first = await last_used()
    for _ in range(3):
        await _as(app, secret, "{ machines { id } }")

    assert never is None and first is not None
    assert await last_used() == first


async def test_other_processes_skip_the_last_use_write_within_the_minute(resources: Resources) -> None:
    """The in-process throttle spares the statement; the guarded UPDATE keeps processes from piling up writes."""
    async with transaction(resources.sessions) as session:
        token_id = (await tokens.issue(session, "shared", Role.VIEWER, created_by="tests")).row.id
    start = datetime.now(UTC)
    moments = [start, start + timedelta(seconds=30), start + timedelta(seconds=61)]
    stored = []
    for moment in moments:
        async with transaction(resources.sessions) as session:
            await tokens.record_use(session, token_id, moment, LAST_USED_RESOLUTION)
        async with resources.sessions() as session:
            stored.append(await session.scalar(sa.select(ApiToken.last_used_at).where(ApiToken.id == token_id)))

    assert stored == [moments[0], moments[0], moments[2]]


async def test_concurrent_requests_with_one_token_share_one_lookup(resources: Resources) -> None:
    """When a busy client's cached token expires, its requests in flight wait for one lookup, not one each."""
    async with transaction(resources.sessions) as session:
        issued = await tokens.issue(session, "busy", Role.VIEWER, created_by="tests")
        unknown = tokens.TOKEN_PREFIX + "x" * 40
    authenticator = Authenticator(resources.engine, resources.sessions, enabled=True)
    lookups: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "api_tokens" in statement:
            lookups.append(statement)

    event.listen(resources.engine.sync_engine, "before_cursor_execute", record)
    try:
        valid = await asyncio.gather(*(authenticator.authenticate(f"Bearer {issued.secret}") for _ in range(20)))
        assert len(lookups) == 1
        assert {answer.principal for answer in valid} == {Principal("busy", Role.VIEWER, issued.row.id)}

        invalid = await asyncio.gather(*(authenticator.authenticate(f"Bearer {unknown}") for _ in range(5)))
        assert len(lookups) == 2
        assert {answer.principal for answer in invalid} == {None}

        authenticator.forget(issued.row.id)
        await authenticator.authenticate(f"Bearer {issued.secret}")
        assert len(lookups) == 3  # a forgotten token is looked up again
    finally:
        event.remove(resources.engine.sync_engine, "before_cursor_execute", record)
