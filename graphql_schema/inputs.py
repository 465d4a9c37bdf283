"""GraphQL input types of the contract."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types.arguments import InputContext
from strawberry.types.base import get_object_definition

from graphql_schema.enums import InterventionKind, ModelType


@strawberry.input
class ReadingInput:
    timestamp: datetime
    energy_kwh: float
    production_units: float | None = None
    outdoor_temp_c: float | None = None
    is_anomaly: bool | None = strawberry.field(
        default=None, description="Operator-confirmed anomaly label, when known."
    )


@strawberry.input
class RecordMetricsInput:
    machine_id: uuid.UUID
    model_type: ModelType
    model_version_id: uuid.UUID | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    sample_count: int
    r_squared: float | None = None
    rmse: float | None = None
    mae: float | None = None
    mape: float | None = None
    cv_rmse: float | None = None
    nmbe: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None


@strawberry.input
class PredictionInput:
    timestamp: datetime
    production_units: float | None = None
    outdoor_temp_c: float | None = None


@strawberry.input
class StartAbTestInput:
    model_a_id: uuid.UUID
    model_b_id: uuid.UUID
    traffic_split: float | None = 0.5
    duration_hours: float | None = 168
    min_samples: int | None = 100
    significance: float | None = 0.05
    sequential: bool | None = strawberry.field(
        default=False, description="Allow early decisions (anytime-valid confidence sequence); fixed for the test."
    )
    planned_samples: int | None = strawberry.field(
        default=None, description="Sequential tests only: total matched predictions expected by the end."
    )


@strawberry.input
class MonitoringPolicyInput:
    machine_id: uuid.UUID
    model_type: ModelType
    max_cv_rmse: float | None = strawberry.UNSET
    max_abs_nmbe: float | None = strawberry.UNSET
    min_r_squared: float | None = strawberry.UNSET
    psi_warning: float | None = strawberry.UNSET
    psi_critical: float | None = strawberry.UNSET
    auto_retrain: bool | None = strawberry.UNSET
    retrain_cooldown_hours: float | None = strawberry.UNSET
    evaluation_window_hours: float | None = strawberry.UNSET
    min_samples: int | None = strawberry.UNSET
    consecutive_windows: int | None = strawberry.UNSET
    clear_windows: int | None = strawberry.UNSET
    drift_window_days: float | None = strawberry.UNSET
    promote_ab_winner: bool | None = strawberry.UNSET
    gap_intervals: float | None = strawberry.UNSET
    stuck_hours: float | None = strawberry.UNSET
    jump_factor: float | None = strawberry.UNSET
    drift_impact_warning: float | None = strawberry.UNSET
    drift_impact_critical: float | None = strawberry.UNSET


def _reading_from_input(cls: type[ReadingInput], value: Mapping[str, Any], _: InputContext) -> ReadingInput:
    """Build readings straight from graphql-core's coerced values (scalars already parsed).

    ``ingestReadings`` takes up to 50,000 readings a call; Strawberry's generic field-by-field
    conversion costs more than the database write at that size, and this input has only leaf fields.
    """
    return cls(
        timestamp=value["timestamp"],
        energy_kwh=value["energyKwh"],
        production_units=value.get("productionUnits"),
        outdoor_temp_c=value.get("outdoorTempC"),
        is_anomaly=value.get("isAnomaly"),
    )


get_object_definition(ReadingInput, strict=True).from_input = _reading_from_input


@strawberry.input
class InterventionInput:
    machine_id: uuid.UUID
    at: datetime
    kind: InterventionKind
    description: str
