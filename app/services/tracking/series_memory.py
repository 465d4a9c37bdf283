"""What monitoring remembers per champion between its cycles, so a cycle's model work follows the new readings.

Each evaluation needs the champion's residual scale on its validation window and its predictions for
every out-of-sample reading of the CUSUM history (up to ``monitoring.CUSUM_HISTORY_DAYS``). Both were
computed from scratch every cycle: the validation window read and predicted again, and up to 90 days
predicted again to add one day. Here, per version id:

- the residual scale, computed once (a version, its artifact and its validation window do not change);
- the reference profile as the drift check reads it (parsed once: ~160 kB of JSON for a year of hourly
  readings, shared by the model types of a machine trained on the same window, so one parsed copy of
  ~80 kB serves them all);
- the last predictions with the timestamps and model inputs they were made for. A new evaluation
  reuses a prediction only for a reading at the same instant with the same inputs, and predicts the
  rest, so a revised reading is predicted again and the outcome is exactly what predicting every
  reading would give. That holds because each model type's point prediction for a reading depends on
  that reading alone (its instant and drivers); ``tests/unit/test_model_types.py`` checks it.

Process memory, bounded least recently used first: monitoring reserves room for every series it
monitors (about 70 kB a series for 90 days of hourly readings and two drivers). A process that has not
seen a version yet (a restarted or another worker) computes it once, as before.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.ml.drift import FeatureProfile, ResidualReference
from app.ml.model_types.base import FittedModel

#: Series remembered until monitoring reserves room for its fleet.
DEFAULT_CAPACITY = 64


@dataclass(frozen=True)
class _Predicted:
    stamps: np.ndarray
    inputs: np.ndarray
    values: np.ndarray


@dataclass
class _Entry:
    scale: ResidualReference | None = None
    scale_known: bool = False
    predicted: _Predicted | None = None
    references: dict[str, FeatureProfile] | None = None


class SeriesMemory:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[uuid.UUID, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def reserve(self, count: int) -> None:
        """Keep at least ``count`` series: a pass over more series than the capacity would forget them all."""
        with self._lock:
            self._capacity = max(self._capacity, count)

    def scale(self, version_id: uuid.UUID) -> tuple[bool, ResidualReference | None]:
        """(known, scale): whether the version's residual scale was computed, and its value (None: none)."""
        with self._lock:
            entry = self._entries.get(version_id)
            return (entry.scale_known, entry.scale) if entry else (False, None)

    def remember_scale(self, version_id: uuid.UUID, scale: ResidualReference | None) -> None:
        with self._lock:
            entry = self._entry(version_id)
            entry.scale, entry.scale_known = scale, True

    def references(self, version_id: uuid.UUID) -> dict[str, FeatureProfile] | None:
        """The version's parsed reference profile, if remembered."""
        with self._lock:
            entry = self._entries.get(version_id)
            return entry.references if entry else None

    def remember_references(self, version_id: uuid.UUID, references: dict[str, FeatureProfile]) -> None:
        with self._lock:
            self._entry(version_id).references = references

    def predictions(self, version_id: uuid.UUID, model: FittedModel, frame: pd.DataFrame) -> np.ndarray:
        """``model.predict(frame).value``, predicting only the rows not predicted before with the same inputs."""
        stamps = np.asarray(frame.index.asi8)
        inputs = np.column_stack(
            [frame[name].to_numpy(dtype=float, na_value=np.nan) for name in model.features] or [np.zeros(len(frame))]
        )
        with self._lock:
            entry = self._entries.get(version_id)
            before = entry.predicted if entry else None
        values = np.full(len(frame), np.nan)
        known = np.zeros(len(frame), dtype=bool)
        if before is not None and len(before.stamps):
            at = np.minimum(np.searchsorted(before.stamps, stamps), len(before.stamps) - 1)
            same_input = (before.inputs[at] == inputs) | (np.isnan(before.inputs[at]) & np.isnan(inputs))
            known = (before.stamps[at] == stamps) & same_input.all(axis=1)
            values[known] = before.values[at[known]]
        if not known.all():
            values[~known] = np.asarray(model.predict(frame.loc[~known]).value, dtype=float)
        with self._lock:
            self._entry(version_id).predicted = _Predicted(stamps, inputs, values)
        return values

    def _entry(self, version_id: uuid.UUID) -> _Entry:
        entry = self._entries.get(version_id)
        if entry is None:
            entry = self._entries[version_id] = _Entry()
            if len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(version_id)
        return entry

    def __len__(self) -> int:
        return len(self._entries)


#: The process's memory, shared by every monitoring pass of the process.
SERIES = SeriesMemory()
