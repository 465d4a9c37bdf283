"""Kilowatch: model performance tracking for energy management."""

__version__ = "0.1.0"

import os

# Kilowatch fits many small models; on a few cores OpenBLAS's thread pool makes each fit 5-20x slower
# than one thread (measured: a baseline on a year of hourly data 2.8 s vs 0.36 s). Parallelism comes
# from worker processes instead. Set before numpy is imported; an explicit setting wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
