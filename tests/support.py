"""Helpers shared by the test packages: GraphQL calls, error assertions, a scratch PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

#: Where the test run may create and drop its own databases (trust auth on the CI machine).
ADMIN_DSN = os.environ.get("KILOWATCH_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
#: The Redis the tests use. They never flush it: every key, queue and channel they create carries a
#: KILOWATCH_REDIS_PREFIX of their own, and only those keys are deleted afterwards.
REDIS_URL = os.environ.get("KILOWATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: ARQ's own keys of a job, outside any prefix (``arq.constants``); ids are training job ids.
ARQ_JOB_KEYS = ("arq:job:", "arq:result:", "arq:in-progress:", "arq:retry:")


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


def scratch_redis_prefix() -> str:
    """A KILOWATCH_REDIS_PREFIX no other run uses, so parallel runs never see each other's jobs or events."""
    return f"kilowatch-test-{uuid.uuid4().hex[:12]}"


async def forget_redis_keys(prefix: str, job_ids: Sequence[str] = ()) -> None:
    """Delete what a run with ``prefix`` left in Redis: its namespaced keys, and ARQ's keys of its jobs."""
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        keys += [key async for key in redis.scan_iter(match=f"arq:*:{prefix}:*", count=1000)]  # cron ticks
        keys += [f"{kind}{job_id}" for job_id in job_ids for kind in ARQ_JOB_KEYS]
        if keys:
            await redis.delete(*keys)
        if job_ids:
            await redis.zrem("arq:abort", *job_ids)
    finally:
        await redis.aclose()


async def training_job_ids(database_url: str) -> list[str]:
    """Every training job of a scratch database: the ids ARQ knows them by."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return [str(row["id"]) for row in await connection.fetch("SELECT id FROM model_training_history")]
    finally:
        await connection.close()


@asynccontextmanager
async def scratch_redis(database_url: str) -> AsyncIterator[dict[str, str]]:
    """The environment of a production-mode run on the test Redis, cleaned up afterwards.

    ``database_url`` is the run's scratch PostgreSQL database: ARQ keys its jobs by their ids.
    """
    prefix = scratch_redis_prefix()
    try:
        yield {"KILOWATCH_REDIS_URL": REDIS_URL, "KILOWATCH_REDIS_PREFIX": prefix}
    finally:
        await forget_redis_keys(prefix, await training_job_ids(database_url))


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


def fragment_fan_out(fragments: int) -> str:
    """Each fragment spreads the next twice: 2^(fragments - 1) ``__typename`` fields once expanded."""
    chain = " ".join(
        f"fragment F{index} on Query {{ ...F{index + 1} ...F{index + 1} }}" for index in range(1, fragments)
    )
    return f"query {{ ...F1 }} {chain} fragment F{fragments} on Query {{ __typename }}"
