"""Driver engineering: from readings to the columns a regression sees.

A ``DesignSpec`` is decided once from the training window (which drivers the machine reports, the
heating/cooling balance points, how finely to resolve the weekly schedule) and is then stored with
the model as plain JSON, so predicting months later in another process builds exactly the same
columns. Drivers a machine does not report are left out; a row missing a driver the model uses gets
a NaN row, which the model types turn into a NaN prediction rather than a guess.

Balance points follow the ASHRAE RP-1050 / CalTRACK change-point approach: a grid search over
candidate temperatures for the one that minimises the residual sum of squares, choosing between no
weather term, heating only, cooling only and both by BIC, with physically signed slopes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.linalg import cho_factor, cho_solve

PRODUCTION = "production_units"
TEMPERATURE = "outdoor_temp_c"
ENERGY = "energy_kwh"

#: A driver is used when at least this share of the training rows report it and it varies.
MIN_DRIVER_COVERAGE = 0.5
#: Balance-point candidates run between these temperature quantiles, in this step (°C), so that
#: each side of a change point has data to estimate its slope from.
BALANCE_QUANTILES = (0.05, 0.95)
BALANCE_STEP_C = 0.5
#: "auto" time-of-week picks the finest binning whose emptiest bin holds at least this many rows.
MIN_ROWS_PER_TIME_BIN = 12

TimeOfWeek = Literal["none", "auto", "hour_of_week", "day_type_hour", "hour_of_day", "day_of_week"]
#: Bins per time-of-week resolution; "day_type_hour" is the hour of day on weekdays and on weekends.
BIN_COUNTS: dict[str, int] = {"hour_of_week": 168, "day_type_hour": 48, "hour_of_day": 24, "day_of_week": 7}
HOURS_PER_DAY = 24
HOURS_PER_WEEK = 168


def infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The reading interval: the median spacing, so that outages and the odd late reading do not count."""
    if len(index) < 2:
        raise ValueError("at least two timestamps are needed to infer the reading interval")
    return pd.Timedelta(np.median(np.diff(index.as_unit("ns").asi8)), unit="ns")


def is_sub_daily(step: pd.Timedelta) -> bool:
    return step < pd.Timedelta(days=1)


def reported_drivers(frame: pd.DataFrame) -> list[str]:
    """The driver columns this machine actually reports (enough coverage, not constant)."""
    drivers = []
    for column in (PRODUCTION, TEMPERATURE):
        values = frame[column].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if len(finite) >= MIN_DRIVER_COVERAGE * len(values) and len(finite) > 1 and np.ptp(finite) > 0:
            drivers.append(column)
    return drivers


def degree_hours(temperature: np.ndarray, heating_c: float | None, cooling_c: float | None) -> dict[str, np.ndarray]:
    """Heating and cooling degrees per row (degree-hours for hourly rows) for the balance points given."""
    columns = {}
    if heating_c is not None:
        columns["hdd"] = np.maximum(heating_c - temperature, 0.0)
    if cooling_c is not None:
        columns["cdd"] = np.maximum(temperature - cooling_c, 0.0)
    return columns


def time_bins(index: pd.DatetimeIndex, resolution: TimeOfWeek) -> np.ndarray:
    """Integer bin per row for one of the ``BIN_COUNTS`` resolutions."""
    hour = index.hour.to_numpy()
    weekday = index.day_of_week.to_numpy()
    if resolution == "hour_of_week":
        return weekday * HOURS_PER_DAY + hour
    if resolution == "day_type_hour":
        return (weekday >= 5) * HOURS_PER_DAY + hour
    if resolution == "hour_of_day":
        return hour
    if resolution == "day_of_week":
        return weekday
    raise ValueError(f"no time bins for resolution {resolution!r}")


def choose_time_of_week(index: pd.DatetimeIndex) -> TimeOfWeek:
    """Finest schedule resolution the window supports: 168 hour-of-week bins need ~12 weeks of data.

    Too many bins for the data would overfit and, worse, eat the n - p degrees of freedom that
    CV(RMSE) and NMBE are computed with.
    """
    candidates: tuple[TimeOfWeek, ...] = (
        ("hour_of_week", "day_type_hour", "hour_of_day") if is_sub_daily(infer_step(index)) else ("day_of_week",)
    )
    for resolution in candidates:
        counts = np.bincount(time_bins(index, resolution), minlength=BIN_COUNTS[resolution])
        if counts.min() >= MIN_ROWS_PER_TIME_BIN:
            return resolution
    return "none"


def fourier_terms(index: pd.DatetimeIndex, period_hours: float, order: int) -> dict[str, np.ndarray]:
    """sin/cos pairs of a period, on absolute UTC time so that any two windows share the same phase."""
    hours = index.as_unit("ns").asi8 / 3.6e12
    columns = {}
    for harmonic in range(1, order + 1):
        angle = 2.0 * np.pi * harmonic * hours / period_hours
        columns[f"sin_{period_hours:g}h_{harmonic}"] = np.sin(angle)
        columns[f"cos_{period_hours:g}h_{harmonic}"] = np.cos(angle)
    return columns


@dataclass(frozen=True)
class DesignSpec:
    """Everything needed to rebuild the regression columns; stored with the model as JSON."""

    drivers: tuple[str, ...]
    heating_balance_c: float | None = None
    cooling_balance_c: float | None = None
    time_of_week: TimeOfWeek = "none"
    fourier_daily: int = 0
    fourier_weekly: int = 0

    @property
    def driver_names(self) -> list[str]:
        """Names of ``driver_columns``, in order."""
        names = [PRODUCTION] if PRODUCTION in self.drivers else []
        if TEMPERATURE in self.drivers:
            names += ["hdd"] if self.heating_balance_c is not None else []
            names += ["cdd"] if self.cooling_balance_c is not None else []
        return names

    def driver_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Production and degree-hour columns, without intercept or calendar terms (Prophet's regressors)."""
        columns: dict[str, np.ndarray] = {}
        if PRODUCTION in self.drivers:
            columns[PRODUCTION] = frame[PRODUCTION].to_numpy(dtype=float)
        if TEMPERATURE in self.drivers:
            temperature = frame[TEMPERATURE].to_numpy(dtype=float)
            columns.update(degree_hours(temperature, self.heating_balance_c, self.cooling_balance_c))
        return pd.DataFrame(columns, index=frame.index)

    def calendar_columns(self, index: pd.DatetimeIndex) -> tuple[np.ndarray, list[str]]:
        """Time-of-week dummies (first bin dropped: the intercept carries it) and Fourier terms, as one block.

        The dummies are set by indexing one zero block rather than compared bin by bin: with hour-of-week
        bins that was 167 comparisons of the whole index per prediction, most of a monitoring check's time.
        """
        blocks: list[np.ndarray] = []
        names: list[str] = []
        if self.time_of_week in BIN_COUNTS:
            bins = time_bins(index, self.time_of_week)
            dummies = np.zeros((len(index), BIN_COUNTS[self.time_of_week] - 1))
            rows = np.flatnonzero(bins > 0)
            dummies[rows, bins[rows] - 1] = 1.0
            blocks.append(dummies)
            names += [f"{self.time_of_week}_{value}" for value in range(1, BIN_COUNTS[self.time_of_week])]
        terms = {}
        if self.fourier_daily:
            terms.update(fourier_terms(index, HOURS_PER_DAY, self.fourier_daily))
        if self.fourier_weekly:
            terms.update(fourier_terms(index, HOURS_PER_WEEK, self.fourier_weekly))
        if terms:
            blocks.append(np.column_stack(list(terms.values())))
            names += list(terms)
        return (np.hstack(blocks) if blocks else np.empty((len(index), 0))), names

    def matrix(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """Design matrix (intercept first) and its column names."""
        drivers = self.driver_columns(frame)
        calendar, calendar_names = self.calendar_columns(frame.index)
        names = ["intercept", *drivers.columns, *calendar_names]
        blocks = [np.ones((len(frame), 1)), drivers.to_numpy(dtype=float).reshape(len(frame), -1), calendar]
        return np.hstack(blocks), names

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drivers": list(self.drivers)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DesignSpec:
        return cls(**{**data, "drivers": tuple(data["drivers"])})


def _residualise(other_columns: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Columns minus their least-squares fit on ``other_columns`` (Frisch-Waugh-Lovell).

    Solved through the small Gram matrix with a vanishing ridge: it tolerates rank deficiency (a
    schedule bin absent from the window) and avoids a slow QR of the tall matrix.
    """
    scale = other_columns.std(axis=0)
    scale[scale == 0] = 1.0
    standardised = other_columns / scale
    gram = standardised.T @ standardised
    gram[np.diag_indices_from(gram)] += 1e-9 * len(standardised)
    return columns - standardised @ cho_solve(cho_factor(gram), standardised.T @ columns)


def fit_balance_points(
    temperature: np.ndarray, energy: np.ndarray, other_columns: np.ndarray
) -> tuple[float | None, float | None]:
    """Heating and cooling balance points (None where the term is not supported by the data).

    Every candidate model is a regression of energy on ``other_columns`` plus the degree terms.
    Frisch-Waugh-Lovell lets us project the other columns out of every candidate column once and
    then score every candidate (and every heating/cooling pair) from a few dot products, so a year
    of hourly data with 170 schedule columns takes well under a second. Slopes must be positive:
    energy rises as it gets colder below the heating point and warmer above the cooling point.
    """
    mask = np.isfinite(temperature) & np.isfinite(energy) & np.isfinite(other_columns).all(axis=1)
    temperature, energy, other_columns = temperature[mask], energy[mask], other_columns[mask]
    n = len(energy)
    low, high = np.quantile(temperature, BALANCE_QUANTILES) if n else (0.0, 0.0)
    candidates = np.arange(np.ceil(low / BALANCE_STEP_C), np.floor(high / BALANCE_STEP_C) + 1) * BALANCE_STEP_C
    if n < 10 or len(candidates) == 0:
        return None, None
    target = _residualise(other_columns, energy[:, None])[:, 0]
    heating = _residualise(other_columns, np.maximum(candidates[None, :] - temperature[:, None], 0.0))
    cooling = _residualise(other_columns, np.maximum(temperature[:, None] - candidates[None, :], 0.0))
    base_sse = float(target @ target)
    floor = 1e-9 * max(base_sse, 1.0)

    def single_term_sse(columns: np.ndarray) -> np.ndarray:
        gram = np.einsum("ij,ij->j", columns, columns)
        cross = columns.T @ target
        valid = (gram > floor) & (cross > 0)
        return np.where(valid, base_sse - cross**2 / np.where(valid, gram, 1.0), np.inf)

    heating_sse, cooling_sse = single_term_sse(heating), single_term_sse(cooling)
    hh = np.einsum("ij,ij->j", heating, heating)[:, None]
    cc = np.einsum("ij,ij->j", cooling, cooling)[None, :]
    hc = heating.T @ cooling
    hy = (heating.T @ target)[:, None]
    cy = (cooling.T @ target)[None, :]
    determinant = hh * cc - hc**2
    safe = np.where(np.abs(determinant) > floor * np.maximum(hh * cc, 1.0), determinant, np.inf)
    heating_slope = (cc * hy - hc * cy) / safe
    cooling_slope = (hh * cy - hc * hy) / safe
    ordered = candidates[:, None] <= candidates[None, :]
    valid_pair = ordered & np.isfinite(safe) & (heating_slope > 0) & (cooling_slope > 0)
    pair_sse = np.where(valid_pair, base_sse - (heating_slope * hy + cooling_slope * cy), np.inf)

    def bic(sse: float, parameters: int) -> float:
        return n * np.log(max(sse, floor) / n) + parameters * np.log(n) if np.isfinite(sse) else np.inf

    best_h, best_c = int(np.argmin(heating_sse)), int(np.argmin(cooling_sse))
    pair_h, pair_c = np.unravel_index(int(np.argmin(pair_sse)), pair_sse.shape)
    options = [
        (bic(base_sse, 0), None, None),
        (bic(float(heating_sse[best_h]), 2), float(candidates[best_h]), None),
        (bic(float(cooling_sse[best_c]), 2), None, float(candidates[best_c])),
        (bic(float(pair_sse[pair_h, pair_c]), 4), float(candidates[pair_h]), float(candidates[pair_c])),
    ]
    _, heating_c, cooling_c = min(options, key=lambda option: option[0])
    return heating_c, cooling_c


def build_spec(
    frame: pd.DataFrame, *, time_of_week: TimeOfWeek = "auto", fourier_daily: int = 0, fourier_weekly: int = 0
) -> DesignSpec:
    """Decide the design from a training window; weather terms are searched net of everything else."""
    drivers = tuple(reported_drivers(frame))
    resolution = choose_time_of_week(frame.index) if time_of_week == "auto" else time_of_week
    fourier_daily = fourier_daily if is_sub_daily(infer_step(frame.index)) else 0
    without_weather = DesignSpec(
        tuple(d for d in drivers if d != TEMPERATURE), None, None, resolution, fourier_daily, fourier_weekly
    )
    if TEMPERATURE not in drivers:
        return without_weather
    other_columns, _ = without_weather.matrix(frame)
    heating_c, cooling_c = fit_balance_points(
        frame[TEMPERATURE].to_numpy(dtype=float), frame[ENERGY].to_numpy(dtype=float), other_columns
    )
    if heating_c is None and cooling_c is None:
        return without_weather
    return DesignSpec(drivers, heating_c, cooling_c, resolution, fourier_daily, fourier_weekly)
