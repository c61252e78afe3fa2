"""Errors from storing encrypted weights and reading them back.

Every one is a :class:`~soma_console.errors.UserError`: one sentence saying what went wrong and
where (a bucket, a URL without its query string), plus what to check. None of them ever carries a
credential: messages are composed here from error codes and status lines, never from the text of
a library's exception or a server's error body.
"""

from __future__ import annotations

from soma_console.errors import UsageError, UserError


class StorageSpecError(UsageError):
    """A storage spec (``--storage`` or ``[storage]`` in config.toml) does not parse."""


class StorageError(UserError):
    """Uploading weights or reading them back failed."""


class PublicUrlError(StorageError):
    """The public URL does not serve the uploaded object; committing it would fail the model.

    ``url`` is safe to show (no query string).
    """

    def __init__(self, url: str, message: str, *, hint: str) -> None:
        self.url = url
        super().__init__(message, hint=hint)


_PUBLIC_HINT = (
    "Fix this before committing: validators download the weights from exactly this URL "
    "(check the public URL or base in the storage spec and the object's public read access)."
)


class NotReadable(PublicUrlError):
    """The URL answered with an error status, or could not be reached at all."""

    def __init__(self, url: str, reason: str) -> None:
        self.reason = reason
        super().__init__(url, f"the public URL {url} is not readable: {reason}.", hint=_PUBLIC_HINT)


class WrongSize(PublicUrlError):
    """The URL serves an object of another size."""

    def __init__(self, url: str, expected: int, actual: int | None) -> None:
        self.expected = expected
        self.actual = actual
        served = "more bytes than that" if actual is None else f"{actual:,} bytes"
        super().__init__(
            url,
            f"the public URL {url} serves {served}, not the {expected:,} bytes that were uploaded.",
            hint=_PUBLIC_HINT,
        )


class WrongContent(PublicUrlError):
    """The URL serves the right number of bytes, but different ones."""

    def __init__(self, url: str, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            url,
            f"the public URL {url} serves different bytes than were uploaded "
            f"(Blake2b-256 {actual}, expected {expected}).",
            hint=_PUBLIC_HINT,
        )
