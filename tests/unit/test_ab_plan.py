"""The bounds of an A/B test plan, checked before anything is read or written."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from app.errors import InvalidInput
from app.services.experiments.abtests import MAX_DURATION_HOURS
from app.services.experiments.abtests import TestPlan as Plan  # aliased: pytest would try to collect a Test* class

PLAN = Plan(model_a_id=uuid.uuid4(), model_b_id=uuid.uuid4())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"traffic_split": 0.0}, "trafficSplit"),
        ({"traffic_split": 1.0}, "trafficSplit"),
        ({"traffic_split": float("nan")}, "trafficSplit"),
        ({"duration_hours": 0.0}, "durationHours"),
        ({"duration_hours": MAX_DURATION_HOURS + 1}, "durationHours"),
        ({"duration_hours": float("inf")}, "durationHours"),
        ({"min_samples": 1}, "minSamples"),
        ({"significance": 0.0}, "significance"),
        ({"significance": 0.51}, "significance"),
        ({"planned_samples": 400}, "plannedSamples"),
        ({"sequential": True, "planned_samples": 0}, "plannedSamples"),
    ],
)
def test_out_of_bounds_plans_are_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        replace(PLAN, **change).check()  # type: ignore[arg-type]

    assert refused.value.field == field


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"traffic_split": 0.01, "min_samples": 2, "significance": 0.5, "duration_hours": MAX_DURATION_HOURS},
        {"sequential": True, "planned_samples": 5_000},
    ],
)
def test_plans_within_bounds_pass(change: dict[str, object]) -> None:
    replace(PLAN, **change).check()  # type: ignore[arg-type]
