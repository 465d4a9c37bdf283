"""Model types registered by name (the lower-case names stored in the database).

Prophet is imported lazily: importing it costs about a second and loads Stan, which a process that
only serves baselines or anomaly scores should not pay for.
"""

from __future__ import annotations

from collections.abc import Callable

from app.ml.model_types.anomaly import AnomalyType
from app.ml.model_types.base import (
    FittedModel,
    InsufficientDataError,
    ModelType,
    Prediction,
)
from app.ml.model_types.baseline import BaselineType
from app.ml.model_types.forecast_arima import ForecastArimaType


def _prophet() -> ModelType:
    from app.ml.model_types.forecast_prophet import ForecastProphetType

    return ForecastProphetType()


_FACTORIES: dict[str, Callable[[], ModelType]] = {
    BaselineType.name: BaselineType,
    AnomalyType.name: AnomalyType,
    ForecastArimaType.name: ForecastArimaType,
    "forecast_prophet": _prophet,
}
MODEL_TYPE_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def get_model_type(name: str) -> ModelType:
    """The model type called ``name``; GraphQL's upper-case enum names are accepted too."""
    factory = _FACTORIES.get(name.lower())
    if factory is None:
        raise KeyError(f"unknown model type {name!r}; known: {', '.join(MODEL_TYPE_NAMES)}")
    return factory()


__all__ = [
    "MODEL_TYPE_NAMES",
    "FittedModel",
    "InsufficientDataError",
    "ModelType",
    "Prediction",
    "get_model_type",
]
