"""Errors a person reads.

Every failure that is the user's to fix (bad input, missing file, unreachable chain, a rule the
chain enforces) is a :class:`UserError`: one sentence saying what was wrong and what to do. The
command line prints it as a single line and exits non-zero; the TUI shows it as a notification.
Nothing else about it (no traceback) reaches the screen.
"""

from __future__ import annotations


class UserError(Exception):
    """A failure the user can act on. ``str(err)`` is the whole message."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message.rstrip()
        self.hint = hint
        super().__init__(self.message if hint is None else f"{self.message} {hint}")

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} {self.hint}"


class UsageError(UserError):
    """A bad argument or option."""

    exit_code = 2


class ConfigError(UserError):
    """The configuration file or home directory is unusable."""


class ReadOnlyError(UserError):
    """A transaction was requested while --readonly is in force."""

    def __init__(self, action: str) -> None:
        super().__init__(
            f"refusing to {action}: soma-console is in read-only mode.",
            hint="Run without --readonly to send transactions.",
        )


class Aborted(UserError):
    """The user declined a confirmation; nothing was sent."""

    def __init__(self, what: str = "nothing was sent") -> None:
        super().__init__(f"aborted; {what}.")
