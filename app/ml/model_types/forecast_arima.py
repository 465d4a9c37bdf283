"""FORECAST_ARIMA: regression on drivers and Fourier terms with ARMA errors (statsmodels).

kWh_t = x_t·b + u_t, where x_t holds production, HDD/CDD and a weekly Fourier series, and u_t is
ARMA(p, q). The weekly series of order 28 contains the daily harmonics 1-4 as its 7th, 14th, 21st
and 28th terms, so it also lets the daily profile differ between weekdays and weekends.

Why two stages instead of one joint SARIMAX fit: joint maximum likelihood over ~60 regression
coefficients took 4-5 s on only six weeks of hourly data and grows with the window, and a seasonal
SARIMAX with s = 24 takes ~13 s on 60 days. Instead ``b`` is estimated by (lightly ridged) least
squares on the whole window, which is consistent under autocorrelated errors, and the ARMA model
is fitted by statsmodels on the last ``arma_training_rows`` residuals only, with at most
``maxiter`` optimiser iterations. The ARMA cost is then bounded whatever the window length; the
least-squares part grows linearly and stays cheap (well under a second for two years hourly).
The default order is AR(2): on the synthetic fleet MA terms improved nothing measurable (first-day
MAE within 0.1 %) but made the optimiser 2-5x slower, through nearly cancelling AR and MA roots.

Forecasts: for a timestamp h steps after the training end the prediction is x·b plus the h-step
ARMA forecast of the error, which decays to zero; the drivers are taken from the frame (an ex-post
forecast when they are measured, a scenario forecast when they are planned). For timestamps at or
before the training end only x·b is returned: the error forecast is defined from the end onwards.

Primary metric: MASE against a seasonal-naive forecast: scale-free, so comparable across machines,
and below 1 when the model's errors are smaller than those of "same hour last week" on the training
data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.arima.model import ARIMA, ARIMAResults

from app.ml.features import ENERGY, DesignSpec, build_spec, infer_step
from app.ml.model_types.base import (
    FittedModel,
    ModelType,
    Prediction,
    envelope,
    open_envelope,
    resolve_hyperparameters,
)
from app.ml.model_types.baseline import fit_ridge

#: Four weeks show every hour of the week four times, the least for 57 weekly Fourier columns.
MIN_TRAINING_DAYS = 28
#: Beyond this many steps a stationary ARMA error forecast is zero to machine precision.
ERROR_HORIZON_CAP = 1000
DEFAULTS: dict[str, Any] = {
    "order": [2, 0, 0],
    "fourier_daily": 0,
    "fourier_weekly": 28,
    "arma_training_rows": 2016,
    "maxiter": 50,
    "ridge_alpha": 1.0,
}


def _arima_order(values: list[int]) -> tuple[int, int, int]:
    """(p, 0, q): the errors must be stationary so that their forecast fades to the regression.

    Differenced errors would carry the last residual forever, and the level of the series is the
    regression's job (its intercept and drivers), refitted at every retrain.
    """
    autoregressive, differencing, moving_average = (int(value) for value in values)
    if differencing != 0:
        raise ValueError(f"forecast_arima needs an order (p, 0, q) for stationary errors; got {list(values)}")
    return autoregressive, differencing, moving_average


def _fit_arma(residuals: np.ndarray, order: tuple[int, int, int], maxiter: int) -> tuple[ARIMAResults, bool]:
    """ARMA on the residual tail (NaN rows are missing observations for the Kalman filter).

    A bounded optimiser may stop before convergence; the estimate is still a stationary, invertible
    ARMA (statsmodels enforces both), so non-convergence is recorded instead of raised. statsmodels
    also warns when its own starting values are non-stationary and it falls back to zeros, which is
    harmless for the same reason.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "Non-stationary starting autoregressive", UserWarning)
        warnings.filterwarnings("ignore", "Non-invertible starting MA", UserWarning)
        results = ARIMA(residuals, order=order, trend="n").fit(method_kwargs={"maxiter": maxiter})
    return results, bool(results.mle_retvals.get("converged", False))


def _filtered(residuals: np.ndarray, order: tuple[int, int, int], params: np.ndarray) -> ARIMAResults:
    """Rebuild the fitted ARMA state at the training end from stored parameters (no optimisation)."""
    return ARIMA(residuals, order=order, trend="n").filter(params)


@dataclass(kw_only=True)
class ArimaForecaster(FittedModel):
    spec: DesignSpec
    coefficients: np.ndarray
    order: tuple[int, int, int]
    arma_params: np.ndarray
    #: Residuals on the regular grid ending at ``training_end``; NaN where no reading existed.
    residual_tail: np.ndarray
    training_end: pd.Timestamp
    step: pd.Timedelta
    _arma: ARIMAResults | None = field(default=None, repr=False, compare=False)
    _path: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def parameter_count(self) -> int:
        return len(self.coefficients) + len(self.arma_params)

    def _error_forecast(self, steps_ahead: np.ndarray) -> np.ndarray:
        future = (steps_ahead >= 1) & (steps_ahead <= ERROR_HORIZON_CAP)
        errors = np.zeros(len(steps_ahead))
        if future.any():
            errors[future] = self._error_path()[steps_ahead[future] - 1]
        return errors

    def _error_path(self) -> np.ndarray:
        """The error forecast for 1..ERROR_HORIZON_CAP steps after the training end, computed once.

        It depends on the fitted state alone, and statsmodels' forecast runs the Kalman filter again on
        every call (~30 ms); monitoring predicts a model several times per evaluation. The first k steps
        of a longer forecast are the k-step forecast (the recursion is the same), so one path serves all.
        """
        if self._path is None:
            if self._arma is None:
                self._arma = _filtered(self.residual_tail, self.order, self.arma_params)
            self._path = np.asarray(self._arma.forecast(ERROR_HORIZON_CAP), dtype=float)
            self._arma = None  # the path is all it was kept for; a loaded model stays small in caches
        return self._path

    def predict(self, frame: pd.DataFrame) -> Prediction:
        design, _ = self.spec.matrix(frame)
        steps_ahead = np.round((frame.index - self.training_end) / self.step).to_numpy().astype(int)
        return Prediction(value=design @ self.coefficients + self._error_forecast(steps_ahead))

    def to_bytes(self) -> bytes:
        tail = [float(value) if np.isfinite(value) else None for value in self.residual_tail]
        return envelope(
            ForecastArimaType.name,
            {
                "features": self.features,
                "hyperparameters": self.hyperparameters,
                "spec": self.spec.to_dict(),
                "coefficients": self.coefficients.tolist(),
                "order": list(self.order),
                "arma_params": self.arma_params.tolist(),
                "residual_tail": tail,
                "training_end": self.training_end.isoformat(),
                "step_seconds": self.step.total_seconds(),
            },
        )


class ForecastArimaType(ModelType):
    name: ClassVar[str] = "forecast_arima"
    primary_metric: ClassVar[str] = "mase"
    min_training_days = MIN_TRAINING_DAYS

    def fit(self, frame: pd.DataFrame, hyperparameters: dict[str, Any] | None = None) -> ArimaForecaster:
        resolved = resolve_hyperparameters(self.name, DEFAULTS, hyperparameters)
        order = _arima_order(resolved["order"])
        spec = build_spec(
            frame,
            time_of_week="none",
            fourier_daily=resolved["fourier_daily"],
            fourier_weekly=resolved["fourier_weekly"],
        )
        design, _ = spec.matrix(frame)
        energy = frame[ENERGY].to_numpy(dtype=float)
        coefficients = fit_ridge(design, energy, resolved["ridge_alpha"])

        step = infer_step(frame.index)
        observed = frame.index[np.isfinite(energy)]
        training_end = observed[-1]
        grid = pd.date_range(end=training_end, periods=int(resolved["arma_training_rows"]), freq=step)
        grid = grid[grid >= observed[0]]
        residuals = pd.Series(energy - design @ coefficients, index=frame.index).reindex(grid).to_numpy()
        arma, converged = _fit_arma(residuals, order, int(resolved["maxiter"]))
        return ArimaForecaster(
            features=list(spec.drivers),
            hyperparameters={
                **resolved,
                "heating_balance_c": spec.heating_balance_c,
                "cooling_balance_c": spec.cooling_balance_c,
                "converged": converged,
            },
            spec=spec,
            coefficients=coefficients,
            order=order,
            arma_params=np.asarray(arma.params, dtype=float),
            residual_tail=residuals,
            training_end=training_end,
            step=step,
            _arma=arma,
        )

    def load(self, artifact: bytes) -> ArimaForecaster:
        data = open_envelope(self.name, artifact)
        return ArimaForecaster(
            features=list(data["features"]),
            hyperparameters=dict(data["hyperparameters"]),
            spec=DesignSpec.from_dict(data["spec"]),
            coefficients=np.asarray(data["coefficients"], dtype=float),
            order=_arima_order(data["order"]),
            arma_params=np.asarray(data["arma_params"], dtype=float),
            residual_tail=np.asarray([np.nan if value is None else value for value in data["residual_tail"]]),
            training_end=pd.Timestamp(data["training_end"]),
            step=pd.Timedelta(seconds=data["step_seconds"]),
        )
