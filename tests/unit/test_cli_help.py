"""The command line explains itself: a version, and help with the default of every option that has one."""

from __future__ import annotations

import argparse

import pytest

from app.cli.commands import _parser, main


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _parsers(child)
    return found


def test_version_is_the_installed_one(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])

    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"kilowatch {version('kilowatch')}"


@pytest.mark.parametrize("parser", _parsers(_parser()), ids=lambda parser: parser.prog)
def test_every_option_has_help_and_shows_its_default(parser: argparse.ArgumentParser) -> None:
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction):
            continue
        assert action.help, f"{parser.prog} {action.dest} has no help"
        if action.default not in (None, False):
            assert f"default: {action.default}" in text, f"{parser.prog} {action.dest}: no default in {text}"


def test_serve_help_names_its_defaults() -> None:
    serve = next(parser for parser in _parsers(_parser()) if parser.prog.endswith(" serve"))
    text = " ".join(serve.format_help().split())

    assert "(default: 127.0.0.1)" in text and "(default: 8000)" in text and "(default: 1)" in text
