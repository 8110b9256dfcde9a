"""The check every "one line, no traceback" CLI test makes on what a command printed to stderr."""

from __future__ import annotations


def one_error_line(stderr: str) -> str:
    """The only non-blank line of ``stderr``; fails if there is a traceback or more than one line."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]
