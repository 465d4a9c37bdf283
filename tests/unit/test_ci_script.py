"""CI runs exactly the test command the README gives newcomers."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def readme_test_command() -> str:
    readme = (REPO / "README.md").read_text()
    match = re.search(r"# run the tests.*?\n(.+?)\n", readme)
    assert match, "README.md must show the test command under a '# run the tests' comment"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    command = readme_test_command()
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]

    assert command in ci_lines
    assert "pytest" in command
