from __future__ import annotations

import strawberry

from app.services.tracking import health
from graphql_schema.enums import Health
from graphql_schema.types.machine import Machine


@strawberry.type(description="How many machines (by their worst series) and series are in one health.")
class HealthCount:
    health: Health
    machines: int
    series: int


@strawberry.type(description="One page of the fleet: machines in the requested order, with what the page needs.")
class FleetPage:
    machines: list[Machine]
    total: int = strawberry.field(description="Machines matching the filters, over all pages.")
    offset: int
    health_counts: list[HealthCount] = strawberry.field(
        description="Machines and series in each health over the whole fleet, whatever the filters."
    )

    @classmethod
    def from_page(cls, page: health.FleetPage, offset: int) -> FleetPage:
        return cls(
            machines=[Machine.from_overview(machine) for machine in page.machines],
            total=page.total,
            offset=offset,
            health_counts=[HealthCount(health=c.health, machines=c.machines, series=c.series) for c in page.counts],
        )
