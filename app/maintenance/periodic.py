"""Periodic work, registered once: the embedded server runs it as loops, workers as unique ARQ crons.

Adding a periodic task is one entry in ``periodic_tasks``. Every action must be re-entrant: ARQ's
``unique`` cron runs it once per tick across workers, but a slow run may overlap the next one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.config import Settings
from app.runtime.schedule import Schedule
from app.services.alerting import notifications
from app.services.experiments import abtests
from app.services.models import scheduling
from app.services.savings import interventions
from app.services.tracking import monitoring, relearning

if TYPE_CHECKING:
    from app.runtime.resources import Resources


@dataclass(frozen=True)
class Periodic:
    name: str
    action: Callable[[Resources], Awaitable[object]]
    #: Either a fixed interval in seconds …
    interval_s: Callable[[Settings], float] | None = None
    #: … or a weekly/daily schedule (None from the settings switches the task off).
    schedule: Callable[[Settings], Schedule | None] | None = None


def periodic_tasks() -> list[Periodic]:
    return [
        Periodic(
            "scheduled-retraining",
            scheduling.retrain_all_due,
            schedule=lambda settings: Schedule.parse(settings.retrain_schedule),
        ),
        Periodic("ab-tests", abtests.evaluate_running, interval_s=lambda settings: settings.ab_test_interval_s),
        Periodic("monitoring", monitoring.evaluate_all, interval_s=lambda settings: settings.monitoring_interval_s),
        Periodic(
            "intervention-baselines", interventions.settle, interval_s=lambda settings: settings.monitoring_interval_s
        ),
        Periodic(
            "relearning", relearning.relearn_after_changes, interval_s=lambda settings: settings.monitoring_interval_s
        ),
        Periodic("webhooks", notifications.deliver_due, interval_s=lambda settings: settings.webhook_interval_s),
    ]


def cron_fields(interval_s: float) -> dict[str, set[int] | int]:
    """The ARQ cron fields that fire every ``interval_s`` (rounded to what a clock dial can express)."""
    if interval_s < 60:
        step = max(1, round(interval_s))
        return {"second": set(range(0, 60, step))}
    if interval_s < 3600:
        step = max(1, round(interval_s / 60))
        return {"minute": set(range(0, 60, step)), "second": 0}
    step = max(1, min(24, round(interval_s / 3600)))
    return {"hour": set(range(0, 24, step)), "minute": 0, "second": 0}
