"""Deterministic hourly readings with known structure, for tests, benchmarks and the demo fleet.

Every number a model should recover is a parameter of ``MachineProfile``, so a test can check the
model against the truth (a balance point, a kWh-per-unit slope, the timestamps of injected
anomalies, a level shift). Generation is vectorised: the only Python loop runs over anomaly events.

The generator's clock is UTC and shifts are scheduled in UTC hours; nothing here depends on a local
time zone, so the same seed gives the same frame on every host.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter

#: Month/day pairs treated like a Sunday (no production, building unoccupied).
PUBLIC_HOLIDAYS: tuple[tuple[int, int], ...] = ((1, 1), (5, 1), (10, 3), (12, 25), (12, 26))

#: First and last-plus-one UTC hour of the working day for 1, 2 and 3 shifts.
SHIFT_HOURS: dict[int, tuple[int, int]] = {1: (6, 14), 2: (6, 22), 3: (0, 24)}


@dataclass(frozen=True)
class MachineProfile:
    """The true physics of one meter: kWh = base + shift load + a·production + degree terms + noise.

    A driver the machine does not report (``reports_production`` / ``reports_temperature`` false)
    comes out as an all-NaN column, exactly as a real meter without that sensor would look.
    """

    name: str
    base_load_kwh: float
    shifts: int = 2
    #: Load that follows the shift schedule regardless of output (lights, ventilation, idling).
    shift_load_kwh: float = 0.0
    units_per_hour: float = 0.0
    kwh_per_unit: float = 0.0
    #: Production on Saturdays as a fraction of a weekday; Sundays and holidays produce nothing.
    saturday_production: float = 0.0
    heating_balance_c: float | None = None
    heating_kwh_per_degree: float = 0.0
    cooling_balance_c: float | None = None
    cooling_kwh_per_degree: float = 0.0
    #: Standard deviation of the AR(1) load noise as a fraction of the mean noiseless load.
    noise_fraction: float = 0.04
    #: Lag-1 autocorrelation of that noise (hourly meter errors persist: weather, occupancy, process state).
    noise_autocorrelation: float = 0.6
    reports_production: bool = True
    reports_temperature: bool = True


@dataclass(frozen=True)
class LevelShift:
    """From ``at`` on, every kWh is multiplied by ``1 + fraction`` (an equipment change, e.g. -0.10)."""

    at: pd.Timestamp
    fraction: float


@dataclass(frozen=True)
class TemperatureShift:
    """From ``at`` on, the outdoor temperature is offset by ``offset_c`` (a climate regime change).

    Energy keeps following the same physics, so this is data drift without concept drift.
    """

    at: pd.Timestamp
    offset_c: float


@dataclass(frozen=True)
class StuckMeter:
    """From ``at`` on, for ``hours``, the meter repeats the reading it gave at ``at`` (a frozen register).

    A data fault, not consumption: the machine keeps drawing what it did, the readings stop showing it.
    """

    at: pd.Timestamp
    hours: int

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``frame`` with the energy readings after ``at`` frozen at its value for ``hours``."""
        frozen = frame.copy()
        span = (frozen.index > self.at) & (frozen.index <= self.at + pd.Timedelta(hours=self.hours))
        frozen.loc[span, "energy_kwh"] = frozen["energy_kwh"].asof(self.at)
        return frozen


#: Six machines that together exercise every driver combination the models must handle.
DEMO_FLEET: tuple[MachineProfile, ...] = (
    MachineProfile(
        "press-line-1",
        base_load_kwh=40.0,
        shifts=3,
        shift_load_kwh=15.0,
        units_per_hour=120.0,
        kwh_per_unit=0.5,
        saturday_production=0.5,
        heating_balance_c=12.0,
        heating_kwh_per_degree=2.0,
    ),
    MachineProfile(
        "injection-molding-2",
        base_load_kwh=25.0,
        shifts=2,
        shift_load_kwh=10.0,
        units_per_hour=300.0,
        kwh_per_unit=0.2,
        cooling_balance_c=20.0,
        cooling_kwh_per_degree=3.0,
    ),
    MachineProfile(
        "compressor-3",
        base_load_kwh=0.5,
        shifts=2,
        units_per_hour=80.0,
        kwh_per_unit=0.6,
        saturday_production=0.3,
        reports_temperature=False,
    ),
    MachineProfile(
        "office-building",
        base_load_kwh=30.0,
        shifts=1,
        shift_load_kwh=45.0,
        heating_balance_c=15.0,
        heating_kwh_per_degree=4.0,
        cooling_balance_c=22.0,
        cooling_kwh_per_degree=6.0,
        reports_production=False,
    ),
    MachineProfile(
        "cold-store",
        base_load_kwh=60.0,
        shifts=1,
        shift_load_kwh=8.0,
        cooling_balance_c=8.0,
        cooling_kwh_per_degree=3.5,
        noise_fraction=0.03,
        reports_production=False,
    ),
    MachineProfile(
        "paint-shop-oven",
        base_load_kwh=50.0,
        shifts=2,
        shift_load_kwh=20.0,
        units_per_hour=40.0,
        kwh_per_unit=2.5,
        heating_balance_c=16.0,
        heating_kwh_per_degree=3.0,
    ),
)


def _ar1(rng: np.random.Generator, size: int, coefficient: float, stationary_std: float) -> np.ndarray:
    """AR(1) noise: real meter errors and weather are autocorrelated, which FSU and ARIMA must see."""
    innovations = rng.normal(0.0, stationary_std * np.sqrt(1.0 - coefficient**2), size)
    return lfilter([1.0], [1.0, -coefficient], innovations)


def _outdoor_temperature(index: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """Mid-European climate: yearly cycle (coldest ~20 January), daily cycle peaking at 15:00, weather."""
    day_of_year = index.day_of_year.to_numpy() + index.hour.to_numpy() / 24.0
    yearly = 10.0 - 9.0 * np.cos(2.0 * np.pi * (day_of_year - 20.0) / 365.25)
    daily = 4.0 * np.cos(2.0 * np.pi * (index.hour.to_numpy() - 15.0) / 24.0)
    return yearly + daily + _ar1(rng, len(index), 0.98, 3.0)


def _rest_days(index: pd.DatetimeIndex) -> np.ndarray:
    """Sundays and public holidays, when nothing is produced and buildings are unoccupied."""
    holiday = np.isin(index.month * 100 + index.day, [month * 100 + day for month, day in PUBLIC_HOLIDAYS])
    return (index.day_of_week.to_numpy() == 6) | holiday


def _schedule(index: pd.DatetimeIndex, profile: MachineProfile) -> np.ndarray:
    """Fraction of full activity per row: 1 in a weekday shift, the Saturday share, 0 otherwise."""
    if profile.shifts == 0:
        return np.zeros(len(index))
    first, last = SHIFT_HOURS[profile.shifts]
    hour = index.hour.to_numpy()
    in_shift = (hour >= first) & (hour < last)
    weekday_share = np.where(index.day_of_week.to_numpy() == 5, profile.saturday_production, 1.0)
    return np.where(in_shift & ~_rest_days(index), weekday_share, 0.0)


def _anomaly_events(
    rng: np.random.Generator, expected: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Place ``count`` non-overlapping 2-6 h spikes or drops, one per equal segment of the series.

    Drops go where the load is above its median: a drop during an idle hour is invisible in the
    meter and so no detector could (or should) be scored on it.
    Returns (additive kWh, multiplicative factor, label mask).
    """
    size = len(expected)
    addition, factor, labels = np.zeros(size), np.ones(size), np.zeros(size, dtype=bool)
    segment = size // count
    busy = expected >= np.median(expected)
    for event in range(count):
        duration = int(rng.integers(2, 7))
        low, high = event * segment + duration, (event + 1) * segment - 2 * duration
        if high <= low:
            raise ValueError(f"{count} anomaly events do not fit in {size} rows")
        is_drop = bool(rng.random() < 0.5)
        candidates = np.flatnonzero(busy[low:high]) + low if is_drop else np.arange(low, high)
        if len(candidates) == 0:
            candidates, is_drop = np.arange(low, high), False
        start = int(rng.choice(candidates))
        window = slice(start, start + duration)
        if is_drop:
            factor[window] = rng.uniform(0.2, 0.5)
        else:
            addition[window] = rng.uniform(0.6, 1.0) * expected.mean()
        labels[window] = True
    return addition, factor, labels


def generate_readings(
    profile: MachineProfile,
    start: str | pd.Timestamp = "2024-01-01",
    days: int = 90,
    *,
    seed: int = 0,
    anomaly_events: int = 0,
    labelled: bool = True,
    level_shift: LevelShift | None = None,
    temperature_shift: TemperatureShift | None = None,
) -> pd.DataFrame:
    """Hourly readings in the ``model_types.base`` layout.

    ``labelled`` false leaves ``is_anomaly`` as ``pd.NA`` everywhere (a meter nobody annotates);
    otherwise it is true exactly on the injected anomaly rows.
    """
    rng = np.random.default_rng(seed)
    first = pd.Timestamp(start)
    first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")
    index = pd.date_range(first, periods=days * 24, freq="h", name="ts")
    activity = _schedule(index, profile)
    production = activity * profile.units_per_hour * np.clip(rng.normal(1.0, 0.12, len(index)), 0.0, None)
    temperature = _outdoor_temperature(index, rng)
    if temperature_shift is not None:
        temperature = temperature + np.where(index >= temperature_shift.at, temperature_shift.offset_c, 0.0)

    expected = profile.base_load_kwh + profile.shift_load_kwh * activity + profile.kwh_per_unit * production
    if profile.heating_balance_c is not None:
        expected = expected + profile.heating_kwh_per_degree * np.maximum(profile.heating_balance_c - temperature, 0.0)
    if profile.cooling_balance_c is not None:
        expected = expected + profile.cooling_kwh_per_degree * np.maximum(temperature - profile.cooling_balance_c, 0.0)
    energy = expected + _ar1(rng, len(index), profile.noise_autocorrelation, profile.noise_fraction * expected.mean())

    labels = np.zeros(len(index), dtype=bool)
    if anomaly_events > 0:
        addition, factor, labels = _anomaly_events(rng, expected, anomaly_events)
        energy = energy * factor + addition
    if level_shift is not None:
        energy = energy * np.where(index >= level_shift.at, 1.0 + level_shift.fraction, 1.0)

    return pd.DataFrame(
        {
            "energy_kwh": np.clip(energy, 0.0, None),
            "production_units": production if profile.reports_production else np.nan,
            "outdoor_temp_c": temperature if profile.reports_temperature else np.nan,
            "is_anomaly": pd.array(labels if labelled else [pd.NA] * len(index), dtype="boolean"),
        },
        index=index,
    )


def generate_fleet(
    start: str | pd.Timestamp = "2024-01-01", days: int = 90, *, seed: int = 0, anomaly_events: int = 0
) -> dict[str, pd.DataFrame]:
    """Readings for every ``DEMO_FLEET`` machine, each with its own seed derived from ``seed``."""
    return {
        profile.name: generate_readings(profile, start, days, seed=seed * 1000 + number, anomaly_events=anomaly_events)
        for number, profile in enumerate(DEMO_FLEET)
    }
