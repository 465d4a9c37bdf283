from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.errors import InvalidInput
from app.services.fleet.csv_readings import detect_delimiter, read_readings_csv

HEADER = "timestamp,energy_kwh,production_units,outdoor_temp_c,is_anomaly\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "readings.csv"
    path.write_text(header + body)
    return path


def test_reads_all_columns_and_normalises_offsets_to_utc(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-01-01T00:00:00Z,10.5,3,4.5,false\n2026-01-01T02:00:00+01:00,11,,,TRUE\n")

    rows = read_readings_csv(path)

    assert (
        list(rows)
        == rows[:]
        == [
            (datetime(2026, 1, 1, 0, tzinfo=UTC), 10.5, 3.0, 4.5, False),
            (datetime(2026, 1, 1, 1, tzinfo=UTC), 11.0, None, None, True),
        ]
    )


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    rows = read_readings_csv(write(tmp_path, "2026-01-01T00:00:00Z,1\n", header="timestamp,energy_kwh\n"))

    assert list(rows) == [(datetime(2026, 1, 1, tzinfo=UTC), 1.0, None, None, None)]


def test_naive_timestamps_are_read_in_the_given_zone(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-07-01T12:00:00,1,,,\n")

    assert read_readings_csv(path, timezone="UTC")[0][0] == datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert read_readings_csv(path, timezone="Europe/Berlin")[0][0] == datetime(2026, 7, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("2026-07-01T12:00:00,1,,,\n2026-07-01T13:00:00,1,,,\n", 2),  # none has an offset
        ("2026-07-01T12:00:00Z,1,,,\n2026-07-01T13:00:00,1,,,\n", 3),  # one has none
        ("2026-03-29T01:00:00+01:00,1,,,\n2026-03-29T03:00:00+02:00,1,,,\n2026-03-29T04:00:00,1,,,\n", 4),
    ],
    ids=["all", "one", "across-dst"],
)
def test_without_a_zone_timestamps_without_an_offset_are_refused_as_the_api_refuses_them(
    tmp_path: Path, body: str, line: int
) -> None:
    with pytest.raises(InvalidInput, match=f"line {line}: timestamp has no UTC offset.*--timezone"):
        read_readings_csv(write(tmp_path, body))


def test_offsets_that_change_across_dst_are_each_honoured(tmp_path: Path) -> None:
    body = "2026-03-29T01:00:00+01:00,1,,,\n2026-03-29T03:00:00+02:00,2,,,\n"

    assert [row[0].hour for row in read_readings_csv(write(tmp_path, body))] == [0, 1]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_the_delimiter_is_read_from_the_header_line(tmp_path: Path, delimiter: str) -> None:
    header = delimiter.join(["timestamp", "energy_kwh", "outdoor_temp_c"]) + "\n"
    path = write(tmp_path, delimiter.join(["2026-01-01T00:00:00Z", "1.5", "-3"]) + "\n", header=header)

    assert detect_delimiter(path) == delimiter
    assert list(read_readings_csv(path)) == [(datetime(2026, 1, 1, tzinfo=UTC), 1.5, None, -3.0, None)]


def test_a_header_no_separator_splits_names_what_it_tried(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-01-01T00:00:00Z:1\n", header="timestamp:energy_kwh\n")

    with pytest.raises(InvalidInput, match=r"split at each comma, gives \['timestamp:energy_kwh'\].*--delimiter"):
        read_readings_csv(path)


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text("timestamp;energy_kwh\n2026-01-01T00:00:00Z;2\n", encoding="utf-8-sig")

    assert list(read_readings_csv(path)) == [(datetime(2026, 1, 1, tzinfo=UTC), 2.0, None, None, None)]


def test_readings_beyond_the_latest_accepted_instant_are_refused_with_their_line(tmp_path: Path) -> None:
    latest = datetime(2026, 1, 1, 1, 5, tzinfo=UTC)
    body = "".join(f"2026-01-01T{hour:02d}:00:00Z,1,,,\n" for hour in range(3))

    assert len(read_readings_csv(write(tmp_path, body[: body.index("2026-01-01T02")]), latest=latest)) == 2
    with pytest.raises(InvalidInput, match=r"line 4: timestamp 2026-01-01T02:00:00\+00:00 lies in the future"):
        read_readings_csv(write(tmp_path, body), latest=latest)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("2026-01-01T00:00:00Z,1,,,\n2026-01-01T01:00:00Z,-2,,,\n", "line 3: energy_kwh must be ≥ 0"),
        ("2026-01-01T00:00:00Z,1,,,\n2026-01-01T01:00:00Z,abc,,,\n", "line 3: energy_kwh is not a number"),
        ("2026-01-01T00:00:00Z,,,,\n", "line 2: energy_kwh is empty"),
        ("2026-01-01T00:00:00Z,1,,,\nyesterday,1,,,\n", "line 3: timestamp is not an ISO 8601 instant"),
        ("2026-01-01T00:00:00Z,1,,,\n2026-01-01T00:00:00Z,2,,,\n", "line 3: timestamp repeats an earlier line"),
        ("2026-01-01T00:00:00Z,1,,95,\n", "line 2: outdoor_temp_c must be between"),
        ("2026-01-01T00:00:00Z,1,,,maybe\n", "line 2: is_anomaly must be true/false"),
        ("2026-01-01T00:00:00Z,inf,,,\n", "line 2: energy_kwh is not a finite number"),
    ],
)
def test_first_bad_line_is_named(tmp_path: Path, body: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        read_readings_csv(write(tmp_path, body))


def test_unknown_and_missing_columns_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown column"):
        read_readings_csv(write(tmp_path, "x,1,2\n", header="timestamp,energy_kwh,colour\n"))
    with pytest.raises(InvalidInput, match="missing column"):
        read_readings_csv(write(tmp_path, "x\n", header="timestamp\n"))


def test_ambiguous_local_time_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-10-25T02:30:00,1,,,\n")  # happens twice in Berlin that night

    with pytest.raises(InvalidInput, match="line 2"):
        read_readings_csv(path, timezone="Europe/Berlin")


def test_flag_spellings_are_read_case_and_padding_blind_and_the_first_unknown_one_is_named(tmp_path: Path) -> None:
    def file(flags: list[str]) -> Path:
        return write(tmp_path, "".join(f"2026-01-01T{hour:02d}:00:00Z,1,,,{flag}\n" for hour, flag in enumerate(flags)))

    assert [row[4] for row in read_readings_csv(file([" Yes", "f", "", "TRUE"]))] == [True, False, None, True]
    with pytest.raises(InvalidInput, match="line 4: is_anomaly"):
        read_readings_csv(file(["true", "false", "nope", "maybe"]))


def test_rows_are_converted_slice_by_slice_and_the_time_range_comes_from_the_columns(tmp_path: Path) -> None:
    body = "".join(f"2026-01-01T{hour:02d}:00:00Z,{hour},,{hour},\n" for hour in (5, 1, 9, 3))
    rows = read_readings_csv(write(tmp_path, body))

    assert len(rows) == 4
    assert rows[1:3] == [(datetime(2026, 1, 1, 1, tzinfo=UTC), 1.0, None, 1.0, None), rows[2]]
    assert rows[-1] == (datetime(2026, 1, 1, 3, tzinfo=UTC), 3.0, None, 3.0, None)
    assert rows.time_range() == (datetime(2026, 1, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 9, tzinfo=UTC))
    with pytest.raises(IndexError):
        rows[4]
