"""Traffic allocation: which arm serves a prediction, and whether the realised split matches the plan.

Routing is a pure function of (test id, machine id, timestamp) so that any API replica or worker,
before or after a restart, sends the same request to the same arm without shared state, and so that a
served prediction can be re-routed later to audit it. Python's built-in ``hash()`` is salted per
process, hence SHA-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

import numpy as np
from scipy import stats

from app.ml.abtest.result import Arm, check_traffic_split

SRM_THRESHOLD = 0.001
"""Chi-square p-value below which a sample-ratio mismatch is flagged.

Deliberately far below usual significance levels: the check runs at every look of every test, and a
false alarm blocks a legitimate decision, while real routing or logging bugs produce p-values many
orders of magnitude smaller.
"""

_MANTISSA_BITS = 53


def canonical_timestamp(timestamp: datetime) -> str:
    """UTC ISO-8601 text with fixed microsecond precision, the form hashed for routing.

    A naive timestamp is taken to be UTC (the database stores UTC); converting it with
    ``astimezone`` would instead assume the host's local zone and route differently per host.
    """
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    return timestamp.astimezone(UTC).isoformat(timespec="microseconds")


def routing_position(test_id: str, machine_id: str, timestamp: datetime) -> float:
    """Uniform position in [0, 1) of one request; below the split it goes to B.

    Only the top 53 bits of the digest are used: dividing a full 64-bit integer by 2**64 in floating
    point can round up to exactly 1.0.
    """
    key = f"{test_id}|{machine_id}|{canonical_timestamp(timestamp)}".encode()
    digest = hashlib.sha256(key).digest()
    return (int.from_bytes(digest[:8], "big") >> (64 - _MANTISSA_BITS)) / float(1 << _MANTISSA_BITS)


def route_arm(test_id: str, machine_id: str, timestamp: datetime, traffic_split: float) -> Arm:
    """Arm that serves the prediction for ``machine_id`` at ``timestamp`` in test ``test_id``.

    ``traffic_split`` is the share of traffic routed to version B (the challenger); the rest goes to A.
    Timestamps denoting the same instant route identically whatever their time zone.
    """
    check_traffic_split(traffic_split)
    return "B" if routing_position(test_id, machine_id, timestamp) < traffic_split else "A"


def route_arms(test_id: str, machine_id: str, timestamps: Iterable[datetime], traffic_split: float) -> np.ndarray:
    """``route_arm`` for many timestamps at once (e.g. a ``pandas.DatetimeIndex``): an array of "A"/"B"."""
    check_traffic_split(traffic_split)
    positions = np.fromiter((routing_position(test_id, machine_id, timestamp) for timestamp in timestamps), dtype=float)
    return np.where(positions < traffic_split, "B", "A")


def sample_ratio_p_value(samples_a: int, samples_b: int, traffic_split: float) -> float | None:
    """Chi-square goodness-of-fit p-value of the observed arm counts against the planned split.

    None when there are no samples yet. A small value means routing or the matching of predictions to
    readings loses one arm's data more than the other's, which biases every comparison of the arms.
    """
    check_traffic_split(traffic_split)
    if samples_a < 0 or samples_b < 0:
        raise ValueError(f"sample counts must be non-negative, got {samples_a} and {samples_b}")
    total = samples_a + samples_b
    if total == 0:
        return None
    expected_a = total * (1.0 - traffic_split)
    expected_b = total * traffic_split
    statistic = (samples_a - expected_a) ** 2 / expected_a + (samples_b - expected_b) ** 2 / expected_b
    return float(stats.chi2.sf(statistic, df=1))
