"""Secrets kept out of the access log.

Uvicorn's access log records every request's path with its query string. Kilowatch never puts a
token in a URL (the dashboard link carries it in the fragment, which browsers do not send), but a
client or an old bookmark may still send ``?token=…``, and an access log is read by more people than
the tokens are meant for. So the values of query parameters whose names suggest a secret are replaced
before the line is written.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
#: Parameter names (compared in lower case, ignoring ``-`` and ``_``) whose values are never logged.
SECRET_NAMES = frozenset({"token", "accesstoken", "apikey", "key", "secret", "password", "auth", "authorization"})
REDACTED = "[redacted]"
_PARAMETER = re.compile(r"(?P<name>[^&=?#]+)=(?P<value>[^&#]*)")


def redact(path: str) -> str:
    """``path`` with the value of every secret-looking query parameter replaced."""
    base, separator, query = path.partition("?")
    if not separator:
        return path

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        secret = name.lower().replace("-", "").replace("_", "") in SECRET_NAMES
        return f"{name}={REDACTED}" if secret else match[0]

    return f"{base}?{_PARAMETER.sub(replace, query)}"


class RedactSecrets(logging.Filter):
    """Rewrites the path argument of uvicorn's access records: (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        arguments = record.args
        if isinstance(arguments, tuple) and len(arguments) == 5 and isinstance(arguments[2], str):
            record.args = (*arguments[:2], redact(arguments[2]), *arguments[3:])
        return True


def redact_access_log() -> None:
    """Install the filter on uvicorn's access logger (once, however often the application is built)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
        logger.addFilter(RedactSecrets())
