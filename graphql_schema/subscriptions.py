"""Root subscription: live job progress and alerts, mapped from the services' live feeds.

The feeds (``app.services.models.job_updates``, ``app.services.alerting.alert_feed``) do the replay,
ordering, deduplication and filtering. Over the websocket handlers of ``graphql_schema.engine.live`` a
row carried by a live event is not yielded but handed to the operation's delivery, which renders it once
for every subscriber of the same operation text; rows read from the database are yielded.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from datetime import datetime
from functools import partial
from typing import TypeVar

import strawberry

from app.services.alerting import alert_feed
from app.services.models import job_updates
from app.services.snapshots import LiveRow, Row
from graphql_schema.engine.context import Info
from graphql_schema.engine.live import live_delivery
from graphql_schema.enums import ModelType, Severity
from graphql_schema.types.alerts import Alert
from graphql_schema.types.jobs import TrainingJob

Shown = TypeVar("Shown")


async def _shown(
    feed: AsyncGenerator[LiveRow[Row], None],
    render: Callable[[Row], Shown],
    before_yield: Callable[[], None] | None = None,
) -> AsyncGenerator[Shown, None]:
    """The feed's rows as GraphQL objects: yielded, or handed to the websocket delivery when it has one."""
    delivery = live_delivery()
    async with aclosing(feed) as rows:
        async for live in rows:
            if live.event is not None and delivery is not None:
                await delivery.send(live.event, partial(render, live.row))
                continue
            if before_yield is not None:
                before_yield()
            yield render(live.row)


def _fresh_loaders(info: Info) -> Callable[[], None]:
    """A websocket's context lives as long as the connection; each yielded job gets loaders of its own."""

    def renew() -> None:
        info.context.loaders = type(info.context.loaders)(info.context.resources.reads)

    return renew


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every status or progress change of matching jobs, in order, ending with the terminal status."
    )
    async def training_job_updates(
        self,
        info: Info,
        job_id: uuid.UUID | None = None,
        machine_id: uuid.UUID | None = None,
        model_type: ModelType | None = None,
    ) -> AsyncGenerator[TrainingJob, None]:
        feed = job_updates.follow(info.context.resources, job_id=job_id, machine_id=machine_id, model_type=model_type)
        async with aclosing(_shown(feed, TrainingJob.from_row, _fresh_loaders(info))) as jobs:
            async for job in jobs:
                yield job

    @strawberry.subscription(
        description=(
            "New alerts. With since, alerts created after that instant are replayed first, then live ones follow."
        )
    )
    async def alert_raised(
        self,
        info: Info,
        machine_id: uuid.UUID | None = None,
        model_type: ModelType | None = None,
        min_severity: Severity | None = None,
        since: datetime | None = None,
    ) -> AsyncGenerator[Alert, None]:
        """Live alerts (new, and escalations of open ones); each (alert, severity) is delivered once."""
        feed = alert_feed.follow(
            info.context.resources, machine_id=machine_id, model_type=model_type, min_severity=min_severity, since=since
        )
        async with aclosing(_shown(feed, Alert.from_row)) as alerts:  # no loader-backed fields: no fresh loaders
            async for alert in alerts:
                yield alert
