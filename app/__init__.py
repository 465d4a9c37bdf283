"""Kilowatch: model performance tracking for energy management."""

__version__ = "0.1.0"
