"""FORECAST_PROPHET: Meta's Prophet with the machine's drivers as extra regressors.

Prophet models trend + seasonality; energy also depends on production and weather, so those
enter as linear extra regressors: production and the heating/cooling degree-hours from balance
points searched on the training window (net of the weekly schedule, as for BASELINE). A single
daily seasonality cannot represent a plant that runs on weekdays and idles at weekends, so the
daily profile is two conditional seasonalities (weekday, weekend). Yearly seasonality is off:
the weather regressors carry what changes over the year, and a yearly Fourier series would also
absorb the weather of the one or two years seen and replay it.

Prophet wants tz-naive timestamps; ours are UTC and are passed as naive UTC. Artifacts hold
Prophet's own ``model_to_json`` output, with the training rows left out (``_without_history``).
Predictions are Prophet's ``yhat`` computed from its parameters (``_point_forecast``). Rows missing a
regressor cannot be fitted or predicted and come back as NaN.

Primary metric: MASE against a seasonal-naive forecast, as for FORECAST_ARIMA. Fit time grows with
the window (about 0.75 s of CPU per fit for a year of hourly data, about half of it CmdStan's
optimisation; ``bench/training.py``); it stays far below the job timeout, so the window is not capped.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

# prophet.plot logs an ERROR at import when the optional plotly is absent; we never plot.
logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)

from prophet import Prophet  # noqa: E402  (the logger level must be set before this import)
from prophet.serialize import model_from_json, model_to_json  # noqa: E402

from app.ml.features import ENERGY, DesignSpec, build_spec, infer_step, is_sub_daily  # noqa: E402
from app.ml.model_types.base import (  # noqa: E402
    FittedModel,
    ModelType,
    Prediction,
    envelope,
    open_envelope,
    resolve_hyperparameters,
)

# cmdstanpy adds its own INFO handler on first use unless the logger already has one; a
# NullHandler plus WARNING keeps "Chain [1] start processing" out of worker logs while real
# warnings still propagate to the application's handlers.
_CMDSTANPY_LOGGER = logging.getLogger("cmdstanpy")
_CMDSTANPY_LOGGER.addHandler(logging.NullHandler())
_CMDSTANPY_LOGGER.setLevel(logging.WARNING)
logging.getLogger("prophet").setLevel(logging.WARNING)

#: Two weeks show each conditional daily profile (weekday, weekend) at least four times.
MIN_TRAINING_DAYS = 14
#: Prophet's parameters that are fitted coefficients (``trend`` is derived, ``lp__`` the objective).
FITTED_PARAMETERS = ("k", "m", "delta", "sigma_obs", "beta")
DEFAULTS: dict[str, Any] = {
    "changepoint_prior_scale": 0.05,
    "seasonality_prior_scale": 10.0,
    "daily_fourier_order": 8,
    "weekly_fourier_order": 3,
}


@contextmanager
def _prophet_calls() -> Iterator[None]:
    """Prophet 1.x still uses pandas APIs deprecated in pandas 3 (``inplace=``, ``convert_dates=``).

    Those deprecations are Prophet's to fix and harmless to us, so exactly that category, raised
    from Prophet's own modules, is ignored; anything else still surfaces.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"prophet(\.|$)")
        yield


def _prophet_frame(frame: pd.DataFrame, spec: DesignSpec) -> pd.DataFrame:
    """Prophet's input: naive-UTC ``ds``, the regressors, and the weekday/weekend conditions."""
    weekend = frame.index.day_of_week.to_numpy() >= 5
    data = spec.driver_columns(frame).reset_index(drop=True)
    data.insert(0, "ds", frame.index.tz_convert("UTC").tz_localize(None))
    data["weekday"] = ~weekend
    data["weekend"] = weekend
    return data


def _point_forecast(model: Prophet, data: pd.DataFrame) -> np.ndarray:
    """Prophet's ``yhat`` for the rows of ``data`` (time-ordered), computed from its parameters directly.

    ``Prophet.predict`` builds a frame of every component (trend, each seasonality, each regressor, their
    sums) with pandas and spends nearly all of its ~50 ms per call there, however few the rows; monitoring
    calls it several times per series and evaluation. Without uncertainty sampling its ``yhat`` is
    ``trend × (1 + X·β_multiplicative) + X·β_additive × y_scale``, X the Fourier and regressor columns in
    Prophet's own order, with Prophet's ``fourier_series`` (redone on numpy arrays) and ``piecewise_linear``.
    Models using what this does not cover (holidays, logistic growth, a floor, min-max scaling, MCMC
    samples) go through ``Prophet.predict``. A unit test holds the two equal.
    """
    params, y_scale, changepoints = model.params, model.y_scale, model.changepoints_t
    if (
        y_scale is None
        or changepoints is None
        or model.growth != "linear"
        or model.holidays is not None
        or model.country_holidays is not None
        or model.logistic_floor
        or model.scaling != "absmax"
        or np.shape(params["k"])[0] != 1
    ):
        with _prophet_calls():
            return np.asarray(model.predict(data)["yhat"], dtype=float)
    dates = pd.DatetimeIndex(data["ds"])
    # Days since the epoch, as Prophet's ``fourier_series`` computes them (the same float operations).
    days = (dates - pd.Timestamp("1970-01-01")).total_seconds().to_numpy() / (24 * 60 * 60)
    columns, additive = [], []
    for props in model.seasonalities.values():
        block = _fourier_series(days, props["period"], props["fourier_order"])
        if props["condition_name"] is not None:
            block[~data[props["condition_name"]].to_numpy(dtype=bool)] = 0.0
        columns.append(block)
        additive += [props["mode"] == "additive"] * block.shape[1]
    for name, props in model.extra_regressors.items():
        columns.append(((data[name].to_numpy(dtype=float) - props["mu"]) / props["std"])[:, None])
        additive.append(props["mode"] == "additive")
    beta = np.asarray(params["beta"], dtype=float)[0]
    mask = np.asarray(additive, dtype=bool)
    features = np.hstack(columns) if columns else np.zeros((len(data), 0))
    t = np.asarray((dates - model.start) / model.t_scale, dtype=float)
    trend = (
        Prophet.piecewise_linear(
            t,
            np.asarray(params["delta"], dtype=float)[0],
            float(params["k"][0, 0]),
            float(params["m"][0, 0]),
            changepoints,
        )
        * y_scale
    )
    multiplicative = features[:, ~mask] @ beta[~mask] if (~mask).any() else 0.0
    return trend * (1 + multiplicative) + features[:, mask] @ beta[mask] * y_scale


def _fourier_series(days: np.ndarray, period: float, order: int) -> np.ndarray:
    """``Prophet.fourier_series`` on numpy arrays: its pandas arithmetic is most of its time."""
    angle = np.pi * 2 * days
    components = np.empty((len(days), 2 * order))
    for i in range(order):
        c = (i + 1) / period * angle
        components[:, 2 * i] = np.sin(c)
        components[:, 2 * i + 1] = np.cos(c)
    return components


def _without_history(model: Prophet) -> Prophet:
    """The model with only its last training row kept: prediction needs the fitted scales and parameters,
    not the training frame, which made up 99 % of an artifact (2.6 MB for a year of hourly readings) and of
    its loading time. Prophet insists on a non-empty history when saving and predicting, hence one row."""
    light = copy.copy(model)
    light.history = model.history.iloc[-1:] if model.history is not None else None
    light.history_dates = model.history_dates.iloc[-1:] if model.history_dates is not None else None
    return light


@dataclass(kw_only=True)
class ProphetForecaster(FittedModel):
    spec: DesignSpec
    model: Prophet

    @property
    def parameter_count(self) -> int:
        return int(sum(np.asarray(self.model.params[name]).shape[-1] for name in FITTED_PARAMETERS))

    def predict(self, frame: pd.DataFrame) -> Prediction:
        data = _prophet_frame(frame, self.spec)
        complete = data.notna().all(axis=1).to_numpy()
        values = np.full(len(frame), np.nan)
        if complete.any():
            values[complete] = _point_forecast(self.model, data[complete])
        return Prediction(value=values)

    def to_bytes(self) -> bytes:
        with _prophet_calls():
            prophet_json = model_to_json(_without_history(self.model))
        return envelope(
            ForecastProphetType.name,
            {
                "features": self.features,
                "hyperparameters": self.hyperparameters,
                "spec": self.spec.to_dict(),
                "prophet": prophet_json,
            },
        )


class ForecastProphetType(ModelType):
    name: ClassVar[str] = "forecast_prophet"
    primary_metric: ClassVar[str] = "mase"
    min_training_days = MIN_TRAINING_DAYS

    def fit(self, frame: pd.DataFrame, hyperparameters: dict[str, Any] | None = None) -> ProphetForecaster:
        resolved = resolve_hyperparameters(self.name, DEFAULTS, hyperparameters)
        spec = replace(build_spec(frame), time_of_week="none")
        model = Prophet(
            yearly_seasonality=False,
            weekly_seasonality=int(resolved["weekly_fourier_order"]),
            daily_seasonality=False,
            changepoint_prior_scale=float(resolved["changepoint_prior_scale"]),
            seasonality_prior_scale=float(resolved["seasonality_prior_scale"]),
            uncertainty_samples=0,
        )
        if is_sub_daily(infer_step(frame.index)):
            for condition in ("weekday", "weekend"):
                model.add_seasonality(
                    f"daily_{condition}",
                    period=1,
                    fourier_order=int(resolved["daily_fourier_order"]),
                    condition_name=condition,
                )
        for regressor in spec.driver_names:
            model.add_regressor(regressor)
        data = _prophet_frame(frame, spec)
        data["y"] = frame[ENERGY].to_numpy(dtype=float)
        with _prophet_calls():
            model.fit(data[data.notna().all(axis=1)])
        return ProphetForecaster(
            features=list(spec.drivers),
            hyperparameters={
                **resolved,
                "heating_balance_c": spec.heating_balance_c,
                "cooling_balance_c": spec.cooling_balance_c,
            },
            spec=spec,
            model=model,
        )

    def load(self, artifact: bytes) -> ProphetForecaster:
        data = open_envelope(self.name, artifact)
        with _prophet_calls():
            model = _without_history(model_from_json(data["prophet"]))  # artifacts stored before it was left out
        return ProphetForecaster(
            features=list(data["features"]),
            hyperparameters=dict(data["hyperparameters"]),
            spec=DesignSpec.from_dict(data["spec"]),
            model=model,
        )
