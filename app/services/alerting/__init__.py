"""Alerts: raising, deduplicating, resolving, and delivering them to webhooks."""
