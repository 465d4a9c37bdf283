"""Monitoring policies: per-series thresholds, with documented defaults when none is stored.

Error thresholds are fractions (0.30 = 30 %). Defaults follow ASHRAE Guideline 14 for hourly data
(CV(RMSE) ≤ 30 %, |NMBE| ≤ 10 %) and the usual PSI bands (0.1 warning, 0.25 critical).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tables import MonitoringPolicy
from app.enums import ModelType
from app.errors import InvalidInput
from app.ml.drift import DataDriftThresholds, MetricThresholds
from app.services.checks import require_range
from app.services.fleet import machines

MAX_COOLDOWN_HOURS = 24 * 365
#: The PSI bands a series without a stored policy is checked with: the drift statistics' own defaults.
_DATA_DRIFT_DEFAULTS = DataDriftThresholds()
#: A window's CV(RMSE) is also bad above (1 + this) × the champion's validation CV(RMSE), whatever the policy
#: maximum: the limit a DEGRADATION alert names when the model became much worse while still under it.
CV_RMSE_RELATIVE_INCREASE = MetricThresholds().cv_rmse_relative_increase


@dataclass(frozen=True)
class PolicySettings:
    max_cv_rmse: float = 0.30
    max_abs_nmbe: float = 0.10
    min_r_squared: float | None = None
    psi_warning: float = _DATA_DRIFT_DEFAULTS.psi_warning
    psi_critical: float = _DATA_DRIFT_DEFAULTS.psi_critical
    auto_retrain: bool = False
    retrain_cooldown_hours: float = 24.0
    #: Length of one monitoring evaluation window, and the fewest matched readings it needs.
    evaluation_window_hours: float = 24.0
    min_samples: int = 24
    #: Bad windows in a row before DEGRADATION; clear windows in a row before an alert resolves itself.
    consecutive_windows: int = 3
    clear_windows: int = 2
    #: Recent history compared with the training profile in data-drift checks.
    drift_window_days: float = 7.0
    #: Whether the winner of a completed A/B test becomes champion automatically.
    promote_ab_winner: bool = False
    #: Data quality: a silence longer than this many usual reading intervals is a gap; identical readings
    #: for longer than ``stuck_hours`` are a stuck sensor; a step beyond ``jump_factor`` times the
    #: machine's usual largest step is an implausible jump.
    gap_intervals: float = 6.0
    stuck_hours: float = 6.0
    jump_factor: float = 4.0
    #: Data drift that matters to the model: the prediction shift a feature's change implies, in
    #: residual standard deviations of the model, for a WARNING and a CRITICAL.
    drift_impact_warning: float = 2.0
    drift_impact_critical: float = 4.0

    def check(self) -> None:
        require_range("maxCvRmse", self.max_cv_rmse, minimum=0.0, maximum=10.0, exclusive_minimum=True)
        require_range("maxAbsNmbe", self.max_abs_nmbe, minimum=0.0, maximum=10.0, exclusive_minimum=True)
        require_range("minRSquared", self.min_r_squared, maximum=1.0)
        require_range("psiWarning", self.psi_warning, minimum=0.0, exclusive_minimum=True)
        require_range("psiCritical", self.psi_critical, minimum=0.0, exclusive_minimum=True)
        if self.psi_critical < self.psi_warning:
            raise InvalidInput("psiCritical must be ≥ psiWarning", field="psiCritical")
        require_range("retrainCooldownHours", self.retrain_cooldown_hours, minimum=0.0, maximum=MAX_COOLDOWN_HOURS)
        require_range("evaluationWindowHours", self.evaluation_window_hours, minimum=1.0, maximum=24.0 * 31)
        require_range("minSamples", self.min_samples, minimum=1, maximum=100_000)
        require_range("consecutiveWindows", self.consecutive_windows, minimum=1, maximum=100)
        require_range("clearWindows", self.clear_windows, minimum=1, maximum=100)
        require_range("driftWindowDays", self.drift_window_days, minimum=1.0, maximum=365.0)
        require_range("gapIntervals", self.gap_intervals, minimum=1.0, maximum=10_000.0, exclusive_minimum=True)
        require_range("stuckHours", self.stuck_hours, minimum=0.0, maximum=24.0 * 365, exclusive_minimum=True)
        require_range("jumpFactor", self.jump_factor, minimum=1.0, maximum=1_000.0, exclusive_minimum=True)
        require_range("driftImpactWarning", self.drift_impact_warning, minimum=0.0, exclusive_minimum=True)
        require_range("driftImpactCritical", self.drift_impact_critical, minimum=0.0, exclusive_minimum=True)
        if self.drift_impact_critical < self.drift_impact_warning:
            raise InvalidInput("driftImpactCritical must be ≥ driftImpactWarning", field="driftImpactCritical")


DEFAULT_POLICY = PolicySettings()
POLICY_FIELDS = tuple(field.name for field in fields(PolicySettings))


@dataclass(frozen=True)
class Policy:
    machine_id: uuid.UUID
    model_type: ModelType
    settings: PolicySettings
    stored: bool


def _from_row(row: MonitoringPolicy) -> Policy:
    settings = PolicySettings(**{name: getattr(row, name) for name in POLICY_FIELDS})
    return Policy(row.machine_id, row.model_type, settings, stored=True)


async def get_many(
    session: AsyncSession, keys: Sequence[tuple[uuid.UUID, ModelType]]
) -> dict[tuple[uuid.UUID, ModelType], Policy]:
    machine_ids = {machine_id for machine_id, _ in keys}
    rows = await session.scalars(sa.select(MonitoringPolicy).where(MonitoringPolicy.machine_id.in_(machine_ids)))
    stored = {(row.machine_id, row.model_type): _from_row(row) for row in rows}
    return {key: stored.get(key) or Policy(key[0], key[1], DEFAULT_POLICY, stored=False) for key in keys}


async def get(session: AsyncSession, machine_id: uuid.UUID, model_type: ModelType) -> Policy:
    return (await get_many(session, [(machine_id, model_type)]))[(machine_id, model_type)]


async def update(
    session: AsyncSession, machine_id: uuid.UUID, model_type: ModelType, changes: dict[str, object], by: str | None
) -> Policy:
    """Apply ``changes`` (field name → value) over the stored policy or the defaults, then store it whole."""
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown policy field(s): {', '.join(sorted(unknown))}")
    await machines.require(session, machine_id)
    current = await get(session, machine_id, model_type)
    merged = PolicySettings(**{**{n: getattr(current.settings, n) for n in POLICY_FIELDS}, **changes})
    merged.check()
    values = {name: getattr(merged, name) for name in POLICY_FIELDS}
    row = await session.get(MonitoringPolicy, (machine_id, model_type))
    if row is None:
        row = MonitoringPolicy(machine_id=machine_id, model_type=model_type, **values)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = datetime.now(UTC)
    row.updated_by = by
    await session.flush()
    return _from_row(row)
