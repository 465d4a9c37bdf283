"""Machines and their readings: registration, ingest, CSV parsing, reads."""
