"""Savings since an intervention (IPMVP Option C, avoided energy use) against its frozen baseline.

expected = the frozen BASELINE's predictions under the reporting period's actual drivers;
savings = expected - observed. The uncertainty rests on how well that baseline fitted its own
training period (RMSE, residual autocorrelation, count), measured here on the same readings it was
trained on; see ``app.ml.savings`` for the formulas. Readings flagged as anomalies are left out on
both sides, and so are reporting readings the baseline cannot predict (a driver missing); the report
counts both.

The reporting period runs from the intervention (or ``from``) to the latest reading (or ``to``), and
stops at the machine's next intervention: after another change the first one's savings are no
longer separable from it.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tables import ModelVersion
from app.enums import InterventionKind, ModelType
from app.errors import Conflict, InvalidInput
from app.ml import savings as statistics
from app.ml.model_types import get_model_type
from app.services.checks import require_aware, require_range
from app.services.fleet import machines, readings
from app.services.models import registry, windows
from app.services.savings import interventions
from app.services.savings.interventions import InterventionView

MAX_POINTS = 5_000
METHOD = (
    "IPMVP Option C avoided energy use; ASHRAE Guideline 14 Annex B uncertainty with AR(1)-adjusted "
    "reporting noise and baseline estimation error (see docs/savings.md)"
)


@dataclass(frozen=True)
class CurvePoint:
    at: datetime
    observed_kwh: float
    expected_kwh: float
    cumulative_kwh: float
    lower: float
    upper: float


@dataclass(frozen=True)
class SavingsReport:
    machine_id: uuid.UUID
    intervention: InterventionView | None
    baseline_version: ModelVersion
    period_start: datetime
    period_end: datetime
    confidence: float
    totals: statistics.SavingsTotals
    fit: statistics.BaselineFit
    excluded_baseline_anomalies: int
    excluded_reporting_anomalies: int
    unpredictable_readings: int
    timestamps: pd.DatetimeIndex
    observed: np.ndarray
    expected: np.ndarray

    def curve(self, max_points: int) -> list[CurvePoint]:
        """The cumulative savings in at most ``max_points`` buckets, each bound at the report's confidence."""
        require_range("maxPoints", max_points, minimum=1, maximum=MAX_POINTS)
        curve = statistics.cumulative(self.fit, self.observed, self.expected, self.confidence, max_points)
        columns = zip(
            self.timestamps[curve.ends],
            curve.observed_kwh.tolist(),
            curve.expected_kwh.tolist(),
            curve.cumulative_kwh.tolist(),
            curve.lower.tolist(),
            curve.upper.tolist(),
            strict=True,
        )
        return [CurvePoint(at.to_pydatetime(), *values) for at, *values in columns]


async def report(
    session: AsyncSession,
    machine_id: uuid.UUID,
    intervention_id: uuid.UUID | None,
    start: datetime | None,
    end: datetime | None,
    confidence: float,
) -> SavingsReport:
    require_range("confidence", confidence, minimum=0.5, maximum=0.999)
    require_aware("from", start)
    require_aware("to", end)
    await machines.require(session, machine_id)
    intervention = await _intervention(session, machine_id, intervention_id)
    version = await _baseline(session, machine_id, intervention)
    # Exclusive lower bound: the intervention's readings from ``at`` on, or the champion's after its window.
    after = max(
        value
        for value in (
            intervention.at - windows.JUST_BEFORE if intervention else version.trained_to,
            start - windows.JUST_BEFORE if start else None,
        )
        if value is not None
    )
    following = await interventions.first_after(
        session, machine_id, intervention.at if intervention else after, list(InterventionKind)
    )
    limits = [value for value in (end, following.at - windows.JUST_BEFORE if following else None) if value]
    until = min(limits) if limits else await readings.latest_instant(session, machine_id)
    if until is None or until <= after:
        raise InvalidInput("the reporting period is empty: `to` must be after the intervention and `from`", field="to")
    baseline_frame = await readings.window_frame(
        session, machine_id, version.trained_from - windows.JUST_BEFORE, version.trained_to
    )
    reporting = await readings.window_frame(session, machine_id, after, until)
    period_start = after + windows.JUST_BEFORE
    return await asyncio.to_thread(
        _compute, machine_id, intervention, version, baseline_frame, reporting, period_start, confidence
    )


def _compute(
    machine_id: uuid.UUID,
    intervention: InterventionView | None,
    version: ModelVersion,
    baseline_frame: pd.DataFrame,
    reporting: pd.DataFrame,
    period_start: datetime,
    confidence: float,
) -> SavingsReport:
    """CPU-bound part (predictions on both periods), run in a thread."""
    model = get_model_type(version.model_type.value).load(version.artifact)
    baseline, excluded_baseline = _without_anomalies(baseline_frame)
    try:
        fit = statistics.baseline_fit(
            baseline["energy_kwh"].to_numpy(dtype=float), model.predict(baseline).value, model.parameter_count
        )
    except statistics.SavingsError as error:
        raise Conflict(f"baseline version {version.version}: {error}", field="interventionId") from error
    kept, excluded_reporting = _without_anomalies(reporting)
    expected = np.asarray(model.predict(kept).value, dtype=float)
    observed = kept["energy_kwh"].to_numpy(dtype=float)
    usable = np.isfinite(expected) & np.isfinite(observed)
    if not usable.any():
        raise Conflict(
            f"no usable readings after {period_start.isoformat()} yet: savings need reporting-period readings "
            "with every driver the baseline uses",
            field="interventionId",
        )
    totals = statistics.totals(fit, observed[usable], expected[usable], confidence)
    timestamps = kept.index[usable]
    return SavingsReport(
        machine_id=machine_id,
        intervention=intervention,
        baseline_version=version,
        period_start=period_start,
        period_end=timestamps[-1].to_pydatetime(),
        confidence=confidence,
        totals=totals,
        fit=fit,
        excluded_baseline_anomalies=excluded_baseline,
        excluded_reporting_anomalies=excluded_reporting,
        unpredictable_readings=int((~usable).sum()),
        timestamps=timestamps,
        observed=observed[usable],
        expected=expected[usable],
    )


def _without_anomalies(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    flagged = frame["is_anomaly"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return frame.loc[~flagged], int(flagged.sum())


async def _intervention(
    session: AsyncSession, machine_id: uuid.UUID, intervention_id: uuid.UUID | None
) -> InterventionView | None:
    """The one asked for, else the machine's newest; None when the machine has none."""
    if intervention_id is not None:
        view = await interventions.get(session, intervention_id)
        interventions.require_of_machine(view, intervention_id, machine_id)
        return view
    newest = (await interventions.of_machines(session, [machine_id])).get(machine_id, [])
    return newest[0] if newest else None


async def _baseline(
    session: AsyncSession, machine_id: uuid.UUID, intervention: InterventionView | None
) -> ModelVersion:
    """The intervention's frozen version; without an intervention, the BASELINE champion."""
    if intervention is None:
        champion = await registry.champion_of(session, machine_id, ModelType.BASELINE)
        if champion is None:
            raise Conflict(
                f"machine {machine_id} has no intervention and no BASELINE champion: record an intervention "
                "or train a baseline first",
                field="machineId",
            )
        return champion
    if intervention.baseline_version_id is None:
        waiting = (
            f"its baseline job {intervention.baseline_job_id} has not completed"
            if intervention.baseline_job_id
            else "no BASELINE was trained on data before it"
        )
        raise Conflict(f"intervention {intervention.id} has no frozen baseline yet: {waiting}", field="interventionId")
    version = await registry.get_version(session, intervention.baseline_version_id)
    assert version is not None
    return version
