"""Secrets in query strings never reach the access log, formatted by uvicorn's own formatter."""

from __future__ import annotations

import logging

import pytest
from uvicorn.logging import AccessFormatter

from app.http.access_log import ACCESS_LOGGER, RedactSecrets, redact, redact_access_log


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/?token=kw_secret", "/?token=[redacted]"),
        ("/graphql?query=%7B__typename%7D&api_key=abc&x=1", "/graphql?query=%7B__typename%7D&api_key=[redacted]&x=1"),
        ("/?Access-Token=abc&password=p", "/?Access-Token=[redacted]&password=[redacted]"),
        ("/static/app.js", "/static/app.js"),
        ("/graphql?query=%7Bmachines%7Bid%7D%7D", "/graphql?query=%7Bmachines%7Bid%7D%7D"),
    ],
)
def test_secret_looking_parameters_are_redacted(path: str, logged: str) -> None:
    assert redact(path) == logged


def test_the_access_line_as_uvicorn_writes_it_carries_no_token() -> None:
    record = logging.LogRecord(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/?token=kw_secret#ignored", "1.1", 200),
        None,
    )

    assert RedactSecrets().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)

    assert "kw_secret" not in line
    assert "GET /?token=[redacted]" in line


def test_installing_twice_adds_one_filter() -> None:
    redact_access_log()
    redact_access_log()

    assert sum(isinstance(item, RedactSecrets) for item in logging.getLogger(ACCESS_LOGGER).filters) == 1
