"""The domain enums exposed to GraphQL under their contract names (member names are the values).

``strawberry.enum`` registers a class in place and returns it, so the names here are the domain classes
themselves: resolvers pass values through unchanged, and type checkers see ordinary enums.
"""

from __future__ import annotations

import strawberry

from app.enums import (
    AbTestStatus,
    AlertStatus,
    AlertType,
    FleetOrder,
    Health,
    InterventionKind,
    JobStatus,
    MetricsSource,
    ModelType,
    Role,
    Severity,
    TriggerType,
    VersionStage,
)

for _exposed in (
    ModelType,
    JobStatus,
    TriggerType,
    VersionStage,
    AlertType,
    Severity,
    AlertStatus,
    AbTestStatus,
    MetricsSource,
    Role,
    InterventionKind,
    Health,
    FleetOrder,
):
    strawberry.enum(_exposed)
