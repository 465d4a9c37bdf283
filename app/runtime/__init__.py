"""Runtime ports with two adapters each, chosen by configuration: Redis-backed or in-process."""
