"""The retraining schedule: "<day> HH:MM" in UTC (day = mon..sun or daily), or "off"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Schedule:
    #: 0 = Monday … 6 = Sunday; None = every day.
    weekday: int | None
    hour: int
    minute: int

    @classmethod
    def parse(cls, text: str) -> Schedule | None:
        """None for "off"; ValueError with the accepted form for anything unreadable."""
        cleaned = text.strip().lower()
        if cleaned == "off":
            return None
        try:
            day, clock = cleaned.split()
            hour_text, minute_text = clock.split(":")
            hour, minute = int(hour_text), int(minute_text)
            weekday = None if day == "daily" else WEEKDAYS.index(day)
        except ValueError:
            raise ValueError(f"schedule {text!r} is not '<mon..sun|daily> HH:MM' or 'off'") from None
        if not (0 <= hour < 24 and 0 <= minute < 60):
            raise ValueError(f"schedule {text!r} has an impossible time of day")
        return cls(weekday, hour, minute)

    def next_after(self, moment: datetime) -> datetime:
        moment = moment.astimezone(UTC)
        candidate = moment.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        while candidate <= moment or (self.weekday is not None and candidate.weekday() != self.weekday):
            candidate += timedelta(days=1)
        return candidate
