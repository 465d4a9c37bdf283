"""API tokens: issued once, stored only as a hash, looked up by that hash, revoked by time stamp.

A token is ``kw_`` followed by 32 random bytes (URL-safe base64). With that much entropy a plain SHA-256
is the right hash: there is nothing to brute-force, so a slow password hash would only slow every
request, and the lookup is one equality match on a unique index. The prefix lets secret scanners
recognise a leaked token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db.tables import ApiToken
from app.enums import Role
from app.errors import NotFound
from app.services.checks import require_label

TOKEN_PREFIX = "kw_"
TOKEN_RANDOM_BYTES = 32
#: What a token can look like; anything else is refused without a database round trip.
TOKEN_PATTERN = re.compile(r"kw_[A-Za-z0-9_-]{20,100}")
MAX_NAME_LENGTH = 200
BOOTSTRAP_NAME = "bootstrap-admin"


@dataclass(frozen=True)
class ActiveToken:
    """What a request needs to know about its token: who, which role, and whether last use is stale."""

    id: uuid.UUID
    name: str
    role: Role
    last_used_at: datetime | None


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token: ``secret`` exists only here, never in the database or a log."""

    row: ApiToken
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def issue(session: AsyncSession, name: str, role: Role, created_by: str | None) -> IssuedToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_RANDOM_BYTES)
    row = ApiToken(
        name=require_label("name", name, MAX_NAME_LENGTH),
        role=role,
        token_hash=hash_secret(secret),
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    return IssuedToken(row=row, secret=secret)


async def list_tokens(session: AsyncSession, limit: int) -> Sequence[ApiToken]:
    """Newest first, revoked ones included (they explain past audit entries)."""
    query = sa.select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id).limit(limit)
    return (await session.scalars(query)).all()


async def revoke(session: AsyncSession, token_id: uuid.UUID, now: datetime | None = None) -> ApiToken:
    """Idempotent: revoking a revoked token keeps its first revocation time."""
    row = await session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"API token {token_id} does not exist", field="id")
    if row.revoked_at is None:
        row.revoked_at = now or datetime.now(UTC)
        await session.flush()
    return row


async def find_active(connection: AsyncConnection | AsyncSession, secret: str) -> ActiveToken | None:
    """The unrevoked token with this secret, in one indexed query; ``None`` for anything else.

    Runs on every request, so it reads the four columns a request needs with Core, on whatever
    connection or session it is given, instead of loading the whole entity through the ORM.
    """
    if not TOKEN_PATTERN.fullmatch(secret):
        return None
    query = sa.select(ApiToken.id, ApiToken.name, ApiToken.role, ApiToken.last_used_at).where(
        ApiToken.token_hash == hash_secret(secret), ApiToken.revoked_at.is_(None)
    )
    row = (await connection.execute(query)).one_or_none()
    return ActiveToken(*row) if row else None


async def record_use(session: AsyncSession, token_id: uuid.UUID, now: datetime, resolution: timedelta) -> None:
    """Move ``last_used_at`` forward unless another request did so within ``resolution``."""
    stale = sa.or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - resolution)
    await session.execute(sa.update(ApiToken).where(ApiToken.id == token_id, stale).values(last_used_at=now))


async def issue_bootstrap_admin(session: AsyncSession) -> IssuedToken | None:
    """The first administrator token of a fresh database; ``None`` once any token (even a revoked one) exists."""
    if await session.scalar(sa.select(sa.exists().where(ApiToken.id.is_not(None)))):
        return None
    return await issue(session, BOOTSTRAP_NAME, Role.ADMIN, created_by="kilowatch serve")
