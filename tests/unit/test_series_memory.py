"""Monitoring's memory of predictions gives exactly what predicting every reading gives, revisions included."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd

from app.ml.model_types import get_model_type
from app.ml.model_types.base import FittedModel, Prediction
from app.ml.synthetic import DEMO_FLEET, generate_readings
from app.services.tracking.evaluation import _predictor
from app.services.tracking.series_memory import SeriesMemory


class Counting:
    """A fitted model that counts the rows it was asked to predict."""

    def __init__(self, model: FittedModel) -> None:
        self.model, self.features, self.rows = model, model.features, 0

    def predict(self, frame: pd.DataFrame) -> Prediction:
        self.rows += len(frame)
        return self.model.predict(frame)


def test_only_new_or_revised_readings_are_predicted() -> None:
    frame = generate_readings(DEMO_FLEET[0], "2024-01-01", 60, seed=3)
    model = Counting(get_model_type("baseline").fit(frame.iloc[: 40 * 24]))
    memory, version = SeriesMemory(), uuid.uuid4()
    first = frame.iloc[40 * 24 : 50 * 24]
    np.testing.assert_array_equal(memory.predictions(version, model, first), model.model.predict(first).value)  # type: ignore[arg-type]
    assert model.rows == len(first)

    later = frame.iloc[41 * 24 : 51 * 24].copy()  # a day older left the window, a new day came
    later.iloc[5, later.columns.get_loc("production_units")] += 40.0  # a reading revised since
    later.iloc[7, later.columns.get_loc("outdoor_temp_c")] = np.nan
    model.rows = 0
    values = memory.predictions(version, model, later)  # type: ignore[arg-type]
    np.testing.assert_array_equal(values, model.model.predict(later).value)
    assert model.rows == 24 + 2

    assert memory.scale(version) == (False, None)
    memory.remember_scale(version, None)
    assert memory.scale(version) == (True, None)


def test_capacity_forgets_least_recently_used_and_grows_on_reserve() -> None:
    memory = SeriesMemory(capacity=2)
    versions = [uuid.uuid4() for _ in range(3)]
    for version in versions:
        memory.remember_scale(version, None)
    assert len(memory) == 2 and memory.scale(versions[0]) == (False, None)
    memory.reserve(3)
    memory.remember_scale(versions[0], None)
    assert len(memory) == 3


def test_the_drift_check_takes_known_predictions_only_for_its_unchanged_window() -> None:
    frame = generate_readings(DEMO_FLEET[0], "2024-01-01", 60, seed=4)
    model = Counting(get_model_type("baseline").fit(frame.iloc[: 40 * 24]))
    window = frame.iloc[50 * 24 : 57 * 24]
    known = pd.Series(model.model.predict(window.iloc[24:]).value, index=window.index[24:])  # first day unknown
    predict = _predictor(model, window, known)  # type: ignore[arg-type]
    columns = {name: window[name].to_numpy(dtype=float) for name in model.features}

    np.testing.assert_allclose(predict(columns), model.model.predict(window).value, rtol=1e-12)
    assert model.rows == 24

    moved = {**columns, "production_units": columns["production_units"] - 10.0}
    changed = window.copy()
    changed["production_units"] = moved["production_units"]
    np.testing.assert_allclose(predict(moved), model.model.predict(changed).value, rtol=1e-12)
    assert model.rows == 24 + len(window)  # a changed input is predicted whole
