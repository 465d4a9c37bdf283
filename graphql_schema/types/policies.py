from __future__ import annotations

import uuid

import strawberry

from app.services.tracking.policies import CV_RMSE_RELATIVE_INCREASE, Policy
from graphql_schema.enums import ModelType


@strawberry.type(description="Thresholds for one series; error thresholds are fractions (0.30 = 30 %).")
class MonitoringPolicy:
    machine_id: uuid.UUID
    model_type: ModelType
    max_cv_rmse: float
    max_abs_nmbe: float
    min_r_squared: float | None
    psi_warning: float
    psi_critical: float
    auto_retrain: bool
    retrain_cooldown_hours: float
    evaluation_window_hours: float = strawberry.field(description="Length of one monitoring evaluation window.")
    min_samples: int = strawberry.field(description="Fewest matched readings an evaluation window needs.")
    consecutive_windows: int = strawberry.field(description="Bad windows in a row before a DEGRADATION alert.")
    clear_windows: int = strawberry.field(description="Clear windows in a row before an alert resolves itself.")
    drift_window_days: float = strawberry.field(description="Recent history compared with the training profile.")
    promote_ab_winner: bool = strawberry.field(description="Whether an A/B test's winner becomes champion.")
    gap_intervals: float = strawberry.field(
        description="Data quality: a silence longer than this many usual reading intervals is a gap."
    )
    stuck_hours: float = strawberry.field(
        description="Data quality: identical readings for longer than this (hours) are a stuck sensor."
    )
    jump_factor: float = strawberry.field(
        description="Data quality: a step beyond this many times the machine's usual largest step is implausible."
    )
    drift_impact_warning: float = strawberry.field(
        description="Data drift: implied prediction shift, in the model's residual SDs, for a WARNING."
    )
    drift_impact_critical: float = strawberry.field(
        description="Data drift: implied prediction shift, in the model's residual SDs, for a CRITICAL."
    )
    is_default: bool = strawberry.field(description="True when no policy was stored and the defaults apply.")
    cv_rmse_relative_increase: float | None = strawberry.field(
        description="A window's CV(RMSE) is also bad above (1 + this) × the champion's validation CV(RMSE); "
        "null when that check is off."
    )

    @classmethod
    def from_policy(cls, policy: Policy) -> MonitoringPolicy:
        settings = policy.settings
        return cls(
            machine_id=policy.machine_id,
            model_type=policy.model_type,
            max_cv_rmse=settings.max_cv_rmse,
            max_abs_nmbe=settings.max_abs_nmbe,
            min_r_squared=settings.min_r_squared,
            psi_warning=settings.psi_warning,
            psi_critical=settings.psi_critical,
            auto_retrain=settings.auto_retrain,
            retrain_cooldown_hours=settings.retrain_cooldown_hours,
            evaluation_window_hours=settings.evaluation_window_hours,
            min_samples=settings.min_samples,
            consecutive_windows=settings.consecutive_windows,
            clear_windows=settings.clear_windows,
            drift_window_days=settings.drift_window_days,
            promote_ab_winner=settings.promote_ab_winner,
            gap_intervals=settings.gap_intervals,
            stuck_hours=settings.stuck_hours,
            jump_factor=settings.jump_factor,
            drift_impact_warning=settings.drift_impact_warning,
            drift_impact_critical=settings.drift_impact_critical,
            is_default=not policy.stored,
            cv_rmse_relative_increase=CV_RMSE_RELATIVE_INCREASE,
        )
