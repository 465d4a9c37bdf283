"""Pure computation: features, model types, metrics, drift and A/B statistics.

Nothing here performs I/O or imports from the rest of the application, so every function can be
unit-tested on arrays and frames alone and reused by the API process, the workers and benchmarks.
"""
