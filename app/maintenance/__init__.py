"""Periodic and maintenance work (sweeper, monitoring rounds, schedules): runs services on a clock."""
