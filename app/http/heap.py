"""Keep the cycle collector away from what a process loads once at start.

An API process holds ~230,000 objects after start-up (the schema, SQLAlchemy, and the numerical
stack that the services import), and CPython's full collection walks all of them: measured here under
32 concurrent GraphQL requests, full collections took ~80 ms each and a third of the CPU time. Moving
the start-up objects into the permanent generation (``gc.freeze``) leaves the collector only what
requests allocate. The cost is that a frozen object which is or becomes cyclic garbage is not freed
until ``gc.unfreeze``, which runs when the application stops (test runs start many applications in
one process). No ``gc.collect`` comes first: it would cost ~0.1 s per application start, for a few
megabytes of start-up garbage held until shutdown.
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
