"""The one base of every error a user's input can cause, in every package.

A `DomainError` is a mistake in what someone asked for or supplied (an unknown slug, a bad field, a
refused import), never a bug. The command layer shows its `lines()` on stderr, one line per
problem, and exits with `exit_code` (1: bad input, nothing written; 2: bad usage); anything else
that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class DomainError(Exception):
    """A user's mistake, reported as `lines()` and exit code `exit_code`."""

    exit_code = 1

    def lines(self) -> list[str]:
        """What the user reads: one line per problem."""
        return str(self).splitlines() or [type(self).__name__]


class UsageError(DomainError):
    """An option or argument that makes no sense (exit 2, as for any usage error)."""

    exit_code = 2
