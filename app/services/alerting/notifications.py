"""Alert webhooks: signed JSON deliveries, retried with backoff until the receiver takes them.

Deliveries are rows written with the alert, so a receiver that is down delays only its own
notification: monitoring never waits on it and nothing is lost. Any worker may deliver; a row is
claimed by a guarded UPDATE that moves its next attempt into the future, so two workers never post
the same notification at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import changed_rows, transaction
from app.db.tables import Alert, AlertNotification, Machine, NotificationStatus
from app.services.snapshots import snapshot

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.notifications")

SIGNATURE_HEADER = "X-Kilowatch-Signature"
DELIVERY_TIMEOUT_S = 10.0
#: Backoff: 15 s, 30 s, 1 min, … capped at an hour; after MAX_ATTEMPTS the delivery is given up (kept, FAILED).
FIRST_RETRY_S = 15.0
MAX_RETRY_S = 3600.0
MAX_ATTEMPTS = 10
#: A claimed delivery not finished within this long (its worker died) becomes due again.
CLAIM_LEASE_S = 120.0
BATCH = 50


async def enqueue(session: AsyncSession, alert: Alert, event: str, urls: Sequence[str]) -> None:
    if not urls:
        return
    now = datetime.now(UTC)
    machine = await session.scalar(sa.select(Machine.name).where(Machine.id == alert.machine_id))
    payload = {"event": event, "machine": machine, "alert": snapshot(alert), "text": _summary(alert, machine, event)}
    for url in urls:
        session.add(
            AlertNotification(
                alert_id=alert.id,
                url=url,
                payload=payload,
                status=NotificationStatus.PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )


def _summary(alert: Alert, machine: str | None, event: str) -> str:
    """The Slack-compatible ``text``: what, where, how bad."""
    verb = "escalated" if event == "escalated" else "raised"
    return (
        f"[{alert.severity.name}] {alert.alert_type.name} alert {verb} for {alert.model_type.name} "
        f"of {machine}: {alert.message}"
    )


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> float:
    return min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** max(0, attempts - 1))


async def deliver_due(resources: Resources) -> int:
    """One delivery round: post every due notification once. Returns how many were delivered."""
    now = datetime.now(UTC)
    async with resources.reads() as session:
        due = (
            await session.scalars(
                sa.select(AlertNotification.id)
                .where(AlertNotification.status == NotificationStatus.PENDING, AlertNotification.next_attempt_at <= now)
                .order_by(AlertNotification.next_attempt_at)
                .limit(BATCH)
            )
        ).all()
    delivered = 0
    async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_S) as client:
        for notification_id in due:
            claimed = await _claim(resources, notification_id, now)
            if claimed is not None:
                delivered += await _deliver(resources, client, claimed)
    return delivered


async def _claim(resources: Resources, notification_id: Any, now: datetime) -> AlertNotification | None:
    async with transaction(resources.sessions) as session:
        claimed = await changed_rows(
            session,
            sa.update(AlertNotification)
            .where(
                AlertNotification.id == notification_id,
                AlertNotification.status == NotificationStatus.PENDING,
                AlertNotification.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + timedelta(seconds=CLAIM_LEASE_S))
            .execution_options(synchronize_session=False),
        )
        if claimed == 0:
            return None
        notification = await session.get(AlertNotification, notification_id)
        assert notification is not None  # claimed just now, in this transaction
        machine = await session.scalar(
            sa.select(Machine.name).join(Alert, Alert.machine_id == Machine.id).where(Alert.id == notification.alert_id)
        )
    notification.payload = {**notification.payload, "machine": machine}
    return notification


async def _deliver(resources: Resources, client: httpx.AsyncClient, notification: AlertNotification) -> int:
    body = json.dumps(notification.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "kilowatch-webhooks"}
    if resources.settings.webhook_secret:
        headers[SIGNATURE_HEADER] = sign(resources.settings.webhook_secret, body)
    error: str | None = None
    try:
        response = await client.post(notification.url, content=body, headers=headers)
        if not response.is_success:
            error = f"HTTP {response.status_code}"
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"[:500]
    attempts = notification.attempts + 1
    now = datetime.now(UTC)
    if error is None:
        values: dict[str, Any] = {"status": NotificationStatus.DELIVERED, "next_attempt_at": None, "last_error": None}
    elif attempts >= MAX_ATTEMPTS:
        values = {"status": NotificationStatus.FAILED, "next_attempt_at": None, "last_error": error}
        logger.warning(
            "giving up webhook %s to %s after %d attempts: %s", notification.id, notification.url, attempts, error
        )
    else:
        values = {"next_attempt_at": now + timedelta(seconds=backoff(attempts)), "last_error": error}
    async with transaction(resources.sessions) as session:
        await session.execute(
            sa.update(AlertNotification)
            .where(AlertNotification.id == notification.id)
            .values(attempts=attempts, last_attempt_at=now, **values)
        )
    return int(error is None)
