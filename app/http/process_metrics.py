"""Prometheus exposition that stays whole when `kilowatch serve --workers N` runs several processes.

Each process counts in its own memory, and a scrape reaches whichever process accepts it, so with
several workers every scrape would show a different part of the truth. prometheus_client's
multiprocess mode has each process write its samples to files in one directory and the scraped
process sum them. `kilowatch serve` switches that mode on for its worker processes before they start
(``PROMETHEUS_MULTIPROC_DIR``, read by prometheus_client when it is imported); one process keeps the
default in-memory registry.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"


def exposition() -> bytes:
    """The text a scrape gets: this process's metrics, or all processes' when they share a directory."""
    if not os.environ.get(MULTIPROCESS_DIRECTORY):
        return generate_latest()
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return generate_latest(registry)


@contextmanager
def shared_by_child_processes() -> Iterator[None]:
    """Processes started inside the block share one fresh sample directory, removed when the block ends."""
    previous = os.environ.get(MULTIPROCESS_DIRECTORY)
    with tempfile.TemporaryDirectory(prefix="kilowatch-metrics-") as directory:
        os.environ[MULTIPROCESS_DIRECTORY] = directory
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(MULTIPROCESS_DIRECTORY, None)
            else:
                os.environ[MULTIPROCESS_DIRECTORY] = previous
