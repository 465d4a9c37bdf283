"""``kilowatch demo``: a plant's year replayed into the configured database through the real services.

Every number the dashboard then shows comes from the code paths a deployment uses — bulk ingest,
training jobs on the configured queue (in-process, or ARQ workers), monitoring, A/B routing — so the
demo is also an end-to-end run of the system. The readings come from ``app.ml.synthetic``: production
shifts, Saturdays, Sundays and holidays, weather-driven heating and cooling, labelled anomalies.

Timeline, counted back from ``end`` (the last full hour, so the fleet looks current):

    history: ingested at once, every   │ replay: one day of readings at a time, monitoring after each
    model type trained on it (v1)      │   end−19 d  press-line-1 consumes 10 % less (new equipment)
                                       │   end−10 d  cold-store's meter freezes for two days (a data fault)
                                       │   end−7 d   the A/B series is retrained (v2), an A/B test of
                                       │             v1 against v2 starts and serves predictions for
                                       │             the last week before its readings arrive
    ───────────────────────────────────┴────────────────────────────────────────────────────────── end
                                   end−21 d

Training before the replay keeps the equipment change out of every v1 training window, so monitoring
has a real change to find, and the frozen meter is a data fault for the data-quality checks to find.
After the replay the change is recorded as an intervention (its savings are measured against the v1
baseline, frozen by the recording), and press-line-1's anomaly detector and Prophet forecast re-learn
from the change on (``train_from``); ARIMA needs 28 days after it, which the timeline does not hold, so
it keeps its v1. The season is no event: the replayed weeks are colder than the training year's
average, but the model was trained on the same weeks a year earlier, so weather alone raises no alert.
The demo refuses a database that already holds its machines, rather than mixing two timelines.
"""

from __future__ import annotations

import asyncio
import math
import os
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd
import sqlalchemy as sa
from rich.progress import Progress, TaskID

from app.db.engine import create_engine, transaction
from app.db.migrate import upgrade_to_head
from app.db.tables import Machine, TrainingJob
from app.enums import InterventionKind, JobStatus, ModelType, TriggerType
from app.errors import Conflict, InvalidInput, KilowatchError
from app.ml.synthetic import DEMO_FLEET, LevelShift, MachineProfile, StuckMeter, generate_readings
from app.runtime.resources import Resources, open_resources
from app.services.alerting import alerts
from app.services.experiments import abtests, predictions
from app.services.fleet import ingest, machines
from app.services.models import job_lifecycle, registry
from app.services.models.runner import inline_runner
from app.services.savings import interventions
from app.services.tracking import monitoring

if TYPE_CHECKING:
    from app.config import Settings

#: Who the demo's jobs, tests and predictions are recorded as.
DEMO_ACTOR = "kilowatch demo"
#: The last days, ingested one at a time after the first training, each followed by a monitoring pass.
REPLAY_DAYS = 21
#: The equipment change: this machine, this many days before the end, this change in consumption.
CHANGED_MACHINE = DEMO_FLEET[0].name
CHANGE_DAYS_BEFORE_END = 19
CHANGE_FRACTION = -0.10
CHANGE_DESCRIPTION = "New servo press replaces the hydraulic one"
#: The series of the changed machine that re-learn from the change with the post-change days the demo holds.
RELEARNED_TYPES = (ModelType.ANOMALY, ModelType.FORECAST_PROPHET)
#: The data fault: this machine's meter repeats one reading for this long, this many days before the end.
STUCK_MACHINE = DEMO_FLEET[4].name
STUCK_DAYS_BEFORE_END = 10
STUCK_HOURS = 48
#: The A/B test's last week: predictions are served for it before its readings arrive.
LIVE_DAYS = 7
AB_MODEL_TYPE = ModelType.BASELINE
#: One labelled anomaly event per this many days of readings.
DAYS_PER_ANOMALY = 14
#: History before the replay must fit FORECAST_ARIMA's 28 days into the 80 % training part of its window.
MIN_DAYS = 60
MAX_DAYS = 3 * 365
#: How often the demo looks at its training jobs, and after how long with none started it asks for a worker.
POLL_INTERVAL_S = 0.2
WORKER_HINT_AFTER_S = 15.0
NO_WORKER_HINT = "training: no worker yet — start `kilowatch worker`"
TERMINAL_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True)
class DemoOptions:
    machines: int = len(DEMO_FLEET)
    days: int = 365

    def check(self) -> None:
        if not 1 <= self.machines <= len(DEMO_FLEET):
            raise InvalidInput(f"--machines must be between 1 and {len(DEMO_FLEET)}, got {self.machines}")
        if not MIN_DAYS <= self.days <= MAX_DAYS:
            raise InvalidInput(f"--days must be between {MIN_DAYS} and {MAX_DAYS}, got {self.days}")


@dataclass(frozen=True)
class DemoSummary:
    machines: int
    readings: int
    models_trained: int
    evaluations: int
    open_alerts: dict[str, int]
    ab_test_id: uuid.UUID


async def skip_reason(settings: Settings) -> str | None:
    """Why ``serve --demo`` should not fill this database, or None: only a first start in embedded mode."""
    if not settings.embedded:
        return "--demo applies to embedded mode only; with Redis run `kilowatch demo` while workers run"
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            has_machines = await connection.scalar(sa.select(sa.literal(1)).select_from(Machine).limit(1))
    finally:
        await engine.dispose()
    return "the database already has machines; --demo fills only an empty one" if has_machines else None


async def run(settings: Settings, options: DemoOptions, progress: Progress) -> DemoSummary:
    """Bring the database to the newest schema, then build the demo fleet with resources of its own.

    In embedded mode this process is the only worker, and nothing else is waiting for it: it trains
    on every core.
    """
    options.check()
    await upgrade_to_head(settings.database_url)
    if settings.embedded:
        cores = max(settings.worker_concurrency, os.cpu_count() or 1)
        settings = settings.model_copy(update={"worker_concurrency": cores})
    async with open_resources(settings, inline_runner) as resources:
        return await build(resources, options, progress)


async def build(
    resources: Resources, options: DemoOptions, progress: Progress, end: pd.Timestamp | None = None
) -> DemoSummary:
    """The fleet, with readings up to ``end`` (default: the last full hour, so the fleet looks current)."""
    options.check()
    profiles = DEMO_FLEET[: options.machines]
    await _refuse_existing(resources, profiles)
    end = end if end is not None else pd.Timestamp.now(tz="UTC").floor("h")
    frames = {profile.name: _readings(number, profile, end, options.days) for number, profile in enumerate(profiles)}
    replay_start, live_start = end - pd.Timedelta(days=REPLAY_DAYS), end - pd.Timedelta(days=LIVE_DAYS)

    machine_ids = await _store_history(resources, frames, replay_start, progress)
    series = [(machine_id, model_type) for machine_id in machine_ids.values() for model_type in ModelType]
    await _train(resources, series, "first version of every model type", progress)

    replaying = progress.add_task(f"monitoring: replaying the last {REPLAY_DAYS} days", total=REPLAY_DAYS)
    evaluations = await _replay(resources, frames, machine_ids, replay_start, live_start, progress, replaying)
    ab_machine = profiles[-1].name
    ab_test = await _start_ab_test(resources, machine_ids[ab_machine], frames[ab_machine], live_start, progress)
    evaluations += await _replay(resources, frames, machine_ids, live_start, end, progress, replaying)
    await abtests.evaluate_running(resources)  # one look now, so the test shows the week it has scored
    if CHANGED_MACHINE in machine_ids:
        await _record_change(resources, machine_ids[CHANGED_MACHINE], end, progress)

    async with resources.reads() as session:
        unresolved = [
            *(await alerts.open_alerts_of_series(session, series)).values(),
            *(await alerts.open_alerts_of_machines(session, list(machine_ids.values()))).values(),
        ]
        trained = await session.scalar(
            sa.select(sa.func.count())
            .select_from(TrainingJob)
            .where(TrainingJob.requested_by == DEMO_ACTOR, TrainingJob.status == JobStatus.COMPLETED)
        )
    return DemoSummary(
        machines=len(profiles),
        readings=sum(len(frame) for frame in frames.values()),
        models_trained=int(trained or 0),
        evaluations=evaluations,
        open_alerts=dict(Counter(alert.alert_type.name for found in unresolved for alert in found)),
        ab_test_id=ab_test,
    )


async def _refuse_existing(resources: Resources, profiles: Sequence[MachineProfile]) -> None:
    names = [profile.name for profile in profiles]
    async with resources.reads() as session:
        existing = (await session.scalars(sa.select(Machine.name).where(Machine.name.in_(names)))).all()
    if existing:
        raise Conflict(
            f"the database already has the demo machine(s) {', '.join(sorted(existing))}; the demo fills a database "
            "without them (e.g. KILOWATCH_DATABASE_URL=sqlite+aiosqlite:///./demo.db)"
        )


def _readings(number: int, profile: MachineProfile, end: pd.Timestamp, days: int) -> pd.DataFrame:
    """``days`` of hourly readings ending at ``end``: the changed machine's change, the others' anomalies.

    Monitoring takes labelled anomaly hours at face value: in a champion's validation window they
    widen the residual scale its CUSUM measures shifts against, and after training a single one reads
    as a level shift. So the changed machine has no anomaly events and no machine has any in the
    replayed weeks; the one change monitoring meets there is the equipment change, and the one data
    fault the cold-store's frozen meter. Frames with and
    without events come from one seed, and events draw from the generator after every other column,
    so they are the same readings apart from the injected events.
    """
    start = end - pd.Timedelta(hours=days * 24 - 1)
    if profile.name == CHANGED_MACHINE:
        change = LevelShift(end - pd.Timedelta(days=CHANGE_DAYS_BEFORE_END), CHANGE_FRACTION)
        return generate_readings(profile, start, days, seed=number, level_shift=change)
    with_events = generate_readings(profile, start, days, seed=number, anomaly_events=days // DAYS_PER_ANOMALY)
    without_events = generate_readings(profile, start, days, seed=number)
    replay_start = end - pd.Timedelta(days=REPLAY_DAYS)
    frame = pd.concat([with_events.loc[:replay_start], without_events.loc[without_events.index > replay_start]])
    if profile.name == STUCK_MACHINE:
        frame = StuckMeter(end - pd.Timedelta(days=STUCK_DAYS_BEFORE_END), STUCK_HOURS).apply(frame)
    return frame


def reading_rows(frame: pd.DataFrame) -> list[ingest.ReadingRow]:
    """A frame in the ``app.ml`` layout as ingest rows: NaN drivers and unknown labels become None."""
    return [
        (
            instant.to_pydatetime(),
            float(energy),
            _known(production),
            _known(temperature),
            None if anomaly is pd.NA else bool(anomaly),
        )
        for instant, energy, production, temperature, anomaly in zip(
            frame.index,
            frame["energy_kwh"],
            frame["production_units"],
            frame["outdoor_temp_c"],
            frame["is_anomaly"],
            strict=True,
        )
    ]


def _known(value: float) -> float | None:
    """A driver the meter did not report is NaN in frames and None (NULL) everywhere else."""
    return None if math.isnan(value) else float(value)


async def _store_history(
    resources: Resources, frames: dict[str, pd.DataFrame], until: pd.Timestamp, progress: Progress
) -> dict[str, uuid.UUID]:
    """Register every machine and write its readings up to ``until``, one transaction per machine."""
    task = progress.add_task("readings: history", total=sum(int((f.index <= until).sum()) for f in frames.values()))
    machine_ids = {}
    for name, frame in frames.items():
        async with transaction(resources.sessions) as session:
            machine = await machines.register(session, name)
            await ingest.upsert_readings(
                session,
                machine.id,
                reading_rows(frame.loc[frame.index <= until]),
                on_progress=lambda count: progress.advance(task, count),
            )
        machine_ids[name] = machine.id
    return machine_ids


async def _train(
    resources: Resources,
    series: Sequence[tuple[uuid.UUID, ModelType]],
    reason: str,
    progress: Progress,
    train_from: datetime | None = None,
) -> None:
    """Trigger a job per series and wait for all of them; any that does not complete stops the demo."""
    job_ids = []
    for machine_id, model_type in series:
        outcome = await job_lifecycle.trigger(
            resources,
            machine_id,
            model_type,
            TriggerType.MANUAL,
            reason=reason,
            requested_by=DEMO_ACTOR,
            train_from=train_from,
        )
        job_ids.append(outcome.job.id)
    finished = await _wait_for(resources, job_ids, progress, f"training: {reason}")
    failed = [job for job in finished if job.status != JobStatus.COMPLETED]
    if failed:
        details = "; ".join(f"{job.model_type.name}: {job.error_message or job.status.value}" for job in failed)
        raise KilowatchError(f"{len(failed)} demo training job(s) did not complete: {details}")


async def _record_change(resources: Resources, machine_id: uuid.UUID, end: pd.Timestamp, progress: Progress) -> None:
    """Record the equipment change (freezing the v1 baseline for its savings), then re-learn from it."""
    at = (end - pd.Timedelta(days=CHANGE_DAYS_BEFORE_END)).to_pydatetime()
    await interventions.record(
        resources, machine_id, at, InterventionKind.EQUIPMENT_CHANGE, CHANGE_DESCRIPTION, DEMO_ACTOR
    )
    series = [(machine_id, model_type) for model_type in RELEARNED_TYPES]
    await _train(resources, series, "re-learn from the equipment change on", progress, train_from=at)


async def _wait_for(
    resources: Resources, job_ids: Sequence[uuid.UUID], progress: Progress, description: str
) -> list[TrainingJob]:
    """Poll the jobs' rows (the record in both modes) until every one is terminal.

    With Redis, jobs wait for ``kilowatch worker`` processes: while none of them has started after a
    while, the progress line asks for a worker, and the demo keeps waiting for one to appear.
    """
    task = progress.add_task(description, total=len(job_ids))
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    pending, finished = set(job_ids), {}
    while pending:
        async with resources.reads() as session:
            rows = (await session.scalars(sa.select(TrainingJob).where(TrainingJob.id.in_(pending)))).all()
        for job in rows:
            if job.status in TERMINAL_STATUSES:
                finished[job.id] = job
                pending.discard(job.id)
                progress.advance(task)
        untouched = len(pending) == len(job_ids) and all(job.status == JobStatus.PENDING for job in rows)
        no_worker = not resources.settings.embedded and untouched and loop.time() - started_at > WORKER_HINT_AFTER_S
        progress.update(task, description=NO_WORKER_HINT if no_worker else description)
        if pending:
            await asyncio.sleep(POLL_INTERVAL_S)
    return [finished[job_id] for job_id in job_ids]


async def _replay(
    resources: Resources,
    frames: dict[str, pd.DataFrame],
    machine_ids: dict[str, uuid.UUID],
    start: pd.Timestamp,
    end: pd.Timestamp,
    progress: Progress,
    task: TaskID,
) -> int:
    """Ingest the readings after ``start`` up to ``end`` a day at a time, monitoring after each day."""
    evaluations = 0
    day = start
    while day < end:
        following = day + pd.Timedelta(days=1)
        async with transaction(resources.sessions) as session:
            for name, frame in frames.items():
                rows = reading_rows(frame.loc[(frame.index > day) & (frame.index <= following)])
                await ingest.upsert_readings(session, machine_ids[name], rows)
        evaluations += await monitoring.evaluate_all(resources)
        progress.advance(task)
        day = following
    return evaluations


async def _start_ab_test(
    resources: Resources, machine_id: uuid.UUID, frame: pd.DataFrame, live_start: pd.Timestamp, progress: Progress
) -> uuid.UUID:
    """Retrain one series on the newest readings, A/B-test it against its first version, serve the last week.

    The predictions are asked for before the week's readings are ingested, as a client planning ahead
    would (with its production plan and the weather forecast as drivers); once the readings arrive,
    the test's arms are scored on them.
    """
    await _train(resources, [(machine_id, AB_MODEL_TYPE)], "retrained on the newest readings for an A/B test", progress)
    key = (machine_id, AB_MODEL_TYPE)
    async with resources.reads() as session:
        newer, older = (await registry.versions_of_series(session, [key], limit=2))[key]
    plan = abtests.TestPlan(model_a_id=older.id, model_b_id=newer.id)
    async with transaction(resources.sessions) as session:
        test = await abtests.start(session, plan, DEMO_ACTOR)
    week = frame.loc[frame.index > live_start]
    inputs = [
        predictions.PredictionInput(instant.to_pydatetime(), _known(production), _known(temperature))
        for instant, production, temperature in zip(
            week.index, week["production_units"], week["outdoor_temp_c"], strict=True
        )
    ]
    await predictions.serve(resources, machine_id, AB_MODEL_TYPE, inputs)
    return test.id
