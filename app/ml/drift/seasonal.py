"""What the model saw under comparable conditions, and what a feature's change does to its predictions.

Two questions decide whether a change in a model's inputs matters:

1. **Compared with what?** A November week is colder than a year of weather, and that says nothing
   about the model: it was trained on last November too. When the training window covers the
   window's weeks of the year, the window is compared with those weeks of training (each window
   week and its neighbours, so a late cold spell still finds its season), not with the whole year.
2. **Does the model care?** A change in a driver moves the predictions by as much as the model's
   response to that driver: the *impact* is the mean prediction shift the change implies (the
   window predicted as it is, minus the window with the feature moved back by the change of its
   mean), in residual standard deviations of the model. A one-degree warmer week moves a heating
   model's predictions by a fraction of its error; a production level 50 % above anything trained
   on moves them by several.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, timedelta

import numpy as np
import pandas as pd

from app.ml.drift.profile import FeatureProfile

#: A window week counts as covered when training holds at least this share of a full week's rows for it.
MIN_WEEK_COVERAGE = 0.5
#: Neighbouring weeks pooled on each side of every window week.
NEIGHBOUR_WEEKS = 1
#: ISO years have 52 or 53 weeks; week 53 is neighbour to weeks 52 and 1.
WEEKS_PER_YEAR = 53

Predict = Callable[[Mapping[str, np.ndarray]], np.ndarray]

EPOCH = date(1970, 1, 1)
NS_PER_DAY = 86_400 * 10**9


def window_weeks(index: pd.DatetimeIndex) -> tuple[int, ...]:
    """The ISO weeks of the year a window's readings fall in, from its distinct days (a week of hourly
    readings is seven dates, not 168 rows through pandas' calendar frame)."""
    days = np.unique(index.as_unit("ns").asi8 // NS_PER_DAY)
    return tuple(sorted({(EPOCH + timedelta(days=int(day))).isocalendar().week for day in days}))


def comparable_reference(profile: FeatureProfile, weeks: tuple[int, ...]) -> FeatureProfile | None:
    """The training distribution of ``weeks`` and their neighbours, or None when training does not cover them.

    Each week is pooled with equal weight (its sketch points are equal-weight quantiles of that week);
    the pooled profile's count is the number of sketch points, which keeps the KS test conservative.
    """
    if not profile.weeks or not weeks:
        return None
    full_week = max(count for count, _ in profile.weeks.values())
    covered = {week for week, (count, _) in profile.weeks.items() if count >= MIN_WEEK_COVERAGE * full_week}
    if not set(weeks) <= covered:
        return None
    pooled = sorted({_wrap(week + offset) for week in weeks for offset in range(-NEIGHBOUR_WEEKS, NEIGHBOUR_WEEKS + 1)})
    points = np.sort(np.concatenate([profile.weeks[week][1] for week in pooled if week in covered]))
    return FeatureProfile.from_sorted(points, sketch_size=points.size)


def impact(
    predict: Predict, columns: Mapping[str, np.ndarray], feature: str, shift: float, residual_std: float
) -> float:
    """Mean prediction shift caused by ``feature`` being ``shift`` higher, in residual SDs (signed)."""
    if not np.isfinite(shift) or shift == 0 or residual_std <= 0:
        return 0.0
    as_is = predict(columns)
    moved_back = predict({**columns, feature: columns[feature] - shift})
    difference = np.asarray(as_is, dtype=float) - np.asarray(moved_back, dtype=float)
    finite = difference[np.isfinite(difference)]
    return float(finite.mean() / residual_std) if finite.size else 0.0


def _wrap(week: int) -> int:
    return (week - 1) % WEEKS_PER_YEAR + 1
