"""Keep the cycle collector away from what a process loads once at start.

An API process holds ~230,000 objects after start-up (the schema, SQLAlchemy, and the numerical
stack that the services import), and CPython's full collection walks all of them: measured here under
32 concurrent GraphQL requests, full collections took ~80 ms each and a third of the CPU time. Moving
the start-up objects into the permanent generation (``gc.freeze``) leaves the collector only what
requests allocate. The cost is that a frozen object which is or becomes cyclic garbage is not freed
until ``gc.unfreeze``, which runs when the application stops (test runs start many applications in
one process). No ``gc.collect`` comes first: it would cost ~0.1 s per application start, for a few
megabytes of start-up garbage held until shutdown.

The collection thresholds stay CPython's (700, 10, 10). Raising them to (50,000, 50, 100) kept full
collections out of a 1,000-subscriber fan-out (bench/fanout.py), but a full collection then ran only
after ~250 million net allocations, and what requests leave in reference cycles (exceptions with
their tracebacks, coroutines and frames of failed fields, DataLoaders) piled up until it did: an API
process grew from 233 MB to 1.73 GB over ~1,500 fleet requests, against ~320 MB flat with the
defaults at the same throughput. bench/soak.py (the dashboard's operations at 32 connections, a worker
training) measured here, on a heavily shared machine: with (50,000, 50, 100) 2.5 requests/s and RSS
267 -> 451 MB after warm-up in 70 s (+1.0 MB per request); with the defaults 2.0 requests/s (within
this machine's noise) and 252 -> 345 MB (+0.66 MB per request, model and document caches filling).
Memory that stays bounded is worth more than the fan-out's tail latency.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def startup_objects_frozen() -> Iterator[None]:
    """Freeze every object that exists now for the duration of the block; call it once start-up is done."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
