"""The `kilowatch` command line: serve, worker, migrate, import, tokens, demo seeding."""
