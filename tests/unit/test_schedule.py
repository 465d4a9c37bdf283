from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.runtime.schedule import Schedule


def test_weekly_schedule_finds_the_next_monday_morning() -> None:
    plan = Schedule.parse("mon 03:00")
    assert plan is not None
    assert plan.next_after(datetime(2026, 11, 23, 2, 0, tzinfo=UTC)) == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert plan.next_after(datetime(2026, 11, 23, 3, 0, tzinfo=UTC)) == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def test_daily_schedule_and_off() -> None:
    plan = Schedule.parse(" Daily 23:30 ")
    assert plan is not None and plan.weekday is None
    assert plan.next_after(datetime(2026, 11, 23, 23, 45, tzinfo=UTC)) == datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    assert Schedule.parse("off") is None


@pytest.mark.parametrize("text", ["weekly", "mon 25:00", "someday 03:00", "mon 3", ""])
def test_unreadable_schedules_are_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="schedule"):
        Schedule.parse(text)
