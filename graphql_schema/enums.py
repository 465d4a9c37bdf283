"""The domain enums exposed to GraphQL under their contract names (member names are the values)."""

from __future__ import annotations

import strawberry

from app import enums

ModelType = strawberry.enum(enums.ModelType, name="ModelType")
JobStatus = strawberry.enum(enums.JobStatus, name="JobStatus")
TriggerType = strawberry.enum(enums.TriggerType, name="TriggerType")
VersionStage = strawberry.enum(enums.VersionStage, name="VersionStage")
AlertType = strawberry.enum(enums.AlertType, name="AlertType")
Severity = strawberry.enum(enums.Severity, name="Severity")
AlertStatus = strawberry.enum(enums.AlertStatus, name="AlertStatus")
AbTestStatus = strawberry.enum(enums.AbTestStatus, name="AbTestStatus")
MetricsSource = strawberry.enum(enums.MetricsSource, name="MetricsSource")
Role = strawberry.enum(enums.Role, name="Role")
InterventionKind = strawberry.enum(enums.InterventionKind, name="InterventionKind")
