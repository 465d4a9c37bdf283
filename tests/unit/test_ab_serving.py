"""Serving without a database: input checks, per-version prediction in time order, and the model cache."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from app.errors import InvalidInput
from app.ml.model_types import FittedModel, get_model_type
from app.ml.synthetic import DEMO_FLEET, generate_readings
from app.services.experiments.predictions import MAX_BATCH, PredictionInput, _predict, check_drivers, check_inputs
from app.services.models import model_cache
from app.services.models.model_cache import ModelCache

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def readings() -> Any:
    return generate_readings(DEMO_FLEET[0], "2026-01-01", 28, seed=3)


@pytest.fixture(scope="module")
def forecaster(readings: Any) -> FittedModel:
    return get_model_type("forecast_arima").fit(readings)


def hourly(count: int) -> list[PredictionInput]:
    return [PredictionInput(START + timedelta(hours=i), 40.0, 5.0) for i in range(count)]


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        (hourly(MAX_BATCH + 1), "inputs"),
        ([*hourly(2), PredictionInput(datetime(2026, 3, 1, 5))], "inputs[2].timestamp"),
        (
            [
                PredictionInput(datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))),
                PredictionInput(datetime(2026, 3, 1, 10, 30, tzinfo=UTC)),
            ],
            "inputs[1].timestamp",
        ),
        ([PredictionInput(START, production_units=-1.0)], "inputs[0].productionUnits"),
        ([PredictionInput(START, production_units=float("nan"))], "inputs[0].productionUnits"),
        ([*hourly(1), PredictionInput(START + timedelta(hours=1), outdoor_temp_c=95.0)], "inputs[1].outdoorTempC"),
    ],
)
def test_inputs_are_refused_naming_the_offending_field(inputs: list[PredictionInput], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_inputs(inputs)

    assert refused.value.field == field


def test_a_full_batch_of_distinct_instants_is_accepted() -> None:
    check_inputs(hourly(MAX_BATCH))


def test_drivers_of_every_version_that_may_serve_are_required() -> None:
    uses_temperature = SimpleNamespace(features=["outdoor_temp_c"])
    uses_nothing = SimpleNamespace(features=[])
    inputs = [PredictionInput(START, production_units=3.0, outdoor_temp_c=None)]

    check_drivers(inputs, [uses_nothing])  # type: ignore[list-item]
    with pytest.raises(InvalidInput) as refused:
        check_drivers(inputs, [uses_nothing, uses_temperature])  # type: ignore[list-item]

    assert refused.value.field == "inputs[0].outdoorTempC"


def test_each_version_predicts_its_rows_in_time_order_and_answers_return_in_input_order(
    readings: Any, forecaster: FittedModel
) -> None:
    baseline = get_model_type("baseline").fit(readings)
    future = readings.index[-1] + np.arange(1, 49) * readings.index.freq
    rows = [PredictionInput(ts.to_pydatetime(), 40.0 + i % 5, 3.0 + i % 7) for i, ts in enumerate(future)]
    shuffled = list(np.random.default_rng(5).permutation(len(rows)))
    inputs = [rows[i] for i in shuffled]
    forecaster_id, baseline_id = uuid.uuid4(), uuid.uuid4()
    version_ids = [forecaster_id if i % 2 else baseline_id for i in shuffled]

    values = _predict(
        {forecaster_id: forecaster, baseline_id: baseline},
        version_ids,
        inputs,
        [item.timestamp for item in inputs],
    )

    frame = (
        readings.iloc[:0]
        .reindex(future)
        .assign(
            production_units=[row.production_units for row in rows], outdoor_temp_c=[row.outdoor_temp_c for row in rows]
        )
    )
    expected = {
        forecaster_id: forecaster.predict(frame).value,
        baseline_id: baseline.predict(frame).value,
    }
    for position, original in enumerate(shuffled):
        assert values[position] == pytest.approx(expected[version_ids[position]][original], rel=1e-12)


class CountingLoads:
    """Wraps ``get_model_type`` to count deserializations."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._lock = threading.Lock()
        real = model_cache.get_model_type

        def counted(name: str) -> Any:
            model_type = real(name)
            load = model_type.load

            def counting_load(artifact: bytes) -> FittedModel:
                with self._lock:
                    self.count += 1
                return load(artifact)

            model_type.load = counting_load  # type: ignore[method-assign]
            return model_type

        monkeypatch.setattr(model_cache, "get_model_type", counted)


def test_a_version_is_deserialized_once_even_when_threads_miss_together(
    monkeypatch: pytest.MonkeyPatch, forecaster: FittedModel
) -> None:
    loads = CountingLoads(monkeypatch)
    cache = ModelCache(capacity=4)
    version_id, artifact = uuid.uuid4(), forecaster.to_bytes()
    loaded: list[FittedModel] = []

    threads = [
        threading.Thread(target=lambda: loaded.append(cache.load(version_id, "forecast_arima", artifact)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert loads.count == 1 and len(loaded) == 8
    assert all(model is loaded[0] for model in loaded) and cache.cached(version_id) is loaded[0]


def test_the_least_recently_used_version_leaves_first(monkeypatch: pytest.MonkeyPatch, readings: Any) -> None:
    loads = CountingLoads(monkeypatch)
    cache = ModelCache(capacity=2)
    artifact = get_model_type("baseline").fit(readings).to_bytes()
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    cache.load(first, "baseline", artifact)
    cache.load(second, "baseline", artifact)
    assert cache.cached(first) is not None  # now the most recently used
    cache.load(third, "baseline", artifact)

    assert cache.cached(second) is None and cache.cached(first) is not None and len(cache) == 2
    cache.load(first, "baseline", artifact)
    assert loads.count == 3
