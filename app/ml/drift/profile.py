"""Reference profile of a model version's training inputs.

The profile is stored in a JSON column next to the model version and is all a drift check needs
from training time, so training data never has to be re-read. Its size is bounded whatever the
number of training rows: per feature a few summary numbers, ``bin_count`` reference-quantile bins
with their counts (for PSI), and a sorted quantile sketch of ``sketch_size`` points (for KS and
Wasserstein; a sample with fewer rows than that is stored whole, so the statistics are exact).

A sketch point ``k`` is the reference quantile at level ``(k + 0.5) / sketch_size``, so each point
stands for an equal share of the training rows. Its CDF is within ``0.5 / sketch_size`` of the
training sample's everywhere, which bounds the error it adds to the KS distance (0.0005 at the
default 1,000 points, below the KS noise of any window under a million rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from app.ml.drift.statistics import bin_counts, sorted_finite, sorted_quantiles

PROFILE_VERSION = 2
#: Profiles of version 1 have no weeks of the year; they are read as such (compared with all of training).
READABLE_VERSIONS = (1, 2)
#: Points kept per ISO week of the year: the training distribution of that week (see ``app.ml.drift.seasonal``).
WEEK_SKETCH_SIZE = 48
DEFAULT_SKETCH_SIZE = 1000
#: Ten reference-decile bins: the binning the usual PSI thresholds (0.1 / 0.25) were calibrated on.
DEFAULT_BIN_COUNT = 10
SUMMARY_LEVELS: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass(frozen=True)
class FeatureProfile:
    """What is kept of one feature's training distribution (see the module docstring)."""

    count: int
    mean: float
    std: float
    minimum: float
    maximum: float
    quantiles: dict[str, float]
    #: Interior edges of right-closed bins ``(-inf, e0], ..., (e_last, inf)``, strictly increasing.
    bin_edges: np.ndarray
    bin_counts: np.ndarray
    #: Sorted equal-weight points standing in for the training sample.
    sketch: np.ndarray
    #: ISO week of the year -> (training rows in that week, sorted sketch of them); empty without timestamps.
    weeks: dict[int, tuple[int, np.ndarray]] = field(default_factory=dict)

    @property
    def is_exact(self) -> bool:
        """True when the sketch is the whole training sample, so KS and Wasserstein are exact."""
        return self.sketch.size == self.count

    @classmethod
    def from_sorted(
        cls,
        sorted_values: np.ndarray,
        sketch_size: int = DEFAULT_SKETCH_SIZE,
        bin_count: int = DEFAULT_BIN_COUNT,
    ) -> FeatureProfile:
        """Profile of an already sorted, finite, non-empty sample.

        Quantile edges that coincide (a point mass such as zero production) are merged, so a
        discrete or constant feature simply gets fewer bins instead of empty duplicate ones.
        """
        if sorted_values.size == 0:
            raise ValueError("a profile needs at least one finite value")
        count = sorted_values.size
        edges = np.unique(sorted_quantiles(sorted_values, np.arange(1, bin_count) / bin_count))
        if count <= sketch_size:
            sketch = sorted_values
        else:
            sketch = sorted_quantiles(sorted_values, (np.arange(sketch_size) + 0.5) / sketch_size)
        summary = sorted_quantiles(sorted_values, SUMMARY_LEVELS)
        return cls(
            count=count,
            mean=float(np.mean(sorted_values)),
            std=float(np.std(sorted_values)),
            minimum=float(sorted_values[0]),
            maximum=float(sorted_values[-1]),
            quantiles={_level_name(level): float(value) for level, value in zip(SUMMARY_LEVELS, summary, strict=True)},
            bin_edges=edges,
            bin_counts=bin_counts(sorted_values, edges),
            sketch=sketch,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (the profile goes into a database JSON column)."""
        weeks = {str(week): {"count": count, "sketch": sketch.tolist()} for week, (count, sketch) in self.weeks.items()}
        return {
            **({"weeks": weeks} if weeks else {}),
            "count": self.count,
            "mean": self.mean,
            "std": self.std,
            "min": self.minimum,
            "max": self.maximum,
            "quantiles": dict(self.quantiles),
            "bin_edges": self.bin_edges.tolist(),
            "bin_counts": self.bin_counts.tolist(),
            "sketch": self.sketch.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureProfile:
        """Inverse of ``to_dict``; rejects a profile whose parts do not fit together."""
        profile = cls(
            count=int(data["count"]),
            mean=float(data["mean"]),
            std=float(data["std"]),
            minimum=float(data["min"]),
            maximum=float(data["max"]),
            quantiles={str(name): float(value) for name, value in data["quantiles"].items()},
            bin_edges=np.asarray(data["bin_edges"], dtype=np.float64),
            bin_counts=np.asarray(data["bin_counts"], dtype=np.int64),
            sketch=np.asarray(data["sketch"], dtype=np.float64),
            weeks={
                int(week): (int(part["count"]), np.asarray(part["sketch"], dtype=np.float64))
                for week, part in data.get("weeks", {}).items()
            },
        )
        consistent = (
            profile.count > 0
            and profile.bin_counts.size == profile.bin_edges.size + 1
            and int(profile.bin_counts.sum()) == profile.count
            and 0 < profile.sketch.size <= profile.count
            and bool(np.all(np.diff(profile.bin_edges) > 0))
            and bool(np.all(np.diff(profile.sketch) >= 0))
        )
        if not consistent:
            raise ValueError("inconsistent feature profile (counts, bins or sketch do not match)")
        return profile


def build_reference_profile(
    features: Mapping[str, ArrayLike],
    *,
    index: pd.DatetimeIndex | None = None,
    sketch_size: int = DEFAULT_SKETCH_SIZE,
    bin_count: int = DEFAULT_BIN_COUNT,
) -> dict[str, Any]:
    """JSON-serialisable profile of each feature's training values.

    Non-finite values (missing readings) are dropped; a feature left without data is skipped, so
    a machine that never reports a driver simply has no profile for it. With the rows' timestamps
    (``index``), each feature also keeps a small sketch per ISO week of the year, so that a
    monitoring window can later be compared with the same weeks of training (``seasonal``).
    """
    if sketch_size < 1 or bin_count < 2:
        raise ValueError("sketch_size must be >= 1 and bin_count >= 2")
    week_numbers = index.isocalendar().week.to_numpy(dtype=np.int64) if index is not None else None
    profiles: dict[str, Any] = {}
    for name, values in features.items():
        sorted_values = sorted_finite(values)
        if sorted_values.size:
            profile = FeatureProfile.from_sorted(sorted_values, sketch_size, bin_count)
            if week_numbers is not None:
                profile = replace(profile, weeks=_week_sketches(np.asarray(values, dtype=float), week_numbers))
            profiles[name] = profile.to_dict()
    return {"version": PROFILE_VERSION, "features": profiles}


def _week_sketches(values: np.ndarray, week_numbers: np.ndarray) -> dict[int, tuple[int, np.ndarray]]:
    weeks = {}
    for week in np.unique(week_numbers):
        sorted_values = sorted_finite(values[week_numbers == week])
        if sorted_values.size:
            levels = (np.arange(WEEK_SKETCH_SIZE) + 0.5) / WEEK_SKETCH_SIZE
            sketch = (
                sorted_values if sorted_values.size <= WEEK_SKETCH_SIZE else sorted_quantiles(sorted_values, levels)
            )
            weeks[int(week)] = (int(sorted_values.size), sketch)
    return weeks


def read_reference_profile(profile: Mapping[str, Any]) -> dict[str, FeatureProfile]:
    """Parse a stored profile; an unknown version is an error rather than a silent misreading."""
    version = profile.get("version")
    if version not in READABLE_VERSIONS:
        raise ValueError(f"unsupported reference profile version {version!r} (expected {PROFILE_VERSION})")
    return {name: FeatureProfile.from_dict(data) for name, data in profile["features"].items()}


def _level_name(level: float) -> str:
    return f"p{round(level * 100):02d}"
