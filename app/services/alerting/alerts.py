"""Alerts: raising with deduplication, listing, and the people-driven lifecycle.

One unresolved alert exists per dedup key (partial unique index); a repeat detection bumps its
occurrence count and may escalate its severity in the same statement, so concurrent detectors never
create a second row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.constants import ALERTS_CHANNEL, SYSTEM_ACTOR
from app.db.driver_reads import fetch_all
from app.db.engine import changed_rows, dialect_insert
from app.db.tables import UNRESOLVED_ALERT_CONDITION, Alert
from app.enums import (
    MACHINE_ALERT_TYPES,
    SEVERITY_RANK,
    UNRESOLVED_ALERT_STATUSES,
    AlertStatus,
    AlertType,
    ModelType,
    Severity,
)
from app.errors import Conflict, NotFound
from app.services.alerting import notifications
from app.services.checks import require_limit, require_text
from app.services.snapshots import snapshot

if TYPE_CHECKING:
    from app.runtime.resources import Resources

MAX_NOTE_LENGTH = 2_000


@dataclass(frozen=True)
class RaisedAlert:
    alert: Alert
    created: bool
    escalated: bool

    @property
    def is_news(self) -> bool:
        """New, or more severe than before: what webhooks and live subscribers are told about."""
        return self.created or self.escalated


async def publish(resources: Resources, raised: RaisedAlert | None) -> None:
    """Announce an alert that is news to live subscribers; call it once its transaction has committed."""
    if raised is not None and raised.is_news:
        await resources.events.publish(ALERTS_CHANNEL, snapshot(raised.alert))


def dedup_key(machine_id: uuid.UUID, model_type: ModelType, alert_type: AlertType) -> str:
    return f"{machine_id}:{model_type.value}:{alert_type.value}"


def _severity_rank_sql(column: sa.ColumnExpressionArgument[Any]) -> sa.ColumnElement[int]:
    return sa.case({severity.value: rank for severity, rank in SEVERITY_RANK.items()}, value=column, else_=0)


async def raise_alert(
    session: AsyncSession,
    *,
    machine_id: uuid.UUID,
    model_type: ModelType,
    alert_type: AlertType,
    severity: Severity,
    message: str,
    details: dict[str, Any] | None = None,
    training_job_id: uuid.UUID | None = None,
    now: datetime | None = None,
    notify: Sequence[str] = (),
) -> RaisedAlert:
    """Insert a new alert or fold this detection into the unresolved one with the same key.

    A new or escalated alert also gets one pending webhook delivery per URL in ``notify``, in the same
    transaction: the alert and its notifications exist together or not at all.
    """
    now = now or datetime.now(UTC)
    key = dedup_key(machine_id, model_type, alert_type)
    alerts = Alert.__table__
    before = await session.scalar(
        sa.select(Alert.severity).where(Alert.dedup_key == key, Alert.status.in_(UNRESOLVED_ALERT_STATUSES))
    )
    insert = dialect_insert(session)(alerts).values(
        id=uuid.uuid4(),
        machine_id=machine_id,
        model_type=model_type,
        alert_type=alert_type,
        severity=severity,
        status=AlertStatus.OPEN,
        message=message,
        details=details or {},
        dedup_key=key,
        occurrences=1,
        created_at=now,
        last_seen_at=now,
        training_job_id=training_job_id,
    )
    escalate = _severity_rank_sql(insert.excluded.severity) > _severity_rank_sql(alerts.c.severity)
    statement = insert.on_conflict_do_update(
        index_elements=[alerts.c.dedup_key],
        index_where=sa.text(UNRESOLVED_ALERT_CONDITION),
        set_={
            "occurrences": alerts.c.occurrences + 1,
            "last_seen_at": insert.excluded.last_seen_at,
            "message": insert.excluded.message,
            "details": insert.excluded.details,
            "severity": sa.case((escalate, insert.excluded.severity), else_=alerts.c.severity),
        },
    ).returning(alerts.c.id)
    alert_id = await session.scalar(statement)
    alert = await session.get(Alert, alert_id, populate_existing=True)
    assert alert is not None
    escalated = before is not None and SEVERITY_RANK[alert.severity] > SEVERITY_RANK[before]
    raised = RaisedAlert(alert=alert, created=before is None, escalated=escalated)
    if raised.is_news:
        await notifications.enqueue(session, alert, "created" if raised.created else "escalated", notify)
    return raised


async def resolve_by_system(
    session: AsyncSession, machine_id: uuid.UUID, model_type: ModelType, alert_type: AlertType, note: str
) -> None:
    """Resolve the unresolved alert of this key, if any, as Kilowatch itself: its condition has cleared."""
    await session.execute(
        sa.update(Alert)
        .where(
            Alert.dedup_key == dedup_key(machine_id, model_type, alert_type),
            Alert.status.in_(UNRESOLVED_ALERT_STATUSES),
        )
        .values(
            status=AlertStatus.RESOLVED, resolved_at=datetime.now(UTC), resolved_by=SYSTEM_ACTOR, resolution_note=note
        )
        .execution_options(synchronize_session=False)
    )


async def list_alerts(
    session: AsyncSession,
    *,
    statuses: Sequence[AlertStatus] | None = None,
    machine_id: uuid.UUID | None = None,
    model_type: ModelType | None = None,
    min_severity: Severity | None = None,
    limit: int,
    max_limit: int,
) -> Sequence[Alert]:
    """Most severe first, then most recently seen: the order an on-call person works through them."""
    require_limit("limit", limit, max_limit)
    query = sa.select(Alert)
    if statuses:
        query = query.where(Alert.status.in_(statuses))
    if machine_id is not None:
        query = query.where(Alert.machine_id == machine_id)
    if model_type is not None:
        query = query.where(Alert.model_type == model_type)
    if min_severity is not None:
        allowed = [s for s, rank in SEVERITY_RANK.items() if rank >= SEVERITY_RANK[min_severity]]
        query = query.where(Alert.severity.in_(allowed))
    query = query.order_by(_severity_rank_sql(Alert.severity).desc(), Alert.last_seen_at.desc(), Alert.id)
    return (await session.scalars(query.limit(limit))).all()


async def open_alerts_of_series(
    session: AsyncSession, keys: Sequence[tuple[uuid.UUID, ModelType]]
) -> dict[tuple[uuid.UUID, ModelType], list[Alert]]:
    """Each series' unresolved alerts about its model (a machine's readings are ``open_alerts_of_machines``)."""
    rows = await _unresolved(session, {machine_id for machine_id, _ in keys}, machine_level=False)
    grouped: dict[tuple[uuid.UUID, ModelType], list[Alert]] = {key: [] for key in keys}
    for row in rows:
        grouped.setdefault((row.machine_id, row.model_type), []).append(row)
    return grouped


async def open_alerts_of_machines(
    session: AsyncSession, machine_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Alert]]:
    """Each machine's unresolved alerts about the machine itself (``MACHINE_ALERT_TYPES``): once per machine."""
    grouped: dict[uuid.UUID, list[Alert]] = {machine_id: [] for machine_id in machine_ids}
    for row in await _unresolved(session, set(machine_ids), machine_level=True):
        grouped.setdefault(row.machine_id, []).append(row)
    return grouped


async def _unresolved(session: AsyncSession, machine_ids: set[uuid.UUID], machine_level: bool) -> Sequence[Alert]:
    kinds = Alert.alert_type.in_(MACHINE_ALERT_TYPES)
    return (
        await session.scalars(
            sa.select(Alert)
            .where(
                Alert.machine_id.in_(machine_ids),
                Alert.status.in_(UNRESOLVED_ALERT_STATUSES),
                kinds if machine_level else ~kinds,
            )
            .order_by(_severity_rank_sql(Alert.severity).desc(), Alert.last_seen_at.desc())
        )
    ).all()


_unresolved_view = sa.table(
    "v_unresolved_model_alerts",
    sa.column("machine_id", sa.Uuid),
    sa.column("model_type", sa.String),
    sa.column("alert_type", sa.String),
    sa.column("severity", sa.String),
)
#: Built once and parameterless, so the database driver runs it (``app.db.driver_reads``).
_UNRESOLVED_SEVERITIES = sa.select(
    *(_unresolved_view.c[name] for name in ("machine_id", "model_type", "alert_type", "severity"))
)


@dataclass(frozen=True, slots=True)
class UnresolvedSeverities:
    """Severities of unresolved alerts: about each series' model, and about each machine's readings."""

    #: Per machine and model type.
    series: dict[uuid.UUID, dict[ModelType, list[Severity]]]
    machines: dict[uuid.UUID, list[Severity]]


async def unresolved_severities(engine: AsyncEngine) -> UnresolvedSeverities:
    """The severities of every unresolved alert of the fleet, for judging a whole fleet in one statement."""
    found = UnresolvedSeverities(series={}, machines={})
    for row in await fetch_all(engine, _UNRESOLVED_SEVERITIES):
        if AlertType(row.alert_type) in MACHINE_ALERT_TYPES:
            found.machines.setdefault(row.machine_id, []).append(Severity(row.severity))
        else:
            of_machine = found.series.setdefault(row.machine_id, {})
            of_machine.setdefault(ModelType(row.model_type), []).append(Severity(row.severity))
    return found


async def acknowledge(session: AsyncSession, alert_id: uuid.UUID, by: str | None) -> Alert:
    """OPEN → ACKNOWLEDGED; acknowledging again is a no-op, a resolved alert cannot be acknowledged."""
    alert = await _require(session, alert_id)
    if alert.status == AlertStatus.RESOLVED:
        raise Conflict(f"alert {alert_id} is already resolved", field="id")
    await session.execute(
        sa.update(Alert)
        .where(Alert.id == alert_id, Alert.status == AlertStatus.OPEN)
        .values(status=AlertStatus.ACKNOWLEDGED, acknowledged_at=datetime.now(UTC), acknowledged_by=by)
    )
    return await _reload(session, alert_id)


async def resolve(session: AsyncSession, alert_id: uuid.UUID, note: str | None, by: str | None) -> Alert:
    """Close an unresolved alert with a note; the guard on status makes a double resolve a CONFLICT."""
    require_text("note", note, MAX_NOTE_LENGTH)
    await _require(session, alert_id)
    resolved = await changed_rows(
        session,
        sa.update(Alert)
        .where(Alert.id == alert_id, Alert.status.in_(UNRESOLVED_ALERT_STATUSES))
        .values(status=AlertStatus.RESOLVED, resolved_at=datetime.now(UTC), resolved_by=by, resolution_note=note),
    )
    if resolved == 0:
        raise Conflict(f"alert {alert_id} is already resolved", field="id")
    return await _reload(session, alert_id)


async def _require(session: AsyncSession, alert_id: uuid.UUID) -> Alert:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist", field="id")
    return alert


async def _reload(session: AsyncSession, alert_id: uuid.UUID) -> Alert:
    alert = await session.get(Alert, alert_id, populate_existing=True)
    assert alert is not None
    return alert
