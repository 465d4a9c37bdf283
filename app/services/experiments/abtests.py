"""A/B tests between two versions of one series: start, stop, evaluate, complete, and the reads.

    startAbTest ──insert RUNNING (partial unique index: one running test per series)──► RUNNING
    periodic evaluation ── match served predictions with readings, decide, store the results ──┐
        endsAt passed, or a sequential test crossed its boundary ──► COMPLETED (+ alert, promotion)
    stopAbTest ──► STOPPED (a winner only if one was validly decided at that look)

Every transition is one UPDATE guarded by ``status = 'running'``, so concurrent evaluations (several
workers, a slow tick overlapping the next) and a concurrent stop settle each test exactly once.

Results are stored on the test row at each evaluation and served from there, not computed on read:
each evaluation is one look of the design (the sequential test's anytime-valid guarantee covers any
number of looks, the fixed-horizon test decides only at the end), so what a reader sees is exactly
what the system acts on, and reads stay a primary-key lookup however often the dashboard polls.
The matching is one SQL join for all running tests; the statistics are ``app.ml.abtest``.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from app.constants import SYSTEM_ACTOR
from app.db.engine import changed_rows, dialect_insert, transaction
from app.db.tables import RUNNING_AB_TEST_CONDITION, AbTest, EnergyReading, ModelVersion, ServedPrediction
from app.enums import AbTestStatus, AlertType, ModelType, Severity, VersionStage
from app.errors import Conflict, InvalidInput, NotFound
from app.ml.abtest import AbDecision, decide
from app.services.alerting import alerts
from app.services.checks import require_limit, require_range
from app.services.models import registry
from app.services.tracking import policies

if TYPE_CHECKING:
    from app.runtime.resources import Resources

logger = logging.getLogger("kilowatch.abtests")

SeriesKey = tuple[uuid.UUID, ModelType]

MAX_DURATION_HOURS = 24 * 90
MAX_MIN_SAMPLES = 1_000_000
MAX_PLANNED_SAMPLES = 1_000_000_000
#: Who completes tests and promotes winners, in the champion history.
#: ``reason`` of a test stopped by hand before any decision (the statistics' own reasons are in abstats).
REASON_STOPPED = "stopped"
_EMPTY = np.empty(0)


@dataclass(frozen=True)
class TestPlan:
    """What ``startAbTest`` asks for; every bound is checked before anything is read or written."""

    model_a_id: uuid.UUID
    model_b_id: uuid.UUID
    traffic_split: float = 0.5
    duration_hours: float = 168.0
    min_samples: int = 100
    significance: float = 0.05
    sequential: bool = False
    planned_samples: int | None = None

    def check(self) -> None:
        """``minSamples`` starts at 2, not 1: no test yields a p-value from one sample per arm."""
        check_split("trafficSplit", self.traffic_split)
        require_range(
            "durationHours", self.duration_hours, minimum=0.0, maximum=MAX_DURATION_HOURS, exclusive_minimum=True
        )
        check_min_samples("minSamples", self.min_samples)
        check_significance("significance", self.significance)
        if self.planned_samples is not None:
            if not self.sequential:
                raise InvalidInput("plannedSamples applies only to sequential tests", field="plannedSamples")
            require_limit("plannedSamples", self.planned_samples, MAX_PLANNED_SAMPLES)


#: The optional settings of a plan, by field name (all but the two versions).
PLAN_OPTIONS = tuple(field.name for field in fields(TestPlan) if field.name not in ("model_a_id", "model_b_id"))


def check_split(field: str, value: float) -> None:
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise InvalidInput(
            f"{field} (the share of traffic routed to B) must be strictly between 0 and 1, got {value:g}", field=field
        )


def check_min_samples(field: str, value: int) -> None:
    if not 2 <= value <= MAX_MIN_SAMPLES:
        raise InvalidInput(f"{field} must be between 2 and {MAX_MIN_SAMPLES} per arm, got {value}", field=field)


def check_significance(field: str, value: float) -> None:
    require_range(field, value, minimum=0.0, maximum=0.5, exclusive_minimum=True)


async def get(session: AsyncSession, test_id: uuid.UUID) -> AbTest | None:
    return await session.get(AbTest, test_id)


async def list_tests(session: AsyncSession, statuses: Sequence[AbTestStatus] | None, limit: int) -> Sequence[AbTest]:
    query = sa.select(AbTest).order_by(AbTest.started_at.desc(), AbTest.id).limit(limit)
    if statuses:
        query = query.where(AbTest.status.in_(statuses))
    return (await session.scalars(query)).all()


async def running_of_series(session: AsyncSession, keys: Sequence[SeriesKey]) -> dict[SeriesKey, AbTest]:
    machine_ids = {machine_id for machine_id, _ in keys}
    rows = await session.scalars(
        sa.select(AbTest).where(AbTest.machine_id.in_(machine_ids), AbTest.status == AbTestStatus.RUNNING)
    )
    return {(row.machine_id, row.model_type): row for row in rows}


async def version_pair(
    session: AsyncSession, model_a_id: uuid.UUID, model_b_id: uuid.UUID
) -> tuple[ModelVersion, ModelVersion]:
    """Two different versions of one series (artifacts not loaded), or the error naming the field at fault."""
    found = {
        version.id: version
        for version in await session.scalars(
            sa.select(ModelVersion)
            .options(defer(ModelVersion.artifact))
            .where(ModelVersion.id.in_([model_a_id, model_b_id]))
        )
    }
    for field, version_id in (("modelAId", model_a_id), ("modelBId", model_b_id)):
        if version_id not in found:
            raise NotFound(f"model version {version_id} does not exist", field=field)
    version_a, version_b = found[model_a_id], found[model_b_id]
    if version_a.id == version_b.id:
        raise InvalidInput("modelBId must be another version than modelAId", field="modelBId")
    if (version_a.machine_id, version_a.model_type) != (version_b.machine_id, version_b.model_type):
        raise InvalidInput(
            f"modelBId is a {version_b.model_type.name} version of machine {version_b.machine_id}, modelAId a "
            f"{version_a.model_type.name} version of machine {version_a.machine_id}: both must be of one series",
            field="modelBId",
        )
    return version_a, version_b


def evaluate(test: AbTest, errors: dict[str, np.ndarray], final: bool) -> AbDecision:
    """One look at ``test``: the design (fixed or sequential, planned samples) is the one it started with."""
    return decide(
        errors.get("A", _EMPTY),
        errors.get("B", _EMPTY),
        traffic_split=test.traffic_split,
        min_samples=test.min_samples,
        significance=test.significance,
        final=final,
        sequential=test.sequential,
        planned_samples=test.planned_samples,
    )


def stored_results(decision: AbDecision, now: datetime) -> dict[str, Any]:
    return {**decision.as_dict(), "evaluated_at": now.isoformat()}


async def start(session: AsyncSession, plan: TestPlan, started_by: str | None, now: datetime | None = None) -> AbTest:
    """Insert a RUNNING test unless the series has one; CONFLICT then names the running test."""
    plan.check()
    now = now or datetime.now(UTC)
    version_a, version_b = await version_pair(session, plan.model_a_id, plan.model_b_id)
    table = AbTest.__table__
    values = {
        "machine_id": version_a.machine_id,
        "model_type": version_a.model_type,
        "model_a_id": version_a.id,
        "model_b_id": version_b.id,
        "traffic_split": plan.traffic_split,
        "status": AbTestStatus.RUNNING,
        "started_at": now,
        "ends_at": now + timedelta(hours=plan.duration_hours),
        "min_samples": plan.min_samples,
        "significance": plan.significance,
        "winner": None,
        "started_by": started_by,
        "sequential": plan.sequential,
        "planned_samples": plan.planned_samples,
    }
    initial = stored_results(evaluate(AbTest(**values), {}, final=False), now)
    for _ in range(3):  # the running test may end between our insert and our read: try again
        test_id = uuid.uuid4()
        statement = (
            dialect_insert(session)(table)
            .values(id=test_id, results=initial, **values)
            .on_conflict_do_nothing(
                index_elements=["machine_id", "model_type"], index_where=sa.text(RUNNING_AB_TEST_CONDITION)
            )
            .returning(table.c.id)
        )
        if await session.scalar(statement) is not None:
            test = await session.get(AbTest, test_id)
            assert test is not None
            return test
        key = (version_a.machine_id, version_a.model_type)
        running = (await running_of_series(session, [key])).get(key)
        if running is not None:
            raise Conflict(
                f"A/B test {running.id} is already running for {version_a.model_type.name} of machine "
                f"{version_a.machine_id}; stop it or wait for it to end",
                field="modelAId",
            )
    raise Conflict("the series changed too quickly to start a test; try again", field="modelAId")


async def matched_errors(
    session: AsyncSession, test_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, np.ndarray]]:
    """Errors y − ŷ per test and arm, for every served instant whose reading has arrived: one join for all tests.

    A client may ask for the same instant several times; routing and versions are deterministic, so
    those rows hold one prediction, and the instant counts once.
    """
    if not test_ids:
        return {}
    served = ServedPrediction
    query = (
        sa.select(served.ab_test_id, served.arm, EnergyReading.energy_kwh - sa.func.avg(served.value))
        .join(EnergyReading, (EnergyReading.machine_id == served.machine_id) & (EnergyReading.ts == served.ts))
        .where(served.ab_test_id.in_(test_ids))
        .group_by(served.ab_test_id, served.arm, served.ts, EnergyReading.energy_kwh)
    )
    grouped: dict[tuple[uuid.UUID | None, str | None], list[float]] = {}
    for test_id, arm, error in await session.execute(query):
        grouped.setdefault((test_id, arm), []).append(error)
    errors: dict[uuid.UUID, dict[str, np.ndarray]] = {}
    for (test_id, arm), values in grouped.items():
        assert test_id is not None and arm is not None  # the query reads A/B-test rows only, which have both
        errors.setdefault(test_id, {})[arm] = np.asarray(values, dtype=float)
    return errors


async def evaluate_running(resources: Resources, now: datetime | None = None) -> list[uuid.UUID]:
    """The periodic action: one look at every running test; complete those that ended or decided.

    Re-entrant: interim results and completions are guarded updates. Returns the tests it completed.
    """
    now = now or datetime.now(UTC)
    async with resources.reads() as session:
        tests = (await session.scalars(sa.select(AbTest).where(AbTest.status == AbTestStatus.RUNNING))).all()
        errors = await matched_errors(session, [test.id for test in tests])
    decisions = {test.id: evaluate(test, errors.get(test.id, {}), final=now >= test.ends_at) for test in tests}
    interim = [test for test in tests if not decisions[test.id].decided]
    if interim:
        async with transaction(resources.sessions) as session:
            for test in interim:
                await session.execute(
                    sa.update(AbTest)
                    .where(AbTest.id == test.id, AbTest.status == AbTestStatus.RUNNING)
                    .values(results=stored_results(decisions[test.id], now))
                )
    completed = []
    for test in tests:
        if decisions[test.id].decided and await complete(resources, test, decisions[test.id], now):
            completed.append(test.id)
    if completed:
        logger.info("completed %d A/B test(s)", len(completed))
    return completed


async def _finish(
    session: AsyncSession, test_id: uuid.UUID, status: AbTestStatus, decision: AbDecision, now: datetime
) -> AbTest | None:
    """RUNNING → ``status`` with the decision of this look, guarded; None when another process got there first.

    A look that has not decided (only possible when stopping by hand) records why in ``reason``.
    """
    results = stored_results(decision, now)
    if not decision.decided:
        results["reason"] = REASON_STOPPED
    finished = await changed_rows(
        session,
        sa.update(AbTest)
        .where(AbTest.id == test_id, AbTest.status == AbTestStatus.RUNNING)
        .values(status=status, finished_at=now, results=results, winner=decision.winner)
        .execution_options(synchronize_session=False),
    )
    if finished == 0:
        return None
    return await session.get(AbTest, test_id, populate_existing=True)


async def complete(resources: Resources, test: AbTest, decision: AbDecision, now: datetime) -> bool:
    """COMPLETED with final results, an AB_TEST_COMPLETED alert and, if the policy says so, the winner promoted.

    All in one transaction; the alert is published after commit. False when the test was no longer running.
    """
    async with transaction(resources.sessions) as session:
        finished = await _finish(session, test.id, AbTestStatus.COMPLETED, decision, now)
        if finished is None:
            return False
        version_a, version_b = await version_pair(session, test.model_a_id, test.model_b_id)
        winner = {"A": version_a, "B": version_b}.get(decision.winner or "")
        promoted = await _promote(session, finished, winner)
        raised = await alerts.raise_alert(
            session,
            machine_id=test.machine_id,
            model_type=test.model_type,
            alert_type=AlertType.AB_TEST_COMPLETED,
            severity=Severity.INFO,
            message=_summary(finished, decision, version_a, version_b),
            details={
                "ab_test_id": str(test.id),
                "model_a_id": str(version_a.id),
                "model_b_id": str(version_b.id),
                **decision.as_dict(),
            },
            now=now,
            notify=resources.settings.webhook_urls,
        )
        raised.alert.auto_action = f"promoted version {winner.version} to champion" if promoted and winner else None
        await session.flush()
    await alerts.publish(resources, raised)
    return True


async def _promote(session: AsyncSession, test: AbTest, winner: ModelVersion | None) -> bool:
    """Crown the winner when the series' policy asks for it and it is not the champion already."""
    if winner is None or winner.stage == VersionStage.CHAMPION:
        return False
    policy = await policies.get(session, test.machine_id, test.model_type)
    if not policy.settings.promote_ab_winner:
        return False
    version = await session.get(ModelVersion, winner.id, with_for_update=True, populate_existing=True)
    assert version is not None
    await registry.make_champion(session, version, SYSTEM_ACTOR, f"won A/B test {test.id} as arm {test.winner}")
    return True


def _summary(test: AbTest, decision: AbDecision, version_a: ModelVersion, version_b: ModelVersion) -> str:
    series = f"A/B test of {test.model_type.name} v{version_a.version} (A) vs v{version_b.version} (B)"
    if decision.winner is None:
        return f"{series} completed without a winner: {decision.reason.replace('_', ' ')}"
    version = version_a if decision.winner == "A" else version_b
    evidence = f"p = {decision.p_value:.3g} ({decision.method})"
    return f"{series} completed: v{version.version} ({decision.winner}) wins, {evidence}"


async def stop(session: AsyncSession, test_id: uuid.UUID, now: datetime | None = None) -> AbTest:
    """End a running test by hand. Its winner stands only if this look decides validly.

    That is a sequential test that has crossed its boundary, or a test past its end; a fixed-horizon
    test stopped early has no decision, whatever its interim p-value says. Stopping never promotes.
    """
    now = now or datetime.now(UTC)
    test = await session.get(AbTest, test_id)
    if test is None:
        raise NotFound(f"A/B test {test_id} does not exist", field="id")
    if test.status != AbTestStatus.RUNNING:
        raise Conflict(f"A/B test {test_id} is already {test.status.value}", field="id")
    errors = (await matched_errors(session, [test_id])).get(test_id, {})
    decision = evaluate(test, errors, final=now >= test.ends_at)
    stopped = await _finish(session, test_id, AbTestStatus.STOPPED, decision, now)
    if stopped is None:
        raise Conflict(f"A/B test {test_id} has just ended", field="id")
    return stopped
