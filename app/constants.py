"""Every shared name and magic number in one place: channels, keys, lock ids."""

from __future__ import annotations

#: pg_advisory_xact_lock key held while migrations run (ASCII "KWMIGRAT" as a 63-bit integer).
MIGRATION_ADVISORY_LOCK_ID = 0x4B574D4947524154

#: Event bus channels (DESIGN.md §7).
JOBS_CHANNEL = "kilowatch:jobs"
ALERTS_CHANNEL = "kilowatch:alerts"
