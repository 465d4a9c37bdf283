"""Domain enumerations.

Member names are the GraphQL enum values; member values are what the database stores (lower case,
the names the seed SQL and the views use).
"""

from __future__ import annotations

from enum import StrEnum


class ModelType(StrEnum):
    BASELINE = "baseline"
    ANOMALY = "anomaly"
    FORECAST_ARIMA = "forecast_arima"
    FORECAST_PROPHET = "forecast_prophet"


#: Model types by stored value, for rows read without SQLAlchemy's enum processing (a dict lookup, not a call).
MODEL_TYPES: dict[str, ModelType] = {member.value: member for member in ModelType}


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_JOB_STATUSES: tuple[JobStatus, ...] = (JobStatus.PENDING, JobStatus.RUNNING)


class TriggerType(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    DRIFT = "drift"
    DEGRADATION = "degradation"


class InterventionKind(StrEnum):
    EFFICIENCY_MEASURE = "efficiency_measure"
    EQUIPMENT_CHANGE = "equipment_change"
    OPERATIONAL_CHANGE = "operational_change"
    NON_ROUTINE_EVENT = "non_routine_event"


#: Changes after which the ANOMALY and FORECAST series must re-learn the machine from the change on.
RELEARN_AFTER: tuple[InterventionKind, ...] = (InterventionKind.EQUIPMENT_CHANGE, InterventionKind.OPERATIONAL_CHANGE)


class VersionStage(StrEnum):
    CANDIDATE = "candidate"
    CHAMPION = "champion"
    ARCHIVED = "archived"


class AlertType(StrEnum):
    DRIFT = "drift"
    DEGRADATION = "degradation"
    TRAINING_FAILED = "training_failed"
    AB_TEST_COMPLETED = "ab_test_completed"
    DATA_QUALITY = "data_quality"


#: Alerts about a machine's readings rather than one of its models: stored on its BASELINE series (an
#: alert names a series), shown with the machine, never counted among a model's alerts.
MACHINE_ALERT_TYPES: frozenset[AlertType] = frozenset({AlertType.DATA_QUALITY})


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Ordering used for ``minSeverity`` filters and escalation (higher is worse)."""
        return SEVERITY_RANK[self]


SEVERITY_RANK: dict[Severity, int] = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


UNRESOLVED_ALERT_STATUSES: tuple[AlertStatus, ...] = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


class Health(StrEnum):
    """Where a series stands, judged by its latest evaluation against its policy and its unresolved alerts;
    a machine's is its worst series'. Members are listed worst first."""

    CRITICAL = "critical"
    WARNING = "warning"
    NO_DATA = "no_data"
    OK = "ok"


class FleetOrder(StrEnum):
    WORST_FIRST = "worst_first"
    NAME = "name"


class AbTestStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"


class MetricsSource(StrEnum):
    TRAINING_VALIDATION = "training_validation"
    MONITORING = "monitoring"
    EXTERNAL = "external"


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
