"""Every shared name and magic number in one place: channels, keys, lock ids."""

from __future__ import annotations

#: pg_advisory_xact_lock key held while migrations run (ASCII "KWMIGRAT" as a 63-bit integer).
MIGRATION_ADVISORY_LOCK_ID = 0x4B574D4947524154

#: Who acts when Kilowatch itself does (automatic retrains, resolutions, promotions, frozen baselines).
SYSTEM_ACTOR = "kilowatch"

#: Event bus channels (docs/architecture.md); on Redis they carry the KILOWATCH_REDIS_PREFIX namespace.
JOBS_CHANNEL = "jobs"
ALERTS_CHANNEL = "alerts"

#: ARQ queues: training jobs and maintenance crons never wait behind each other (namespaced on Redis too).
TRAINING_QUEUE = "training"
MAINTENANCE_QUEUE = "maintenance"
#: ARQ function names (the task layer registers these; the queue adapter enqueues by name).
TRAIN_TASK = "train_model"

#: Seconds ``Job.abort`` waits for ARQ to confirm; the database records the cancellation either way.
ABORT_CONFIRM_TIMEOUT_S = 2.0
#: Extra ARQ job timeout beyond KILOWATCH_JOB_TIMEOUT_S, so the task's own timeout fires first and is recorded.
ARQ_TIMEOUT_MARGIN_S = 60
