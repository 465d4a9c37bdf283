"""Parsing and validation of reading files for ``kilowatch import``.

Validation is vectorised over the whole file before anything is written, so a bad row aborts the
import with its line number and the database is untouched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from app.errors import InvalidInput
from app.services.ingest import OUTDOOR_TEMP_RANGE_C, ReadingRow

REQUIRED_COLUMNS = ("timestamp", "energy_kwh")
OPTIONAL_COLUMNS = ("production_units", "outdoor_temp_c", "is_anomaly")
_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}
_OFFSET_PATTERN = r"(?:Z|[+-]\d{2}:?\d{2})$"
#: Header is line 1, so data row i (0-based) is line i + 2.
_FIRST_DATA_LINE = 2


def read_readings_csv(path: Path, timezone: str = "UTC") -> list[ReadingRow]:
    """Rows ready for ``ingest.upsert_readings``; timestamps without an offset are read in ``timezone``."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InvalidInput(f"{path}: cannot read CSV ({error})", field="file") from error
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    _check_columns(frame, path)
    timestamps = _parse_timestamps(frame["timestamp"].str.strip(), timezone, path)
    energy = _parse_numbers(frame, "energy_kwh", path, required=True, minimum=0.0)
    production = _parse_numbers(frame, "production_units", path, minimum=0.0)
    temperature = _parse_numbers(frame, "outdoor_temp_c", path, bounds=OUTDOOR_TEMP_RANGE_C)
    anomaly = _parse_flags(frame, path)
    duplicated = timestamps.duplicated().to_numpy()
    if duplicated.any():
        line = int(np.argmax(duplicated)) + _FIRST_DATA_LINE
        raise InvalidInput(f"{path}: line {line}: timestamp repeats an earlier line", field="timestamp")
    return list(
        zip(
            timestamps.dt.to_pydatetime().tolist(),
            energy.tolist(),
            _none_for_nan(production),
            _none_for_nan(temperature),
            anomaly,
            strict=True,
        )
    )


def _check_columns(frame: pd.DataFrame, path: Path) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise InvalidInput(f"{path}: missing column(s) {', '.join(missing)}", field="file")
    unknown = [column for column in frame.columns if column not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise InvalidInput(
            f"{path}: unknown column(s) {', '.join(unknown)}; expected "
            f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}",
            field="file",
        )


def _fail_at(path: Path, bad: np.ndarray, message: str, field: str) -> None:
    if bad.any():
        line = int(np.argmax(bad)) + _FIRST_DATA_LINE
        raise InvalidInput(f"{path}: line {line}: {message}", field=field)


def _parse_timestamps(raw: pd.Series, timezone: str, path: Path) -> pd.Series:
    has_offset = raw.str.contains(_OFFSET_PATTERN, regex=True).to_numpy()
    parsed = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    if has_offset.any():
        parsed[has_offset] = pd.to_datetime(raw[has_offset], format="ISO8601", utc=True, errors="coerce")
    if (~has_offset).any():
        naive = pd.to_datetime(raw[~has_offset], format="ISO8601", errors="coerce")
        try:
            local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        except (KeyError, ValueError) as error:
            raise InvalidInput(f"unknown timezone {timezone!r}", field="timezone") from error
        parsed[~has_offset] = local.dt.tz_convert("UTC")
    _fail_at(
        path,
        parsed.isna().to_numpy(),
        "timestamp is not an ISO 8601 instant (or is ambiguous/non-existent in local time)",
        "timestamp",
    )
    return parsed


def _parse_numbers(
    frame: pd.DataFrame,
    column: str,
    path: Path,
    *,
    required: bool = False,
    minimum: float | None = None,
    bounds: tuple[float, float] | None = None,
) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    raw = frame[column].str.strip()
    blank = (raw == "").to_numpy()
    if required:
        _fail_at(path, blank, f"{column} is empty", column)
    values = pd.to_numeric(raw.where(~blank, None), errors="coerce").to_numpy(dtype=float)
    _fail_at(path, ~blank & ~np.isfinite(values), f"{column} is not a finite number", column)
    present = ~blank
    if minimum is not None:
        _fail_at(path, present & (values < minimum), f"{column} must be ≥ {minimum:g}", column)
    if bounds is not None:
        low, high = bounds
        _fail_at(
            path, present & ((values < low) | (values > high)), f"{column} must be between {low:g} and {high:g}", column
        )
    return values


def _parse_flags(frame: pd.DataFrame, path: Path) -> list[bool | None]:
    if "is_anomaly" not in frame.columns:
        return [None] * len(frame)
    raw = frame["is_anomaly"].str.strip().str.lower()
    known = raw.isin(_TRUE | _FALSE) | (raw == "")
    _fail_at(path, ~known.to_numpy(), "is_anomaly must be true/false (or empty)", "is_anomaly")
    return [None if value == "" else value in _TRUE for value in raw.tolist()]


def _none_for_nan(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(value) else value for value in values.tolist()]
