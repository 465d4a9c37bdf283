"""Offline comparison of two versions of one series on the same recent readings (no live traffic).

Where an A/B test splits live predictions between two versions, this scores both on every reading
after both training windows and compares their absolute errors with a paired test (``app.ml.abtest``).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tables import ModelVersion
from app.ml.abtest import AbDecision, compare_shadow
from app.ml.abtest.shadow import ShadowMethod
from app.ml.model_types import FittedModel
from app.services.checks import require_limit
from app.services.experiments.abtests import check_min_samples, check_significance, version_pair
from app.services.fleet import readings
from app.services.models.model_cache import loaded_models

MAX_WINDOW_DAYS = 365


@dataclass(frozen=True)
class ShadowComparison:
    model_a: ModelVersion
    model_b: ModelVersion
    #: The readings both versions predicted; None when there were none.
    window_start: datetime | None
    window_end: datetime | None
    decision: AbDecision


async def compare_versions(
    session: AsyncSession,
    model_a_id: uuid.UUID,
    model_b_id: uuid.UUID,
    *,
    window_days: int,
    method: ShadowMethod,
    significance: float,
    min_samples: int,
) -> ShadowComparison:
    """Both versions predict the same recent readings; a paired test compares their absolute errors.

    Only readings after both versions' training windows count: a version scored on data it was fitted
    on looks better than it is.
    """
    require_limit("windowDays", window_days, MAX_WINDOW_DAYS)
    check_significance("significance", significance)
    check_min_samples("minSamples", min_samples)
    version_a, version_b = await version_pair(session, model_a_id, model_b_id)
    frame = await readings.recent_frame(session, version_a.machine_id, window_days)
    frame = frame[frame.index > max(version_a.trained_to, version_b.trained_to)]
    models = await loaded_models(session, [version_a, version_b])
    errors_a, errors_b = await asyncio.to_thread(_paired_errors, models[version_a.id], models[version_b.id], frame)
    decision = compare_shadow(errors_a, errors_b, significance=significance, min_samples=min_samples, method=method)
    first, last = (frame.index[0].to_pydatetime(), frame.index[-1].to_pydatetime()) if len(frame) else (None, None)
    return ShadowComparison(version_a, version_b, first, last, decision)


def _paired_errors(model_a: FittedModel, model_b: FittedModel, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Errors y − ŷ of both versions on the readings both could predict, the target hidden as when serving."""
    actual = frame["energy_kwh"].to_numpy(dtype=float)
    unseen = frame.assign(energy_kwh=np.nan)
    predicted_a = np.asarray(model_a.predict(unseen).value, dtype=float)
    predicted_b = np.asarray(model_b.predict(unseen).value, dtype=float)
    usable = np.isfinite(actual) & np.isfinite(predicted_a) & np.isfinite(predicted_b)
    return actual[usable] - predicted_a[usable], actual[usable] - predicted_b[usable]
