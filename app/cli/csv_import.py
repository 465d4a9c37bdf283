"""``kilowatch import``: parse and validate a whole file, then write it in one transaction."""

from __future__ import annotations

from pathlib import Path

from rich.progress import Progress

from app.config import Settings
from app.db.engine import transaction
from app.db.migrate import upgrade_to_head
from app.runtime.resources import open_resources
from app.services.fleet import ingest, machines
from app.services.fleet.csv_readings import DELIMITERS, detect_delimiter, read_readings_csv
from app.services.fleet.ingest import IngestResult


async def import_file(
    settings: Settings, path: Path, machine_name: str, timezone: str | None, delimiter: str | None, progress: Progress
) -> IngestResult:
    """``timezone``: of timestamps without an offset (else refused); ``delimiter``: detected when None."""
    delimiter = delimiter or detect_delimiter(path)
    parsing = progress.add_task(f"reading {path.name} ({DELIMITERS.get(delimiter, repr(delimiter))}-separated)")
    latest = ingest.latest_accepted(settings.future_tolerance_s)  # the API's bound on future readings
    rows = read_readings_csv(path, timezone, delimiter, latest)
    progress.update(parsing, total=len(rows), completed=len(rows))
    await upgrade_to_head(settings.database_url)
    writing = progress.add_task(f"writing to {machine_name}", total=len(rows))
    async with open_resources(settings) as resources, transaction(resources.sessions) as session:
        machine = await machines.get_or_create(session, machine_name)
        return await ingest.upsert_readings(
            session,
            machine.id,
            rows,
            on_progress=lambda count: progress.advance(writing, count),
            time_range=rows.time_range(),
        )
