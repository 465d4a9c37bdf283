"""Helpers shared by the test packages: GraphQL calls, error assertions, a scratch PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

#: Where the test run may create and drop its own databases (trust auth on the CI machine).
ADMIN_DSN = os.environ.get("KILOWATCH_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@asynccontextmanager
async def scratch_postgres_database() -> AsyncIterator[str]:
    """A database of its own for this run (so parallel runs never collide), dropped afterwards."""
    name = f"kilowatch_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code < 500, response.text
    return response.json()


def data_of(result: dict[str, Any]) -> dict[str, Any]:
    assert not result.get("errors"), result["errors"]
    return result["data"]


def error_of(result: dict[str, Any], code: str) -> dict[str, Any]:
    """The single error of ``result``, checked to carry ``code``."""
    errors = result.get("errors") or []
    assert len(errors) == 1, result
    assert errors[0]["extensions"]["code"] == code, errors[0]
    return errors[0]
