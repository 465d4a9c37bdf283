"""Who is calling: bearer tokens turned into principals, once per HTTP request or websocket connection.

The lookup is one indexed query, and a process keeps each token it has verified for ``TOKEN_CACHE_S``
(one second): the lookup cost more than the rest of a simple query (a connection checkout and a round
trip, ~1.5 ms measured here, against ~2 ms for the whole request), and a client sends its token with
every request. The trade-off is revocation: the process that revokes a token forgets it at once (the
``revokeApiToken`` mutation calls ``forget``), but another process (another API replica, or a server
whose token was revoked with ``kilowatch token revoke``) may still accept it for up to ``TOKEN_CACHE_S``
after its last lookup. Only valid tokens are kept, under their SHA-256 hash (never the secret), so an
unknown or revoked token is looked up every time, as before.

Requests that need the same token looked up at the same time share one lookup. When a busy client's
entry expires, all of its requests in flight miss at once; each ran its own lookup, and on SQLite,
whose pool is small, the queue behind them stretched the slowest 1 % of responses from ~60 ms to
~380 ms (bench/query.py, 32 connections, authentication on).

Keeping ``last_used_at`` current would otherwise add a write to every request, so it is moved at most
once a minute per token, and the caller runs that write after the response has been sent (HTTP) or
while the connection is being set up (websockets).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import SessionFactory, read_engine, transaction
from app.services.access import tokens
from app.services.access.principals import LOCAL_DEVELOPER, Principal

logger = logging.getLogger("kilowatch.auth")

#: How stale ``last_used_at`` may get; it answers "is this token still in use?", not "when exactly?".
LAST_USED_RESOLUTION = timedelta(minutes=1)
BEARER_SCHEME = "bearer"
#: How long a process trusts a token it has verified; bounds how late a revocation elsewhere takes effect here.
TOKEN_CACHE_S = 1.0
#: Tokens are few; this only bounds the memory of a process that sees very many valid ones.
TOKEN_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Authentication:
    principal: Principal | None
    #: Set when the token's last-use time is due for an update; run it off the request's critical path.
    record_use: Callable[[], Awaitable[None]] | None = None


def bearer_token(authorization: object) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value, or ``None`` for anything else."""
    if not isinstance(authorization, str):
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == BEARER_SCHEME and token else None


@dataclass(frozen=True)
class _Verified:
    token: tokens.ActiveToken
    principal: Principal
    #: ``time.monotonic()`` after which the database is asked again.
    expires_at: float


class Authenticator:
    def __init__(
        self, engine: AsyncEngine, writes: SessionFactory, *, enabled: bool, cache_s: float = TOKEN_CACHE_S
    ) -> None:
        """Lookups run on a bare connection (no ORM session, autocommit on PostgreSQL); ``writes`` records last use."""
        self._reads = read_engine(engine)
        self._writes = writes
        self._enabled = enabled
        self._cache_s = cache_s
        #: SHA-256 of a token's secret → what its last lookup found.
        self._verified: dict[str, _Verified] = {}
        #: Bumped by every ``forget``: a lookup that overlapped one does not cache what it read.
        self._revocations = 0
        #: SHA-256 of a token's secret → the lookup of it under way, which concurrent requests share.
        self._lookups: dict[str, asyncio.Task[_Verified | None]] = {}
        #: token id → monotonic time its last-use update was last scheduled by this process.
        self._scheduled_updates: dict[uuid.UUID, float] = {}

    async def authenticate(self, authorization: object) -> Authentication:
        if not self._enabled:
            return Authentication(LOCAL_DEVELOPER)
        secret = bearer_token(authorization)
        if secret is None:
            return Authentication(None)
        verified = await self._verify(secret)
        if verified is None:
            return Authentication(None)
        row = verified.token
        now = datetime.now(UTC)
        due = row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION
        return Authentication(
            verified.principal, self._record_use(row.id) if due and self._claim_update(row.id) else None
        )

    def forget(self, token_id: uuid.UUID) -> None:
        """Stop trusting a token at once in this process; call it after its revocation has been committed."""
        self._revocations += 1
        self._verified = {key: entry for key, entry in self._verified.items() if entry.token.id != token_id}
        self._lookups.clear()  # a lookup under way may have read the token before its revocation

    async def _verify(self, secret: str) -> _Verified | None:
        key = tokens.hash_secret(secret)
        cached = self._verified.get(key)
        if cached is not None and cached.expires_at > time.monotonic():
            return cached
        lookup = self._lookups.get(key)
        if lookup is None:
            lookup = asyncio.get_running_loop().create_task(self._look_up(secret, key))
            self._lookups[key] = lookup
            lookup.add_done_callback(partial(self._lookup_done, key))
        # Shielded: a request that goes away does not cancel the lookup the others are waiting for.
        return await asyncio.shield(lookup)

    def _lookup_done(self, key: str, lookup: asyncio.Task[_Verified | None]) -> None:
        if self._lookups.get(key) is lookup:
            del self._lookups[key]
        if not lookup.cancelled():
            lookup.exception()  # marks a failure as seen; every request that waited for it raises it

    async def _look_up(self, secret: str, key: str) -> _Verified | None:
        revocations = self._revocations
        async with self._reads.connect() as connection:
            row = await tokens.find_active(connection, secret)
        if row is None:
            self._verified.pop(key, None)
            return None
        principal = Principal(name=row.name, role=row.role, token_id=row.id)
        verified = _Verified(row, principal, time.monotonic() + self._cache_s)
        if revocations == self._revocations:  # no revocation was committed while this lookup ran
            if len(self._verified) >= TOKEN_CACHE_SIZE:
                self._verified.clear()
            self._verified[key] = verified
        return verified

    def _claim_update(self, token_id: uuid.UUID) -> bool:
        """Concurrent requests of one token see the same stale time; only the first schedules the write."""
        now = time.monotonic()
        last = self._scheduled_updates.get(token_id)
        if last is not None and now - last < LAST_USED_RESOLUTION.total_seconds():
            return False
        if len(self._scheduled_updates) > 10_000:  # tokens are few; this only bounds a pathological process
            self._scheduled_updates.clear()
        self._scheduled_updates[token_id] = now
        return True

    def _record_use(self, token_id: uuid.UUID) -> Callable[[], Awaitable[None]]:
        async def update() -> None:
            try:
                async with transaction(self._writes) as session:
                    await tokens.record_use(session, token_id, datetime.now(UTC), LAST_USED_RESOLUTION)
            except Exception:  # noqa: BLE001 - a missed last-use update must never fail a request
                logger.warning("could not record the use of API token %s", token_id, exc_info=True)

        return update
