"""Watching champions: monitoring rounds, evaluation, performance metrics, policies."""
