"""A periodic run may take as long as its period: ARQ's default job timeout (300 s) would cut a long one off."""

from __future__ import annotations

from app.config import Settings
from workers.run import MIN_PERIODIC_TIMEOUT_S, cron_jobs


def timeouts(settings: Settings) -> dict[str, float | None]:
    return {job.name.removeprefix(f"{settings.redis_prefix}:"): job.timeout_s for job in cron_jobs(settings)}


def test_a_monitoring_pass_may_take_its_whole_interval() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:6379/0", monitoring_interval_s=3600, webhook_interval_s=10)
    found = timeouts(settings)
    assert found["monitoring"] == 3600
    assert found["relearning"] == 3600
    assert found["webhooks"] == MIN_PERIODIC_TIMEOUT_S  # short intervals keep ARQ's default, never less
    assert found["scheduled-retraining"] == 86_400


def test_every_periodic_task_has_a_timeout_of_its_own() -> None:
    found = timeouts(Settings(redis_url="redis://127.0.0.1:6379/0", retrain_schedule="off"))
    assert "scheduled-retraining" not in found
    assert found and all(timeout is not None and timeout >= MIN_PERIODIC_TIMEOUT_S for timeout in found.values())
