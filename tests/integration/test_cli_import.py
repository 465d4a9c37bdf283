"""`kilowatch import` end to end: a real subprocess against SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.db.engine import create_engine

#: The app fixture empties every table afterwards, so the machines created here do not leak into other tests.
pytestmark = pytest.mark.usefixtures("app")

HEADER = "timestamp,energy_kwh,production_units,outdoor_temp_c,is_anomaly\n"


def run_import(database_url: str, path: Path, machine: str, *options: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "KILOWATCH_DATABASE_URL": database_url, "KILOWATCH_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "import", str(path), "--machine", machine, *options],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def stored(database_url: str, machine: str) -> list[tuple[float, bool | None]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.text(
                    "SELECT r.energy_kwh, r.is_anomaly FROM energy_readings r JOIN machines m ON m.id = r.machine_id "
                    "WHERE m.name = :name ORDER BY r.ts"
                ),
                {"name": machine},
            )
            return [tuple(row) for row in rows]
    finally:
        await engine.dispose()


def hourly(count: int, kwh: float) -> str:
    return "".join(
        f"2026-03-01T{hour:02d}:00:00Z,{kwh + hour},{hour},{10 + hour / 10},{hour == 3}\n" for hour in range(count)
    )


async def test_import_creates_the_machine_then_a_rerun_updates(database_url: str, tmp_path: Path) -> None:
    machine = f"press-{uuid.uuid4().hex[:6]}"
    first = tmp_path / "first.csv"
    first.write_text(HEADER + hourly(24, 10.0))
    second = tmp_path / "second.csv"
    second.write_text(HEADER + hourly(24, 100.0))

    created = run_import(database_url, first, machine)
    rerun = run_import(database_url, second, machine)

    assert created.returncode == 0, created.stderr
    assert "24 inserted, 0 updated" in created.stderr
    assert rerun.returncode == 0, rerun.stderr
    assert "0 inserted, 24 updated" in rerun.stderr
    rows = await stored(database_url, machine)
    assert len(rows) == 24
    assert rows[0] == (100.0, False) and rows[3] == (103.0, True)


async def test_a_bad_line_aborts_the_file_and_writes_nothing(database_url: str, tmp_path: Path) -> None:
    machine = f"oven-{uuid.uuid4().hex[:6]}"
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + hourly(10, 5.0) + "2026-03-01T10:00:00Z,-4,,,\n" + hourly(3, 1.0).replace("T0", "T2"))

    result = run_import(database_url, path, machine)

    assert result.returncode == 2
    assert "line 12" in result.stderr and "energy_kwh" in result.stderr
    assert await stored(database_url, machine) == []


async def test_local_times_need_a_zone_semicolons_are_recognised_and_future_readings_are_refused(
    database_url: str, tmp_path: Path
) -> None:
    machine = f"kiln-{uuid.uuid4().hex[:6]}"
    local = tmp_path / "local.csv"  # as a spreadsheet in a German locale saves it
    local.write_text("timestamp;energy_kwh\n2026-07-01 12:00:00;4.5\n2026-07-01 13:00:00;5\n")
    ahead = tmp_path / "ahead.csv"
    soon = datetime.now(UTC) + timedelta(hours=2)
    ahead.write_text(f"timestamp,energy_kwh\n2026-07-01T14:00:00Z,1\n{soon.isoformat()},2\n")

    without_zone = run_import(database_url, local, machine)
    with_zone = run_import(database_url, local, machine, "--timezone", "Europe/Berlin")
    future = run_import(database_url, ahead, machine)

    assert without_zone.returncode == 2
    assert "line 2: timestamp has no UTC offset" in " ".join(without_zone.stderr.split())
    assert with_zone.returncode == 0, with_zone.stderr
    assert "semicolon-separated" in with_zone.stderr and "2 inserted" in with_zone.stderr
    assert future.returncode == 2
    assert "line 3: timestamp" in future.stderr and "lies in the future" in " ".join(future.stderr.split())
    assert await stored(database_url, machine) == [(4.5, None), (5.0, None)]  # only the zoned file went in
