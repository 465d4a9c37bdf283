"""The HTTP edge: the Starlette app, authentication, rate limits and process metrics."""
