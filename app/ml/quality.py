"""Data-quality checks of one machine's readings: gaps, stuck sensors and implausible jumps.

Each check measures a reading stream against the machine's own recent behaviour rather than against
fixed numbers, because what is normal differs by meter: an hourly meter silent for six hours has a
gap, a 15-minute meter silent for six hours has lost 24 readings, a daily meter has not missed one.

* **gap** — consecutive readings further apart than ``gap_intervals`` times the usual interval
  (the median spacing, which outages do not move); a gap still **open** — the meter silent since
  its last reading for longer than that, measured against the data clock (``open_gap``) — is found
  while the silence lasts, not only once readings resume;
* **stuck** — the same value, to the last digit, for longer than ``stuck_hours``, at a value the
  machine does not otherwise sit at: an idle machine that reads exactly 0 kWh every night and every
  Sunday is not stuck at 0, while a meter repeating 87.34 kWh for two days is;
* **jump** — a step between consecutive readings larger than ``jump_factor`` times the machine's
  largest usual step (the 99th percentile of its absolute steps): shift starts and ordinary load
  changes are usual steps, a counter reset or a unit error is not.

Pure: frames in, findings out. Which readings are new and what becomes an alert is the monitoring
service's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

#: Columns a stuck sensor is looked for in (the meter and the outdoor temperature sensor).
STUCK_COLUMNS: tuple[str, ...] = ("energy_kwh", "outdoor_temp_c")
#: A value the machine reports at least this share of the time elsewhere is one it sits at (idle, off).
USUAL_VALUE_SHARE = 0.01
#: Fewest readings before the usual interval and the usual step are trusted.
MIN_READINGS = 24


class IssueKind(StrEnum):
    GAP = "gap"
    STUCK = "stuck"
    JUMP = "jump"


@dataclass(frozen=True)
class QualityThresholds:
    """Per-policy knobs (the monitoring policy's ``gap_intervals``, ``stuck_hours``, ``jump_factor``)."""

    gap_intervals: float = 6.0
    stuck_hours: float = 6.0
    jump_factor: float = 4.0

    def __post_init__(self) -> None:
        if self.gap_intervals <= 1 or self.stuck_hours <= 0 or self.jump_factor <= 1:
            raise ValueError("need gap_intervals > 1, stuck_hours > 0 and jump_factor > 1")


@dataclass(frozen=True)
class QualityIssue:
    """One finding: what, in which column, over which time range, measured against which limit.

    ``value`` and ``limit`` are in hours for gaps and stuck runs and in the column's unit for jumps.
    """

    kind: IssueKind
    column: str
    start: pd.Timestamp
    end: pd.Timestamp
    value: float
    limit: float
    #: The repeated value of a stuck run, the reading after a jump; None for a gap.
    reading: float | None = None
    #: A gap still open: ``start`` is the last reading, ``end`` the data clock it was measured against.
    still_open: bool = False

    @property
    def hours(self) -> float:
        return (self.end - self.start) / pd.Timedelta(hours=1)

    def describe(self) -> str:
        """Plain words for an energy manager, with the time range."""
        span = f"{_when(self.start)} – {_when(self.end)}"
        if self.kind is IssueKind.GAP and self.still_open:
            return (
                f"no readings since {_when(self.start)} ({self.value:.1f} h by {_when(self.end)}, the fleet's latest "
                f"data; at most {self.limit:.1f} h expected)"
            )
        if self.kind is IssueKind.GAP:
            return f"no readings for {self.value:.1f} h ({span}; at most {self.limit:.1f} h expected)"
        if self.kind is IssueKind.STUCK:
            return f"{self.column} stuck at {self.reading:g} for {self.value:.1f} h ({span})"
        return (
            f"{self.column} jumped by {self.value:+.4g} to {self.reading:g} at {_when(self.end)} "
            f"(implausible beyond ±{self.limit:.4g})"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "column": self.column,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "value": self.value,
            "limit": self.limit,
            "reading": self.reading,
            "open": self.still_open,
            "description": self.describe(),
        }


def faulty_readings(frame: pd.DataFrame, issues: list[QualityIssue]) -> np.ndarray:
    """Rows whose energy reading a finding says is not consumption: a stuck run after its first
    (genuine) reading, and the reading a jump lands on (not the one the way back from a spike lands
    on). A gap has no rows. ``issues`` as ``find_issues`` returns them, oldest first."""
    faulty = np.zeros(len(frame), dtype=bool)
    landed: QualityIssue | None = None
    for issue in issues:
        if issue.column != "energy_kwh" or issue.kind is IssueKind.GAP:
            continue
        if issue.kind is IssueKind.JUMP:
            returning = landed is not None and landed.end == issue.start and landed.value * issue.value < 0
            landed = None if returning else issue
            if returning:  # the way back from a spike lands on a genuine reading
                continue
            faulty |= frame.index == issue.end
        else:
            faulty |= (frame.index > issue.start) & (frame.index <= issue.end)
    return faulty


def usual_interval(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The median spacing: the meter's cadence, which a few outages do not move."""
    return pd.Timedelta(np.median(np.diff(index.as_unit("ns").asi8)), unit="ns")


def find_issues(frame: pd.DataFrame, thresholds: QualityThresholds | None = None) -> list[QualityIssue]:
    """Every gap, stuck run and implausible jump in ``frame`` (readings indexed by time), oldest first.

    The frame is both the data checked and the history it is measured against; it should reach back
    far enough (days) for the usual interval and step to be the machine's, not the fault's.
    """
    thresholds = thresholds or QualityThresholds()
    frame = frame.sort_index()
    if len(frame) < MIN_READINGS:
        return []
    issues = _gaps(frame.index, thresholds)
    for column in STUCK_COLUMNS:
        if column in frame.columns:
            issues += _stuck(frame[column], thresholds)
    labelled = frame["is_anomaly"] if "is_anomaly" in frame.columns else pd.Series(pd.NA, index=frame.index)
    confirmed = labelled.astype("boolean").fillna(False).to_numpy(dtype=bool)
    issues += _jumps(frame["energy_kwh"], confirmed, usual_interval(frame.index), thresholds)
    return sorted(issues, key=lambda issue: (issue.start, issue.kind.value))


def open_gap(
    index: pd.DatetimeIndex, clock: pd.Timestamp, thresholds: QualityThresholds | None = None
) -> QualityIssue | None:
    """The gap still open at ``clock`` after the meter's last reading in ``index``, or None.

    ``clock`` is the data time the silence is measured against (the monitoring service passes the
    fleet's newest reading); ``index`` the machine's recent readings, from which its usual interval is
    taken. The allowance is the one closed gaps are judged by, so a gap is the same finding whether
    readings have resumed or not.
    """
    thresholds = thresholds or QualityThresholds()
    if len(index) < MIN_READINGS:
        return None
    last = index.max()
    limit = thresholds.gap_intervals * usual_interval(index.sort_values())
    if clock - last <= limit:
        return None
    hours = pd.Timedelta(hours=1)
    silence = (clock - last) / hours
    return QualityIssue(IssueKind.GAP, "energy_kwh", last, clock, silence, limit / hours, still_open=True)


def _gaps(index: pd.DatetimeIndex, thresholds: QualityThresholds) -> list[QualityIssue]:
    step = usual_interval(index)
    limit = thresholds.gap_intervals * step
    spacing = np.diff(index.as_unit("ns").asi8)
    hours = pd.Timedelta(hours=1)
    return [
        QualityIssue(IssueKind.GAP, "energy_kwh", index[i], index[i + 1], spacing[i] / 3.6e12, limit / hours)
        for i in np.flatnonzero(spacing > limit.value)
    ]


def _stuck(series: pd.Series, thresholds: QualityThresholds) -> list[QualityIssue]:
    values = series.to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values)
    if finite.sum() < MIN_READINGS:
        return []
    index, values = series.index[finite], values[finite]
    # Runs of identical consecutive values: a new run starts wherever the value changes.
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    ends = np.r_[starts[1:], values.size] - 1
    limit = pd.Timedelta(hours=thresholds.stuck_hours)
    long_enough = (ends > starts) & ((index[ends] - index[starts]) > limit)
    issues = []
    for first, last in zip(starts[long_enough], ends[long_enough], strict=True):
        duration = index[last] - index[first]
        elsewhere = np.count_nonzero(values == values[first]) - (last - first + 1)
        if elsewhere >= USUAL_VALUE_SHARE * (values.size - (last - first + 1)):
            continue  # a value the machine sits at (idle, switched off), not a frozen sensor
        issues.append(
            QualityIssue(
                IssueKind.STUCK,
                str(series.name),
                index[first],
                index[last],
                duration / pd.Timedelta(hours=1),
                thresholds.stuck_hours,
                float(values[first]),
            )
        )
    return issues


def _jumps(
    series: pd.Series, confirmed: np.ndarray, step: pd.Timedelta, thresholds: QualityThresholds
) -> list[QualityIssue]:
    """Steps between readings one usual interval apart (a step across a gap is the gap's business).

    Steps into or out of an operator-confirmed anomaly (``is_anomaly``) are real consumption, not a
    data fault, and neither count nor set the usual step.
    """
    values = series.to_numpy(dtype=float, na_value=np.nan)
    spacing = np.diff(series.index.as_unit("ns").asi8)
    steps = np.diff(values)
    adjacent = (spacing <= 1.5 * step.value) & np.isfinite(steps) & ~confirmed[1:] & ~confirmed[:-1]
    if adjacent.sum() < MIN_READINGS:
        return []
    usual = float(np.quantile(np.abs(steps[adjacent]), 0.99))
    if usual <= 0:
        return []
    limit = thresholds.jump_factor * usual
    return [
        QualityIssue(
            IssueKind.JUMP,
            str(series.name),
            series.index[i],
            series.index[i + 1],
            float(steps[i]),
            limit,
            float(values[i + 1]),
        )
        for i in np.flatnonzero(adjacent & (np.abs(steps) > limit))
    ]


def _when(instant: pd.Timestamp) -> str:
    return instant.strftime("%d %b %H:%M")
